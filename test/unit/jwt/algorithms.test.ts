import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { JWT_ALGORITHMS } from '../../../src/config/schema.js';
import {
  algorithmSpec,
  isHmacAlgorithm,
  isSupportedAlgorithm,
  keyFitsAlgorithm,
  MIN_RSA_MODULUS_BITS,
  SUPPORTED_ALGORITHMS,
} from '../../../src/jwt/algorithms.js';

const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
const rsaPss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey;
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey;
const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey;
const ed25519 = generateKeyPairSync('ed25519').publicKey;
const ed448 = generateKeyPairSync('ed448').publicKey;
const x25519 = generateKeyPairSync('x25519').publicKey;
const secret = (n: number) => createSecretKey(Buffer.alloc(n, 1));

t.test('the supported list is the config schema list, without none', async (t) => {
  t.same([...SUPPORTED_ALGORITHMS], [...JWT_ALGORITHMS]);
  t.equal(isSupportedAlgorithm('none'), false);
  t.equal(isSupportedAlgorithm('NONE'), false);
  t.equal(isSupportedAlgorithm('hs256'), false, 'case-sensitive (RFC 7515 §4.1.1)');
  t.equal(isSupportedAlgorithm('toString'), false, 'no prototype names');
  t.equal(isSupportedAlgorithm('__proto__'), false);
  t.equal(isSupportedAlgorithm(256), false);
  t.equal(algorithmSpec('none'), undefined);
  t.same(algorithmSpec('ES384'), { family: 'ecdsa', hash: 'sha384', keyType: 'EC', curve: 'P-384', signatureLength: 96 });
  t.equal(isHmacAlgorithm('HS384'), true);
  t.equal(isHmacAlgorithm('RS384'), false);
  t.equal(isHmacAlgorithm('none'), false);
});

t.test('which key fits which algorithm', async (t) => {
  const table: Array<[string, import('node:crypto').KeyObject, string[]]> = [
    ['HMAC 32 bytes', secret(32), ['HS256']],
    ['HMAC 48 bytes', secret(48), ['HS256', 'HS384']],
    ['HMAC 64 bytes', secret(64), ['HS256', 'HS384', 'HS512']],
    ['HMAC 31 bytes', secret(31), []],
    ['RSA 2048', rsa2048, ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']],
    ['RSA 1024 (RFC 7518 §3.3 minimum is 2048)', rsa1024, []],
    ['RSA-PSS-restricted key', rsaPss, []],
    ['EC P-256', p256.publicKey, ['ES256']],
    ['EC P-256 private key', p256.privateKey, []],
    ['EC P-384', p384, ['ES384']],
    ['EC P-521', p521, ['ES512']],
    ['EC secp256k1', k256, []],
    ['Ed25519', ed25519, ['EdDSA']],
    ['Ed448', ed448, ['EdDSA']],
    ['X25519 (ECDH, not a signature key)', x25519, []],
  ];
  for (const [name, key, fits] of table) {
    t.same(
      SUPPORTED_ALGORITHMS.filter((alg) => keyFitsAlgorithm(key, alg)),
      fits,
      name,
    );
    t.equal(keyFitsAlgorithm(key, 'none'), false, `${name}: none`);
  }
  t.equal(MIN_RSA_MODULUS_BITS, 2048);
});
