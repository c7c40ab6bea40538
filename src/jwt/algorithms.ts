// The JWS algorithms gatehouse verifies (RFC 7518 §3, RFC 8037 §3.1) and which keys may
// verify each. The algorithm comes from the authenticator's allow-list and the key from
// its configuration; this table only says whether the two fit (security.md §6: the
// configuration decides, never the token).
import type { KeyObject } from 'node:crypto';

export const SUPPORTED_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

export type JwsAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

export type AlgorithmFamily = 'hmac' | 'rsa' | 'rsa-pss' | 'ecdsa' | 'eddsa';

export interface AlgorithmSpec {
  readonly family: AlgorithmFamily;
  /** Digest for node:crypto; undefined for EdDSA, which hashes internally. */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | undefined;
  /** JWK `kty` of the keys that may verify it. */
  readonly keyType: 'oct' | 'RSA' | 'EC' | 'OKP';
  /** JWK `crv` an EC key must have (ES*); EdDSA accepts Ed25519 and Ed448. */
  readonly curve?: 'P-256' | 'P-384' | 'P-521';
  /** Bytes of an ES* signature in JOSE form, R || S (RFC 7518 §3.4). */
  readonly signatureLength?: number;
  /** Shortest HS* secret, in bytes: the digest size (RFC 7518 §3.2). */
  readonly minSecretBytes?: number;
}

const SPECS: Readonly<Record<JwsAlgorithm, AlgorithmSpec>> = Object.freeze({
  HS256: { family: 'hmac', hash: 'sha256', keyType: 'oct', minSecretBytes: 32 },
  HS384: { family: 'hmac', hash: 'sha384', keyType: 'oct', minSecretBytes: 48 },
  HS512: { family: 'hmac', hash: 'sha512', keyType: 'oct', minSecretBytes: 64 },
  RS256: { family: 'rsa', hash: 'sha256', keyType: 'RSA' },
  RS384: { family: 'rsa', hash: 'sha384', keyType: 'RSA' },
  RS512: { family: 'rsa', hash: 'sha512', keyType: 'RSA' },
  PS256: { family: 'rsa-pss', hash: 'sha256', keyType: 'RSA' },
  PS384: { family: 'rsa-pss', hash: 'sha384', keyType: 'RSA' },
  PS512: { family: 'rsa-pss', hash: 'sha512', keyType: 'RSA' },
  ES256: { family: 'ecdsa', hash: 'sha256', keyType: 'EC', curve: 'P-256', signatureLength: 64 },
  ES384: { family: 'ecdsa', hash: 'sha384', keyType: 'EC', curve: 'P-384', signatureLength: 96 },
  ES512: { family: 'ecdsa', hash: 'sha512', keyType: 'EC', curve: 'P-521', signatureLength: 132 },
  EdDSA: { family: 'eddsa', hash: undefined, keyType: 'OKP' },
});

/** RFC 7518 §3.3 and §3.5: RSA keys of 2048 bits or more MUST be used. */
export const MIN_RSA_MODULUS_BITS = 2048;

/** OpenSSL's names for the JOSE curves. */
const NAMED_CURVES: Readonly<Record<string, string>> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };

export function isSupportedAlgorithm(alg: unknown): alg is JwsAlgorithm {
  // hasOwn, not `in`: "toString" or "__proto__" in a header must not look like an algorithm.
  return typeof alg === 'string' && Object.hasOwn(SPECS, alg);
}

export function algorithmSpec(alg: string): AlgorithmSpec | undefined {
  return isSupportedAlgorithm(alg) ? SPECS[alg] : undefined;
}

export function isHmacAlgorithm(alg: string): boolean {
  return algorithmSpec(alg)?.family === 'hmac';
}

/**
 * Whether `key` may verify `alg`. A secret key fits HS* only and a public key never fits
 * HS*: the HS secret and a public key can never stand in for each other (the classic
 * "RS256 public key used as HMAC secret" confusion).
 */
export function keyFitsAlgorithm(key: KeyObject, alg: string): boolean {
  const spec = algorithmSpec(alg);
  if (spec === undefined) return false;
  if (spec.family === 'hmac') return key.type === 'secret' && key.symmetricKeySize! >= spec.minSecretBytes!;
  if (key.type !== 'public') return false;
  switch (spec.family) {
    case 'rsa':
    case 'rsa-pss':
      // Only plain RSA keys: an RSASSA-PSS-restricted SPKI key carries its own
      // parameters, which we would have to reconcile with the alg; JWKs never produce one.
      return key.asymmetricKeyType === 'rsa' && key.asymmetricKeyDetails!.modulusLength! >= MIN_RSA_MODULUS_BITS;
    case 'ecdsa':
      return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === NAMED_CURVES[spec.curve!];
    default:
      // RFC 8037 §3.1: EdDSA with Ed25519 or Ed448 (never X25519/X448, which are ECDH).
      return key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448';
  }
}
