import { createHash } from 'node:crypto';
import t from 'tap';
import { createTokenCache, tokenCacheKey } from '../../../src/pipeline/authenticate/token-cache.js';

t.test('keys are sha256(token) in hex', async (t) => {
  t.equal(tokenCacheKey('abc'), createHash('sha256').update('abc').digest('hex'));
  t.equal(tokenCacheKey('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

t.test('get returns the value until nowMs reaches the expiry', async (t) => {
  const cache = createTokenCache<{ v: number }>({ maxEntries: 10 });
  const value = { v: 1 };
  cache.set('tok', value, 1000);
  t.equal(cache.get('tok', 0), value);
  t.equal(cache.get('tok', 999.999), value);
  t.equal(cache.size, 1);
  t.equal(cache.get('tok', 1000), undefined, 'at the expiry: gone');
  t.equal(cache.size, 0, 'and dropped');
  t.equal(cache.get('tok', 0), undefined, 'even if the clock goes back');
});

t.test('a hit does not extend the expiry', async (t) => {
  const cache = createTokenCache<string>({ maxEntries: 10 });
  cache.set('tok', 'v', 100);
  t.equal(cache.get('tok', 50), 'v');
  t.equal(cache.get('tok', 100), undefined);
});

t.test('an expiry already past, or NaN, is never returned', async (t) => {
  const cache = createTokenCache<string>({ maxEntries: 10 });
  cache.set('old', 'v', 10);
  t.equal(cache.get('old', 10), undefined);
  cache.set('nan', 'v', NaN);
  t.equal(cache.get('nan', 0), undefined);
  cache.set('ok', 'v', 10);
  t.equal(cache.get('ok', NaN), undefined, 'nor with a NaN clock');
});

t.test('other tokens miss', async (t) => {
  const cache = createTokenCache<string>({ maxEntries: 10 });
  cache.set('a', 'v', 100);
  t.equal(cache.get('b', 0), undefined);
  t.equal(cache.get('a ', 0), undefined);
});

t.test('bounded: least recently used dropped first', async (t) => {
  const cache = createTokenCache<string>({ maxEntries: 2 });
  cache.set('a', 'A', 100);
  cache.set('b', 'B', 100);
  t.equal(cache.get('a', 0), 'A');
  cache.set('c', 'C', 100);
  t.equal(cache.size, 2);
  t.equal(cache.get('b', 0), undefined, 'b was least recently used');
  t.equal(cache.get('a', 0), 'A');
  t.equal(cache.get('c', 0), 'C');
});

t.test('set replaces, delete and clear forget', async (t) => {
  const cache = createTokenCache<string>({ maxEntries: 5 });
  cache.set('a', 'A', 100);
  cache.set('a', 'A2', 50);
  t.equal(cache.get('a', 60), undefined, 'the new expiry applies');
  cache.set('a', 'A3', 100);
  cache.set('b', 'B', 100);
  cache.delete('a');
  t.equal(cache.get('a', 0), undefined);
  t.equal(cache.get('b', 0), 'B');
  cache.clear();
  t.equal(cache.size, 0);
  t.equal(cache.get('b', 0), undefined);
});

t.test('maxEntries 0 disables it', async (t) => {
  const cache = createTokenCache<string>({ maxEntries: 0 });
  cache.set('a', 'A', 100);
  t.equal(cache.get('a', 0), undefined);
  t.equal(cache.size, 0);
  cache.delete('a');
  cache.clear();
});

t.test('maxEntries must be a non-negative integer', async (t) => {
  for (const n of [-1, 1.5, NaN, Infinity]) t.throws(() => createTokenCache({ maxEntries: n }), RangeError, String(n));
});
