import t from 'tap';
import { MAX_BEARER_TOKEN_LENGTH, parseBearerToken } from '../../../src/pipeline/authenticate/bearer.js';

t.test('absent header or another scheme: skip', async (t) => {
  for (const v of [undefined, '', 'Basic YWxpY2U6c2VjcmV0', 'Bearertoken abc', 'Token abc', 'DPoP abc', ' Bearer abc', 'Bear abc', 'bearer-x abc']) {
    t.same(parseBearerToken(v), { kind: 'skip' }, JSON.stringify(v));
  }
});

t.test('the scheme is case-insensitive (RFC 7235 §2.1)', async (t) => {
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) t.same(parseBearerToken(`${scheme} abc.def.ghi`), { kind: 'token', token: 'abc.def.ghi' }, scheme);
});

t.test('token68 / b64token characters, trailing = allowed (RFC 6750 §2.1)', async (t) => {
  for (const token of ['a', 'A-Z_a.z~0+9/', 'abc==', 'x.y.z', 'abc=']) t.same(parseBearerToken(`Bearer ${token}`), { kind: 'token', token }, token);
});

t.test('1*SP between scheme and token', async (t) => {
  t.same(parseBearerToken('Bearer   abc'), { kind: 'token', token: 'abc' });
});

t.test('anything else after Bearer is malformed', async (t) => {
  const cases: Array<[string, string]> = [
    ['Bearer', 'malformed-header'],
    ['Bearer ', 'malformed-header'],
    ['Bearer    ', 'malformed-header'],
    ['Bearer\tabc', 'malformed-token'],
    ['Bearer abc def', 'malformed-token'],
    ['Bearer abc ', 'malformed-token'],
    ['Bearer a=b', 'malformed-token'],
    ['Bearer =abc', 'malformed-token'],
    ['Bearer ===', 'malformed-token'],
    ['Bearer "abc"', 'malformed-token'],
    ['Bearer abc,def', 'malformed-token'],
    ['Bearer realm="x"', 'malformed-token'],
    ['Bearer abcé', 'malformed-token'],
    ['Bearer abc\u0000', 'malformed-token'],
    ['Bearer, Basic xyz', 'malformed-token'],
  ];
  for (const [value, reason] of cases) t.same(parseBearerToken(value), { kind: 'malformed', reason }, JSON.stringify(value));
});

t.test('two Authorization headers (an array) are malformed, never guessed', async (t) => {
  t.same(parseBearerToken(['Bearer a', 'Bearer b']), { kind: 'malformed', reason: 'malformed-header' });
  t.same(parseBearerToken(['Basic a']), { kind: 'malformed', reason: 'malformed-header' });
});

t.test('length limit', async (t) => {
  t.equal(MAX_BEARER_TOKEN_LENGTH, 8192);
  const max = 'a'.repeat(8192);
  t.same(parseBearerToken(`Bearer ${max}`), { kind: 'token', token: max });
  t.same(parseBearerToken(`Bearer ${max}a`), { kind: 'malformed', reason: 'too-large' });
  t.same(parseBearerToken('Bearer abcd', 3), { kind: 'malformed', reason: 'too-large' }, 'custom limit');
  t.same(parseBearerToken('Bearer abc', 3), { kind: 'token', token: 'abc' });
});
