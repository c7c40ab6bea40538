// The Basic/form throttle's failure counters in Redis, so every instance counts the same
// failures (security.md §7). Fixed windows, as in the memory store
// (src/pipeline/authenticate/attempts.ts): INCR opens or extends the count and
// PEXPIRE … NX starts the window only on the first failure, both in one MULTI on one key
// (Cluster-safe; a crash between them can never leave a counter without expiry).
// Keys arrive already free of secrets (basic.ts hashes user names).
import type { AttemptStore } from '../pipeline/authenticate/attempts.js';
import type { RedisClient } from './redis-store.js';

type ExecResult = [error: Error | null, result: unknown][] | null;

/** Results of a MULTI, or the first error in it (a failed transaction is a failed call). */
function results(reply: ExecResult): unknown[] {
  if (reply === null) throw new Error('redis transaction aborted');
  return reply.map(([err, value]) => {
    if (err !== null) throw err;
    return value;
  });
}

export function createRedisAttemptStore(client: RedisClient, prefix: string): AttemptStore {
  const key = (k: string): string => `${prefix}${k}`;
  return {
    async recordFailure(k, windowMs) {
      if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError('windowMs must be a positive number');
      const [count] = results(await client.multi().incr(key(k)).pexpire(key(k), Math.ceil(windowMs), 'NX').exec());
      return Number(count);
    },
    async peek(k) {
      const [count, pttl] = results(await client.multi().get(key(k)).pttl(key(k)).exec());
      const failures = Number(count);
      // pttl: -2 no key, -1 no expiry (never written so by us); either way no window.
      if (typeof pttl !== 'number' || pttl <= 0 || !Number.isSafeInteger(failures) || failures <= 0) return { failures: 0, resetInMs: 0 };
      return { failures, resetInMs: pttl };
    },
    async clear(k) {
      await client.del(key(k));
    },
  };
}
