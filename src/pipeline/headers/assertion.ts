// identity.assertion: a short-lived JWT, signed by gatehouse for each forwarded request,
// for upstreams that verify the caller's identity rather than trust plain headers.
// Keys are read and checked once at load; the per-request path is one JSON.stringify,
// two base64url encodings and one synchronous node:crypto signature (jose's async
// signing costs far more per request: docs/dev/bearer-design.md).
import { createPrivateKey, createPublicKey, randomFillSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import type { Identity } from '../types.js';

export type AssertionAlgorithm = 'ES256' | 'EdDSA' | 'RS256';

/** A public key as published at /.gatehouse/jwks.json (RFC 7517). */
export interface PublicJwk {
  readonly kty: 'EC' | 'OKP' | 'RSA';
  /** RFC 7638 thumbprint (SHA-256, base64url) of the key. */
  readonly kid: string;
  readonly alg: AssertionAlgorithm;
  readonly use: 'sig';
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly n?: string;
  readonly e?: string;
}

export interface AssertionOptions {
  /** Header the assertion travels in, e.g. X-Auth-Assertion. */
  readonly header: string;
  /** PEM private keys (PKCS#8, SEC1 or PKCS#1). The first signs; all are published. */
  readonly privateKeys: readonly string[];
  readonly issuer: string;
  /** Lifetime of each assertion; at least 1 s, whole seconds (a fraction is dropped). */
  readonly ttlMs: number;
}

export interface AssertionInput {
  readonly identity: Identity;
  /** Name of the matched route. */
  readonly route: string;
  /** `aud`: the route's upstream origin or its assertionAudience. */
  readonly audience: string;
  readonly nowMs?: number;
}

export interface AssertionSigner {
  readonly header: string;
  /** The configured lifetime: how long a key removed by a reload must stay published. */
  readonly ttlMs: number;
  /** kid of the key that signs. */
  readonly signingKid: string;
  /** A compact JWS for one forwarded request. Throws for an anonymous identity. */
  sign(input: AssertionInput): string;
  /** `{keys:[...]}` of every configured key, then each of `extra` (retired keys) whose
   * kid is not already listed. */
  publicJwks(extra?: readonly PublicJwk[]): { keys: PublicJwk[] };
  /** Public JWKs of the configured keys, signing key first. */
  readonly publicKeys: readonly PublicJwk[];
}

/** `message` is a predicate on the option it names, in the style of config errors:
 * `identity.assertion.privateKey[1]` + "is an RSA key of 1024 bits; ...". `index` is the
 * position in `privateKeys`, or -1 when the error is not about one key (the ttl, an
 * empty list). */
export interface AssertionError {
  readonly field: 'privateKey' | 'ttl';
  readonly index: number;
  readonly message: string;
}

export type CreateAssertionResult = { ok: true; signer: AssertionSigner } | { ok: false; errors: AssertionError[] };

const SUPPORTED = 'use an EC P-256 (ES256), Ed25519 (EdDSA) or RSA of at least 2048 bits (RS256) private key';
// Below 2048 bits RSA is no longer considered safe (NIST SP 800-131A, RFC 7518 §3.3).
const MIN_RSA_BITS = 2048;
const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;

interface LoadedKey {
  readonly key: KeyObject;
  readonly alg: AssertionAlgorithm;
  readonly jwk: PublicJwk;
}

/** Error message for a PEM text that is not one usable private key, or undefined. Never
 * quotes the text itself (security.md §13). */
function checkPemShape(pem: string): string | undefined {
  const labels = [...pem.matchAll(BEGIN)].map((m) => m[1]!);
  if (labels.length === 0) return 'is not PEM text (no -----BEGIN line)';
  // Checked before any parse: an encrypted key is never handed to OpenSSL, which could
  // otherwise ask for a passphrase.
  if (labels.some((l) => l.includes('ENCRYPTED')) || pem.includes('Proc-Type: 4,ENCRYPTED')) {
    return 'is an encrypted private key; gatehouse reads unencrypted PEM only (decrypt it with `openssl pkey -in key.pem -out plain.pem`)';
  }
  const privates = labels.filter((l) => l.endsWith('PRIVATE KEY')).length;
  if (privates === 0) {
    if (labels.some((l) => l.endsWith('PUBLIC KEY') || l.includes('CERTIFICATE'))) {
      return 'is a public key or certificate, not a private key';
    }
    return `holds no private key (found ${labels.join(', ')})`;
  }
  if (privates > 1) return `holds ${privates} private keys; list each key as its own entry`;
  return undefined;
}

function algorithmOf(key: KeyObject): AssertionAlgorithm | string {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'prime256v1' ? 'ES256' : `is an EC key on curve ${curve}; ${SUPPORTED}`;
    }
    case 'ed25519':
      return 'EdDSA';
    case 'rsa': {
      const bits = Number(key.asymmetricKeyDetails?.modulusLength);
      return bits >= MIN_RSA_BITS ? 'RS256' : `is an RSA key of ${bits} bits; ${SUPPORTED}`;
    }
    default:
      return `is a key of type ${key.asymmetricKeyType}; ${SUPPORTED}`;
  }
}

async function loadKey(pem: unknown): Promise<LoadedKey | string> {
  if (typeof pem !== 'string') return 'is not a string';
  const shape = checkPemShape(pem);
  if (shape !== undefined) return shape;
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // OpenSSL's message is dropped: it says nothing useful and we never echo the input.
    return 'cannot be read as a PEM private key (PKCS#8, SEC1 or PKCS#1)';
  }
  const alg = algorithmOf(key);
  if (alg !== 'ES256' && alg !== 'EdDSA' && alg !== 'RS256') return alg;
  const material = await exportJWK(createPublicKey(key));
  const kid = await calculateJwkThumbprint(material, 'sha256');
  const { kty, crv, x, y, n, e } = material;
  const jwk: PublicJwk = Object.freeze({
    kty: kty as PublicJwk['kty'],
    kid,
    alg,
    use: 'sig' as const,
    ...(crv !== undefined && { crv }),
    ...(x !== undefined && { x }),
    ...(y !== undefined && { y }),
    ...(n !== undefined && { n }),
    ...(e !== undefined && { e }),
  });
  return { key, alg, jwk };
}

// A call to randomBytes(16) costs several µs of fixed overhead, more than building the
// whole payload; one refill per 256 jtis brings it under 1 µs. Each jti still takes 16
// fresh bytes that nothing else reads, and jtis are public anyway.
const JTI_BYTES = 16;
const jtiPool = Buffer.alloc(JTI_BYTES * 256);
let jtiOffset = jtiPool.length;

function nextJti(): string {
  if (jtiOffset === jtiPool.length) {
    randomFillSync(jtiPool);
    jtiOffset = 0;
  }
  const jti = jtiPool.toString('base64url', jtiOffset, jtiOffset + JTI_BYTES);
  jtiOffset += JTI_BYTES;
  return jti;
}

type SignFn = (data: Buffer) => Buffer;

function signerFor(key: KeyObject, alg: AssertionAlgorithm): SignFn {
  switch (alg) {
    case 'ES256': {
      // JWS wants R||S (RFC 7518 §3.4), not the DER that OpenSSL produces by default.
      const options = { key, dsaEncoding: 'ieee-p1363' as const };
      return (data) => cryptoSign('sha256', data, options);
    }
    case 'EdDSA':
      // Ed25519 hashes internally (RFC 8032): no digest is named.
      return (data) => cryptoSign(null, data, key);
    case 'RS256':
      return (data) => cryptoSign('sha256', data, key);
  }
}

export async function createAssertionSigner(opts: AssertionOptions): Promise<CreateAssertionResult> {
  const errors: AssertionError[] = [];
  if (!Number.isFinite(opts.ttlMs) || opts.ttlMs < 1000) {
    errors.push({ field: 'ttl', index: -1, message: 'must be at least 1s (iat and exp are whole seconds)' });
  }
  if (opts.privateKeys.length === 0) errors.push({ field: 'privateKey', index: -1, message: 'must list at least one key' });

  const loaded: LoadedKey[] = [];
  const seen = new Map<string, number>();
  for (const [index, pem] of opts.privateKeys.entries()) {
    const result = await loadKey(pem);
    if (typeof result === 'string') {
      errors.push({ field: 'privateKey', index, message: result });
      continue;
    }
    const first = seen.get(result.jwk.kid);
    if (first !== undefined) {
      errors.push({ field: 'privateKey', index, message: `is the same key as privateKey[${first}]` });
      continue;
    }
    seen.set(result.jwk.kid, index);
    loaded.push(result);
  }
  if (errors.length > 0) return { ok: false, errors };

  const signing = loaded[0]!;
  const signData = signerFor(signing.key, signing.alg);
  // RFC 7515 §4.1: the protected header is the same for every token this key signs.
  const encodedHeader = Buffer.from(JSON.stringify({ alg: signing.alg, kid: signing.jwk.kid, typ: 'JWT' })).toString('base64url');
  const ttlSeconds = Math.floor(opts.ttlMs / 1000);
  const issuer = opts.issuer;
  const publicKeys: readonly PublicJwk[] = Object.freeze(loaded.map((k) => k.jwk));

  const signer: AssertionSigner = {
    header: opts.header,
    ttlMs: opts.ttlMs,
    signingKid: signing.jwk.kid,
    publicKeys,
    sign({ identity, route, audience, nowMs }) {
      // An anonymous request has no identity to vouch for; the caller never asks, and a
      // token saying "nobody" must not exist for an upstream to mistake for a login.
      if (identity.method === 'anonymous') throw new Error('assertion: anonymous identities are never signed');
      const iat = Math.floor((nowMs ?? Date.now()) / 1000);
      const payload: Record<string, unknown> = { iss: issuer, aud: audience };
      if (identity.user) payload.sub = identity.user;
      if (identity.email) payload.email = identity.email;
      if (identity.name) payload.name = identity.name;
      if (identity.groups.length > 0) payload.groups = identity.groups;
      payload.route = route;
      // RFC 8176 shape (a list of method names); the values are gatehouse's own method
      // names, not entries of the IANA amr registry.
      payload.amr = [identity.method];
      payload.iat = iat;
      payload.exp = iat + ttlSeconds;
      payload.jti = nextJti();
      const signingInput = `${encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      // The signing input is base64url text, i.e. ASCII: latin1 is the cheapest exact encoding.
      return `${signingInput}.${signData(Buffer.from(signingInput, 'latin1')).toString('base64url')}`;
    },
    publicJwks(extra = []) {
      const keys = [...publicKeys];
      const kids = new Set(keys.map((k) => k.kid));
      for (const jwk of extra) {
        if (kids.has(jwk.kid)) continue;
        kids.add(jwk.kid);
        keys.push(jwk);
      }
      return { keys };
    },
  };
  return { ok: true, signer: Object.freeze(signer) };
}
