import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import t from 'tap';
import { SUPPORTED_ALGORITHMS } from '../../../src/jwt/algorithms.js';
import { keySetFromJwks, keySetFromPem, type KeySet } from '../../../src/jwt/key-set.js';
import type { RemoteJwks, RemoteJwksHealth } from '../../../src/jwt/remote-jwks.js';
import { createJwtAuthenticator, ERROR_DESCRIPTIONS, type JwtAuthenticatorOptions } from '../../../src/pipeline/authenticate/jwt.js';
import type { AuthResult, Authenticator, Identity } from '../../../src/pipeline/types.js';
import { b64u, bearer, facts, handToken, joseToken, json, makeKey, type TestKey } from '../jwt/tokens.js';

// ---------------------------------------------------------------- fixtures

const SECRET = randomBytes(64);
const NOW_S = Math.floor(Date.now() / 1000);
const EXP = NOW_S + 300;
const CLAIMS = { sub: 'alice', aud: 'api', iss: 'https://idp.example.com/', exp: EXP, iat: NOW_S - 10 };

const es = await makeKey('ES256', 'es-1');
const es2 = await makeKey('ES256', 'es-2');
const rs = await makeKey('RS256', 'rs-1');
const ed = await makeKey('EdDSA', 'ed-1', { crv: 'Ed25519' });
const attacker = await makeKey('ES256', 'es-1'); // same kid as the real key

const jwksText = (...keys: TestKey[]) => JSON.stringify({ keys: keys.map((k) => k.jwk) });
function keySetOf(text: string): KeySet {
  const r = keySetFromJwks(text);
  if ('error' in r) throw new Error(r.error);
  return r.keySet;
}
const STATIC = keySetOf(jwksText(es, es2, rs, ed));

interface Clock {
  now: number;
}

function make(over: Partial<JwtAuthenticatorOptions> = {}, clock: Clock = { now: NOW_S * 1000 }): Authenticator {
  return createJwtAuthenticator(
    {
      name: 'partners',
      realm: 'api',
      algorithms: ['ES256', 'RS256', 'EdDSA'],
      keys: { kind: 'static', keySet: STATIC },
      issuer: 'https://idp.example.com/',
      audience: ['api'],
      clockToleranceMs: 30_000,
      claims: { user: 'sub', email: 'email', groups: 'groups', scopes: 'scope' },
      cache: { maxEntries: 100 },
      ...over,
    },
    { now: () => clock.now },
  );
}
const hsAuth = (over: Partial<JwtAuthenticatorOptions> = {}, clock?: Clock) =>
  make({ algorithms: ['HS256'], keys: { kind: 'secret', secret: SECRET }, ...over }, clock);

const sign = (key: TestKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  joseToken({ alg: key.alg, privateKey: key.privateKey, kid: key.jwk.kid as string }, { ...CLAIMS, ...claims }, header);
const hs = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  joseToken({ alg: 'HS256', privateKey: SECRET }, { ...CLAIMS, ...claims }, header);
/** A hand-made ES256 token (es-1 key): any header/payload text, correctly signed. */
const hand = (header: object | string, payload: object | string = CLAIMS, key: TestKey = es) => handToken(key.alg, key.privateKey, header, payload);

const challenge = (description: string) => `Bearer realm="api", error="invalid_token", error_description="${description}"`;
const invalid = (reason: string): AuthResult => ({
  outcome: 'fail',
  reason,
  code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS',
  challenge: challenge('invalid token'),
});
const malformed = (reason: string, description = 'invalid token'): AuthResult => ({
  outcome: 'fail',
  reason,
  code: 'GATEHOUSE_ERR_AUTH_MALFORMED_CREDENTIALS',
  challenge: challenge(description),
});
const EXPIRED: AuthResult = { outcome: 'fail', reason: 'expired', code: 'GATEHOUSE_ERR_AUTH_TOKEN_EXPIRED', challenge: challenge('token expired') };
const NO_KEYS: AuthResult = { outcome: 'fail', reason: 'no-keys', code: 'GATEHOUSE_ERR_AUTH_UNAVAILABLE' };

function userOf(r: AuthResult): string | undefined {
  return r.outcome === 'ok' ? r.identity.user : undefined;
}

/** A KeySet wrapper that counts lookups: a cache hit makes none. */
function counting(inner: KeySet): KeySet & { selects: number } {
  const ks = {
    selects: 0,
    size: inner.size,
    select(alg: string, kid: string | undefined) {
      ks.selects++;
      return inner.select(alg, kid);
    },
    hasKid: (kid: string) => inner.hasKid(kid),
  };
  return ks;
}

/** A RemoteJwks double: `next` is what the following refetch() brings. */
function fakeJwks(initial: KeySet | undefined) {
  const state = { current: initial, next: undefined as KeySet | undefined, refetches: 0, closed: false };
  const jwks: RemoteJwks = {
    current: () => state.current,
    async refetch() {
      state.refetches++;
      if (state.next !== undefined) state.current = state.next;
      state.next = undefined;
      return state.current;
    },
    refresh: async () => state.current,
    ready: () => state.current !== undefined,
    health: (): RemoteJwksHealth => ({ jwks: state.current === undefined ? 'missing' : 'ok', keys: state.current?.size ?? 0 }),
    async close() {
      state.closed = true;
    },
  };
  return { jwks, state };
}

// ---------------------------------------------------------------- happy paths

t.test('every supported algorithm verifies (tokens signed by jose)', async (t) => {
  for (const alg of SUPPORTED_ALGORITHMS) {
    if (alg.startsWith('HS')) {
      const auth = make({ algorithms: [alg], keys: { kind: 'secret', secret: SECRET } });
      const token = await joseToken({ alg, privateKey: SECRET }, CLAIMS);
      t.equal(userOf(await auth.authenticate(bearer(token))), 'alice', alg);
      continue;
    }
    const key = await makeKey(alg, `k-${alg}`, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
    const auth = make({ algorithms: [alg], keys: { kind: 'static', keySet: keySetOf(jwksText(key)) } });
    t.equal(userOf(await auth.authenticate(bearer(await sign(key)))), 'alice', alg);
  }
  // jose does not make Ed448 keys; node:crypto does.
  const ed448 = generateKeyPairSync('ed448');
  const ks = keySetOf(JSON.stringify({ keys: [{ ...ed448.publicKey.export({ format: 'jwk' }), kid: 'ed448' }] }));
  const auth = make({ algorithms: ['EdDSA'], keys: { kind: 'static', keySet: ks } });
  t.equal(userOf(await auth.authenticate(bearer(handToken('EdDSA', ed448.privateKey, { alg: 'EdDSA', kid: 'ed448' }, CLAIMS)))), 'alice', 'EdDSA with Ed448');
});

t.test('identity from the claims mapping', async (t) => {
  const auth = make();
  const token = await sign(es, { email: 'alice@example.com', groups: ['admin', 'staff'], scope: 'read write', tenant: { id: 't1' } });
  const r = await auth.authenticate(bearer(token));
  t.equal(r.outcome, 'ok');
  if (r.outcome !== 'ok') return;
  t.equal(r.consumed, 'authorization');
  const id: Identity = r.identity;
  t.same(
    { ...id, claims: undefined },
    { user: 'alice', email: 'alice@example.com', groups: ['admin', 'staff'], scopes: ['read', 'write'], claims: undefined, method: 'jwt', authenticator: 'partners' },
  );
  t.same(id.claims, { ...CLAIMS, email: 'alice@example.com', groups: ['admin', 'staff'], scope: 'read write', tenant: { id: 't1' } });
  t.ok(Object.isFrozen(id.claims) && Object.isFrozen(id.claims.tenant), 'claims are frozen: the cache shares them');
});

// ---------------------------------------------------------------- the Authorization header

t.test('no Authorization header, or another scheme: skip', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(facts()), { outcome: 'skip' });
  t.same(await auth.authenticate(facts('Basic YWxpY2U6c2VjcmV0')), { outcome: 'skip' });
  t.same(await auth.authenticate(facts('DPoP abc')), { outcome: 'skip' });
});

t.test('a Bearer header that is not token68 is malformed', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(facts('Bearer')), malformed('malformed-header'));
  t.same(await auth.authenticate(facts('Bearer a b')), malformed('malformed-token'));
  t.same(await auth.authenticate(facts(['Bearer a', 'Bearer b'])), malformed('malformed-header'), 'two headers');
  t.equal(userOf(await auth.authenticate(facts(`bEaReR ${await sign(es)}`))), 'alice', 'scheme in any case');
});

t.test('an opaque token (not a JWS) is malformed, not skipped', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer('2YotnFZFEjr1zCsicMWpAA')), malformed('bad-encoding'));
  t.same(await auth.authenticate(bearer('mF_9.B5f-4.1JqM')), malformed('bad-encoding'));
  t.same(await auth.authenticate(bearer('abcd.efgh.ijkl')), malformed('bad-header'));
});

// ---------------------------------------------------------------- JWT rules: shape

t.test('rule: a token longer than 8192 bytes fails before parsing', async (t) => {
  const auth = make();
  const big = hand({ alg: 'ES256', kid: 'es-1' }, { ...CLAIMS, pad: 'x'.repeat(8200) });
  t.ok(big.length > 8192);
  t.same(await auth.authenticate(bearer(big)), malformed('too-large', 'token too large'));
  t.same(await auth.authenticate(bearer('A'.repeat(100_000))), malformed('too-large', 'token too large'));
  // Just under the limit it is parsed (and verified) normally.
  const base = hand({ alg: 'ES256', kid: 'es-1' }, { ...CLAIMS, pad: '' }).length;
  const fits = hand({ alg: 'ES256', kid: 'es-1' }, { ...CLAIMS, pad: 'x'.repeat(Math.floor(((8192 - base) * 3) / 4) - 4) });
  t.ok(fits.length <= 8192 && fits.length > 8100, `length ${fits.length}`);
  t.equal(userOf(await auth.authenticate(bearer(fits))), 'alice');
});

t.test('rule: 5 segments (JWE) fail', async (t) => {
  const auth = make();
  const jwe = `${json({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.${b64u('k')}.${b64u('iv')}.${b64u('ct')}.${b64u('tag')}`;
  t.same(await auth.authenticate(bearer(jwe)), malformed('jwe', 'unsupported token type'));
});

t.test('rule: exactly 3 segments', async (t) => {
  const auth = make();
  const token = await sign(es);
  t.same(await auth.authenticate(bearer(token.split('.').slice(0, 2).join('.'))), malformed('bad-encoding'));
  t.same(await auth.authenticate(bearer(`${token}.x`)), malformed('bad-encoding'));
});

t.test('rule: every segment is canonical base64url', async (t) => {
  const auth = make();
  const token = await sign(es);
  const [h, p, s] = token.split('.') as [string, string, string];
  t.same(await auth.authenticate(bearer(`${h}=.${p}.${s}`)), malformed('malformed-token'), 'inner padding is not even token68');
  t.same(await auth.authenticate(bearer(`${h}.${p}.${s}=`)), malformed('bad-encoding'), 'padding');
  t.same(await auth.authenticate(bearer(`${h}.${p}.${s}~`)), malformed('bad-encoding'), 'token68 but not base64url');
  t.same(await auth.authenticate(bearer(`${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}${/[-_]/.test(s) ? '' : '+'}`)), malformed('bad-encoding'), 'standard alphabet');
  const last = s.charCodeAt(s.length - 1);
  // ES256: 64 bytes → 86 characters, the last one carrying 2 unused bits.
  const bumped = `${s.slice(0, -1)}${String.fromCharCode(last + 1)}`;
  t.same(await auth.authenticate(bearer(`${h}.${p}.${bumped}`)), malformed('bad-encoding'), 'non-zero trailing bits');
});

t.test('rule: the signature segment is non-empty', async (t) => {
  const auth = make();
  const [h, p] = (await sign(es)).split('.');
  t.same(await auth.authenticate(bearer(`${h}.${p}.`)), malformed('bad-encoding'));
});

t.test('rule: the header is a JSON object', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(hand('["ES256"]'))), malformed('bad-header'));
  t.same(await auth.authenticate(bearer(hand('{"alg":"ES256",}'))), malformed('bad-header'));
});

t.test('rule: duplicate alg/kid/crit in the header fail', async (t) => {
  const auth = make();
  for (const header of [
    '{"alg":"ES256","kid":"es-1","alg":"ES256"}',
    '{"alg":"ES256","kid":"es-2","kid":"es-1"}',
    '{"alg":"ES256","kid":"es-1","crit":["x"],"crit":[]}',
    '{"alg":"ES256","kid":"es-1","\\u006bid":"es-1"}',
  ]) {
    t.same(await auth.authenticate(bearer(hand(header))), malformed('duplicate-header-member'), header);
  }
});

// ---------------------------------------------------------------- JWT rules: header

t.test('rule: alg must be in the allow-list', async (t) => {
  const auth = make({ algorithms: ['ES256'] });
  t.same(await auth.authenticate(bearer(await sign(rs))), invalid('alg-not-allowed'), 'RS256 on an ES256-only authenticator');
  t.same(await auth.authenticate(bearer(hand({ kid: 'es-1' }))), invalid('alg-not-allowed'), 'missing alg');
  t.same(await auth.authenticate(bearer(hand({ alg: 'es256', kid: 'es-1' }))), invalid('alg-not-allowed'), 'wrong case');
});

t.test('rule: alg none is never accepted', async (t) => {
  const auth = make();
  const unsigned = `${json({ alg: 'none' })}.${json(CLAIMS)}.`;
  t.same(await auth.authenticate(bearer(unsigned)), malformed('bad-encoding'), 'empty signature');
  const withSig = `${json({ alg: 'none' })}.${json(CLAIMS)}.${b64u('x')}`;
  t.same(await auth.authenticate(bearer(withSig)), invalid('alg-not-allowed'));
  t.throws(() => make({ algorithms: ['none'] }), { message: 'jwt authenticator partners: unsupported algorithm "none"' });
});

t.test('rule: typ, if present, JWT or at+jwt', async (t) => {
  const auth = make();
  for (const typ of ['JWT', 'jwt', 'at+jwt', 'application/at+JWT', 'application/jwt']) {
    t.equal(userOf(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1', typ })))), 'alice', typ);
  }
  for (const typ of ['JOSE', 'dpop+jwt', 'logout+jwt', 7]) {
    t.same(
      await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1', typ }))),
      { outcome: 'fail', reason: 'bad-typ', code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS', challenge: challenge('unsupported token type') },
      String(typ),
    );
  }
});

t.test('rule: jku, x5u, jwk, x5c, x5t, x5t#S256 present fail', async (t) => {
  const auth = make();
  const values: Record<string, unknown> = {
    jku: 'https://evil.example/jwks.json',
    x5u: 'https://evil.example/cert.pem',
    jwk: attacker.jwk,
    x5c: ['MIIB'],
    x5t: 'abc',
    'x5t#S256': 'abc',
  };
  for (const [name, value] of Object.entries(values)) {
    // Signed with the real key: the member alone is enough to refuse.
    t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1', [name]: value }))), invalid(`forbidden-header:${name}`), name);
  }
  // The classic attack: sign with your own key and ship it in the header.
  const selfSigned = hand({ alg: 'ES256', jwk: attacker.jwk }, CLAIMS, attacker);
  t.same(await auth.authenticate(bearer(selfSigned)), invalid('forbidden-header:jwk'));
});

t.test('rule: crit present fails', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1', crit: ['exp'] }))), invalid('crit'));
});

t.test('rule: b64 present fails', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1', b64: false, crit: ['b64'] }))), invalid('crit'));
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1', b64: true }))), invalid('forbidden-header:b64'));
});

t.test('rule: zip present fails', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1', zip: 'DEF' }))), invalid('forbidden-header:zip'));
});

t.test('rule: a 3-segment token with a JWE header (enc) fails', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1', enc: 'A128GCM' }))), malformed('jwe', 'unsupported token type'));
});

t.test('rule: kid, if present, is a string', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 1 }))), invalid('bad-kid'));
});

// ---------------------------------------------------------------- JWT rules: keys

t.test('rule: HS* only from secret; asymmetric only from key sets', async (t) => {
  t.throws(() => make({ algorithms: ['ES256', 'HS256'] }), { message: 'jwt authenticator partners: HS256 needs `secret`; key sets verify asymmetric algorithms only' });
  t.throws(() => hsAuth({ algorithms: ['HS256', 'RS256'] }), {
    message: 'jwt authenticator partners: RS256 needs public keys; `secret` verifies HS256/HS384/HS512 only',
  });
  const { jwks } = fakeJwks(STATIC);
  t.throws(() => make({ algorithms: ['HS512'], keys: { kind: 'remote', jwks } }), RangeError);
});

t.test('rule: an RSA public key used as an HMAC secret (alg confusion) fails', async (t) => {
  const pem = rs.publicKey.export({ format: 'pem', type: 'spki' }) as string;
  const r = keySetFromPem(pem);
  if ('error' in r) throw new Error(r.error);
  const auth = make({ algorithms: ['RS256'], keys: { kind: 'static', keySet: r.keySet } });
  t.equal(userOf(await auth.authenticate(bearer(await sign(rs)))), 'alice', 'the real RS256 token');
  const forged = handToken('HS256', Buffer.from(pem), { alg: 'HS256' }, CLAIMS);
  t.same(await auth.authenticate(bearer(forged)), invalid('alg-not-allowed'));
  const forgedDer = handToken('HS256', rs.publicKey.export({ format: 'der', type: 'spki' }), { alg: 'HS256' }, CLAIMS);
  t.same(await auth.authenticate(bearer(forgedDer)), invalid('alg-not-allowed'));
});

t.test('rule: HS secrets at least as long as the hash (RFC 7518 §3.2)', async (t) => {
  t.throws(() => hsAuth({ keys: { kind: 'secret', secret: Buffer.alloc(31) } }), { message: 'jwt authenticator partners: the secret must be at least 32 bytes for HS256' });
  t.throws(() => hsAuth({ algorithms: ['HS256', 'HS512'], keys: { kind: 'secret', secret: Buffer.alloc(48) } }), {
    message: 'jwt authenticator partners: the secret must be at least 64 bytes for HS512',
  });
  t.doesNotThrow(() => hsAuth({ algorithms: ['HS384'], keys: { kind: 'secret', secret: Buffer.alloc(48, 1) } }));
});

t.test('HS: a token signed with another secret fails; the kid is ignored', async (t) => {
  const auth = hsAuth();
  t.equal(userOf(await auth.authenticate(bearer(await hs({}, { kid: 'whatever' })))), 'alice');
  const other = await joseToken({ alg: 'HS256', privateKey: randomBytes(64) }, CLAIMS);
  t.same(await auth.authenticate(bearer(other)), invalid('bad-signature'));
});

t.test('rule: with a kid, the key with that kid whose type fits the alg', async (t) => {
  const auth = make();
  t.equal(userOf(await auth.authenticate(bearer(await sign(es2)))), 'alice', 'kid es-2 picks the es-2 key');
  // Signed by es-2 but naming es-1: only es-1 is tried.
  const misnamed = hand({ alg: 'ES256', kid: 'es-1' }, CLAIMS, es2);
  t.same(await auth.authenticate(bearer(misnamed)), invalid('bad-signature'));
  // rs-1 is an RSA key: an ES256 token naming it finds no fitting key.
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'rs-1' }))), invalid('no-matching-key'));
});

t.test('rule: unknown kid fails (static keys)', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'nope' }))), invalid('unknown-kid'));
  t.same(await auth.authenticate(bearer(await sign(attacker, {}, { kid: 'other' }))), invalid('unknown-kid'));
});

t.test('rule: a JWK alg must equal the header alg', async (t) => {
  const pinned = keySetOf(JSON.stringify({ keys: [{ ...rs.jwk, alg: 'RS256' }] }));
  const auth = make({ algorithms: ['RS256', 'PS256'], keys: { kind: 'static', keySet: pinned } });
  t.equal(userOf(await auth.authenticate(bearer(await sign(rs)))), 'alice');
  const ps = handToken('PS256', rs.privateKey, { alg: 'PS256', kid: 'rs-1' }, CLAIMS);
  t.same(await auth.authenticate(bearer(ps)), invalid('no-matching-key'));
});

t.test('rule: use must be sig and key_ops must include verify', async (t) => {
  const ks = keySetOf(
    JSON.stringify({ keys: [{ ...es.jwk, use: 'enc' }, { ...es2.jwk, key_ops: ['sign'] }, { ...rs.jwk, use: 'sig', key_ops: ['verify'] }] }),
  );
  const auth = make({ keys: { kind: 'static', keySet: ks } });
  t.same(await auth.authenticate(bearer(await sign(es))), invalid('unknown-kid'));
  t.same(await auth.authenticate(bearer(await sign(es2))), invalid('unknown-kid'));
  t.equal(userOf(await auth.authenticate(bearer(await sign(rs)))), 'alice');
});

t.test('rule: without a kid, every key that fits the alg is tried (at most 8)', async (t) => {
  const keys = await Promise.all(Array.from({ length: 10 }, () => makeKey('ES256')));
  const ks = keySetOf(jwksText(...keys));
  const auth = make({ keys: { kind: 'static', keySet: ks } });
  for (const i of [0, 3, 7]) {
    t.equal(userOf(await auth.authenticate(bearer(handToken('ES256', keys[i]!.privateKey, { alg: 'ES256' }, CLAIMS)))), 'alice', `key ${i}`);
  }
  for (const i of [8, 9]) {
    t.same(await auth.authenticate(bearer(handToken('ES256', keys[i]!.privateKey, { alg: 'ES256' }, CLAIMS))), invalid('bad-signature'), `key ${i} is beyond 8`);
  }
  const rsOnly = make({ keys: { kind: 'static', keySet: keySetOf(jwksText(rs)) } });
  t.same(await rsOnly.authenticate(bearer(handToken('ES256', es.privateKey, { alg: 'ES256' }, CLAIMS))), invalid('no-matching-key'));
});

t.test('rule: a wrong signature fails', async (t) => {
  const auth = make();
  const token = await sign(es);
  const [h, p, s] = token.split('.') as [string, string, string];
  const sig = Buffer.from(s, 'base64url');
  sig[10]! ^= 0x40;
  t.same(await auth.authenticate(bearer(`${h}.${p}.${b64u(sig)}`)), invalid('bad-signature'));
  t.same(await auth.authenticate(bearer(`${h}.${json({ ...CLAIMS, sub: 'root' })}.${s}`)), invalid('bad-signature'), 'payload swapped');
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, CLAIMS, attacker))), invalid('bad-signature'), 'attacker key, real kid');
  t.same(await auth.authenticate(bearer(`${h}.${p}.${b64u(Buffer.alloc(64))}`)), invalid('bad-signature'), 'zero r and s');
});

// ---------------------------------------------------------------- JWT rules: payload

t.test('rule: the payload is a JSON object (checked after the signature)', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, '["alice"]'))), invalid('bad-claims'));
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, ''))), invalid('bad-claims'), 'empty payload');
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, 'not json'))), invalid('bad-claims'));
  const dup = `{"sub":"alice","aud":"api","iss":"https://idp.example.com/","exp":${EXP},"sub":"root"}`;
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, dup))), invalid('bad-claims'), 'duplicate claim');
  const forgedJunk = `${json({ alg: 'ES256', kid: 'es-1' })}.${b64u('not json')}.${b64u(Buffer.alloc(64, 1))}`;
  t.same(await auth.authenticate(bearer(forgedJunk)), invalid('bad-signature'), 'an unsigned bad payload is a bad signature');
});

t.test('rule: exp is required', async (t) => {
  const auth = make();
  const { exp: _, ...noExp } = CLAIMS;
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, noExp))), invalid('missing-exp'));
});

t.test('rule: exp is a finite number within 10 years', async (t) => {
  const auth = make();
  const withExp = (exp: string) => `{"sub":"alice","aud":"api","iss":"https://idp.example.com/","exp":${exp}}`;
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, withExp('1e400')))), invalid('bad-exp'), '1e400 parses to Infinity');
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, withExp(`"${EXP}"`)))), invalid('bad-exp'), 'string');
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, withExp(String(NOW_S + 11 * 366 * 86400))))), invalid('bad-exp'), 'in 11 years');
  t.equal(userOf(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, withExp(`${EXP}.75`))))), 'alice', 'non-integer');
});

t.test('rule: expired beyond the clock tolerance fails as expired', async (t) => {
  const clock = { now: NOW_S * 1000 };
  const auth = make({}, clock);
  t.same(await auth.authenticate(bearer(await sign(es, { exp: NOW_S - 31 }))), EXPIRED);
  t.equal(userOf(await auth.authenticate(bearer(await sign(es, { exp: NOW_S - 29 })))), 'alice', 'within the 30 s tolerance');
  const strict = make({ clockToleranceMs: 0 }, clock);
  t.same(await strict.authenticate(bearer(await sign(es, { exp: NOW_S }))), EXPIRED, 'now === exp');
});

t.test('rule: nbf after now + tolerance fails as not yet valid', async (t) => {
  const auth = make();
  const notYet: AuthResult = { outcome: 'fail', reason: 'not-yet-valid', code: 'GATEHOUSE_ERR_AUTH_TOKEN_NOT_YET_VALID', challenge: challenge('token not yet valid') };
  t.same(await auth.authenticate(bearer(await sign(es, { nbf: NOW_S + 31 }))), notYet);
  t.equal(userOf(await auth.authenticate(bearer(await sign(es, { nbf: NOW_S + 29 })))), 'alice');
  t.same(await auth.authenticate(bearer(await sign(es, { nbf: 'soon' }))), invalid('bad-nbf'));
});

t.test('rule: iat after now + tolerance fails', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(await sign(es, { iat: NOW_S + 3600 }))), {
    outcome: 'fail',
    reason: 'iat-in-future',
    code: 'GATEHOUSE_ERR_AUTH_TOKEN_NOT_YET_VALID',
    challenge: challenge('token not yet valid'),
  });
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, `{"sub":"a","aud":"api","iss":"https://idp.example.com/","exp":${EXP},"iat":-1e999}`))), invalid('bad-iat'));
});

t.test('rule: iss must equal the configured issuer', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(await sign(es, { iss: 'https://idp.example.com' }))), invalid('bad-issuer'));
  t.same(await auth.authenticate(bearer(await sign(es, { iss: undefined }))), invalid('bad-issuer'), 'missing');
  const anyIssuer = make({ issuer: undefined });
  t.equal(userOf(await anyIssuer.authenticate(bearer(await sign(es, { iss: 'https://other/' })))), 'alice', 'no issuer configured');
});

t.test('rule: aud must name a configured audience', async (t) => {
  const auth = make({ audience: ['api', 'api2'] });
  t.equal(userOf(await auth.authenticate(bearer(await sign(es, { aud: ['x', 'api2'] })))), 'alice');
  t.same(await auth.authenticate(bearer(await sign(es, { aud: 'other' }))), invalid('bad-audience'));
  t.same(await auth.authenticate(bearer(await sign(es, { aud: undefined }))), invalid('bad-audience'), 'missing');
  t.same(await auth.authenticate(bearer(await sign(es, { aud: [] }))), invalid('bad-audience'));
  t.same(await auth.authenticate(bearer(await sign(es, { aud: [1] }))), invalid('bad-audience'));
});

t.test('rule: audience any accepts every (well-formed) aud', async (t) => {
  const auth = make({ audience: 'any' });
  t.equal(userOf(await auth.authenticate(bearer(await sign(es, { aud: 'anything' })))), 'alice');
  t.equal(userOf(await auth.authenticate(bearer(await sign(es, { aud: undefined })))), 'alice');
  t.same(await auth.authenticate(bearer(await sign(es, { aud: { x: 1 } }))), invalid('bad-audience'));
});

t.test('rule: the user claim is required', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(await sign(es, { sub: undefined }))), invalid('missing-user-claim'));
  t.same(await auth.authenticate(bearer(await sign(es, { sub: 42 }))), invalid('missing-user-claim'));
  const nested = make({ claims: { user: 'ext.login' } });
  t.equal(userOf(await nested.authenticate(bearer(await sign(es, { ext: { login: 'bob' } })))), 'bob');
});

t.test('order: a forged token is a bad signature even when expired or for another audience', async (t) => {
  const auth = make();
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, { ...CLAIMS, exp: NOW_S - 3600 }, attacker))), invalid('bad-signature'));
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, { ...CLAIMS, aud: 'x' }, attacker))), invalid('bad-signature'));
});

t.test('errors never echo the token or claim values', async (t) => {
  const auth = make();
  const secretSub = 'sub-value-7f3a';
  const results = [
    await auth.authenticate(bearer(await sign(es, { sub: secretSub, exp: NOW_S - 100 }))),
    await auth.authenticate(bearer(await sign(es, { sub: secretSub, aud: 'aud-value-91b' }))),
    await auth.authenticate(bearer(await sign(es, { sub: secretSub, iss: 'iss-value-0c2' }))),
    await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'kid-value-5d1' }))),
    await auth.authenticate(bearer(hand({ alg: 'alg-value-e4e', kid: 'es-1' }))),
    await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1', typ: 'typ-value-aa1' }))),
    await auth.authenticate(bearer('opaque-value-33c')),
  ];
  const text = JSON.stringify(results);
  t.equal(results.every((r) => r.outcome === 'fail'), true);
  for (const needle of [secretSub, 'aud-value', 'iss-value', 'kid-value', 'alg-value', 'typ-value', 'opaque-value', 'eyJ']) t.notMatch(text, needle, needle);
  const descriptions = new Set(results.map((r) => (r.outcome === 'fail' ? /error_description="([^"]*)"/.exec(r.challenge!)?.[1] : '')));
  for (const d of descriptions) t.ok((Object.values(ERROR_DESCRIPTIONS) as string[]).includes(d!), String(d));
});

// ---------------------------------------------------------------- challenges

t.test('challenges', async (t) => {
  const auth = make({ realm: 'Partner "API" \\ v2' });
  t.equal(auth.challenge, 'Bearer realm="Partner \\"API\\" \\\\ v2"');
  t.equal(auth.scopeChallenge!(['read', 'write:all']), 'Bearer realm="Partner \\"API\\" \\\\ v2", error="insufficient_scope", scope="read write:all"');
  t.equal(make().scopeChallenge!(['a']), 'Bearer realm="api", error="insufficient_scope", scope="a"');
  t.throws(() => make({ realm: 'a\r\nb' }), { message: 'jwt authenticator partners: realm must be printable Latin-1 text without control characters' });
  t.throws(() => make({ realm: 'ünï€' }), RangeError);
});

// ---------------------------------------------------------------- options

t.test('invalid options throw at creation', async (t) => {
  t.throws(() => make({ name: '' }), { message: 'jwt authenticator: name must be a non-empty string' });
  t.throws(() => make({ algorithms: [] }), { message: 'jwt authenticator partners: algorithms must not be empty' });
  t.throws(() => make({ algorithms: ['RS1'] }), { message: 'jwt authenticator partners: unsupported algorithm "RS1"' });
  t.throws(() => make({ audience: [] }), { message: "jwt authenticator partners: audience must be 'any' or a non-empty list of non-empty strings" });
  t.throws(() => make({ audience: [''] }), RangeError);
  t.throws(() => make({ clockToleranceMs: -1 }), { message: 'jwt authenticator partners: clockToleranceMs must be a non-negative number' });
  t.throws(() => make({ clockToleranceMs: Infinity }), RangeError);
  t.throws(() => make({ claims: { user: '' } }), { message: 'jwt authenticator partners: claims.user must be a claim path' });
  t.throws(() => make({ cache: { maxEntries: -1 } }), RangeError);
  t.doesNotThrow(() => make({ clockToleranceMs: 0 }));
});

t.test('static authenticators have no ready/health; close clears the cache', async (t) => {
  const auth = make();
  t.equal(auth.type, 'jwt');
  t.equal(auth.name, 'partners');
  t.equal(auth.ready, undefined);
  t.equal(auth.health, undefined);
  await auth.close!();
});

// ---------------------------------------------------------------- cache

t.test('cache: a repeated token is not verified again', async (t) => {
  const ks = counting(STATIC);
  const auth = make({ keys: { kind: 'static', keySet: ks } });
  const token = await sign(es);
  const first = await auth.authenticate(bearer(token));
  const second = await auth.authenticate(bearer(token));
  t.equal(ks.selects, 1);
  t.equal(second, first, 'the very same frozen result');
  t.ok(Object.isFrozen(first));
});

t.test('cache: never used at or past exp', async (t) => {
  const clock = { now: NOW_S * 1000 };
  const ks = counting(STATIC);
  const auth = make({ keys: { kind: 'static', keySet: ks } }, clock);
  const token = await sign(es, { exp: NOW_S + 10 });
  t.equal(userOf(await auth.authenticate(bearer(token))), 'alice');
  clock.now = (NOW_S + 10) * 1000 - 1;
  t.equal(userOf(await auth.authenticate(bearer(token))), 'alice');
  t.equal(ks.selects, 1, 'cached until just before exp');
  clock.now = (NOW_S + 10) * 1000;
  t.equal(userOf(await auth.authenticate(bearer(token))), 'alice', 'at exp: verified again, accepted within tolerance');
  t.equal(ks.selects, 2);
  t.equal(userOf(await auth.authenticate(bearer(token))), 'alice');
  t.equal(ks.selects, 3, 'a token accepted only thanks to the tolerance is not cached');
  clock.now = (NOW_S + 40) * 1000;
  t.same(await auth.authenticate(bearer(token)), EXPIRED);
});

t.test('cache: failures are not cached', async (t) => {
  const ks = counting(STATIC);
  const auth = make({ keys: { kind: 'static', keySet: ks } });
  const token = await sign(es, { aud: 'other' });
  await auth.authenticate(bearer(token));
  await auth.authenticate(bearer(token));
  t.equal(ks.selects, 2);
});

t.test('cache: maxEntries 0 disables it', async (t) => {
  const ks = counting(STATIC);
  const auth = make({ keys: { kind: 'static', keySet: ks }, cache: { maxEntries: 0 } });
  const token = await sign(es);
  await auth.authenticate(bearer(token));
  await auth.authenticate(bearer(token));
  t.equal(ks.selects, 2);
});

t.test('cache: close() empties it', async (t) => {
  const ks = counting(STATIC);
  const auth = make({ keys: { kind: 'static', keySet: ks } });
  const token = await sign(es);
  await auth.authenticate(bearer(token));
  await auth.close!();
  await auth.authenticate(bearer(token));
  t.equal(ks.selects, 2);
});

t.test('cache: HS tokens are cached too', async (t) => {
  const auth = hsAuth();
  const token = await hs();
  const a = await auth.authenticate(bearer(token));
  t.equal(await auth.authenticate(bearer(token)), a);
});

// ---------------------------------------------------------------- remote JWKS

t.test('remote: no key set at all → 503 without an invalid_token challenge', async (t) => {
  const { jwks, state } = fakeJwks(undefined);
  const auth = make({ keys: { kind: 'remote', jwks } });
  t.same(await auth.authenticate(bearer(await sign(es))), NO_KEYS);
  t.equal(state.refetches, 1, 'asked for the key set once');
  t.equal(auth.ready!(), false);
  t.same(auth.health!(), { jwks: 'missing', keys: 0 });
  t.same(await auth.authenticate(bearer('opaque')), malformed('bad-encoding'), 'a malformed token is still the client’s fault');
  t.same(await auth.authenticate(facts()), { outcome: 'skip' });
});

t.test('remote: requests before the first fetch join it', async (t) => {
  const { jwks, state } = fakeJwks(undefined);
  state.next = STATIC;
  const auth = make({ keys: { kind: 'remote', jwks } });
  t.equal(userOf(await auth.authenticate(bearer(await sign(es)))), 'alice');
  t.equal(auth.ready!(), true);
  t.same(auth.health!(), { jwks: 'ok', keys: 4 });
});

t.test('rule: unknown kid triggers a refetch; a rotated key is accepted', async (t) => {
  const { jwks, state } = fakeJwks(keySetOf(jwksText(es)));
  const auth = make({ keys: { kind: 'remote', jwks } });
  t.equal(userOf(await auth.authenticate(bearer(await sign(es)))), 'alice');
  t.equal(state.refetches, 0, 'a known kid fetches nothing');
  state.next = keySetOf(jwksText(es, es2));
  t.equal(userOf(await auth.authenticate(bearer(await sign(es2)))), 'alice');
  t.equal(state.refetches, 1);
});

t.test('rule: still unknown after the refetch → 401 unknown-kid', async (t) => {
  const { jwks, state } = fakeJwks(keySetOf(jwksText(es)));
  const auth = make({ keys: { kind: 'remote', jwks } });
  t.same(await auth.authenticate(bearer(await sign(es2))), invalid('unknown-kid'));
  t.equal(state.refetches, 1);
  state.next = keySetOf(jwksText(es));
  t.same(await auth.authenticate(bearer(await sign(es2))), invalid('unknown-kid'), 'a new but still kid-less set');
  t.same(await auth.authenticate(bearer(hand({ alg: 'ES256', kid: 'es-1' }, CLAIMS, attacker))), invalid('bad-signature'), 'known kid, no refetch');
  t.equal(state.refetches, 2);
});

t.test('remote: a key set change drops what the old one vouched for', async (t) => {
  const { jwks, state } = fakeJwks(keySetOf(jwksText(es, es2)));
  const auth = make({ keys: { kind: 'remote', jwks } });
  const token = await sign(es);
  t.equal(userOf(await auth.authenticate(bearer(token))), 'alice');
  state.current = keySetOf(jwksText(es2)); // es-1 was removed by a refresh
  t.same(await auth.authenticate(bearer(token)), invalid('unknown-kid'), 'the cached success is not used');
  const other = await sign(es2);
  t.equal(userOf(await auth.authenticate(bearer(other))), 'alice');
});

t.test('remote: ready/health delegate; close closes the JWKS', async (t) => {
  const { jwks, state } = fakeJwks(STATIC);
  const auth = make({ keys: { kind: 'remote', jwks } });
  t.equal(auth.ready!(), true);
  t.same(auth.health!(), { jwks: 'ok', keys: 4 });
  await auth.close!();
  t.equal(state.closed, true);
});

t.test('concurrent identical tokens are all answered', async (t) => {
  const auth = make();
  const token = await sign(es);
  const results = await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(bearer(token))));
  t.same(results.map(userOf), Array(20).fill('alice'));
});

