import { readFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import t from 'tap';
import {
  createKeySet,
  keySetFromJwks,
  keySetFromPem,
  keySetFromText,
  MAX_CANDIDATE_KEYS,
  MAX_JWKS_KEYS,
  mergeKeySets,
  type KeySet,
  type KeySetResult,
} from '../../../src/jwt/key-set.js';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/jwt/${name}`, import.meta.url), 'utf8');

const gen = {
  rsa: () => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
  rsa1024: () => generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey,
  p256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
  p384: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
  p521: () => generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
  ed25519: () => generateKeyPairSync('ed25519').publicKey,
  ed448: () => generateKeyPairSync('ed448').publicKey,
  x25519: () => generateKeyPairSync('x25519').publicKey,
};
const jwkOf = (key: KeyObject, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ...key.export({ format: 'jwk' }), ...extra });
const jwks = (...keys: unknown[]): string => JSON.stringify({ keys });

function ok(r: KeySetResult): { keySet: KeySet; skipped: readonly string[] } {
  if ('error' in r) throw new Error(`unexpected error: ${r.error}`);
  return r;
}
const same = (a: KeyObject, b: KeyObject): boolean => a.equals(b);

const RSA = gen.rsa();
const RSA2 = gen.rsa();
const P256 = gen.p256();
const P384 = gen.p384();
const P521 = gen.p521();
const ED = gen.ed25519();
const ED448 = gen.ed448();

t.test('keySetFromJwks imports every supported key type', async (t) => {
  const { keySet, skipped } = ok(
    keySetFromJwks(
      jwks(
        jwkOf(RSA, { kid: 'rsa', use: 'sig', alg: 'RS256' }),
        jwkOf(P256, { kid: 'p256', key_ops: ['verify'] }),
        jwkOf(P384, { kid: 'p384' }),
        jwkOf(P521, { kid: 'p521' }),
        jwkOf(ED, { kid: 'ed' }),
        jwkOf(ED448, { kid: 'ed448', x5c: ['ignored'] }),
      ),
    ),
  );
  t.same(skipped, []);
  t.equal(keySet.size, 6);
  t.ok(same(keySet.select('RS256', 'rsa')[0]!, RSA));
  t.ok(same(keySet.select('ES256', 'p256')[0]!, P256));
  t.ok(same(keySet.select('ES384', 'p384')[0]!, P384));
  t.ok(same(keySet.select('ES512', 'p521')[0]!, P521));
  t.ok(same(keySet.select('EdDSA', 'ed')[0]!, ED));
  t.ok(same(keySet.select('EdDSA', 'ed448')[0]!, ED448));
  t.equal(keySet.hasKid('rsa'), true);
  t.equal(keySet.hasKid('nope'), false);
});

t.test('keySetFromJwks load-time errors carry no key material', async (t) => {
  t.same(keySetFromJwks('{'), { error: 'JWKS is not valid JSON' });
  t.same(keySetFromJwks('null'), { error: 'JWKS must be a JSON object with a "keys" array' });
  t.same(keySetFromJwks('[]'), { error: 'JWKS must be a JSON object with a "keys" array' });
  t.same(keySetFromJwks('{"keys":{}}'), { error: 'JWKS must be a JSON object with a "keys" array' });
  t.same(keySetFromJwks('{"keys":[]}'), { error: 'JWKS has no keys' });
  const many = jwks(...Array.from({ length: MAX_JWKS_KEYS + 1 }, () => jwkOf(P256)));
  t.same(keySetFromJwks(many), { error: 'JWKS has 101 keys; at most 100 are accepted' });
  t.equal(ok(keySetFromJwks(jwks(jwkOf(P256), jwkOf(P256)), { maxKeys: 2 })).keySet.size, 2);
  t.same(keySetFromJwks(jwks(jwkOf(P256), jwkOf(P256)), { maxKeys: 1 }), { error: 'JWKS has 2 keys; at most 1 are accepted' });
  const secretish = { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ', kid: 'hs' };
  const r = keySetFromJwks(jwks(secretish));
  t.same(r, { error: 'JWKS has no usable key (key 0 (kid "hs"): symmetric (oct) keys are not accepted here; HS* secrets go in `secret`)' });
  t.notMatch(JSON.stringify(r), 'c2VjcmV0');
});

t.test('rule: unusable JWKs are skipped with a reason, the rest load', async (t) => {
  const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const p256 = jwkOf(P256) as { x: string; y: string };
  const cases: Array<[unknown, string]> = [
    ['a string', 'key 0: not a JSON object'],
    [null, 'key 1: not a JSON object'],
    [[], 'key 2: not a JSON object'],
    [{ kty: 'oct', k: 'AAAA' }, 'key 3: symmetric (oct) keys are not accepted here; HS* secrets go in `secret`'],
    [{ kty: 'RSA-ish' }, 'key 4: unsupported kty'],
    [{ crv: 'P-256' }, 'key 5: unsupported kty'],
    [{ ...priv, kid: 'private' }, 'key 6 (kid "private"): holds private key material; publish public keys only'],
    [jwkOf(P256, { kid: 7 }), 'key 7: kid is not a string'],
    [jwkOf(P256, { kid: 'enc', use: 'enc' }), 'key 8 (kid "enc"): use is not "sig"'],
    [jwkOf(P256, { key_ops: ['encrypt'] }), 'key 9: key_ops does not include "verify"'],
    [jwkOf(P256, { key_ops: 'verify' }), 'key 10: key_ops does not include "verify"'],
    [jwkOf(RSA, { alg: 'RSA-OAEP' }), 'key 11: alg is not a supported JWS algorithm'],
    [jwkOf(RSA, { alg: 'none' }), 'key 12: alg is not a supported JWS algorithm'],
    [{ kty: 'EC', crv: 'P-256', x: p256.x }, 'key 13: y is missing or not a string'],
    [{ kty: 'RSA', n: 5, e: 'AQAB' }, 'key 14: n is missing or not a string'],
    [{ kty: 'EC', crv: 'P-256', x: p256.x, y: p256.x }, 'key 15: could not be imported'],
    [{ kty: 'EC', crv: 'secp256k1', x: p256.x, y: p256.y }, 'key 16: could not be imported'],
    [jwkOf(gen.rsa1024()), 'key 17: unsupported key type or size (RSA of 2048 bits or more, EC P-256/P-384/P-521, Ed25519 or Ed448)'],
    [jwkOf(gen.x25519()), 'key 18: unsupported key type or size (RSA of 2048 bits or more, EC P-256/P-384/P-521, Ed25519 or Ed448)'],
    [jwkOf(P256, { alg: 'ES384' }), 'key 19: alg does not fit the key type'],
    [jwkOf(P256, { alg: 'RS256' }), 'key 20: alg does not fit the key type'],
    [jwkOf(RSA, { alg: 'HS256' }), 'key 21: alg does not fit the key type'],
    [jwkOf(P256, { kid: 'k'.repeat(100) }), `key 22 (kid "${'k'.repeat(64)}…"): use is not "sig"`],
  ];
  (cases[22]![0] as Record<string, unknown>).use = 'x';
  const { keySet, skipped } = ok(keySetFromJwks(jwks(...cases.map(([k]) => k), jwkOf(ED, { kid: 'good' }))));
  t.same(skipped, cases.map(([, why]) => why));
  t.equal(keySet.size, 1);
  t.equal(keySet.hasKid('good'), true);
  t.equal(keySet.hasKid('private'), false);
  for (const s of skipped) {
    t.notMatch(s, p256.x, 'no key material in messages');
    t.notMatch(s, (priv as { d: string }).d);
  }
});

t.test('select', async (t) => {
  const { keySet } = ok(
    keySetFromJwks(
      jwks(
        jwkOf(RSA, { kid: 'a', alg: 'RS256' }),
        jwkOf(RSA2, { kid: 'b' }),
        jwkOf(P256, { kid: 'a' }), // same kid, other type
        jwkOf(P384),
      ),
    ),
  );
  t.test('rule: with a kid, the keys with that kid whose type fits the alg', async (t) => {
    t.same(keySet.select('RS256', 'a').map((k) => same(k, RSA)), [true]);
    t.same(keySet.select('ES256', 'a').map((k) => same(k, P256)), [true], 'same kid, EC key for ES256');
    t.same(keySet.select('ES384', 'a'), [], 'kid known, no fitting key');
    t.same(keySet.select('PS256', 'b').map((k) => same(k, RSA2)), [true], 'no JWK alg: any RSA alg');
  });
  t.test('rule: a JWK alg must equal the header alg', async (t) => {
    t.same(keySet.select('RS384', 'a'), []);
    t.same(keySet.select('PS256', 'a'), []);
  });
  t.test('rule: unknown kid falls back to keys without a kid only', async (t) => {
    t.same(keySet.select('ES384', 'zzz').map((k) => same(k, P384)), [true]);
    t.same(keySet.select('RS256', 'zzz'), [], 'kid-bearing keys are not tried for an unknown kid');
  });
  t.test('rule: without a kid, every key that fits the alg', async (t) => {
    t.same(keySet.select('RS256', undefined).map((k) => same(k, RSA) || same(k, RSA2)), [true, true]);
    t.same(keySet.select('RS512', undefined).map((k) => same(k, RSA2)), [true], 'the RS256-only key is excluded');
    t.same(keySet.select('ES512', undefined), []);
    t.same(keySet.select('HS256', undefined), [], 'never a public key for HS*');
    t.same(keySet.select('none', undefined), []);
  });
  t.test('rule: at most 8 candidate keys', async (t) => {
    t.equal(MAX_CANDIDATE_KEYS, 8);
    const twelve = Array.from({ length: 12 }, () => jwkOf(gen.p256()));
    const big = ok(keySetFromJwks(jwks(...twelve))).keySet;
    t.equal(big.size, 12);
    t.equal(big.select('ES256', undefined).length, 8);
    const sameKid = ok(keySetFromJwks(jwks(...twelve.map((k) => ({ ...k, kid: 'x' }))))).keySet;
    t.equal(sameKid.select('ES256', 'x').length, 8, 'also for one kid shared by many keys');
  });
});

t.test('keySetFromPem', async (t) => {
  const spki = RSA.export({ format: 'pem', type: 'spki' }) as string;
  const pkcs1 = RSA2.export({ format: 'pem', type: 'pkcs1' }) as string;
  t.test('an SPKI public key', async (t) => {
    const { keySet, skipped } = ok(keySetFromPem(spki));
    t.same(skipped, []);
    t.equal(keySet.size, 1);
    t.ok(same(keySet.select('RS256', undefined)[0]!, RSA));
    t.ok(same(keySet.select('PS512', 'any-kid')[0]!, RSA), 'a kid-less key answers any kid');
    t.same(keySet.select('ES256', undefined), []);
  });
  t.test('a PKCS#1 RSA public key', async (t) => {
    t.ok(same(ok(keySetFromPem(pkcs1)).keySet.select('RS256', undefined)[0]!, RSA2));
  });
  t.test('a certificate', async (t) => {
    const { keySet } = ok(keySetFromPem(fixture('p256-cert.pem')));
    const expected = createPublicKey(createPrivateKey(fixture('test-only-p256.key.pem')));
    t.ok(same(keySet.select('ES256', undefined)[0]!, expected));
  });
  t.test('several blocks, with text around them', async (t) => {
    const { keySet } = ok(keySetFromPem(`subject=x\n${spki}\nissuer=y\n${fixture('p256-cert.pem')}\n${ED.export({ format: 'pem', type: 'spki' })}`));
    t.equal(keySet.size, 3);
    t.equal(keySet.select('EdDSA', undefined).length, 1);
  });
  t.test('errors', async (t) => {
    t.same(keySetFromPem(''), { error: 'no PEM public key or certificate found' });
    t.same(keySetFromPem('-----BEGIN PUBLIC KEY-----\nAAAA'), { error: 'no PEM public key or certificate found' }, 'unterminated');
    const privatePem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const r = keySetFromPem(privatePem);
    t.same(r, { error: 'PEM block 1 is a private key; give the public key or a certificate' });
    t.same(keySetFromPem(`${spki}${fixture('test-only-p256.key.pem')}`), { error: 'PEM block 2 is a private key; give the public key or a certificate' });
    t.same(keySetFromPem('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----'), {
      error: 'PEM block 1 ("CERTIFICATE REQUEST") is not a public key or certificate',
    });
    t.same(keySetFromPem('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'), { error: 'PEM block 1 could not be read' });
    t.same(keySetFromPem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'), { error: 'PEM block 1 could not be read' });
    t.same(keySetFromPem(fixture('rsa1024-cert.pem')), {
      error: 'PEM block 1: unsupported key type or size (RSA of 2048 bits or more, EC P-256/P-384/P-521, Ed25519 or Ed448)',
    });
    t.same(keySetFromPem(gen.x25519().export({ format: 'pem', type: 'spki' }) as string), {
      error: 'PEM block 1: unsupported key type or size (RSA of 2048 bits or more, EC P-256/P-384/P-521, Ed25519 or Ed448)',
    });
  });
});

t.test('keySetFromText picks JWKS or PEM', async (t) => {
  t.equal(ok(keySetFromText(`  \n${jwks(jwkOf(P256, { kid: 'k' }))}`)).keySet.hasKid('k'), true);
  t.equal(ok(keySetFromText(RSA.export({ format: 'pem', type: 'spki' }) as string)).keySet.size, 1);
  t.same(keySetFromText('{"keys": [}'), { error: 'JWKS is not valid JSON' });
  t.same(keySetFromText('hello'), { error: 'no PEM public key or certificate found' });
});

t.test('mergeKeySets: a JWKS and a PEM key together', async (t) => {
  const fromJwks = ok(keySetFromJwks(jwks(jwkOf(P256, { kid: 'p' }), jwkOf(RSA2, { kid: 'r' })))).keySet;
  const fromPem = ok(keySetFromPem(RSA.export({ format: 'pem', type: 'spki' }) as string)).keySet;
  const merged = mergeKeySets(fromJwks, fromPem);
  t.equal(merged.size, 3);
  t.equal(merged.hasKid('p'), true);
  t.equal(merged.hasKid('zzz'), false);
  t.same(merged.select('RS256', 'r').map((k) => same(k, RSA2)), [true], 'a known kid: only its keys');
  t.same(merged.select('RS256', 'zzz').map((k) => same(k, RSA)), [true], 'unknown kid: the kid-less PEM key');
  t.same(merged.select('RS256', undefined).map((k) => same(k, RSA2) || same(k, RSA)), [true, true]);
  const many = mergeKeySets(...Array.from({ length: 3 }, () => ok(keySetFromJwks(jwks(...Array.from({ length: 4 }, () => jwkOf(gen.p256()))))).keySet));
  t.equal(many.select('ES256', undefined).length, 8, 'still at most 8');
});

t.test('createKeySet from vetted entries', async (t) => {
  const ks = createKeySet([{ key: P256, kid: 'a', alg: 'ES256' }, { key: ED }]);
  t.equal(ks.size, 2);
  t.equal(ks.select('ES256', 'a').length, 1);
  t.equal(ks.select('EdDSA', 'a').length, 0);
  t.equal(ks.select('EdDSA', 'b').length, 1);
});
