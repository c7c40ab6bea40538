import t from 'tap';
import { createCredentialCache } from '../../../src/pipeline/authenticate/credential-cache.js';

const HASH = '$2y$04$Iz6ldMe2WGpVTnvNzlgbiO0ti9bGdz6y9dEsnW55lMMUcGM6Fqs86';
const NEW_HASH = '$2y$04$pmPBnJaBfge7YdN7q9e9lOT3YpSHqhPRrcXhD/Gl9mJMUoeSN0DTy';
const pw = (s: string): Buffer => Buffer.from(s, 'utf8');
const clock = () => {
  let now = 5_000;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
};

t.test('hit only for the exact user, password bytes and stored hash', async (t) => {
  const c = createCredentialCache({ maxEntries: 10, ttlMs: 1000, now: clock().now });
  t.equal(c.has('alice', pw('s3cret'), HASH), false, 'empty');
  c.add('alice', pw('s3cret'), HASH);
  t.equal(c.has('alice', pw('s3cret'), HASH), true);
  t.equal(c.has('alice', pw('s3creT'), HASH), false, 'other password');
  t.equal(c.has('Alice', pw('s3cret'), HASH), false, 'other user');
  t.equal(c.has('alice', pw('s3cret'), NEW_HASH), false, 'a changed hash misses');
  t.equal(c.has('alice', pw('s3cret\0'), HASH), false, 'trailing NUL');
});

t.test('fields are length-prefixed: shifting bytes between them never collides', async (t) => {
  const c = createCredentialCache({ maxEntries: 10, ttlMs: 1000, now: clock().now });
  c.add('a', pw('b:c'), HASH);
  t.equal(c.has('a:b', pw('c'), HASH), false);
  t.equal(c.has('a', pw('b:c' + HASH), ''), false);
  t.equal(c.has('a', pw('b:c'), HASH), true);
});

t.test('entries expire after ttlMs; a hit does not extend them', async (t) => {
  const k = clock();
  const c = createCredentialCache({ maxEntries: 10, ttlMs: 1000, now: k.now });
  c.add('alice', pw('s3cret'), HASH);
  k.advance(999);
  t.equal(c.has('alice', pw('s3cret'), HASH), true);
  k.advance(1);
  t.equal(c.has('alice', pw('s3cret'), HASH), false, 'expired at exactly ttlMs');
  t.equal(c.size, 0, 'the expired entry is dropped');
  c.add('alice', pw('s3cret'), HASH);
  t.equal(c.size, 1);
});

t.test('bounded LRU', async (t) => {
  const c = createCredentialCache({ maxEntries: 2, ttlMs: 1000, now: clock().now });
  c.add('a', pw('1'), HASH);
  c.add('b', pw('2'), HASH);
  t.equal(c.has('a', pw('1'), HASH), true); // 'a' is now the most recent
  c.add('c', pw('3'), HASH);
  t.equal(c.size, 2);
  t.equal(c.has('b', pw('2'), HASH), false, 'least recently used went first');
  t.equal(c.has('a', pw('1'), HASH), true);
  t.equal(c.has('c', pw('3'), HASH), true);
  c.clear();
  t.equal(c.size, 0);
  t.equal(c.has('a', pw('1'), HASH), false);
});

t.test('a new instance starts empty (config reload)', async (t) => {
  const one = createCredentialCache({ maxEntries: 10, ttlMs: 60_000 });
  one.add('alice', pw('correct horse battery staple'), HASH);
  t.equal(one.has('alice', pw('correct horse battery staple'), HASH), true, 'default clock works');
  const two = createCredentialCache({ maxEntries: 10, ttlMs: 60_000 });
  t.equal(two.has('alice', pw('correct horse battery staple'), HASH), false);
});

t.test('maxEntries 0 disables caching; bad options throw', async (t) => {
  const off = createCredentialCache({ maxEntries: 0, ttlMs: 1000 });
  off.add('alice', pw('x'), HASH);
  t.equal(off.has('alice', pw('x'), HASH), false);
  t.equal(off.size, 0);
  off.clear();
  t.throws(() => createCredentialCache({ maxEntries: -1, ttlMs: 1000 }), RangeError);
  t.throws(() => createCredentialCache({ maxEntries: 1.5, ttlMs: 1000 }), RangeError);
  t.throws(() => createCredentialCache({ maxEntries: 1, ttlMs: 0 }), RangeError);
  t.throws(() => createCredentialCache({ maxEntries: 1, ttlMs: Number.NaN }), RangeError);
  t.throws(() => createCredentialCache({ maxEntries: 1, ttlMs: Number.POSITIVE_INFINITY }), RangeError);
});
