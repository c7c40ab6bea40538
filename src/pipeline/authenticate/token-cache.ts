// Verified bearer tokens, so a repeated token skips signature checks or an introspection
// call. Keys are SHA-256 of the token: the cache never holds a usable token (security.md
// §13), and a token has 256 bits of its own hash space, so a collision is no concern.
// Each entry carries an absolute expiry fixed by the caller (the token's exp, or less);
// a hit never extends it and an entry is never returned at or past it (architecture.md,
// principle 10). Failures are the caller's to keep out.
//
// Admission on second sight (option): most tokens of a busy issuer are presented once, and
// storing each in a 10 000-entry LRU makes every one of them live long enough to be
// promoted to the old generation and to evict an entry that might have been used again.
// With `admission: 'second-sight'` a token's first set() puts it in a small probation ring
// (it dies young when nobody repeats it) and records a 32-bit fingerprint of its key in a
// fixed table; it enters the LRU when it is looked up again while still in the ring, or
// set again while its fingerprint is remembered (a fixed table of about maxEntries
// fingerprints, so roughly as long as an LRU entry would have lasted). A fingerprint only
// ever decides where a verified value is kept, never whether a lookup hits: a collision
// costs a cache slot, a forgotten fingerprint one more verification.
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
  /**
   * 'always' (default): every set() stores in the LRU. 'second-sight': a first set() stores
   * in the probation ring only (at most PROBATION_ENTRIES more entries); see above.
   */
  admission?: 'always' | 'second-sight';
}

/** Entries on probation (seen once) at most; a ring, the oldest replaced first. */
export const PROBATION_ENTRIES = 32;
/** Fingerprints of keys seen once: a power of two ≥ maxEntries, within these bounds. */
export const MIN_SEEN_SLOTS = 64;
export const MAX_SEEN_SLOTS = 65_536;

/** The 32-bit number written as 8 lower-case hex digits at key[at]. */
function hex32(key: string, at: number): number {
  let v = 0;
  for (let i = at; i < at + 8; i++) {
    const c = key.charCodeAt(i);
    v = (v << 4) | (c <= 0x39 ? c - 0x30 : c - 0x57);
  }
  return v >>> 0;
}

/** SHA-256 hex of the token; the one-shot `crypto.hash` is ~3x cheaper than createHash here. */
export function tokenCacheKey(token: string): string {
  return hash('sha256', token, 'hex');
}

export function createTokenCache<V extends object | string | number | boolean>(opts: TokenCacheOptions): TokenCache<V> {
  const { maxEntries, admission = 'always' } = opts;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) throw new RangeError('token cache: maxEntries must be a non-negative integer');
  if (admission !== 'always' && admission !== 'second-sight') throw new RangeError("token cache: admission must be 'always' or 'second-sight'");
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

  // Second-sight admission: the probation ring (parallel arrays: no object per entry) and
  // the table of fingerprints (a newer key may take an older one's slot in its bucket).
  const ringSize = entries !== undefined && admission === 'second-sight' ? Math.min(PROBATION_ENTRIES, maxEntries) : 0;
  const ringKeys: (string | undefined)[] = new Array<string | undefined>(ringSize).fill(undefined);
  const ringValues: (V | undefined)[] = new Array<V | undefined>(ringSize).fill(undefined);
  const ringExpires = new Float64Array(ringSize);
  let ringNext = 0;
  let seenSlots = MIN_SEEN_SLOTS;
  while (seenSlots < Math.min(maxEntries, MAX_SEEN_SLOTS)) seenSlots *= 2;
  const seen = new Uint32Array(ringSize > 0 ? seenSlots : 0);
  const seenMask = seenSlots - 1;
  let seenVictim = 0;

  const ringIndex = (key: string): number => {
    for (let i = 0; i < ringSize; i++) if (ringKeys[i] === key) return i;
    return -1;
  };
  const ringDrop = (i: number): void => {
    ringKeys[i] = undefined;
    ringValues[i] = undefined;
  };
  /** Whether the key was seen before; records it either way. */
  const seenBefore = (key: string): boolean => {
    // 4-way buckets: four keys that share a bucket can all be remembered.
    const base = (hex32(key, 0) & seenMask) & ~3;
    // Never 0, the value of an empty slot.
    const tag = (hex32(key, 8) | 1) >>> 0;
    for (let i = base; i < base + 4; i++) if (seen[i] === tag) return true;
    seen[base + seenVictim] = tag;
    seenVictim = (seenVictim + 1) & 3;
    return false;
  };

  return {
    get(token, nowMs) {
      if (entries === undefined) return undefined;
      const key = keyOf(token);
      const hit = entries.get(key);
      if (hit === undefined) {
        if (ringSize === 0) return undefined;
        const i = ringIndex(key);
        if (i < 0) return undefined;
        const value = ringValues[i]!;
        const expiresAtMs = ringExpires[i]!;
        ringDrop(i);
        if (!(nowMs < expiresAtMs)) return undefined;
        // Asked for again: worth a place in the LRU.
        entries.set(key, { value, expiresAtMs });
        return value;
      }
      if (!(nowMs < hit.expiresAtMs)) {
        entries.delete(key);
        return undefined;
      }
      return hit.value;
    },
    set(token, value, expiresAtMs) {
      // A NaN expiry is never "later than now" in get(): such an entry is never returned.
      if (entries === undefined) return;
      const key = keyOf(token);
      if (ringSize > 0 && !entries.has(key)) {
        const i = ringIndex(key);
        if (!seenBefore(key)) {
          const at = i >= 0 ? i : ringNext;
          if (i < 0) ringNext = (ringNext + 1) % ringSize;
          ringKeys[at] = key;
          ringValues[at] = value;
          ringExpires[at] = expiresAtMs;
          return;
        }
        if (i >= 0) ringDrop(i);
      }
      entries.set(key, { value, expiresAtMs });
    },
    delete(token) {
      if (entries === undefined) return;
      const key = keyOf(token);
      entries.delete(key);
      const i = ringIndex(key);
      if (i >= 0) ringDrop(i);
    },
    clear() {
      entries?.clear();
      for (let i = 0; i < ringSize; i++) ringDrop(i);
      seen.fill(0);
    },
    get size() {
      let onProbation = 0;
      for (let i = 0; i < ringSize; i++) if (ringKeys[i] !== undefined) onProbation++;
      return (entries?.size ?? 0) + onProbation;
    },
  };
}
