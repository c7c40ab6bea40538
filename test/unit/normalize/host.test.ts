import t from 'tap';
import { normalizeHost, parseHostname } from '../../../src/pipeline/normalize/host.js';

type Want = [authority: string, hostname: string, port: number | undefined] | 'missing-host' | 'bad-host';

const CASES: Array<[raw: string | undefined, scheme: 'http' | 'https', want: Want]> = [
  ['example.com', 'http', ['example.com', 'example.com', undefined]],
  ['Example.COM', 'http', ['example.com', 'example.com', undefined]],
  ['example.com.', 'http', ['example.com', 'example.com', undefined]],
  ['EXAMPLE.com.:8080', 'http', ['example.com:8080', 'example.com', 8080]],
  ['example.com:80', 'http', ['example.com', 'example.com', undefined]],
  ['example.com:443', 'https', ['example.com', 'example.com', undefined]],
  ['example.com:443', 'http', ['example.com:443', 'example.com', 443]],
  ['example.com:80', 'https', ['example.com:80', 'example.com', 80]],
  ['example.com:0080', 'http', ['example.com', 'example.com', undefined]],
  ['example.com:08080', 'http', ['example.com:8080', 'example.com', 8080]],
  ['example.com:1', 'http', ['example.com:1', 'example.com', 1]],
  ['example.com:65535', 'http', ['example.com:65535', 'example.com', 65535]],
  ['localhost', 'http', ['localhost', 'localhost', undefined]],
  ['my_service-1.internal', 'http', ['my_service-1.internal', 'my_service-1.internal', undefined]],
  ['a', 'http', ['a', 'a', undefined]],
  ['127.0.0.1', 'http', ['127.0.0.1', '127.0.0.1', undefined]],
  ['127.0.0.1:9000', 'http', ['127.0.0.1:9000', '127.0.0.1', 9000]],
  ['1.2.3.4.', 'http', ['1.2.3.4', '1.2.3.4', undefined]],
  ['[::1]', 'http', ['[::1]', '[::1]', undefined]],
  ['[::1]:8080', 'http', ['[::1]:8080', '[::1]', 8080]],
  ['[::1]:443', 'https', ['[::1]', '[::1]', undefined]],
  ['[0:0:0:0:0:0:0:1]', 'http', ['[::1]', '[::1]', undefined]],
  ['[2001:DB8::A]', 'http', ['[2001:db8::a]', '[2001:db8::a]', undefined]],
  ['[::ffff:1.2.3.4]', 'http', ['[::ffff:102:304]', '[::ffff:102:304]', undefined]],
  ['a1.example', 'http', ['a1.example', 'a1.example', undefined]],
  ['x'.repeat(253), 'http', ['x'.repeat(253), 'x'.repeat(253), undefined]],
  ['x'.repeat(253) + '.', 'http', ['x'.repeat(253), 'x'.repeat(253), undefined]],

  [undefined, 'http', 'missing-host'],
  ['', 'http', 'missing-host'],
  ['x'.repeat(254), 'http', 'bad-host'],
  ['.', 'http', 'bad-host'],
  ['..', 'http', 'bad-host'],
  ['example.com..', 'http', 'bad-host'],
  ['.example.com', 'http', 'bad-host'],
  ['a..b', 'http', 'bad-host'],
  [':80', 'http', 'bad-host'],
  ['example.com:', 'http', 'bad-host'],
  ['example.com:0', 'http', 'bad-host'],
  ['example.com:65536', 'http', 'bad-host'],
  ['example.com:123456', 'http', 'bad-host'],
  ['example.com:-1', 'http', 'bad-host'],
  ['example.com:+80', 'http', 'bad-host'],
  ['example.com:8o', 'http', 'bad-host'],
  ['example.com:80:80', 'http', 'bad-host'],
  ['example.com: 80', 'http', 'bad-host'],
  ['user@example.com', 'http', 'bad-host'],
  ['user:pw@example.com', 'http', 'bad-host'],
  ['example.com@evil', 'http', 'bad-host'],
  ['example .com', 'http', 'bad-host'],
  [' example.com', 'http', 'bad-host'],
  ['example.com ', 'http', 'bad-host'],
  ['exa\tmple.com', 'http', 'bad-host'],
  ['example.com\r\nx', 'http', 'bad-host'],
  ['ex\u0000ample', 'http', 'bad-host'],
  ['exämple.com', 'http', 'bad-host'],
  ['xn--exmple-cua.com', 'http', ['xn--exmple-cua.com', 'xn--exmple-cua.com', undefined]],
  ['\u212aexample.com', 'http', 'bad-host'], // Kelvin sign lower-cases to 'k' outside ASCII rules
  ['example.com/path', 'http', 'bad-host'],
  ['example.com\\x', 'http', 'bad-host'],
  ['example.com?x', 'http', 'bad-host'],
  ['example.com#x', 'http', 'bad-host'],
  ['exa%6dple.com', 'http', 'bad-host'],
  ['*.example.com', 'http', 'bad-host'],
  ['[::1', 'http', 'bad-host'],
  ['::1', 'http', 'bad-host'],
  ['[::1]x', 'http', 'bad-host'],
  ['[::1]:', 'http', 'bad-host'],
  ['[]', 'http', 'bad-host'],
  ['[1.2.3.4]', 'http', 'bad-host'],
  ['[fe80::1%eth0]', 'http', 'bad-host'],
  ['[fe80::1%25eth0]', 'http', 'bad-host'],
  ['[v1.x]', 'http', 'bad-host'],
  ['[::g]', 'http', 'bad-host'],
  // numeric last label: WHATWG reads these as IPv4 in other spellings; only the dotted quad passes
  ['01.2.3.4', 'http', 'bad-host'],
  ['1.2.3.04', 'http', 'bad-host'],
  ['256.1.1.1', 'http', 'bad-host'],
  ['1.2.3', 'http', 'bad-host'],
  ['2130706433', 'http', 'bad-host'],
  ['0x7f.1', 'http', 'bad-host'],
  ['0x7f000001', 'http', 'bad-host'],
  ['127.1', 'http', 'bad-host'],
  ['example.0x', 'http', 'bad-host'],
  ['example.123', 'http', 'bad-host'],
];

t.test('table', async (t) => {
  for (const [raw, scheme, want] of CASES) {
    const expected =
      typeof want === 'string' ? { ok: false, reason: want } : { ok: true, authority: want[0], hostname: want[1], port: want[2] };
    t.strictSame(normalizeHost(raw, scheme), expected, `${JSON.stringify(raw)} (${scheme})`);
  }
});

t.test('every byte 0x00-0xFF inside a hostname', async (t) => {
  const failures: string[] = [];
  const allowed = new Set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_');
  for (let b = 0; b <= 0xff; b++) {
    const ch = String.fromCharCode(b);
    const got = normalizeHost(`a${ch}b.example`, 'http');
    const want = allowed.has(ch)
      ? { ok: true, authority: `a${ch.toLowerCase()}b.example`, hostname: `a${ch.toLowerCase()}b.example`, port: undefined }
      : ch === '.'
        ? { ok: true, authority: 'a.b.example', hostname: 'a.b.example', port: undefined }
        : { ok: false, reason: 'bad-host' };
    if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${b.toString(16)}: ${JSON.stringify(got)}`);
  }
  t.strictSame(failures, []);
});

t.test('normalized output is a fixed point', async (t) => {
  for (const [raw, scheme, want] of CASES) {
    if (typeof want === 'string') continue;
    const first = normalizeHost(raw, scheme);
    if (!first.ok) continue;
    t.strictSame(normalizeHost(first.authority, scheme), first, `${raw}`);
  }
});

t.test('parseHostname', async (t) => {
  t.equal(parseHostname('A.B.'), 'a.b');
  t.equal(parseHostname('[::1]'), '[::1]');
  t.equal(parseHostname(''), undefined);
  t.equal(parseHostname('a:80'), undefined);
  t.equal(parseHostname('[::1]:80'), undefined);
});
