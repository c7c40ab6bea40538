// Verification keys of a `jwt` authenticator, from a JWK Set (RFC 7517 §5) or PEM public
// keys / certificates. Only public keys live here: HS* secrets are a separate option, so
// a public key can never be used as an HMAC secret (security.md §6). Messages name keys
// by position and kid (public), never by key material.
import { createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { SUPPORTED_ALGORITHMS, isSupportedAlgorithm, keyFitsAlgorithm } from './algorithms.js';

/** A token without a kid is tried against at most this many keys (bounded work per request). */
export const MAX_CANDIDATE_KEYS = 8;
/** Largest JWK Set accepted. */
export const MAX_JWKS_KEYS = 100;

export interface KeySetEntry {
  readonly key: KeyObject;
  readonly kid?: string;
  /** The JWK's `alg`: when set, the key verifies that algorithm only (RFC 7517 §4.4). */
  readonly alg?: string;
}

export interface KeySet {
  /** Number of keys. */
  readonly size: number;
  /**
   * Keys that may verify a token with this alg and kid, at most MAX_CANDIDATE_KEYS:
   * - kid given and some key has it: those keys;
   * - kid given and no key has it: the keys without a kid (a PEM key cannot carry one,
   *   and RFC 7517 §4.5 makes kid optional), so an empty list means "unknown kid";
   * - no kid: every key.
   * Each only if its type fits the alg (algorithms.ts) and its JWK `alg`, if any, equals it.
   */
  select(alg: string, kid: string | undefined): KeyObject[];
  hasKid(kid: string): boolean;
}

export type KeySetResult = { readonly keySet: KeySet; readonly skipped: readonly string[] } | { readonly error: string };

interface Entry {
  readonly key: KeyObject;
  readonly kid: string | undefined;
  readonly algs: ReadonlySet<string>;
}

function toEntry(e: KeySetEntry): Entry {
  const algs = new Set<string>();
  for (const alg of SUPPORTED_ALGORITHMS) {
    if ((e.alg === undefined || e.alg === alg) && keyFitsAlgorithm(e.key, alg)) algs.add(alg);
  }
  return { key: e.key, kid: e.kid, algs };
}

/** A key set over entries that the caller has already vetted. */
export function createKeySet(entries: readonly KeySetEntry[]): KeySet {
  const all = entries.map(toEntry);
  const byKid = new Map<string, Entry[]>();
  const withoutKid: Entry[] = [];
  for (const e of all) {
    if (e.kid === undefined) withoutKid.push(e);
    else {
      const list = byKid.get(e.kid);
      if (list === undefined) byKid.set(e.kid, [e]);
      else list.push(e);
    }
  }
  return {
    size: all.length,
    select(alg, kid) {
      const pool = kid === undefined ? all : (byKid.get(kid) ?? withoutKid);
      const out: KeyObject[] = [];
      for (const e of pool) {
        if (!e.algs.has(alg)) continue;
        out.push(e.key);
        if (out.length === MAX_CANDIDATE_KEYS) break;
      }
      return out;
    },
    hasKid: (kid) => byKid.has(kid),
  };
}

/** One key set holding the keys of all the given ones (a JWKS file and a PEM key, say). */
export function mergeKeySets(...sets: readonly KeySet[]): KeySet {
  return {
    size: sets.reduce((n, s) => n + s.size, 0),
    select(alg, kid) {
      // A kid known to any set wins over kid-less fallbacks from the others.
      const known = kid !== undefined && sets.some((s) => s.hasKid(kid));
      const out: KeyObject[] = [];
      for (const s of sets) {
        if (known && !s.hasKid(kid)) continue;
        for (const k of s.select(alg, kid)) {
          if (out.length === MAX_CANDIDATE_KEYS) return out;
          out.push(k);
        }
      }
      return out;
    },
    hasKid: (kid) => sets.some((s) => s.hasKid(kid)),
  };
}

/** Whether a public key fits any algorithm we verify (type, curve, RSA size). */
const usable = (key: KeyObject): boolean => SUPPORTED_ALGORITHMS.some((alg) => keyFitsAlgorithm(key, alg));

const UNUSABLE = 'unsupported key type or size (RSA of 2048 bits or more, EC P-256/P-384/P-521, Ed25519 or Ed448)';

// Members that hold private key material (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2).
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
// Members node:crypto needs per kty; passing only these keeps odd extras out of OpenSSL.
const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'] };

function describe(index: number, kid: unknown): string {
  if (typeof kid !== 'string') return `key ${index}`;
  const shown = kid.length > 64 ? `${kid.slice(0, 64)}…` : kid;
  return `key ${index} (kid ${JSON.stringify(shown)})`;
}

/** The entry for one JWK, or why it is skipped. */
function jwkEntry(jwk: unknown): KeySetEntry | string {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) return 'not a JSON object';
  const k = jwk as Record<string, unknown>;
  if (k.kty === 'oct') return 'symmetric (oct) keys are not accepted here; HS* secrets go in `secret`';
  if (typeof k.kty !== 'string' || !Object.hasOwn(PUBLIC_MEMBERS, k.kty)) return 'unsupported kty';
  if (PRIVATE_MEMBERS.some((m) => Object.hasOwn(k, m))) return 'holds private key material; publish public keys only';
  if (k.kid !== undefined && typeof k.kid !== 'string') return 'kid is not a string';
  // RFC 7517 §4.2/§4.3: a key meant for encryption, or not for verification, is not ours.
  if (k.use !== undefined && k.use !== 'sig') return 'use is not "sig"';
  if (k.key_ops !== undefined && !(Array.isArray(k.key_ops) && k.key_ops.includes('verify'))) return 'key_ops does not include "verify"';
  if (k.alg !== undefined && !isSupportedAlgorithm(k.alg)) return 'alg is not a supported JWS algorithm';
  const members: Record<string, string> = { kty: k.kty };
  for (const m of PUBLIC_MEMBERS[k.kty]!) {
    if (typeof k[m] !== 'string') return `${m} is missing or not a string`;
    members[m] = k[m] as string;
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: members as JsonWebKey, format: 'jwk' });
  } catch {
    return 'could not be imported';
  }
  if (!usable(key)) return UNUSABLE;
  const alg = k.alg as string | undefined;
  if (alg !== undefined && !keyFitsAlgorithm(key, alg)) return 'alg does not fit the key type';
  return { key, ...(k.kid === undefined ? {} : { kid: k.kid as string }), ...(alg === undefined ? {} : { alg }) };
}

/**
 * A key set from JWK Set JSON. Keys that cannot be used are skipped and listed in
 * `skipped` (for a warning); a set left without any usable key is an error.
 */
export function keySetFromJwks(text: string, opts: { maxKeys?: number } = {}): KeySetResult {
  const maxKeys = opts.maxKeys ?? MAX_JWKS_KEYS;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { error: 'JWKS is not valid JSON' };
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray((doc as { keys?: unknown }).keys)) {
    return { error: 'JWKS must be a JSON object with a "keys" array' };
  }
  const keys = (doc as { keys: unknown[] }).keys;
  if (keys.length > maxKeys) return { error: `JWKS has ${keys.length} keys; at most ${maxKeys} are accepted` };
  const entries: KeySetEntry[] = [];
  const skipped: string[] = [];
  keys.forEach((jwk, i) => {
    const entry = jwkEntry(jwk);
    if (typeof entry === 'string') skipped.push(`${describe(i, (jwk as { kid?: unknown } | null)?.kid)}: ${entry}`);
    else entries.push(entry);
  });
  if (entries.length === 0) return { error: skipped.length === 0 ? 'JWKS has no keys' : `JWKS has no usable key (${skipped[0]})` };
  return { keySet: createKeySet(entries), skipped };
}

const PEM_BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** A key set from one or more PEM blocks: SPKI public keys, PKCS#1 RSA public keys or certificates. */
export function keySetFromPem(pem: string): KeySetResult {
  const entries: KeySetEntry[] = [];
  let n = 0;
  for (const m of pem.matchAll(PEM_BLOCK_RE)) {
    n++;
    const label = m[1]!;
    if (label.includes('PRIVATE')) return { error: `PEM block ${n} is a private key; give the public key or a certificate` };
    let key: KeyObject;
    try {
      if (label === 'CERTIFICATE') {
        // Only a container for the key: its validity dates and chain are not checked, as
        // with a JWKS (the configuration is what vouches for the key).
        key = new X509Certificate(m[0]).publicKey;
      } else if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY') {
        key = createPublicKey(m[0]);
      } else {
        return { error: `PEM block ${n} ("${label}") is not a public key or certificate` };
      }
    } catch {
      return { error: `PEM block ${n} could not be read` };
    }
    if (!usable(key)) return { error: `PEM block ${n}: ${UNUSABLE}` };
    entries.push({ key });
  }
  if (n === 0) return { error: 'no PEM public key or certificate found' };
  return { keySet: createKeySet(entries), skipped: [] };
}

/** `keys:` text as configured: a JWK Set if it is JSON, PEM otherwise. */
export function keySetFromText(text: string): KeySetResult {
  return text.trimStart().startsWith('{') ? keySetFromJwks(text) : keySetFromPem(text);
}
