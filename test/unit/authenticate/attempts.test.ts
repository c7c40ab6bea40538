import t from 'tap';
import { createFallbackAttemptStore, createMemoryAttemptStore, DEFAULT_MAX_ATTEMPT_KEYS, type AttemptStore } from '../../../src/pipeline/authenticate/attempts.js';

const clock = (start = 1_000) => {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
};

t.test('fixed window: counts until the window ends, then starts again at 1', async (t) => {
  const c = clock();
  const s = createMemoryAttemptStore({ now: c.now });
  t.same(await s.peek('k'), { failures: 0, resetInMs: 0 }, 'unknown key');
  t.equal(await s.recordFailure('k', 60_000), 1);
  c.advance(10_000);
  t.equal(await s.recordFailure('k', 60_000), 2);
  t.same(await s.peek('k'), { failures: 2, resetInMs: 50_000 }, 'window counted from the first failure, not extended');
  c.advance(49_999);
  t.same(await s.peek('k'), { failures: 2, resetInMs: 1 });
  t.equal(await s.recordFailure('k', 60_000), 3);
  c.advance(1);
  t.same(await s.peek('k'), { failures: 0, resetInMs: 0 }, 'window over at exactly resetAt');
  t.equal(await s.recordFailure('k', 60_000), 1, 'a new window');
  t.same(await s.peek('k'), { failures: 1, resetInMs: 60_000 });
});

t.test('keys are independent; clear forgets one key', async (t) => {
  const s = createMemoryAttemptStore({ now: clock().now });
  await s.recordFailure('a', 1000);
  await s.recordFailure('a', 1000);
  await s.recordFailure('b', 1000);
  await s.clear('a');
  t.same(await s.peek('a'), { failures: 0, resetInMs: 0 });
  t.same(await s.peek('b'), { failures: 1, resetInMs: 1000 });
  await s.clear('never-seen');
  t.equal(await s.recordFailure('a', 1000), 1);
});

t.test('bounded: the least recently failed key goes first; peek does not refresh', async (t) => {
  const s = createMemoryAttemptStore({ maxKeys: 2, now: clock().now });
  await s.recordFailure('old', 1000);
  await s.recordFailure('hot', 1000);
  await s.peek('old'); // must not keep 'old' alive
  await s.recordFailure('hot', 1000); // touching keeps 'hot' alive
  await s.recordFailure('new', 1000);
  t.same(await s.peek('old'), { failures: 0, resetInMs: 0 }, 'evicted');
  t.same(await s.peek('hot'), { failures: 2, resetInMs: 1000 });
  t.same(await s.peek('new'), { failures: 1, resetInMs: 1000 });
});

t.test('an expired key is replaced on the next failure', async (t) => {
  const c = clock();
  const s = createMemoryAttemptStore({ maxKeys: 1, now: c.now });
  await s.recordFailure('k', 100);
  c.advance(100);
  t.equal(await s.recordFailure('k', 500), 1, 'new window with the new length');
  c.advance(499);
  t.same(await s.peek('k'), { failures: 1, resetInMs: 1 });
});

t.test('options and arguments are validated', async (t) => {
  t.equal(DEFAULT_MAX_ATTEMPT_KEYS, 100_000);
  t.throws(() => createMemoryAttemptStore({ maxKeys: 0 }), RangeError);
  t.throws(() => createMemoryAttemptStore({ maxKeys: 1.5 }), RangeError);
  const s = createMemoryAttemptStore();
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    await t.rejects(s.recordFailure('k', bad), RangeError, `windowMs ${bad}`);
  }
  // The default clock is real and monotonic: a real window is open right after a failure.
  t.equal(await s.recordFailure('k', 60_000), 1);
  const p = await s.peek('k');
  t.equal(p.failures, 1);
  t.ok(p.resetInMs > 59_000 && p.resetInMs <= 60_000, `resetInMs ${p.resetInMs}`);
});

t.test('fallback store: Redis failing → this process counts, so limits hold during an outage', async (t) => {
  const down = new Error('redis down');
  let up = true;
  const shared = createMemoryAttemptStore();
  const primary: AttemptStore = {
    recordFailure: async (k, w) => (up ? shared.recordFailure(k, w) : Promise.reject(down)),
    peek: async (k) => (up ? shared.peek(k) : Promise.reject(down)),
    clear: async (k) => (up ? shared.clear(k) : Promise.reject(down)),
  };
  const errors: unknown[] = [];
  const store = createFallbackAttemptStore(primary, createMemoryAttemptStore(), (e) => errors.push(e));
  t.equal(await store.recordFailure('k', 60_000), 1);
  t.equal((await store.peek('k')).failures, 1, 'shared count while up');
  up = false;
  t.equal(await store.recordFailure('k', 60_000), 1, 'counted locally while down');
  t.equal(await store.recordFailure('k', 60_000), 2);
  t.equal((await store.peek('k')).failures, 2, 'peek while down reads the local count');
  up = true;
  t.equal((await store.peek('k')).failures, 2, 'back up: the larger count binds');
  await store.clear('k');
  t.equal((await store.peek('k')).failures, 0, 'clear clears both');
  up = false;
  await store.clear('k');
  t.equal(errors.length, 4);
  t.ok(errors.every((e) => e === down));
  const noisy = createFallbackAttemptStore(primary, createMemoryAttemptStore(), () => {
    throw new Error('reporter broke');
  });
  t.equal(await noisy.recordFailure('j', 1000), 1, 'a broken reporter changes nothing');
});
