import t from 'tap';
import { compileHostPattern, hostPatternCovers, type HostPattern } from '../../../src/pipeline/match/host-pattern.js';

function compile(raw: string) {
  const r = compileHostPattern(raw);
  if (!r.ok) throw new Error(`${raw}: ${r.message}`);
  return r.host;
}

t.test('exact patterns', async (t) => {
  const h = compile('App.Example.COM.');
  t.strictSame(h.pattern, { kind: 'exact', host: 'app.example.com' });
  t.equal(h.test('app.example.com'), true);
  for (const x of ['example.com', 'x.app.example.com', 'app.example.co', 'app.example.com.evil', 'app-example.com', '']) {
    t.equal(h.test(x), false, x);
  }
  t.strictSame(compile('127.0.0.1').pattern, { kind: 'exact', host: '127.0.0.1' });
  t.strictSame(compile('[0::1]').pattern, { kind: 'exact', host: '[::1]' });
  t.equal(compile('[::1]').test('[::1]'), true);
});

t.test('wildcard patterns', async (t) => {
  const h = compile('*.Example.com.');
  t.strictSame(h.pattern, { kind: 'wildcard', suffix: '.example.com' });
  for (const x of ['a.example.com', 'a.b.example.com', 'x-1.example.com', '_s.example.com']) t.equal(h.test(x), true, x);
  for (const x of ['example.com', '.example.com', 'aexample.com', 'example.com.evil', 'a.example.co', 'a.example.com.x', '']) {
    t.equal(h.test(x), false, x);
  }
  t.equal(compile('*.com').test('example.com'), true);
});

t.test('errors', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['example.com:8080', /port/],
    ['example.com:80', /port/],
    ['[::1]:80', /port/],
    ['*.example.com:443', /port/],
    ['*', /wildcard/],
    ['**.example.com', /wildcard/],
    ['a.*.example.com', /wildcard/],
    ['*example.com', /wildcard/],
    ['*.*.example.com', /domain name/],
    ['*.', /domain name/],
    ['*.1.2.3.4', /domain name/],
    ['*.[::1]', /domain name/],
    ['*.exa mple.com', /domain name/],
    ['exa mple.com', /not a valid host/],
    ['user@example.com', /not a valid host/],
    ['example..com', /not a valid host/],
    ['01.2.3.4', /not a valid host/],
    ['[fe80::1%eth0]', /not a valid host/],
    ['exämple.com', /not a valid host/],
  ];
  for (const [raw, re] of cases) {
    const r = compileHostPattern(raw);
    t.equal(r.ok, false, raw);
    if (!r.ok) t.match(r.message, re, raw);
  }
});

t.test('hostPatternCovers', async (t) => {
  const e = (host: string): HostPattern => ({ kind: 'exact', host });
  const w = (suffix: string): HostPattern => ({ kind: 'wildcard', suffix });
  const cases: Array<[HostPattern | undefined, HostPattern | undefined, boolean]> = [
    [undefined, undefined, true],
    [undefined, e('a.x.com'), true],
    [undefined, w('.x.com'), true],
    [e('a.x.com'), undefined, false],
    [w('.x.com'), undefined, false],
    [e('a.x.com'), e('a.x.com'), true],
    [e('a.x.com'), e('b.x.com'), false],
    [e('a.x.com'), w('.x.com'), false],
    [w('.x.com'), e('a.x.com'), true],
    [w('.x.com'), e('a.b.x.com'), true],
    [w('.x.com'), e('x.com'), false],
    [w('.x.com'), e('ax.com'), false],
    [w('.x.com'), w('.x.com'), true],
    [w('.x.com'), w('.a.x.com'), true],
    [w('.a.x.com'), w('.x.com'), false],
    [w('.x.com'), w('.ax.com'), false],
    [w('.x.com'), w('.com'), false],
    [w('.x.com'), e('[::1]'), false],
  ];
  for (const [a, b, want] of cases) t.equal(hostPatternCovers(a, b), want, `${JSON.stringify(a)} ⊇ ${JSON.stringify(b)}`);
});
