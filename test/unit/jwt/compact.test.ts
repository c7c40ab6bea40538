import t from 'tap';
import {
  decodeBase64url,
  hasDuplicateTopLevelMember,
  MAX_TOKEN_BYTES,
  parseCompactJws,
  parseJsonObject,
} from '../../../src/jwt/compact.js';
import { b64u, json } from './tokens.js';

const H = json({ alg: 'HS256', typ: 'JWT' });
const P = json({ sub: 'alice', exp: 2_000_000_000 });
const S = b64u(Buffer.alloc(32, 7));

t.test('decodeBase64url accepts canonical unpadded base64url only', async (t) => {
  t.same(decodeBase64url(''), Buffer.alloc(0));
  t.same(decodeBase64url('AQID'), Buffer.from([1, 2, 3]));
  t.same(decodeBase64url('_-8'), Buffer.from([0xff, 0xef]));
  t.equal(decodeBase64url('AQI='), undefined, 'padding');
  t.equal(decodeBase64url('AQ=='), undefined, 'padding');
  t.equal(decodeBase64url('+/8'), undefined, 'standard base64 alphabet');
  t.equal(decodeBase64url('AQ ID'), undefined, 'whitespace');
  t.equal(decodeBase64url('AQ\nID'), undefined, 'newline');
  t.equal(decodeBase64url('AQJ'), undefined, 'non-zero trailing bits (AQI is canonical)');
  t.same(decodeBase64url('AQI'), Buffer.from([1, 2]));
  t.equal(decodeBase64url('AQIDB'), undefined, 'one dangling character');
  t.equal(decodeBase64url('AQ.I'), undefined);
  t.equal(decodeBase64url('é'), undefined);
});

t.test('hasDuplicateTopLevelMember', async (t) => {
  t.equal(hasDuplicateTopLevelMember('{"alg":"HS256","kid":"a"}'), false);
  t.equal(hasDuplicateTopLevelMember('{}'), false);
  t.equal(hasDuplicateTopLevelMember('{"alg":"HS256","alg":"none"}'), true);
  t.equal(hasDuplicateTopLevelMember('{ "alg" : "HS256" ,\n\t"alg"\r\n:"x"}'), true, 'whitespace around names');
  t.equal(hasDuplicateTopLevelMember('{"alg":"HS256","\\u0061lg":"none"}'), true, 'escaped spelling of the same name');
  t.equal(hasDuplicateTopLevelMember('{"a\\"b":1,"a\\"b":2}'), true, 'escaped quote inside a name');
  t.equal(hasDuplicateTopLevelMember('{"a\\\\":1,"b":"a\\\\"}'), false, 'escaped backslash before the closing quote');
  t.equal(hasDuplicateTopLevelMember('{"alg":"alg","x":"alg"}'), false, 'values equal to names are not names');
  t.equal(hasDuplicateTopLevelMember('{"a":{"b":1,"b":2}}'), false, 'nested objects are not the top level');
  t.equal(hasDuplicateTopLevelMember('{"a":[{"a":1}],"b":["a","a"]}'), false, 'arrays');
  t.equal(hasDuplicateTopLevelMember('{"a":{"x":1},"a":2}'), true, 'duplicate after a nested object');
  t.equal(hasDuplicateTopLevelMember('{"a":"{","a":"}"}'), true, 'braces inside strings do not change depth');
});

t.test('parseJsonObject', async (t) => {
  t.same(parseJsonObject(Buffer.from('{"a":1}')), { ok: true, value: { a: 1 } });
  t.same(parseJsonObject(Buffer.from('{"a":"é"}')), { ok: true, value: { a: 'é' } });
  for (const text of ['[]', 'null', '1', '"x"', 'true', '', '{', '{"a":1}x', '\ufeff{}']) {
    t.same(parseJsonObject(Buffer.from(text)), { ok: false, reason: 'bad-json' }, JSON.stringify(text));
  }
  t.same(parseJsonObject(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])), { ok: false, reason: 'bad-json' }, 'invalid UTF-8');
  t.same(parseJsonObject(Buffer.from('{"a":1,"a":2}')), { ok: false, reason: 'duplicate-member' });
});

t.test('a well-formed compact JWS', async (t) => {
  const r = parseCompactJws(`${H}.${P}.${S}`);
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(r.jws.header, { alg: 'HS256', typ: 'JWT' });
  t.equal(r.jws.signingInput, `${H}.${P}`);
  t.same(r.jws.payload, Buffer.from(JSON.stringify({ sub: 'alice', exp: 2_000_000_000 })));
  t.same(r.jws.signature, Buffer.alloc(32, 7));
});

t.test('an empty payload segment is well-formed (the claims check rejects it later)', async (t) => {
  const r = parseCompactJws(`${H}..${S}`);
  t.equal(r.ok, true);
  if (r.ok) t.equal(r.jws.payload.length, 0);
});

t.test('rule: a token longer than 8192 bytes fails before parsing', async (t) => {
  t.equal(MAX_TOKEN_BYTES, 8192);
  const pad = 'A'.repeat(MAX_TOKEN_BYTES - `${H}..${S}`.length);
  const exact = `${H}.${pad}.${S}`;
  t.equal(exact.length, 8192);
  const r = parseCompactJws(exact);
  t.equal(r.ok, true, '8192 is allowed');
  t.same(parseCompactJws(`${exact}A`), { ok: false, reason: 'too-large' });
  t.same(parseCompactJws('x'.repeat(100_000)), { ok: false, reason: 'too-large' }, 'junk is never split');
});

t.test('rule: 5 segments (JWE) fail as jwe', async (t) => {
  t.same(parseCompactJws(`${json({ alg: 'dir', enc: 'A256GCM' })}..${b64u('iv')}.${b64u('ct')}.${b64u('tag')}`), { ok: false, reason: 'jwe' });
});

t.test('rule: exactly 3 segments', async (t) => {
  for (const token of ['', 'abc', `${H}.${P}`, `${H}.${P}.${S}.x`, `${H}.${P}.${S}.x.y.z`, '..', '....', '.....']) {
    const r = parseCompactJws(token);
    t.same(r, { ok: false, reason: token === '....' ? 'jwe' : 'bad-encoding' }, JSON.stringify(token));
  }
});

t.test('rule: every segment canonical base64url', async (t) => {
  const cases: Record<string, string> = {
    'padded header': `${H}=.${P}.${S}`,
    'padded signature': `${H}.${P}.${b64u(Buffer.alloc(31, 7))}=`,
    'standard alphabet in signature': `${H}.${P}.${Buffer.alloc(32, 0xfb).toString('base64').replace(/=+$/, '')}`,
    'whitespace in payload': `${H}.${P.slice(0, 4)} ${P.slice(4)}.${S}`,
    'non-zero trailing bits in signature': `${H}.${P}.${S.slice(0, -1)}${String.fromCharCode(S.charCodeAt(S.length - 1) + 1)}`,
    'non-ASCII': `${H}.${P}.${S}é`,
  };
  for (const [name, token] of Object.entries(cases)) t.same(parseCompactJws(token), { ok: false, reason: 'bad-encoding' }, name);
});

t.test('rule: the signature segment is non-empty', async (t) => {
  t.same(parseCompactJws(`${H}.${P}.`), { ok: false, reason: 'bad-encoding' });
});

t.test('rule: the header is a JSON object', async (t) => {
  for (const header of ['', '[]', 'null', '"HS256"', '{"alg":"HS256"', 'alg=HS256']) {
    t.same(parseCompactJws(`${b64u(header)}.${P}.${S}`), { ok: false, reason: 'bad-header' }, header);
  }
  t.same(parseCompactJws(`${b64u(Buffer.from([0x7b, 0x7d, 0xc3]))}.${P}.${S}`), { ok: false, reason: 'bad-header' }, 'not UTF-8');
});

t.test('rule: a header with a duplicate member fails', async (t) => {
  for (const header of ['{"alg":"HS256","alg":"none"}', '{"alg":"HS256","kid":"a","kid":"b"}', '{"alg":"HS256","crit":["x"],"crit":[]}', '{"alg":"HS256","\\u0061lg":"HS256"}']) {
    t.same(parseCompactJws(`${b64u(header)}.${P}.${S}`), { ok: false, reason: 'duplicate-header-member' }, header);
  }
});
