// The Redis attempt counters, on the shared Redis under a key prefix of this run (deleted
// at the end; see test/helpers/redis.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Redis } from 'ioredis';
import { createRedisAttemptStore } from '../../../src/sessions/redis-attempts.js';
import type { RedisClient } from '../../../src/sessions/redis-store.js';
import { SHARED_REDIS_URL, deleteKeysUnder, runPrefix } from '../../helpers/redis.js';

const P = `${runPrefix()}throttle:`;
const client = new Redis(SHARED_REDIS_URL);

t.teardown(async () => {
  await deleteKeysUnder(client, P);
  await client.quit();
});

t.test('fixed window: counts within it, starts again at 1 after it', async (t) => {
  const s = createRedisAttemptStore(client, P);
  t.same(await s.peek('a'), { failures: 0, resetInMs: 0 }, 'unknown key');
  t.equal(await s.recordFailure('a', 300), 1);
  t.equal(await client.exists(`${P}a`), 1, 'under the prefix');
  const first = await client.pttl(`${P}a`);
  t.ok(first > 250 && first <= 300, `window opened (${first})`);
  await sleep(100);
  t.equal(await s.recordFailure('a', 300), 2);
  t.equal(await s.recordFailure('a', 300), 3);
  const { failures, resetInMs } = await s.peek('a');
  t.equal(failures, 3);
  t.ok(resetInMs > 100 && resetInMs <= 200, `the window is not extended by later failures (${resetInMs})`);
  await sleep(resetInMs + 30);
  t.same(await s.peek('a'), { failures: 0, resetInMs: 0 }, 'window over');
  t.equal(await s.recordFailure('a', 300), 1, 'a new window');
});

t.test('keys are independent; clear forgets one key', async (t) => {
  const s = createRedisAttemptStore(client, P);
  await s.recordFailure('x', 60_000);
  await s.recordFailure('x', 60_000);
  await s.recordFailure('y', 60_000);
  await s.clear('x');
  t.same(await s.peek('x'), { failures: 0, resetInMs: 0 });
  t.equal((await s.peek('y')).failures, 1);
  await s.clear('never-seen');
  t.equal(await s.recordFailure('x', 60_000), 1);
  const other = createRedisAttemptStore(client, `${P}other:`);
  t.same(await other.peek('y'), { failures: 0, resetInMs: 0 }, 'another prefix, other counts');
});

t.test('shared by instances: two stores on two clients count together', async (t) => {
  const second = new Redis(SHARED_REDIS_URL);
  const a = createRedisAttemptStore(client, P);
  const b = createRedisAttemptStore(second, P);
  t.equal(await a.recordFailure('shared', 60_000), 1);
  t.equal(await b.recordFailure('shared', 60_000), 2);
  t.equal((await a.peek('shared')).failures, 2);
  await second.quit();
});

t.test('a fractional window is rounded up; bad windows are refused', async (t) => {
  const s = createRedisAttemptStore(client, P);
  t.equal(await s.recordFailure('frac', 1000.2), 1);
  t.equal(await client.pttl(`${P}frac`) <= 1001, true);
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) await t.rejects(s.recordFailure('frac', bad), RangeError, String(bad));
});

t.test('values not written by us count as no window', async (t) => {
  const s = createRedisAttemptStore(client, P);
  await client.set(`${P}persistent`, '5');
  t.same(await s.peek('persistent'), { failures: 0, resetInMs: 0 }, 'no expiry');
  await client.set(`${P}garbage`, 'abc', 'PX', 60_000);
  t.same(await s.peek('garbage'), { failures: 0, resetInMs: 0 }, 'not a number');
  await client.hset(`${P}hash`, { a: '1' });
  await t.rejects(s.recordFailure('hash', 1000), /WRONGTYPE/, 'an error inside the transaction rejects');
  await t.rejects(s.peek('hash'), /WRONGTYPE/);
});

t.test('fails fast when Redis is unreachable', async (t) => {
  const down = new Redis({ port: 1, host: '127.0.0.1', enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
  down.on('error', () => {});
  const s = createRedisAttemptStore(down, P);
  const started = performance.now();
  await t.rejects(s.recordFailure('k', 1000));
  await t.rejects(s.peek('k'));
  await t.rejects(s.clear('k'));
  t.ok(performance.now() - started < 500);
  down.disconnect();
});

t.test('an aborted transaction is a failure', async (t) => {
  const fake = { multi: () => ({ get: () => fake.multi(), pttl: () => fake.multi(), incr: () => fake.multi(), pexpire: () => fake.multi(), exec: async () => null }) };
  const s = createRedisAttemptStore(fake as unknown as RedisClient, P);
  await t.rejects(s.recordFailure('k', 1000), /aborted/);
  await t.rejects(s.peek('k'), /aborted/);
});
