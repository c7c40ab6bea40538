import t from 'tap';
import { DEFAULT_MAX_SESSIONS, bySummary, createMemorySessionStore } from '../../../src/sessions/memory-store.js';
import { newSessionId } from '../../../src/sessions/session-id.js';
import type { SessionData } from '../../../src/sessions/types.js';

const T0 = 1_700_000_000_000;
const MIN = 60_000;
const data = (user: string): SessionData => ({ user, groups: [], claims: {}, provider: 'corp', createdAt: T0, expiresAt: T0 + 60 * MIN, oidc: { sub: `sub-${user}`, sid: `sid-${user}` } });

t.test('bounded: the least recently used session goes first, with its index entries', async (t) => {
  t.equal(DEFAULT_MAX_SESSIONS, 100_000);
  const s = createMemorySessionStore({ maxSessions: 2, now: () => T0 });
  const [a, b, c] = [newSessionId(), newSessionId(), newSessionId()];
  await s.create(a, data('a'), T0, MIN);
  await s.create(b, data('b'), T0, MIN);
  t.equal((await s.get(a, T0, MIN))?.user, 'a', 'reading a makes b the oldest');
  await s.create(c, data('c'), T0, MIN);
  t.equal(await s.get(b, T0, MIN), undefined, 'b evicted');
  t.equal((await s.get(a, T0, MIN))?.user, 'a');
  t.equal(await s.deleteByUser('b'), 0, 'its user index is gone');
  t.equal(await s.deleteByOidc('corp', { sub: 'sub-b' }), 0, 'its sub index is gone');
  t.same((await s.list({})).map((x) => x.user).sort(), ['a', 'c']);
});

t.test('list does not refresh recency', async (t) => {
  const s = createMemorySessionStore({ maxSessions: 2, now: () => T0 });
  const [a, b, c] = [newSessionId(), newSessionId(), newSessionId()];
  await s.create(a, data('a'), T0, MIN);
  await s.create(b, data('b'), T0, MIN);
  await s.list({});
  await s.create(c, data('c'), T0, MIN);
  t.equal(await s.get(a, T0, MIN), undefined, 'a was still the oldest');
});

t.test('returned sessions are copies', async (t) => {
  const s = createMemorySessionStore({ now: () => T0 });
  const id = newSessionId();
  await s.create(id, data('a'), T0, MIN);
  const got = await s.get(id, T0, MIN);
  (got!.groups as string[]).push('admin');
  t.same((await s.get(id, T0, MIN))?.groups, []);
});

t.test('creating under an existing id replaces it and its index entries', async (t) => {
  const s = createMemorySessionStore({ now: () => T0 });
  const id = newSessionId();
  await s.create(id, data('a'), T0, MIN);
  await s.create(id, data('b'), T0, MIN);
  t.equal((await s.get(id, T0, MIN))?.user, 'b');
  t.equal(await s.deleteByUser('a'), 0);
  t.equal(await s.deleteByUser('b'), 1);
});

t.test('one-time values and locks are bounded too; close forgets everything', async (t) => {
  const s = createMemorySessionStore({ maxSessions: 1, now: () => T0 });
  t.equal(await s.putOnce('a', '1', MIN), true);
  t.equal(await s.putOnce('b', '2', MIN), true);
  t.equal(await s.take('a'), undefined, 'evicted');
  t.equal(await s.take('b'), '2');
  const id = newSessionId();
  await s.create(id, data('a'), T0, MIN);
  t.ok(await s.acquireLock('l', MIN));
  await s.close();
  t.equal(await s.get(id, T0, MIN), undefined);
  t.ok(await s.acquireLock('l', MIN), 'lock gone');
  t.same(s.health(), { ok: true, store: 'memory' });
});

t.test('default clock is Date.now', async (t) => {
  const s = createMemorySessionStore();
  const id = newSessionId();
  const now = Date.now();
  await s.create(id, { ...data('a'), createdAt: now, expiresAt: now + MIN }, now, MIN);
  t.equal((await s.list({})).length, 1);
  await s.create(newSessionId(), { ...data('a'), createdAt: now - 2 * MIN, expiresAt: now - MIN }, now - 2 * MIN, MIN);
  t.equal((await s.list({ user: 'a' })).length, 1, 'the expired one is not listed');
});

t.test('options are checked', async (t) => {
  t.throws(() => createMemorySessionStore({ maxSessions: 0 }), RangeError);
  t.throws(() => createMemorySessionStore({ maxSessions: 1.5 }), RangeError);
});

t.test('bySummary: oldest first, then by idHash', async (t) => {
  const x = (createdAt: number, idHash: string) => ({ ...data('a'), createdAt, lastSeenAt: T0, idHash });
  t.equal(bySummary(x(1, 'b'), x(2, 'a')), -1);
  t.equal(bySummary(x(2, 'a'), x(1, 'b')), 1);
  t.equal(bySummary(x(1, 'a'), x(1, 'b')), -1);
  t.equal(bySummary(x(1, 'b'), x(1, 'a')), 1);
});
