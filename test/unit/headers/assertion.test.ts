import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import t from 'tap';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { createAssertionSigner, type AssertionOptions, type AssertionSigner, type PublicJwk } from '../../../src/pipeline/headers/assertion.js';
import type { Identity } from '../../../src/pipeline/types.js';

const pkcs8 = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }) as string;

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec2 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = {
  ec: pkcs8(ec.privateKey),
  ecSec1: ec2.privateKey.export({ type: 'sec1', format: 'pem' }) as string,
  ed: pkcs8(ed.privateKey),
  rsaPkcs1: rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
};

const alice: Identity = {
  user: 'alice',
  email: 'alice@example.com',
  name: 'Alice Smith',
  groups: ['admin', 'staff,ops'],
  scopes: ['read'],
  claims: { secret: 'not copied' },
  method: 'basic',
  authenticator: 'staff',
};

async function signerOf(privateKeys: string[], extra: Partial<AssertionOptions> = {}): Promise<AssertionSigner> {
  const result = await createAssertionSigner({ header: 'X-Auth-Assertion', privateKeys, issuer: 'gatehouse', ttlMs: 60_000, ...extra });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.signer;
}

const b64 = (s: string) => Buffer.from(s, 'base64url');

// RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
function thumbprint(jwk: PublicJwk): string {
  const required =
    jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : jwk.kty === 'OKP' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url');
}

const cases = [
  { name: 'EC P-256 PKCS#8', pem: PEM.ec, alg: 'ES256', kty: 'EC', crv: 'P-256', sigBytes: 64 },
  { name: 'EC P-256 SEC1', pem: PEM.ecSec1, alg: 'ES256', kty: 'EC', crv: 'P-256', sigBytes: 64 },
  { name: 'Ed25519', pem: PEM.ed, alg: 'EdDSA', kty: 'OKP', crv: 'Ed25519', sigBytes: 64 },
  { name: 'RSA 2048 PKCS#1', pem: PEM.rsaPkcs1, alg: 'RS256', kty: 'RSA', crv: undefined, sigBytes: 256 },
] as const;

for (const c of cases) {
  t.test(`${c.name}: signs ${c.alg}, verified by jose with the published JWKS`, async (t) => {
    const signer = await signerOf([c.pem]);
    t.equal(signer.header, 'X-Auth-Assertion');
    t.equal(signer.ttlMs, 60_000);
    const [jwk] = signer.publicKeys;
    t.equal(signer.publicKeys.length, 1);
    t.equal(jwk!.kty, c.kty);
    t.equal(jwk!.alg, c.alg);
    t.equal(jwk!.use, 'sig');
    t.equal(jwk!.crv, c.crv);
    t.equal(jwk!.kid, thumbprint(jwk!));
    t.equal(signer.signingKid, jwk!.kid);
    t.equal((jwk as unknown as Record<string, unknown>).d, undefined, 'no private member published');
    t.same(Object.keys(jwk!).sort(), c.kty === 'EC' ? ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'] : c.kty === 'OKP' ? ['alg', 'crv', 'kid', 'kty', 'use', 'x'] : ['alg', 'e', 'kid', 'kty', 'n', 'use']);

    const token = signer.sign({ identity: alice, route: 'api', audience: 'http://10.0.0.5:3000' });
    t.strictSame(decodeProtectedHeader(token), { alg: c.alg, kid: jwk!.kid, typ: 'JWT' });
    t.equal(b64(token.split('.')[2]!).length, c.sigBytes, 'raw signature size (R||S for ES256)');

    const jwks = createLocalJWKSet(signer.publicJwks());
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: 'gatehouse',
      audience: 'http://10.0.0.5:3000',
      algorithms: [c.alg],
      typ: 'JWT',
    });
    t.equal(protectedHeader.kid, jwk!.kid);
    t.equal(payload.sub, 'alice');

    await t.rejects(jwtVerify(token, jwks, { issuer: 'other' }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
    await t.rejects(jwtVerify(token, jwks, { audience: 'http://10.0.0.6:3000' }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
    const [h, , s] = token.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'root' })).toString('base64url')}.${s}`;
    await t.rejects(jwtVerify(tampered, jwks), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });
}

t.test('claims are exactly iss, aud, sub, email, name, groups, route, amr, iat, exp, jti', async (t) => {
  const signer = await signerOf([PEM.ec], { issuer: 'https://gate.example.com', ttlMs: 90_000 });
  const nowMs = 1_700_000_000_750;
  const token = signer.sign({ identity: alice, route: 'api', audience: 'https://api.internal', nowMs });
  const claims = decodeJwt(token);
  t.strictSame(claims, {
    iss: 'https://gate.example.com',
    aud: 'https://api.internal',
    sub: 'alice',
    email: 'alice@example.com',
    name: 'Alice Smith',
    groups: ['admin', 'staff,ops'],
    route: 'api',
    amr: ['basic'],
    iat: 1_700_000_000,
    exp: 1_700_000_090,
    jti: claims.jti,
  });
  t.match(claims.jti, /^[A-Za-z0-9_-]{22}$/);
  t.equal(b64(claims.jti as string).length, 16, '128 random bits');
});

t.test('absent identity fields are omitted, never sent empty', async (t) => {
  const signer = await signerOf([PEM.ed]);
  const bare: Identity = { groups: [], scopes: [], claims: {}, method: 'jwt', authenticator: 'partners', user: '' };
  const claims = decodeJwt(signer.sign({ identity: bare, route: 'partners', audience: 'aud', nowMs: 5_000 }));
  t.strictSame(claims, { iss: 'gatehouse', aud: 'aud', route: 'partners', amr: ['jwt'], iat: 5, exp: 65, jti: claims.jti });
});

t.test('exp - iat is the ttl in whole seconds; iat is now', async (t) => {
  for (const [ttlMs, seconds] of [
    [1_000, 1],
    [60_000, 60],
    [90_999, 90],
    [86_400_000, 86_400],
  ] as const) {
    const signer = await signerOf([PEM.ec], { ttlMs });
    const before = Math.floor(Date.now() / 1000);
    const { iat, exp } = decodeJwt(signer.sign({ identity: alice, route: 'r', audience: 'a' }));
    const after = Math.floor(Date.now() / 1000);
    t.ok(iat! >= before && iat! <= after, `iat ${iat} within [${before}, ${after}]`);
    t.equal(exp! - iat!, seconds, `ttl ${ttlMs} ms`);
    t.ok(Number.isInteger(iat) && Number.isInteger(exp));
  }
});

t.test('jti is unique over 1000 signs', async (t) => {
  const signer = await signerOf([PEM.ed]);
  const jtis = new Set<string>();
  for (let i = 0; i < 1000; i++) jtis.add(decodeJwt(signer.sign({ identity: alice, route: 'r', audience: 'a', nowMs: 1_000_000 })).jti as string);
  t.equal(jtis.size, 1000);
});

t.test('the encoded header is computed once and shared by every token', async (t) => {
  const signer = await signerOf([PEM.rsaPkcs1]);
  const heads = new Set<string>();
  for (let i = 0; i < 5; i++) heads.add(signer.sign({ identity: alice, route: 'r', audience: 'a' }).split('.')[0]!);
  t.equal(heads.size, 1);
});

t.test('anonymous identities are never signed (the caller skips them; sign refuses)', async (t) => {
  const signer = await signerOf([PEM.ec]);
  const anonymous: Identity = { groups: [], scopes: [], claims: {}, method: 'anonymous', authenticator: 'anonymous' };
  t.throws(() => signer.sign({ identity: anonymous, route: 'r', audience: 'a' }), { message: 'assertion: anonymous identities are never signed' });
});

t.test('rotation: the first key signs, every key is published', async (t) => {
  const oldSigner = await signerOf([PEM.ec]);
  const oldToken = oldSigner.sign({ identity: alice, route: 'r', audience: 'a' });

  const rotated = await signerOf([PEM.ed, PEM.ec]);
  t.same(
    rotated.publicKeys.map((k) => k.kid),
    [thumbprint(rotated.publicKeys[0]!), oldSigner.signingKid],
  );
  t.equal(rotated.publicKeys[0]!.alg, 'EdDSA');
  t.equal(rotated.signingKid, rotated.publicKeys[0]!.kid);
  const newToken = rotated.sign({ identity: alice, route: 'r', audience: 'a' });
  t.equal(decodeProtectedHeader(newToken).kid, rotated.publicKeys[0]!.kid);
  t.equal(decodeProtectedHeader(newToken).alg, 'EdDSA');

  const jwks = createLocalJWKSet(rotated.publicJwks());
  t.equal((await jwtVerify(newToken, jwks, { issuer: 'gatehouse', audience: 'a' })).protectedHeader.kid, rotated.publicKeys[0]!.kid);
  t.equal((await jwtVerify(oldToken, jwks, { issuer: 'gatehouse', audience: 'a' })).protectedHeader.kid, oldSigner.signingKid, 'tokens of the old key still verify');

  // Once the old key is gone from the list (and not passed back as retired), its tokens fail.
  const only = await signerOf([PEM.ed]);
  await t.rejects(jwtVerify(oldToken, createLocalJWKSet(only.publicJwks())), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
});

t.test('publicJwks(extra) adds retired keys once, after the configured ones', async (t) => {
  const retired = await signerOf([PEM.rsaPkcs1]);
  const current = await signerOf([PEM.ed, PEM.ec]);
  const [edJwk, ecJwk] = current.publicKeys;
  const [rsaJwk] = retired.publicKeys;

  t.strictSame(current.publicJwks(), { keys: [edJwk, ecJwk] });
  t.strictSame(current.publicJwks([]), { keys: [edJwk, ecJwk] });
  t.strictSame(current.publicJwks([ecJwk!, rsaJwk!, rsaJwk!, edJwk!]), { keys: [edJwk, ecJwk, rsaJwk] });

  // A caller mutating the answer cannot change what is published next time.
  const answer = current.publicJwks([rsaJwk!]);
  answer.keys.length = 0;
  t.equal(current.publicJwks().keys.length, 2);
  t.equal(current.publicKeys.length, 2);
  t.ok(Object.isFrozen(current.publicKeys) && Object.isFrozen(edJwk));

  const token = retired.sign({ identity: alice, route: 'r', audience: 'a' });
  const { protectedHeader } = await jwtVerify(token, createLocalJWKSet(current.publicJwks(retired.publicKeys)), { issuer: 'gatehouse', audience: 'a' });
  t.equal(protectedHeader.alg, 'RS256');
});

t.test('unusable keys are errors that name their index and never quote the key', async (t) => {
  const rsaSmall = pkcs8(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey);
  const p384 = pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey);
  const ed448 = pkcs8(generateKeyPairSync('ed448').privateKey);
  const x25519 = pkcs8(generateKeyPairSync('x25519').privateKey);
  const rsaPss = pkcs8(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey);
  const dsa = pkcs8(generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 224 }).privateKey);
  const encryptedPkcs8 = ec.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
  const encryptedSec1 = ec.privateKey.export({ type: 'sec1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
  const publicKey = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const rsaPublic = rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  const certificate = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const paramsOnly = '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n';
  const garbage = '-----BEGIN PRIVATE KEY-----\nTm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n';
  const inputs = [
    PEM.ec, // 0: fine
    rsaSmall,
    p384,
    ed448,
    x25519,
    rsaPss,
    dsa,
    encryptedPkcs8,
    encryptedSec1,
    publicKey,
    rsaPublic,
    certificate,
    paramsOnly,
    garbage,
    'not pem at all',
    PEM.ec + PEM.ed,
    42 as unknown as string,
    PEM.ec, // 17: duplicate of 0
  ];
  const result = await createAssertionSigner({ header: 'X-Auth-Assertion', privateKeys: inputs, issuer: 'gatehouse', ttlMs: 60_000 });
  t.equal(result.ok, false);
  if (result.ok) return;
  const supported = 'use an EC P-256 (ES256), Ed25519 (EdDSA) or RSA of at least 2048 bits (RS256) private key';
  t.strictSame(result.errors, [
    { field: 'privateKey', index: 1, message: `is an RSA key of 1024 bits; ${supported}` },
    { field: 'privateKey', index: 2, message: `is an EC key on curve secp384r1; ${supported}` },
    { field: 'privateKey', index: 3, message: `is a key of type ed448; ${supported}` },
    { field: 'privateKey', index: 4, message: `is a key of type x25519; ${supported}` },
    { field: 'privateKey', index: 5, message: `is a key of type rsa-pss; ${supported}` },
    { field: 'privateKey', index: 6, message: `is a key of type dsa; ${supported}` },
    { field: 'privateKey', index: 7, message: 'is an encrypted private key; gatehouse reads unencrypted PEM only (decrypt it with `openssl pkey -in key.pem -out plain.pem`)' },
    { field: 'privateKey', index: 8, message: 'is an encrypted private key; gatehouse reads unencrypted PEM only (decrypt it with `openssl pkey -in key.pem -out plain.pem`)' },
    { field: 'privateKey', index: 9, message: 'is a public key or certificate, not a private key' },
    { field: 'privateKey', index: 10, message: 'is a public key or certificate, not a private key' },
    { field: 'privateKey', index: 11, message: 'is a public key or certificate, not a private key' },
    { field: 'privateKey', index: 12, message: 'holds no private key (found EC PARAMETERS)' },
    { field: 'privateKey', index: 13, message: 'cannot be read as a PEM private key (PKCS#8, SEC1 or PKCS#1)' },
    { field: 'privateKey', index: 14, message: 'is not PEM text (no -----BEGIN line)' },
    { field: 'privateKey', index: 15, message: 'holds 2 private keys; list each key as its own entry' },
    { field: 'privateKey', index: 16, message: 'is not a string' },
    { field: 'privateKey', index: 17, message: 'is the same key as privateKey[0]' },
  ]);
  // No message carries base64 from any key (security.md §13).
  for (const e of result.errors) t.notMatch(e.message, /[A-Za-z0-9+/]{16,}/, `message ${e.index}`);
});

t.test('an EC PARAMETERS block before the key (openssl ecparam -genkey) is fine', async (t) => {
  const params = '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n';
  const signer = await signerOf([params + PEM.ecSec1]);
  t.equal(signer.publicKeys[0]!.alg, 'ES256');
});

t.test('the ttl and the key list are checked too (index -1)', async (t) => {
  for (const ttlMs of [999, 0, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.strictSame(await createAssertionSigner({ header: 'X-A', privateKeys: [PEM.ec], issuer: 'i', ttlMs }), {
      ok: false,
      errors: [{ field: 'ttl', index: -1, message: 'must be at least 1s (iat and exp are whole seconds)' }],
    });
  }
  t.strictSame(await createAssertionSigner({ header: 'X-A', privateKeys: [], issuer: 'i', ttlMs: 60_000 }), {
    ok: false,
    errors: [{ field: 'privateKey', index: -1, message: 'must list at least one key' }],
  });
});
