// Second-sight admission of the token cache (token-cache.ts): a token presented once stays
// on a small probation ring and never takes an LRU entry; presented again, it is cached.
import t from 'tap';
import { createTokenCache, MAX_SEEN_SLOTS, MIN_SEEN_SLOTS, PROBATION_ENTRIES, tokenCacheKey } from '../../../src/pipeline/authenticate/token-cache.js';

const secondSight = <V extends object | string | number | boolean>(maxEntries: number) => createTokenCache<V>({ maxEntries, admission: 'second-sight' });

/** Sets `n` distinct tokens once each (one-off traffic). */
function oneOffs(cache: { set(token: string, value: string, exp: number): void }, n: number, prefix = 'once-'): void {
  for (let i = 0; i < n; i++) cache.set(`${prefix}${i}`, 'x', 1000);
}

t.test('the bounds', async (t) => {
  t.equal(PROBATION_ENTRIES, 32);
  t.equal(MIN_SEEN_SLOTS, 64);
  t.equal(MAX_SEEN_SLOTS, 65_536);
});

t.test('seen once: on probation only, gone after PROBATION_ENTRIES other one-off tokens', async (t) => {
  const cache = secondSight<string>(100);
  cache.set('a', 'A', 1000);
  t.equal(cache.size, 1, 'held on probation');
  oneOffs(cache, PROBATION_ENTRIES - 1);
  t.equal(cache.size, PROBATION_ENTRIES, 'no LRU entry for any of them');
  oneOffs(cache, 1, 'last-');
  t.equal(cache.size, PROBATION_ENTRIES, 'the ring is full: the oldest was replaced');
  t.equal(cache.get('a', 0), undefined, 'a was seen once and is not cached any more');
});

t.test('seen twice: looked up again while on probation, it is cached', async (t) => {
  const cache = secondSight<string>(100);
  cache.set('a', 'A', 1000);
  t.equal(cache.get('a', 0), 'A', 'the second sight hits the probation ring');
  oneOffs(cache, 10 * PROBATION_ENTRIES);
  t.equal(cache.get('a', 0), 'A', 'and it now lives in the LRU');
  t.equal(cache.size, 1 + PROBATION_ENTRIES);
});

t.test('seen twice: set again after leaving probation, it is cached', async (t) => {
  // Fingerprints are remembered for about maxEntries other tokens (fewer when some share
  // a bucket), so this one is sized well above the traffic in between.
  const cache = secondSight<string>(10_000);
  cache.set('a', 'A', 1000);
  oneOffs(cache, PROBATION_ENTRIES);
  t.equal(cache.get('a', 0), undefined, 'verified once, forgotten');
  cache.set('a', 'A2', 1000);
  oneOffs(cache, 10 * PROBATION_ENTRIES, 'more-');
  t.equal(cache.get('a', 0), 'A2', 'the second set() went to the LRU');
});

t.test('set again while on probation: the new value goes to the LRU, once', async (t) => {
  const cache = secondSight<string>(100);
  cache.set('a', 'A', 1000);
  cache.set('a', 'A2', 500);
  t.equal(cache.size, 1, 'not held twice');
  t.equal(cache.get('a', 499), 'A2');
  t.equal(cache.get('a', 500), undefined, 'the new expiry applies');
});

t.test('one-off tokens never evict cached ones', async (t) => {
  const cache = secondSight<string>(2);
  for (const token of ['a', 'b']) {
    cache.set(token, token.toUpperCase(), 1000);
    t.equal(cache.get(token, 0), token.toUpperCase());
  }
  oneOffs(cache, 10_000);
  t.equal(cache.get('a', 0), 'A');
  t.equal(cache.get('b', 0), 'B');
});

t.test('never at or past the expiry, on probation or cached', async (t) => {
  const cache = secondSight<string>(10);
  cache.set('p', 'P', 100);
  t.equal(cache.get('p', 100), undefined, 'on probation, at the expiry: gone');
  t.equal(cache.size, 0, 'and dropped, not admitted');
  t.equal(cache.get('p', 0), undefined, 'even if the clock goes back');

  cache.set('c', 'C', 100);
  t.equal(cache.get('c', 99.999), 'C', 'admitted just before the expiry');
  t.equal(cache.get('c', 100), undefined, 'cached, at the expiry: gone');
  t.equal(cache.get('c', 0), undefined);

  cache.set('nan', 'N', NaN);
  t.equal(cache.get('nan', 0), undefined, 'a NaN expiry is never returned');
  cache.set('ok', 'O', 10);
  t.equal(cache.get('ok', NaN), undefined, 'nor with a NaN clock');
  cache.set('twice', 'T', NaN);
  cache.set('twice', 'T', NaN);
  t.equal(cache.get('twice', 0), undefined, 'nor from the LRU');
});

t.test('bounded: at most maxEntries + the probation ring, whatever the traffic', async (t) => {
  for (const maxEntries of [1, 3, 50]) {
    const cache = secondSight<string>(maxEntries);
    for (let i = 0; i < 2000; i++) {
      const token = `t${i % 700}`;
      cache.set(token, 'v', 1000);
      if (i % 3 === 0) cache.get(token, 0);
      t.ok(cache.size <= maxEntries + Math.min(PROBATION_ENTRIES, maxEntries), `size ${cache.size} within bounds (${maxEntries})`);
    }
  }
});

t.test('delete and clear forget probation, the LRU and what was seen', async (t) => {
  const cache = secondSight<string>(10);
  cache.set('p', 'P', 100);
  cache.set('c', 'C', 100);
  cache.set('c', 'C', 100);
  t.equal(cache.size, 2);
  cache.delete('p');
  cache.delete('c');
  cache.delete('never');
  t.equal(cache.size, 0);
  t.equal(cache.get('p', 0), undefined);
  t.equal(cache.get('c', 0), undefined);

  cache.set('a', 'A', 100);
  cache.set('a', 'A', 100); // admitted
  cache.set('b', 'B', 100); // seen once
  cache.clear();
  t.equal(cache.size, 0);
  t.equal(cache.get('a', 0), undefined);
  cache.set('b', 'B', 100);
  oneOffs(cache, PROBATION_ENTRIES);
  t.equal(cache.get('b', 0), undefined, 'after clear() a token is seen for the first time again');
});

t.test('maxEntries 0 disables it, admission or not', async (t) => {
  const cache = secondSight<string>(0);
  cache.set('a', 'A', 100);
  cache.set('a', 'A', 100);
  t.equal(cache.get('a', 0), undefined);
  t.equal(cache.size, 0);
  cache.delete('a');
  cache.clear();
});

t.test("admission must be 'always' or 'second-sight'", async (t) => {
  t.throws(() => createTokenCache({ maxEntries: 10, admission: 'first' as never }), RangeError);
  const always = createTokenCache<string>({ maxEntries: 10, admission: 'always' });
  always.set('a', 'A', 100);
  oneOffs(always, 5);
  t.equal(always.get('a', 0), 'A', "'always' caches on first sight, as without the option");
});

t.test('values are returned as stored (same object)', async (t) => {
  const cache = secondSight<{ v: number }>(10);
  const value = { v: 1 };
  cache.set('a', value, 100);
  t.equal(cache.get('a', 0), value, 'from probation');
  t.equal(cache.get('a', 0), value, 'from the LRU');
});

t.test('a forgotten fingerprint costs a verification, never a wrong answer', async (t) => {
  // maxEntries ≤ 64: MIN_SEEN_SLOTS slots in buckets of 4, chosen by the key's first 32 bits.
  const bucketOf = (token: string) => (parseInt(tokenCacheKey(token).slice(0, 8), 16) % MIN_SEEN_SLOTS) >> 2;
  const sameBucket: string[] = [];
  for (let i = 0; sameBucket.length < 4; i++) if (bucketOf(`n${i}`) === bucketOf('a')) sameBucket.push(`n${i}`);
  const cache = secondSight<string>(PROBATION_ENTRIES);
  cache.set('a', 'A', 1000);
  for (const token of sameBucket) cache.set(token, 'x', 1000); // a's fingerprint is pushed out
  cache.set('a', 'A2', 1000);
  t.equal(cache.size, 5, 'still one entry for a, on probation');
  t.equal(cache.get('a', 0), 'A2', 'with the newer value');
  cache.set('b', 'B', 1000);
  cache.set('b', 'B', 1000);
  t.equal(cache.get('b', 0), 'B', 'other tokens are unaffected');
});
