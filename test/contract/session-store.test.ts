// One SessionStore contract, run against the memory store and the Redis store (on the
// shared Redis at 127.0.0.1:6379, under a key prefix of its own; other test files use the
// same Redis at the same time, so never FLUSHDB: only our keys are deleted, by SCAN).
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Redis } from 'ioredis';
import { createMemorySessionStore } from '../../src/sessions/memory-store.js';
import { createRedisSessionStore } from '../../src/sessions/redis-store.js';
import { newSessionId, storageKey } from '../../src/sessions/session-id.js';
import type { SessionData, SessionStore } from '../../src/sessions/types.js';
import { SHARED_REDIS_URL, deleteKeysUnder, runPrefix } from '../helpers/redis.js';

const RUN_PREFIX = runPrefix();

interface Clock {
  t: number;
  readonly now: () => number;
}
const newClock = (): Clock => {
  const c = { t: 1_700_000_000_000, now: () => c.t };
  return c;
};

interface Flavour {
  readonly name: 'memory' | 'redis';
  make(clock: Clock): SessionStore;
}

let storeCount = 0;
const opened: SessionStore[] = [];
const flavours: Flavour[] = [
  { name: 'memory', make: (clock) => createMemorySessionStore({ now: clock.now }) },
  {
    name: 'redis',
    make: (clock) => {
      // A prefix per store: `list()` without a filter sees only this test's sessions.
      const { store } = createRedisSessionStore({ url: SHARED_REDIS_URL, keyPrefix: `${RUN_PREFIX}${++storeCount}:`, now: clock.now });
      opened.push(store);
      return store;
    },
  },
];

t.teardown(async () => {
  await Promise.all(opened.map((s) => s.close()));
  const admin = new Redis(SHARED_REDIS_URL);
  await deleteKeysUnder(admin, RUN_PREFIX);
  await admin.quit();
});

const MIN = 60_000;

function data(clock: Clock, over: Partial<SessionData> = {}): SessionData {
  return {
    user: 'alice',
    email: 'alice@example.com',
    name: 'Alice A.',
    groups: ['admin', 'staff'],
    claims: { tenant: 't1', nested: { list: [1, 'two', null], empty: [] } },
    provider: 'local',
    createdAt: clock.t,
    expiresAt: clock.t + 60 * MIN,
    ...over,
  };
}

for (const flavour of flavours) {
  t.test(flavour.name, async (t) => {
    t.test('kind and health', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      t.equal(s.kind, flavour.name);
      t.equal(await s.get(newSessionId(), clock.t, MIN), undefined, 'unknown id');
      t.same(s.health(), { ok: true, store: flavour.name });
    });

    t.test('create then get returns exactly what was stored, plus lastSeenAt', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const id = newSessionId();
      const d = data(clock);
      await s.create(id, d, clock.t, 10 * MIN);
      (d.groups as string[]).push('mutated-after-create');
      clock.t += 1000;
      const got = await s.get(id, clock.t, 10 * MIN);
      t.strictSame(got, {
        user: 'alice',
        email: 'alice@example.com',
        name: 'Alice A.',
        groups: ['admin', 'staff'],
        claims: { tenant: 't1', nested: { list: [1, 'two', null], empty: [] } },
        provider: 'local',
        createdAt: 1_700_000_000_000,
        expiresAt: 1_700_000_000_000 + 60 * MIN,
        lastSeenAt: 1_700_000_000_000,
      });
      t.equal(await s.get(newSessionId(), clock.t, 10 * MIN), undefined, 'another id');
      // OIDC data round-trips too
      const oid = newSessionId();
      const oidc = { sub: 'u-1', sid: 'op-1', idToken: 'a.b.c', refreshToken: 'r1', accessTokenExpiresAt: clock.t + 5 * MIN };
      await s.create(oid, data(clock, { provider: 'corp', oidc }), clock.t, 10 * MIN);
      t.strictSame((await s.get(oid, clock.t, 10 * MIN))?.oidc, oidc);
      // Extra fields a caller might spread in are not stored.
      const xid = newSessionId();
      await s.create(xid, { ...data(clock), lastSeenAt: 1, idHash: 'x' } as unknown as SessionData, clock.t, 10 * MIN);
      t.equal((await s.get(xid, clock.t, 10 * MIN))?.lastSeenAt, clock.t);
      t.notOk(Object.hasOwn((await s.get(xid, clock.t, 10 * MIN)) ?? {}, 'idHash'));
    });

    t.test('idle expiry slides with touch', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const id = newSessionId();
      const t0 = clock.t;
      await s.create(id, data(clock), t0, 10 * MIN);
      t.equal((await s.get(id, t0 + 10 * MIN - 1, 10 * MIN))?.lastSeenAt, t0, 'live 1 ms before the idle timeout');
      t.equal(await s.touch(id, t0 + 5 * MIN, 10 * MIN), true);
      t.equal((await s.get(id, t0 + 15 * MIN - 1, 10 * MIN))?.lastSeenAt, t0 + 5 * MIN, 'the touch moved lastSeenAt');
      t.equal(await s.touch(id, t0 + 4 * MIN, 10 * MIN), true, 'a touch from a clock behind');
      t.equal((await s.get(id, t0 + 6 * MIN, 10 * MIN))?.lastSeenAt, t0 + 5 * MIN, 'lastSeenAt never moves backwards');
      t.equal(await s.get(id, t0 + 15 * MIN, 10 * MIN), undefined, 'gone at exactly lastSeenAt + idle');
      t.equal(await s.touch(id, t0 + 15 * MIN, 10 * MIN), false, 'an idle session cannot be touched back to life');
      clock.t = t0 + 15 * MIN;
      t.same(await s.list({}), [], 'and is not listed');
    });

    t.test('a shorter idle timeout on read applies at once', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const id = newSessionId();
      await s.create(id, data(clock), clock.t, 30 * MIN);
      t.equal(await s.get(id, clock.t + 10 * MIN, 10 * MIN), undefined, 'idle 10 min under the new setting');
      t.equal(await s.touch(id, clock.t + 10 * MIN, 10 * MIN), false);
      t.equal((await s.get(id, clock.t + 10 * MIN, 30 * MIN))?.user, 'alice', 'still there under the old one');
    });

    t.test('absolute expiry: touches never extend expiresAt', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const id = newSessionId();
      const t0 = clock.t;
      await s.create(id, data(clock, { expiresAt: t0 + 25 * MIN }), t0, 10 * MIN);
      for (const at of [8, 16, 24]) t.equal(await s.touch(id, t0 + at * MIN, 10 * MIN), true, `touch at ${at} min`);
      const last = await s.get(id, t0 + 25 * MIN - 1, 10 * MIN);
      t.equal(last?.expiresAt, t0 + 25 * MIN);
      t.equal(last?.lastSeenAt, t0 + 24 * MIN);
      t.equal(await s.get(id, t0 + 25 * MIN, 10 * MIN), undefined, 'gone at exactly expiresAt');
      t.equal(await s.touch(id, t0 + 25 * MIN, 10 * MIN), false);
      t.equal(await s.touch(newSessionId(), t0, 10 * MIN), false, 'unknown id');
    });

    t.test('a session created already past its expiry is never returned', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const id = newSessionId();
      await s.create(id, data(clock, { expiresAt: clock.t }), clock.t, 10 * MIN);
      t.equal(await s.get(id, clock.t, 10 * MIN), undefined);
      t.same(await s.list({}), []);
    });

    t.test('replace swaps the data and keeps the lifetime', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const id = newSessionId();
      const t0 = clock.t;
      const oidc = { sub: 'u-1', sid: 'op-1', refreshToken: 'r1', accessTokenExpiresAt: t0 + MIN };
      await s.create(id, data(clock, { provider: 'corp', oidc, expiresAt: t0 + 30 * MIN }), t0, 10 * MIN);
      await s.touch(id, t0 + 2 * MIN, 10 * MIN);
      clock.t = t0 + 3 * MIN;
      const renewed = data(clock, { provider: 'corp', groups: ['staff'], oidc: { ...oidc, refreshToken: 'r2' }, expiresAt: t0 + 999 * MIN });
      t.equal(await s.replace(id, renewed), true);
      const got = await s.get(id, clock.t, 10 * MIN);
      t.strictSame(got?.groups, ['staff']);
      t.equal(got?.oidc?.refreshToken, 'r2');
      t.equal(got?.expiresAt, t0 + 30 * MIN, 'expiresAt is the session’s, not the new data’s');
      t.equal(got?.lastSeenAt, t0 + 2 * MIN, 'the idle clock is untouched');
      t.equal(await s.get(id, t0 + 12 * MIN, 10 * MIN), undefined, 'still idles out from the last touch');
      t.equal(await s.replace(newSessionId(), renewed), false, 'unknown id');
      clock.t = t0 + 12 * MIN;
      t.equal(await s.replace(id, renewed), false, 'an idle session');
    });

    t.test('replace moves the index entries when user or OP session change', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const id = newSessionId();
      await s.create(id, data(clock, { provider: 'corp', oidc: { sub: 'u-1', sid: 'op-1' } }), clock.t, 10 * MIN);
      t.equal(await s.replace(id, data(clock, { user: 'alice2', provider: 'corp', oidc: { sub: 'u-1' } })), true);
      t.equal(await s.deleteByUser('alice'), 0, 'old user no longer indexed');
      t.equal(await s.deleteByOidc('corp', { sid: 'op-1' }), 0, 'old sid no longer indexed');
      t.equal((await s.list({ user: 'alice2' })).length, 1);
      t.equal(await s.deleteByOidc('corp', { sub: 'u-1' }), 1, 'sub kept');
      t.equal(await s.get(id, clock.t, 10 * MIN), undefined);
    });

    t.test('delete', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const id = newSessionId();
      const other = newSessionId();
      await s.create(id, data(clock), clock.t, 10 * MIN);
      await s.create(other, data(clock), clock.t, 10 * MIN);
      t.equal(await s.delete(id), true);
      t.equal(await s.get(id, clock.t, 10 * MIN), undefined);
      t.equal(await s.delete(id), false, 'already gone');
      t.equal((await s.get(other, clock.t, 10 * MIN))?.user, 'alice', 'the other session stays');
      t.equal((await s.list({ user: 'alice' })).length, 1, 'the index no longer lists it');
      clock.t += 10 * MIN;
      t.equal(await s.delete(other), false, 'an idle session was not live');
    });

    t.test('deleteByUser deletes every live session of that user only', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const a1 = newSessionId();
      const a2 = newSessionId();
      const aOld = newSessionId();
      const b = newSessionId();
      await s.create(aOld, data(clock, { expiresAt: clock.t + MIN }), clock.t, 10 * MIN);
      await s.create(a1, data(clock), clock.t, 10 * MIN);
      await s.create(a2, data(clock, { provider: 'corp', oidc: { sub: 'x' } }), clock.t, 10 * MIN);
      await s.create(b, data(clock, { user: 'bob' }), clock.t, 10 * MIN);
      clock.t += 2 * MIN;
      t.equal(await s.deleteByUser('alice'), 2, 'the expired one is not counted');
      t.equal(await s.get(a1, clock.t, 10 * MIN), undefined);
      t.equal(await s.get(a2, clock.t, 10 * MIN), undefined);
      t.equal((await s.get(b, clock.t, 10 * MIN))?.user, 'bob');
      t.equal(await s.deleteByUser('alice'), 0);
      t.equal(await s.deleteByUser('nobody'), 0);
      t.equal(await s.deleteByOidc('corp', { sub: 'x' }), 0, 'its OIDC index went with it');
    });

    t.test('deleteByOidc: by sid when given, else by subject, per provider', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const mk = async (provider: string, oidc: { sub: string; sid?: string }): Promise<string> => {
        const id = newSessionId();
        await s.create(id, data(clock, { provider, oidc }), clock.t, 10 * MIN);
        return id;
      };
      const s1 = await mk('corp', { sub: 'u-1', sid: 'op-1' });
      const s2 = await mk('corp', { sub: 'u-1', sid: 'op-2' });
      const s3 = await mk('corp', { sub: 'u-1' });
      const other = await mk('partner', { sub: 'u-1', sid: 'op-1' });
      const u2 = await mk('corp', { sub: 'u-2', sid: 'op-9' });
      t.equal(await s.deleteByOidc('corp', { sid: 'op-1', sub: 'u-1' }), 1, 'the sid wins over the subject');
      t.equal(await s.get(s1, clock.t, 10 * MIN), undefined);
      t.equal((await s.get(s2, clock.t, 10 * MIN))?.oidc?.sid, 'op-2');
      t.equal(await s.deleteByOidc('corp', { sub: 'u-1' }), 2);
      t.equal(await s.get(s2, clock.t, 10 * MIN), undefined);
      t.equal(await s.get(s3, clock.t, 10 * MIN), undefined);
      t.equal((await s.get(other, clock.t, 10 * MIN))?.provider, 'partner', 'another provider’s session stays');
      t.equal((await s.get(u2, clock.t, 10 * MIN))?.oidc?.sub, 'u-2', 'another subject stays');
      t.equal(await s.deleteByOidc('corp', {}), 0, 'neither sid nor sub: nothing');
      t.equal(await s.deleteByOidc('corp', { sid: 'op-unknown' }), 0);
    });

    t.test('list: live sessions, hashed ids, oldest first, by user', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const t0 = clock.t;
      const ids = [newSessionId(), newSessionId(), newSessionId(), newSessionId()];
      await s.create(ids[2]!, data(clock, { createdAt: t0 + 2 }), t0, 10 * MIN);
      await s.create(ids[0]!, data(clock, { createdAt: t0 }), t0, 10 * MIN);
      await s.create(ids[1]!, data(clock, { user: 'bob', createdAt: t0 + 1 }), t0, 10 * MIN);
      await s.create(ids[3]!, data(clock, { createdAt: t0 + 3, expiresAt: t0 + MIN }), t0, 10 * MIN);
      clock.t = t0 + MIN;
      const all = await s.list({});
      t.same(
        all.map((x) => [x.user, x.idHash]),
        [0, 1, 2].map((i) => [i === 1 ? 'bob' : 'alice', storageKey(ids[i]!).slice(0, 12)]),
      );
      t.equal(all[0]?.lastSeenAt, t0);
      t.equal(all[0]?.email, 'alice@example.com');
      t.notOk(JSON.stringify(all).includes(ids[0]!), 'never the id itself');
      t.same((await s.list({ user: 'alice' })).map((x) => x.idHash), [storageKey(ids[0]!).slice(0, 12), storageKey(ids[2]!).slice(0, 12)]);
      t.same(await s.list({ user: 'nobody' }), []);
    });

    t.test('putOnce and take: one-time values', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      t.equal(await s.putOnce('tx:1', 'v1', MIN), true);
      t.equal(await s.putOnce('tx:1', 'v2', MIN), false, 'a second put under the same key fails');
      t.equal(await s.take('tx:1'), 'v1', 'the first value stays');
      t.equal(await s.take('tx:1'), undefined, 'taken once');
      t.equal(await s.putOnce('tx:1', 'v3', MIN), true, 'the key is free again after take');
      t.equal(await s.take('nothing'), undefined);
      // expiry: the memory store follows the injected clock, Redis its own; do both.
      t.equal(await s.putOnce('tx:short', 'x', 30), true);
      clock.t += 31;
      await sleep(80);
      t.equal(await s.take('tx:short'), undefined, 'expired');
      t.equal(await s.putOnce('tx:short', 'y', 30), true, 'an expired key can be put again');
      await t.rejects(s.putOnce('k', 'v', 0), RangeError);
      await t.rejects(s.putOnce('k', 'v', 1.5), RangeError);
    });

    t.test('locks: one holder, compare-and-delete release, expiry', async (t) => {
      const clock = newClock();
      const s = flavour.make(clock);
      const token = await s.acquireLock('refresh:1', MIN);
      t.match(token, /^[A-Za-z0-9_-]{22}$/);
      t.equal(await s.acquireLock('refresh:1', MIN), undefined, 'held');
      t.ok(await s.acquireLock('refresh:2', MIN), 'another key is free');
      await s.releaseLock('refresh:1', 'not-the-token');
      t.equal(await s.acquireLock('refresh:1', MIN), undefined, 'a wrong token does not release');
      await s.releaseLock('refresh:1', token!);
      const again = await s.acquireLock('refresh:1', MIN);
      t.ok(again);
      t.not(again, token, 'a new token each time');
      await s.releaseLock('refresh:1', token!);
      t.equal(await s.acquireLock('refresh:1', MIN), undefined, 'a stale token cannot release the new holder');
      await s.releaseLock('never-held', 'x');
      t.ok(await s.acquireLock('short', 30));
      clock.t += 31;
      await sleep(80);
      t.ok(await s.acquireLock('short', 30), 'an expired lock is free');
      await t.rejects(s.acquireLock('k', -1), RangeError);
    });

    t.test('sessions of different stores do not see each other', async (t) => {
      const clock = newClock();
      const a = flavour.make(clock);
      const b = flavour.make(clock);
      const id = newSessionId();
      await a.create(id, data(clock), clock.t, 10 * MIN);
      t.equal(await b.get(id, clock.t, 10 * MIN), undefined);
      t.same(await b.list({}), []);
    });
  });
}
