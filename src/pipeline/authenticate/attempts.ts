// Failed-attempt counters behind the Basic throttle (security.md §7). The port is async
// so a Redis store (shared by every instance) can replace the memory one unchanged.
//
// Windows are FIXED: the first failure under a key opens a window of `windowMs`; every
// failure until it ends adds one; the first failure after it ends opens a new window at 1.
// That is Redis's `INCR` + `PEXPIRE … NX` in one round trip, and a key's count never
// outlives its window. The price is the usual fixed-window burst: up to twice the limit
// across a window boundary, which is acceptable for slowing password guessing.
import { LRUCache } from 'lru-cache';

export interface AttemptStore {
  /** Add one failure under key in a window of windowMs; returns the failures counted in the current window. */
  recordFailure(key: string, windowMs: number): Promise<number>;
  /** Failures counted in the current window and ms until that window ends (0 if none). */
  peek(key: string): Promise<{ failures: number; resetInMs: number }>;
  clear(key: string): Promise<void>;
}

export interface MemoryAttemptStoreOptions {
  /** Most keys kept; the least recently used is forgotten first. Default 100 000. */
  maxKeys?: number;
  /** Clock in ms; default a monotonic one, so a wall-clock step cannot stretch a window. */
  now?: () => number;
}

interface Window {
  failures: number;
  resetAt: number;
}

export const DEFAULT_MAX_ATTEMPT_KEYS = 100_000;

/**
 * In-memory AttemptStore for one process. Bounded: past `maxKeys` the least recently
 * touched key is dropped, so a flood of distinct keys costs memory up to that bound and
 * no more. A dropped key starts again from zero; the hot keys of an ongoing attack (its
 * IP, its (user, IP) pairs) are touched on every failure and are the last to go.
 */
export function createMemoryAttemptStore(opts: MemoryAttemptStoreOptions = {}): AttemptStore {
  const maxKeys = opts.maxKeys ?? DEFAULT_MAX_ATTEMPT_KEYS;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError('maxKeys must be a positive integer');
  const now = opts.now ?? (() => performance.now());
  const windows = new LRUCache<string, Window>({ max: maxKeys });

  function current(key: string, t: number): Window | undefined {
    const w = windows.get(key);
    if (w === undefined) return undefined;
    if (t >= w.resetAt) {
      windows.delete(key);
      return undefined;
    }
    return w;
  }

  return {
    async recordFailure(key, windowMs) {
      if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError('windowMs must be a positive number');
      const t = now();
      const w = current(key, t);
      if (w === undefined) {
        windows.set(key, { failures: 1, resetAt: t + windowMs });
        return 1;
      }
      w.failures += 1;
      return w.failures;
    },
    async peek(key) {
      const t = now();
      // peek must not refresh recency: only failures keep a key alive.
      const w = windows.peek(key);
      if (w === undefined || t >= w.resetAt) return { failures: 0, resetInMs: 0 };
      return { failures: w.failures, resetInMs: w.resetAt - t };
    },
    async clear(key) {
      windows.delete(key);
    },
  };
}

/**
 * Counts in `primary` (Redis: shared by every instance) and, while it fails, in
 * `fallback` (this process). A Redis outage then weakens the limits to per-instance
 * ones instead of lifting them: password guessing stays throttled while Basic keeps
 * serving (security.md §7, §10). A peek reports the larger of the two counts, so
 * failures counted during an outage still bind once Redis is back.
 */
export function createFallbackAttemptStore(primary: AttemptStore, fallback: AttemptStore, onError?: (err: unknown) => void): AttemptStore {
  const failed = (err: unknown): void => {
    try {
      onError?.(err);
    } catch {
      // A broken reporter must not turn a decision into a crash.
    }
  };
  return {
    async recordFailure(key, windowMs) {
      try {
        return await primary.recordFailure(key, windowMs);
      } catch (err) {
        failed(err);
        return fallback.recordFailure(key, windowMs);
      }
    },
    async peek(key) {
      const local = await fallback.peek(key);
      try {
        const shared = await primary.peek(key);
        return shared.failures >= local.failures ? shared : local;
      } catch (err) {
        failed(err);
        return local;
      }
    },
    async clear(key) {
      await fallback.clear(key);
      try {
        await primary.clear(key);
      } catch (err) {
        failed(err);
      }
    },
  };
}
