import { createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import t from 'tap';
import { SUPPORTED_ALGORITHMS, type JwsAlgorithm } from '../../../src/jwt/algorithms.js';
import { parseCompactJws, type ParsedJws } from '../../../src/jwt/compact.js';
import { checkHeader, FORBIDDEN_HEADER_MEMBERS, MAX_DATE_DISTANCE_MS, validateClaims, type ClaimRules } from '../../../src/jwt/verify.js';
import { verifyJws } from '../../../src/jwt/verify.js';
import { b64u, handToken } from './tokens.js';

const ALL = new Set<string>(SUPPORTED_ALGORITHMS);

t.test('checkHeader', async (t) => {
  t.test('accepts a plain header', async (t) => {
    t.same(checkHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' }, ALL), { ok: true, alg: 'RS256', kid: 'k1' });
    t.same(checkHeader({ alg: 'ES256' }, ALL), { ok: true, alg: 'ES256', kid: undefined });
  });
  t.test('rule: alg must be in the allow-list', async (t) => {
    const allowed = new Set(['ES256']);
    t.same(checkHeader({ alg: 'RS256' }, allowed), { ok: false, reason: 'alg-not-allowed' });
    t.same(checkHeader({ alg: 'es256' }, allowed), { ok: false, reason: 'alg-not-allowed' });
    t.same(checkHeader({}, allowed), { ok: false, reason: 'alg-not-allowed' }, 'missing');
    t.same(checkHeader({ alg: ['ES256'] }, allowed), { ok: false, reason: 'alg-not-allowed' }, 'not a string');
  });
  t.test('rule: none is never accepted', async (t) => {
    for (const alg of ['none', 'None', 'NONE', '']) t.same(checkHeader({ alg }, ALL), { ok: false, reason: 'alg-not-allowed' }, alg);
  });
  t.test('rule: typ must be JWT or at+jwt if present', async (t) => {
    for (const typ of ['JWT', 'jwt', 'application/jwt', 'Application/JWT', 'at+jwt', 'AT+JWT', 'application/at+jwt']) {
      t.same(checkHeader({ alg: 'HS256', typ }, ALL), { ok: true, alg: 'HS256', kid: undefined }, typ);
    }
    for (const typ of ['JWE', 'JOSE', 'JOSE+JSON', 'dpop+jwt', 'secevent+jwt', 'application/jwt ', 'x/jwt', '', 1, null, ['JWT']]) {
      t.same(checkHeader({ alg: 'HS256', typ }, ALL), { ok: false, reason: 'bad-typ' }, JSON.stringify(typ));
    }
  });
  t.test('rule: headers that bring their own key fail', async (t) => {
    t.same([...FORBIDDEN_HEADER_MEMBERS], ['jku', 'x5u', 'jwk', 'x5c', 'x5t', 'x5t#S256', 'b64', 'zip']);
    for (const name of ['jku', 'x5u', 'jwk', 'x5c', 'x5t', 'x5t#S256']) {
      t.same(checkHeader({ alg: 'RS256', [name]: 'https://evil.example/keys' }, ALL), { ok: false, reason: `forbidden-header:${name}` }, name);
    }
    t.same(checkHeader({ alg: 'RS256', jwk: null }, ALL), { ok: false, reason: 'forbidden-header:jwk' }, 'present with null');
  });
  t.test('rule: crit fails', async (t) => {
    t.same(checkHeader({ alg: 'RS256', crit: ['exp'] }, ALL), { ok: false, reason: 'crit' });
    t.same(checkHeader({ alg: 'RS256', crit: [] }, ALL), { ok: false, reason: 'crit' }, 'even empty');
  });
  t.test('rule: b64 fails', async (t) => {
    t.same(checkHeader({ alg: 'RS256', b64: false }, ALL), { ok: false, reason: 'forbidden-header:b64' });
    t.same(checkHeader({ alg: 'RS256', b64: true }, ALL), { ok: false, reason: 'forbidden-header:b64' });
  });
  t.test('rule: zip fails', async (t) => {
    t.same(checkHeader({ alg: 'RS256', zip: 'DEF' }, ALL), { ok: false, reason: 'forbidden-header:zip' });
  });
  t.test('rule: a header with enc is a JWE', async (t) => {
    t.same(checkHeader({ alg: 'RS256', enc: 'A128GCM' }, ALL), { ok: false, reason: 'jwe' });
  });
  t.test('rule: kid, if present, is a string', async (t) => {
    t.same(checkHeader({ alg: 'RS256', kid: 1 }, ALL), { ok: false, reason: 'bad-kid' });
    t.same(checkHeader({ alg: 'RS256', kid: null }, ALL), { ok: false, reason: 'bad-kid' });
  });
  t.test('inherited names are not members', async (t) => {
    const header = Object.create({ crit: ['x'], jku: 'x', enc: 'x' }) as Record<string, unknown>;
    header.alg = 'HS256';
    t.same(checkHeader(header, ALL), { ok: true, alg: 'HS256', kid: undefined });
  });
});

const jwsOf = (token: string): ParsedJws => {
  const r = parseCompactJws(token);
  if (!r.ok) throw new Error(r.reason);
  return r.jws;
};
const tamper = (token: string): string => {
  const [h, p, s] = token.split('.');
  const bytes = Buffer.from(s!, 'base64url');
  bytes[0]! ^= 1;
  return `${h}.${p}.${b64u(bytes)}`;
};

t.test('verifyJws, every algorithm', async (t) => {
  const keys: Record<string, { priv: KeyObject | Buffer; pub: KeyObject }> = {};
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const secret = Buffer.alloc(64, 9);
  for (const alg of SUPPORTED_ALGORITHMS) {
    if (alg.startsWith('HS')) keys[alg] = { priv: secret, pub: createSecretKey(secret) };
    else if (alg.startsWith('RS') || alg.startsWith('PS')) keys[alg] = { priv: rsa.privateKey, pub: rsa.publicKey };
    else if (alg === 'EdDSA') {
      const k = generateKeyPairSync('ed25519');
      keys[alg] = { priv: k.privateKey, pub: k.publicKey };
    } else {
      const curves: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
      const k = generateKeyPairSync('ec', { namedCurve: curves[alg]! });
      keys[alg] = { priv: k.privateKey, pub: k.publicKey };
    }
  }
  for (const alg of SUPPORTED_ALGORITHMS) {
    const { priv, pub } = keys[alg]!;
    const token = handToken(alg, priv, { alg }, { sub: 'a' });
    t.equal(verifyJws(jwsOf(token), pub, alg), true, `${alg} valid`);
    t.equal(verifyJws(jwsOf(tamper(token)), pub, alg), false, `${alg} tampered signature`);
    const [h, , s] = token.split('.');
    t.equal(verifyJws(jwsOf(`${h}.${b64u('{"sub":"b"}')}.${s}`), pub, alg), false, `${alg} other payload`);
  }
  t.test('RS256 and PS256 signatures are not interchangeable', async (t) => {
    const rs = handToken('RS256', rsa.privateKey, { alg: 'RS256' }, { sub: 'a' });
    t.equal(verifyJws(jwsOf(rs), rsa.publicKey, 'PS256'), false);
    const ps = handToken('PS256', rsa.privateKey, { alg: 'PS256' }, { sub: 'a' });
    t.equal(verifyJws(jwsOf(ps), rsa.publicKey, 'RS256'), false);
  });
  t.test('ES256 wants exactly 64 bytes R||S, not DER', async (t) => {
    const { priv, pub } = keys.ES256!;
    const token = handToken('ES256', priv, { alg: 'ES256' }, { sub: 'a' });
    const [h, p, s] = token.split('.');
    const sig = Buffer.from(s!, 'base64url');
    t.equal(verifyJws(jwsOf(`${h}.${p}.${b64u(Buffer.concat([sig, Buffer.from([0])]))}`), pub, 'ES256'), false, '65 bytes');
    t.equal(verifyJws(jwsOf(`${h}.${p}.${b64u(sig.subarray(1))}`), pub, 'ES256'), false, '63 bytes');
    const { sign } = await import('node:crypto');
    const der = sign('sha256', Buffer.from(`${h}.${p}`), priv as KeyObject);
    t.equal(verifyJws(jwsOf(`${h}.${p}.${b64u(der)}`), pub, 'ES256'), false, 'DER');
    t.equal(verifyJws(jwsOf(`${h}.${p}.${b64u(Buffer.alloc(64))}`), pub, 'ES256'), false, 'all zero (psychic signature, CVE-2022-21449)');
  });
  t.test('HMAC of another length fails without throwing', async (t) => {
    const token = handToken('HS256', secret, { alg: 'HS256' }, { sub: 'a' });
    t.equal(verifyJws(jwsOf(token), keys.HS256!.pub, 'HS512'), false);
  });
  t.test('a key of the wrong type answers false, never throws', async (t) => {
    const token = handToken('RS256', rsa.privateKey, { alg: 'RS256' }, { sub: 'a' });
    t.equal(verifyJws(jwsOf(token), keys.HS256!.pub, 'RS256'), false);
    const ed = handToken('EdDSA', keys.EdDSA!.priv, { alg: 'EdDSA' }, { sub: 'a' });
    t.equal(verifyJws(jwsOf(ed), keys.HS256!.pub, 'EdDSA'), false);
  });
});

const NOW = 1_800_000_000_000;
const rules = (over: Partial<ClaimRules> = {}): ClaimRules => ({ audience: ['api'], clockToleranceMs: 30_000, nowMs: NOW, ...over });
const exp = NOW / 1000 + 300;

t.test('validateClaims', async (t) => {
  t.test('accepts good claims and returns exp in ms', async (t) => {
    t.same(validateClaims({ exp, aud: 'api', iss: 'https://idp/', nbf: exp - 600, iat: exp - 600 }, rules({ issuer: 'https://idp/' })), {
      ok: true,
      expMs: exp * 1000,
    });
    t.same(validateClaims({ exp: exp + 0.5, aud: 'api' }, rules()), { ok: true, expMs: (exp + 0.5) * 1000 }, 'non-integer NumericDate');
  });
  t.test('rule: exp is required', async (t) => {
    t.same(validateClaims({ aud: 'api' }, rules()), { ok: false, reason: 'missing-exp' });
  });
  t.test('rule: exp is a finite number', async (t) => {
    for (const v of ['1800000300', null, true, [exp], { exp }, Infinity, -Infinity, NaN]) {
      t.same(validateClaims({ exp: v, aud: 'api' }, rules()), { ok: false, reason: 'bad-exp' }, String(v));
    }
  });
  t.test('rule: exp within 10 years of now', async (t) => {
    const tenYears = MAX_DATE_DISTANCE_MS / 1000;
    t.same(validateClaims({ exp: NOW / 1000 + tenYears + 1, aud: 'api' }, rules()), { ok: false, reason: 'bad-exp' }, 'far future');
    t.same(validateClaims({ exp: NOW / 1000 - tenYears - 1, aud: 'api' }, rules()), { ok: false, reason: 'bad-exp' }, 'far past');
    t.same(validateClaims({ exp: 1e300, aud: 'api' }, rules()), { ok: false, reason: 'bad-exp' });
    t.equal(validateClaims({ exp: NOW / 1000 + tenYears - 1, aud: 'api' }, rules()).ok, true, 'just within');
  });
  t.test('rule: expired beyond the clock tolerance', async (t) => {
    const e = NOW / 1000;
    t.same(validateClaims({ exp: e - 30, aud: 'api' }, rules()), { ok: false, reason: 'expired' }, 'exactly at exp + tolerance');
    t.same(validateClaims({ exp: e - 29.999, aud: 'api' }, rules()).ok, true, 'within tolerance');
    t.same(validateClaims({ exp: e, aud: 'api' }, rules({ clockToleranceMs: 0 })), { ok: false, reason: 'expired' }, 'now === exp is expired (RFC 7519 §4.1.4)');
    t.same(validateClaims({ exp: e + 0.001, aud: 'api' }, rules({ clockToleranceMs: 0 })).ok, true);
  });
  t.test('rule: nbf, if present, finite and not after now + tolerance', async (t) => {
    const n = NOW / 1000;
    t.same(validateClaims({ exp, aud: 'api', nbf: n + 30 }, rules()).ok, true, 'at the edge');
    t.same(validateClaims({ exp, aud: 'api', nbf: n + 30.001 }, rules()), { ok: false, reason: 'not-yet-valid' });
    for (const v of ['0', null, Infinity]) t.same(validateClaims({ exp, aud: 'api', nbf: v }, rules()), { ok: false, reason: 'bad-nbf' }, String(v));
  });
  t.test('rule: iat, if present, finite and not after now + tolerance', async (t) => {
    const n = NOW / 1000;
    t.same(validateClaims({ exp, aud: 'api', iat: n + 30 }, rules()).ok, true);
    t.same(validateClaims({ exp, aud: 'api', iat: n + 31 }, rules()), { ok: false, reason: 'iat-in-future' });
    t.same(validateClaims({ exp, aud: 'api', iat: 0 }, rules()).ok, true, 'old iat is fine');
    for (const v of ['0', false, -Infinity]) t.same(validateClaims({ exp, aud: 'api', iat: v }, rules()), { ok: false, reason: 'bad-iat' }, String(v));
  });
  t.test('rule: iss must equal the configured issuer', async (t) => {
    const r = rules({ issuer: 'https://idp.example.com/' });
    t.same(validateClaims({ exp, aud: 'api', iss: 'https://idp.example.com/' }, r).ok, true);
    for (const iss of ['https://idp.example.com', 'HTTPS://IDP.EXAMPLE.COM/', 'https://idp.example.com/ ', ['https://idp.example.com/'], undefined]) {
      t.same(validateClaims({ exp, aud: 'api', iss }, r), { ok: false, reason: 'bad-issuer' }, JSON.stringify(iss));
    }
    t.same(validateClaims({ exp, aud: 'api', iss: 42 }, rules()).ok, true, 'no issuer configured: iss not checked');
  });
  t.test('rule: aud string or array, one of them configured', async (t) => {
    const r = rules({ audience: ['api', 'other'] });
    t.same(validateClaims({ exp, aud: 'other' }, r).ok, true);
    t.same(validateClaims({ exp, aud: ['x', 'api'] }, r).ok, true);
    for (const aud of ['API', ['x', 'y'], [], undefined, 'api other', ['api', 1], 1, { api: true }, null]) {
      t.same(validateClaims({ exp, aud }, r), { ok: false, reason: 'bad-audience' }, JSON.stringify(aud));
    }
  });
  t.test('rule: audience any skips the match but not the type', async (t) => {
    const r = rules({ audience: 'any' });
    t.same(validateClaims({ exp }, r).ok, true, 'absent');
    t.same(validateClaims({ exp, aud: 'whatever' }, r).ok, true);
    t.same(validateClaims({ exp, aud: ['a', 'b'] }, r).ok, true);
    t.same(validateClaims({ exp, aud: 5 }, r), { ok: false, reason: 'bad-audience' });
    t.same(validateClaims({ exp, aud: ['a', null] }, r), { ok: false, reason: 'bad-audience' });
  });
});
