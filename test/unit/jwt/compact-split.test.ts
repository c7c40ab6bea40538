// The cheaper paths of compact.ts (canonical base64url from the text alone, member counting
// instead of name sets, the header left to parseJoseHeader) against their definitions.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import {
  countTopLevelMembers,
  decodeBase64url,
  parseCompactJws,
  parseJoseHeader,
  parseJsonObject,
  splitCompactJws,
} from '../../../src/jwt/compact.js';
import { b64u, json } from './tokens.js';

const H = json({ alg: 'HS256', typ: 'JWT' });
const P = json({ sub: 'alice', exp: 2_000_000_000 });
const S = b64u(Buffer.alloc(32, 7));

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The definition: the bytes whose base64url encoding is exactly the text. */
function canonicalByDefinition(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

t.test('decodeBase64url agrees with decode-and-re-encode on every text of up to 3 characters', async (t) => {
  // Every length class (0-3 mod 4) and every value of the last character; '+', '/', '='
  // and '.' are outside the alphabet.
  const chars = `${ALPHABET}+/=.`;
  let mismatches = 0;
  let accepted = 0;
  const check = (text: string) => {
    const expected = canonicalByDefinition(text);
    const got = decodeBase64url(text);
    if (expected === undefined ? got !== undefined : got === undefined || !got.equals(expected)) mismatches++;
    if (got !== undefined) accepted++;
  };
  check('');
  for (const a of chars) {
    check(a);
    for (const b of chars) {
      check(a + b);
      for (const c of chars) check(a + b + c);
    }
  }
  t.equal(mismatches, 0);
  // 1 (empty) + 0 (one char) + 64 × 4 (two: 4 bits of padding) + 64 × 64 × 16 (three: 2 bits)
  t.equal(accepted, 1 + 64 * 4 + 64 * 64 * 16);
});

t.test('decodeBase64url agrees on random and mutated longer texts', async (t) => {
  let mismatches = 0;
  for (let i = 0; i < 5000; i++) {
    let text = randomBytes(1 + (i % 40)).toString('base64url');
    if (i % 3 === 1) text = text.slice(0, -1) + ALPHABET[i % 64]; // often non-canonical
    if (i % 7 === 2) text += 'A'; // often a dangling character
    const expected = canonicalByDefinition(text);
    const got = decodeBase64url(text);
    if (expected === undefined ? got !== undefined : got === undefined || !got.equals(expected)) mismatches++;
  }
  t.equal(mismatches, 0);
});

t.test('splitCompactJws: the header text as sent, payload and signature decoded', async (t) => {
  t.same(splitCompactJws(`${H}.${P}.${S}`), {
    ok: true,
    jws: { headerText: H, signingInput: `${H}.${P}`, payload: Buffer.from(JSON.stringify({ sub: 'alice', exp: 2_000_000_000 })), signature: Buffer.alloc(32, 7) },
  });
  t.same(splitCompactJws(`${b64u('not json')}.${P}.${S}`).ok, true, 'the header is not parsed');
});

t.test('splitCompactJws: every segment is checked, whichever is bad', async (t) => {
  const bad = ['AQJ', 'AQIDB', 'AQ=', 'A+Q', 'é'];
  for (const b of bad) {
    for (const token of [`${b}.${P}.${S}`, `${H}.${b}.${S}`, `${H}.${P}.${b}`]) {
      t.same(splitCompactJws(token), { ok: false, reason: 'bad-encoding' }, token);
      t.same(parseCompactJws(token), { ok: false, reason: 'bad-encoding' }, token);
    }
  }
  t.same(splitCompactJws(`${H}.${P}.`), { ok: false, reason: 'bad-encoding' }, 'empty signature');
  t.same(splitCompactJws(`${H}.${P}`), { ok: false, reason: 'bad-encoding' });
  t.same(splitCompactJws(`${H}.${P}.${S}.x.y`), { ok: false, reason: 'jwe' });
  t.same(splitCompactJws('A'.repeat(8193)), { ok: false, reason: 'too-large' });
});

t.test('parseJoseHeader', async (t) => {
  t.same(parseJoseHeader(H), { ok: true, header: { alg: 'HS256', typ: 'JWT' } });
  t.same(parseJoseHeader('AQJ'), { ok: false, reason: 'bad-encoding' });
  t.same(parseJoseHeader(b64u('[1]')), { ok: false, reason: 'bad-header' });
  t.same(parseJoseHeader(b64u('{"alg":"HS256","alg":"none"}')), { ok: false, reason: 'duplicate-header-member' });
});

/** The definition, as compact.ts had it: collect the unescaped names, look for a repeat. */
function namesByDefinition(text: string): string[] {
  const names: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (depth !== 1) continue;
      let j = i + 1;
      while (' \t\n\r'.includes(text[j]!)) j++;
      if (text[j] === ':') names.push(JSON.parse(text.slice(start, i + 1)) as string);
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return names;
}

t.test('countTopLevelMembers counts names, not values, at the top level only', async (t) => {
  const cases: [string, number][] = [
    ['{}', 0],
    ['{"a":1}', 1],
    ['{"a":1,"a":2}', 2],
    ['{ "a" : 1 ,\n\t"b"\r\n:"x"}', 2],
    ['{"a":"b","c":"a"}', 2],
    ['{"a\\"b":1,"c":"\\"d\\""}', 2],
    ['{"a\\\\":1,"b":"a\\\\"}', 2],
    ['{"a\\\\\\"":1}', 1],
    ['{"a":{"b":1,"c":2},"d":[{"e":1}],"f":"{"}', 3],
    ['{"a":"}","b":"]","c":"[{"}', 3],
    ['{"\\u0061":1,"a":2}', 2],
  ];
  for (const [text, n] of cases) {
    t.equal(countTopLevelMembers(text), n, text);
    t.equal(countTopLevelMembers(text), namesByDefinition(text).length, `${text} (definition)`);
  }
});

t.test('parseJsonObject finds duplicates as the name-set definition does', async (t) => {
  const pieces = ['"a"', '"b"', '"\\u0061"', '"a\\\\"', '"a\\""', '"__proto__"', '"0"', '"00"'];
  const values = ['1', '"a"', '{"a":1,"a":2}', '["a","b"]', '"\\\\"', '"}{"', 'null'];
  let mismatches = 0;
  let duplicates = 0;
  for (let i = 0; i < 3000; i++) {
    const n = 1 + (i % 4);
    const members: string[] = [];
    for (let k = 0; k < n; k++) members.push(`${pieces[(i * 7 + k * 3) % pieces.length]}:${values[(i + k * 5) % values.length]}`);
    const text = `{${members.join(',')}}`;
    const names = namesByDefinition(text);
    const expected = new Set(names).size !== names.length;
    const got = parseJsonObject(Buffer.from(text));
    if (!got.ok && got.reason === 'bad-json') {
      mismatches++;
      continue;
    }
    if (expected !== !got.ok) mismatches++;
    if (expected) duplicates++;
  }
  t.equal(mismatches, 0);
  t.ok(duplicates > 100, `both outcomes exercised (${duplicates} duplicates)`);
  t.same(parseJsonObject(Buffer.from('{"__proto__":1,"__proto__":2}')), { ok: false, reason: 'duplicate-member' });
  t.same(parseJsonObject(Buffer.from('{"__proto__":{"x":1}}')).ok, true, 'an own "__proto__" member counts as one');
  t.same(parseJsonObject(Buffer.from('{"1":1,"01":2,"1":3}')), { ok: false, reason: 'duplicate-member' }, 'integer-like names');
});
