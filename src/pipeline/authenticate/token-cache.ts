// Verified bearer tokens, so a repeated token skips signature checks or an introspection
// call. Keys are SHA-256 of the token: the cache never holds a usable token (security.md
// §13), and a token has 256 bits of its own hash space, so a collision is no concern.
// Each entry carries an absolute expiry fixed by the caller (the token's exp, or less);
// a hit never extends it and an entry is never returned at or past it (architecture.md,
// principle 10). Failures are the caller's to keep out.
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

export interface TokenCache<V> {
  /** The value stored for this token, while nowMs < its expiry. */
  get(token: string, nowMs: number): V | undefined;
  /** Remember `value` for this token until expiresAtMs (exclusive). */
  set(token: string, value: V, expiresAtMs: number): void;
  delete(token: string): void;
  clear(): void;
  /** Entries held (expired ones included until looked up or evicted). */
  readonly size: number;
}

export interface TokenCacheOptions {
  /** Most entries kept, least recently used dropped first; 0 disables the cache. */
  maxEntries: number;
}

/** SHA-256 hex of the token; the one-shot `crypto.hash` is ~3x cheaper than createHash here. */
export function tokenCacheKey(token: string): string {
  return hash('sha256', token, 'hex');
}

export function createTokenCache<V extends object | string | number | boolean>(opts: TokenCacheOptions): TokenCache<V> {
  const { maxEntries } = opts;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) throw new RangeError('token cache: maxEntries must be a non-negative integer');
  // Expiry is ours rather than lru-cache's `ttl`: the clock is the caller's (a token's exp
  // is wall-clock time) and the "never at or past expiry" rule is checked right here.
  const entries = maxEntries > 0 ? new LRUCache<string, { value: V; expiresAtMs: number }>({ max: maxEntries }) : undefined;
  // A miss is followed by a set for the same token once it is verified: hash it once.
  let lastToken: string | undefined;
  let lastKey = '';
  const keyOf = (token: string): string => {
    if (token !== lastToken) {
      lastToken = token;
      lastKey = tokenCacheKey(token);
    }
    return lastKey;
  };
  return {
    get(token, nowMs) {
      if (entries === undefined) return undefined;
      const key = keyOf(token);
      const hit = entries.get(key);
      if (hit === undefined) return undefined;
      if (!(nowMs < hit.expiresAtMs)) {
        entries.delete(key);
        return undefined;
      }
      return hit.value;
    },
    set(token, value, expiresAtMs) {
      // A NaN expiry is never "later than now" in get(): such an entry is never returned.
      if (entries) entries.set(keyOf(token), { value, expiresAtMs });
    },
    delete(token) {
      if (entries) entries.delete(keyOf(token));
    },
    clear() {
      entries?.clear();
    },
    get size() {
      return entries?.size ?? 0;
    },
  };
}
