// Password hashes gatehouse accepts: bcrypt and argon2id, nothing else (config.md:
// any other scheme is a load-time error). Passwords are bytes: RFC 7617 `charset="UTF-8"`
// means the client sends UTF-8, and we verify exactly those bytes, never a re-encoding.
//
// bcrypt only reads the first 72 bytes of a password (the algorithm's key schedule takes
// at most 72 bytes; @node-rs/bcrypt truncates silently, like every other implementation).
// Two passwords that share their first 72 bytes therefore verify alike. We do not
// pre-hash to lift the limit: that would make our hashes unreadable by every other
// htpasswd consumer, and pre-hashing with a fast digest invites the "password shucking"
// and NUL-byte pitfalls. Operators who need longer passphrases use argon2id.
//
// Both libraries compare the computed digest in constant time (security.md §7).
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import * as argon2 from '@node-rs/argon2';
import type { Algorithm, Version } from '@node-rs/argon2';
import * as bcrypt from '@node-rs/bcrypt';

export type HashScheme = 'bcrypt' | 'argon2id';

/** bcrypt reads at most this many bytes of a password; later bytes are ignored. */
export const BCRYPT_MAX_PASSWORD_BYTES = 72;

/** Cost of hashes made by `hashPassword('bcrypt')`. */
export const BCRYPT_COST = 12;

/** argon2id parameters of hashes made by `hashPassword('argon2id')`: OWASP's minimum. */
export const ARGON2ID_PARAMS = { memoryCost: 19456, timeCost: 2, parallelism: 1, outputLen: 32 } as const;

// @node-rs/argon2 declares these as ambient const enums, which isolatedModules cannot
// read (and the runtime objects are empty), so the values are spelled out.
const ARGON2ID = 2 as Algorithm;
const ARGON2_V19 = 1 as Version;

// $2a$/$2b$/$2y$ + two-digit cost + 22 salt chars + 31 digest chars (bcrypt's own
// base64 alphabet). $2x$ (the pre-2011 crypt_blowfish sign-extension bug) is refused.
const BCRYPT_RE = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;

// PHC string, version 19 only, m/t/p in this order and nothing else (no keyid/data).
// Decimal numbers without leading zeros; salt and digest in unpadded standard base64.
const ARGON2ID_RE =
  /^\$argon2id\$v=19\$m=(0|[1-9][0-9]{0,9}),t=(0|[1-9][0-9]{0,9}),p=(0|[1-9][0-9]{0,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

interface Argon2Params {
  readonly m: number;
  readonly t: number;
  readonly p: number;
}

/** Bytes that unpadded base64 `s` decodes to, or -1 unless `s` is their canonical encoding. */
function canonicalBase64Bytes(s: string): number {
  const bytes = Buffer.from(s, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === s ? bytes.length : -1;
}

/** RFC 9106 §4's largest recommended memory cost (2 GiB), in KiB. Above it is a typo or an attack on ourselves. */
export const ARGON2_MAX_MEMORY_KIB = 2 ** 21;

function parseArgon2id(hash: string): Argon2Params | undefined {
  const m = ARGON2ID_RE.exec(hash);
  if (m === null) return undefined;
  const mem = Number(m[1]);
  const t = Number(m[2]);
  const p = Number(m[3]);
  // RFC 9106 §3.1: 1 <= p, 1 <= t, 8p <= m. @node-rs/argon2 caps p at 255. Every
  // verification allocates m KiB, so m is also capped (a 4 TiB hash would take the process down).
  if (p < 1 || p > 255 || t < 1 || mem < 8 * p || mem > ARGON2_MAX_MEMORY_KIB) return undefined;
  // Canonical base64 only (the library refuses some non-canonical salts at verify time,
  // which must fail at load instead). RFC 9106 allows an 8-byte salt; a digest under 16
  // bytes is not something any sane tool writes and would make collisions cheap.
  if (canonicalBase64Bytes(m[4]!) < 8 || canonicalBase64Bytes(m[5]!) < 16) return undefined;
  return { m: mem, t, p };
}

/** Which accepted scheme `hash` is, after checking its whole shape; undefined for anything else. */
export function hashScheme(hash: string): HashScheme | undefined {
  if (BCRYPT_RE.test(hash)) return 'bcrypt';
  if (parseArgon2id(hash) !== undefined) return 'argon2id';
  return undefined;
}

/**
 * Scheme and cost parameters, e.g. `bcrypt:10` or `argon2id:m=19456,t=2,p=1`: two hashes
 * of one family cost the same to verify, which is what a dummy hash must match.
 */
export function hashFamily(hash: string): string {
  if (BCRYPT_RE.test(hash)) return `bcrypt:${Number(hash.slice(4, 6))}`;
  const a = parseArgon2id(hash);
  if (a !== undefined) return `argon2id:m=${a.m},t=${a.t},p=${a.p}`;
  throw new Error('hashFamily: unsupported hash scheme');
}

/**
 * Whether `password` (raw bytes) matches `hash`. A wrong password is `false`, never an
 * exception; it throws only when handed a hash `hashScheme` refuses (the caller should
 * have validated it) or a non-Buffer password. Messages never carry the hash or password.
 */
export async function verifyPassword(hash: string, password: Buffer): Promise<boolean> {
  if (!Buffer.isBuffer(password)) throw new TypeError('verifyPassword: password must be a Buffer');
  const scheme = hashScheme(hash);
  if (scheme === undefined) throw new Error('verifyPassword: unsupported hash scheme');
  try {
    // @node-rs/bcrypt verifies $2a$, $2b$ and $2y$ alike (they differ only in bugs of
    // other implementations that never affected it).
    if (scheme === 'bcrypt') return await bcrypt.verify(password, hash);
    // @node-rs/argon2's verify turns the password into a Rust String and throws on
    // non-UTF-8 bytes. Such bytes are no password gatehouse accepts (RFC 7617 charset
    // UTF-8; Basic refuses them as malformed), so they are simply a wrong password.
    if (!isUtf8(password)) return false;
    return await argon2.verify(hash, password);
  } catch {
    // Only reachable when a library refuses a hash our shape check let through. Do not
    // chain the library error: its message is not ours to vouch for (security.md §13).
    throw new Error(`verifyPassword: the ${scheme} hash could not be decoded`);
  }
}

function toBytes(password: string | Buffer): Buffer {
  return typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
}

/**
 * Hash a password with gatehouse's parameters: bcrypt cost 12 ($2b$), or argon2id
 * m=19456 KiB, t=2, p=1. Parameters are explicit so a library upgrade cannot lower them.
 * A string is encoded as UTF-8, matching what RFC 7617 clients send.
 */
export async function hashPassword(password: string | Buffer, scheme: HashScheme): Promise<string> {
  const bytes = toBytes(password);
  if (scheme === 'bcrypt') return bcrypt.hash(bytes, BCRYPT_COST);
  if (scheme === 'argon2id') {
    return argon2.hash(bytes, { ...ARGON2ID_PARAMS, algorithm: ARGON2ID, version: ARGON2_V19 });
  }
  throw new Error('hashPassword: unsupported hash scheme');
}

/**
 * A hash of a random password with the scheme and cost of `hash`: verifying against it
 * costs what verifying against `hash` costs, so an unknown user is not told apart from a
 * wrong password by timing (security.md §7).
 */
export async function dummyHashLike(hash: string): Promise<string> {
  const password = randomBytes(32);
  if (BCRYPT_RE.test(hash)) return bcrypt.hash(password, Number(hash.slice(4, 6)));
  const a = parseArgon2id(hash);
  if (a === undefined) throw new Error('dummyHashLike: unsupported hash scheme');
  // Same digest and salt sizes too, so the dummy is indistinguishable in shape as well.
  const o = argon2.parseOptions(hash);
  return argon2.hash(password, {
    algorithm: ARGON2ID,
    version: ARGON2_V19,
    memoryCost: a.m,
    timeCost: a.t,
    parallelism: a.p,
    outputLen: o.outputLen,
    salt: randomBytes(o.saltLen),
  });
}
