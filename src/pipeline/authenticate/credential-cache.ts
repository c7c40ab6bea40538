// Verified Basic credentials, so a warm request does not pay bcrypt/argon2 again.
//
// The cache holds no password: its keys are HMAC-SHA256, under a random key made for this
// instance, of (user, password bytes, stored hash). So a memory dump yields nothing to
// guess offline without the instance key; a changed password (a new stored hash) misses;
// and a config reload, which builds a new instance, starts empty — revocation by reload
// is immediate (architecture.md, principle 10). Only successes are ever added.
import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';

export interface CredentialCacheOptions {
  /** Most credentials kept (least recently used dropped first); 0 disables the cache. */
  maxEntries: number;
  /** How long a verified credential is trusted without verifying again. */
  ttlMs: number;
  /** Clock in ms; default a monotonic one. */
  now?: () => number;
}

export interface CredentialCache {
  /** Whether this exact (user, password, stored hash) was verified within ttlMs. */
  has(user: string, password: Buffer, storedHash: string): boolean;
  /** Remember a credential that just verified. */
  add(user: string, password: Buffer, storedHash: string): void;
  /** Forget everything. */
  clear(): void;
  /** Entries held (expired ones included until they are looked up or evicted). */
  readonly size: number;
}

/** Identifies a credential without holding it. */
export type CredentialDigest = (user: string, password: Buffer, storedHash: string) => string;

/**
 * HMAC-SHA256, under a random key of its own, of (user, password bytes, stored hash):
 * equal for equal credentials within one digest function, useless to anyone without its key.
 */
export function createCredentialDigest(): CredentialDigest {
  const key = randomBytes(32);
  return (user, password, storedHash) => {
    // Length prefixes make the encoding unambiguous: the password may contain anything,
    // ':' included, so no separator could. One string and one buffer: this runs on every
    // warm Basic request.
    const mac = createHmac('sha256', key);
    mac.update(`${Buffer.byteLength(user)}:${user}${storedHash.length}:${storedHash}${password.length}:`);
    mac.update(password);
    return mac.digest('base64');
  };
}

export function createCredentialCache(opts: CredentialCacheOptions): CredentialCache {
  const { maxEntries, ttlMs } = opts;
  if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new RangeError('maxEntries must be a non-negative integer');
  if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError('ttlMs must be a positive number');
  const now = opts.now ?? (() => performance.now());
  const digest = createCredentialDigest();
  // key → expiry time. Expiry is ours rather than lru-cache's `ttl` so the clock can be
  // injected and the rule "never trusted past ttlMs" is checked right here.
  const entries = maxEntries > 0 ? new LRUCache<string, number>({ max: maxEntries }) : undefined;

  return {
    has(user, password, storedHash) {
      if (entries === undefined) return false;
      const k = digest(user, password, storedHash);
      const expiresAt = entries.get(k);
      if (expiresAt === undefined) return false;
      if (now() >= expiresAt) {
        entries.delete(k);
        return false;
      }
      return true;
    },
    add(user, password, storedHash) {
      // The expiry is fixed at verification: a hit does not extend it.
      entries?.set(digest(user, password, storedHash), now() + ttlMs);
    },
    clear() {
      entries?.clear();
    },
    get size() {
      return entries?.size ?? 0;
    },
  };
}
