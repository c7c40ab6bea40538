// createHeaderChecker (checkHeader over the header text, memoized) and createClaimsValidator
// (validateClaims with the rules fixed once) give the same answers as their definitions.
import t from 'tap';
import { SUPPORTED_ALGORITHMS } from '../../../src/jwt/algorithms.js';
import { parseJoseHeader } from '../../../src/jwt/compact.js';
import { checkHeader, createClaimsValidator, createHeaderChecker, MAX_MEMO_HEADERS, validateClaims, type StaticClaimRules } from '../../../src/jwt/verify.js';
import { b64u, json } from './tokens.js';

const ALL = new Set<string>(SUPPORTED_ALGORITHMS);
const HS = new Set(['HS256']);

t.test('createHeaderChecker answers as parseJoseHeader + checkHeader', async (t) => {
  const headers: (object | string)[] = [
    { alg: 'HS256', typ: 'JWT' },
    { alg: 'HS256', kid: 'k1' },
    { alg: 'RS256' },
    { alg: 'none' },
    { alg: 'HS256', crit: ['exp'] },
    { alg: 'HS256', jku: 'https://evil.example/' },
    { alg: 'HS256', typ: 'JOSE' },
    { alg: 'HS256', kid: 7 },
    { alg: 'HS256', enc: 'A128GCM' },
    '{"alg":"HS256","alg":"HS256"}',
    '[]',
    'not json',
  ];
  for (const allowed of [ALL, HS]) {
    const check = createHeaderChecker(allowed);
    for (const header of headers) {
      const text = typeof header === 'string' ? b64u(header) : json(header);
      const parsed = parseJoseHeader(text);
      const expected = parsed.ok ? checkHeader(parsed.header, allowed) : parsed;
      t.same(check(text), expected, `${JSON.stringify(header)} (${[...allowed].length} algs)`);
      t.same(check(text), expected, 'the same the second time');
    }
  }
  t.same(createHeaderChecker(HS)('AQJ'), { ok: false, reason: 'bad-encoding' });
});

t.test('createHeaderChecker remembers passing headers only', async (t) => {
  const check = createHeaderChecker(HS);
  const good = json({ alg: 'HS256', typ: 'JWT' });
  const first = check(good);
  t.equal(check(good), first, 'the remembered answer');
  t.ok(Object.isFrozen(first));
  const bad = json({ alg: 'HS512' });
  t.not(check(bad), check(bad), 'failures are checked again each time');
});

t.test('createHeaderChecker is bounded: full, it starts over', async (t) => {
  t.equal(MAX_MEMO_HEADERS, 64);
  const check = createHeaderChecker(HS, 2);
  const [a, b, c] = ['a', 'b', 'c'].map((kid) => json({ alg: 'HS256', kid }));
  const ra = check(a!);
  const rb = check(b!);
  t.equal(check(a!), ra);
  t.equal(check(b!), rb);
  const rc = check(c!); // a third: the memo is emptied, then holds c
  t.equal(check(c!), rc);
  t.not(check(a!), ra, 'a was forgotten');
  t.same(check(a!), ra, 'and checked again to the same answer');
});

const NOW = 1_800_000_000_000;
const exp = NOW / 1000 + 300;

t.test('createClaimsValidator answers as validateClaims', async (t) => {
  const ruleSets: StaticClaimRules[] = [
    { audience: ['api'], clockToleranceMs: 30_000 },
    { audience: ['api', 'other'], clockToleranceMs: 0, issuer: 'https://idp/' },
    { audience: 'any', clockToleranceMs: 5_000 },
  ];
  const claimSets: Record<string, unknown>[] = [
    { exp, aud: 'api' },
    { exp, aud: 'other', iss: 'https://idp/' },
    { exp, aud: ['x', 'api'], iss: 'https://idp/' },
    { exp, aud: [] },
    { exp, aud: ['x'] },
    { exp, aud: ['api', 1] },
    { exp, aud: 5 },
    { exp, aud: null },
    { exp },
    { exp, aud: 'api', iss: 'https://other/' },
    { exp, aud: 'api', iss: 42 },
    { aud: 'api' },
    { exp: '1', aud: 'api' },
    { exp: Infinity, aud: 'api' },
    { exp: 1e300, aud: 'api' },
    { exp: NOW / 1000, aud: 'api' },
    { exp: NOW / 1000 - 29, aud: 'api' },
    { exp: NOW / 1000 - 31, aud: 'api' },
    { exp, aud: 'api', nbf: NOW / 1000 + 30 },
    { exp, aud: 'api', nbf: NOW / 1000 + 31 },
    { exp, aud: 'api', nbf: 'x' },
    { exp, aud: 'api', iat: NOW / 1000 + 31 },
    { exp, aud: 'api', iat: -Infinity },
    { exp, aud: 'api', iat: 0, nbf: 0 },
  ];
  for (const [r, rules] of ruleSets.entries()) {
    const validate = createClaimsValidator(rules);
    for (const claims of claimSets) {
      for (const nowMs of [NOW, NOW + 400_000]) {
        t.same(validate(claims, nowMs), validateClaims(claims, { ...rules, nowMs }), `rules ${r}: ${JSON.stringify(claims)} at ${nowMs}`);
      }
    }
  }
  t.same(createClaimsValidator(ruleSets[0]!)({ exp, aud: 'api' }, NOW), { ok: true, expMs: exp * 1000 });
  t.same(createClaimsValidator(ruleSets[0]!)({ exp, aud: 'api' }, NaN), { ok: false, reason: 'bad-exp' }, 'a NaN clock accepts nothing');
  t.same(validateClaims({ exp, aud: 'api' }, { ...ruleSets[0]!, nowMs: NaN }), { ok: false, reason: 'bad-exp' });
});
