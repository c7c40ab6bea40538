// Redis-specific behaviour of the session store: key layout, server-side expiry, corrupt
// values, failing fast and reconnecting. Tests that stop or hang Redis start their OWN
// redis-server on a free port and stop it by pid; the shared one on 6379 is only used
// under a key prefix of this run, deleted at the end (never FLUSHDB).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Redis } from 'ioredis';
import { createRedisAttemptStore } from '../../../src/sessions/redis-attempts.js';
import {
  DEFAULT_KEY_PREFIX,
  SessionStoreUnavailableError,
  createRedisSessionStore,
  errorKind,
  parseSessionData,
  reconnectDelay,
  type RedisSessionStoreOptions,
} from '../../../src/sessions/redis-store.js';
import { newSessionId, storageKey } from '../../../src/sessions/session-id.js';
import type { SessionData, SessionStore, StoreHealth } from '../../../src/sessions/types.js';
import { SHARED_REDIS_URL, deleteKeysUnder, keysUnder, runPrefix, startRedisServer, stopRedisServer, stopRedisServers } from '../../helpers/redis.js';
import { freePort, waitUntil } from '../../helpers/wait.js';

const RUN_PREFIX = runPrefix();
const MIN = 60_000;

const stores: SessionStore[] = [];
const admin = new Redis(SHARED_REDIS_URL);
const tmpDirs: string[] = [];

t.teardown(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await stopRedisServers();
  await deleteKeysUnder(admin, RUN_PREFIX);
  await admin.quit();
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

let prefixes = 0;
function open(options: Partial<RedisSessionStoreOptions> = {}): ReturnType<typeof createRedisSessionStore> {
  const made = createRedisSessionStore({ url: SHARED_REDIS_URL, keyPrefix: `${RUN_PREFIX}${++prefixes}:`, ...options } as RedisSessionStoreOptions);
  stores.push(made.store);
  return made;
}

function data(now: number, over: Partial<SessionData> = {}): SessionData {
  return { user: 'alice', groups: ['staff'], claims: { a: 1 }, provider: 'corp', createdAt: now, expiresAt: now + 60 * MIN, ...over };
}

async function rejection(p: Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const started = performance.now();
  try {
    await p;
  } catch (err) {
    return { err, ms: performance.now() - started };
  }
  throw new Error('expected a rejection');
}

t.test('helpers: reconnectDelay is bounded, errorKind never leaks a message', async (t) => {
  t.same([0, 1, 2, 3, 4, 5, 6, 7, 50].map((n) => reconnectDelay(n, () => 1)), [100, 100, 200, 400, 800, 1600, 2000, 2000, 2000]);
  t.equal(reconnectDelay(6, () => 0), 1600, 'jitter shortens by up to 20 %');
  for (let i = 1; i < 30; i++) t.ok(reconnectDelay(i) <= 2000);

  t.equal(errorKind(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED');
  t.equal(errorKind(new Error('Command timed out')), 'COMMAND_TIMEOUT');
  t.equal(errorKind(new Error("Stream isn't writeable and enableOfflineQueue options is false")), 'NOT_CONNECTED');
  t.equal(errorKind(new Error('Connection is closed.')), 'CONNECTION_CLOSED');
  t.equal(errorKind(new Error('All sentinels are unreachable. Retrying from scratch after 100ms. Last error: x')), 'SENTINELS_UNREACHABLE');
  t.equal(errorKind(new Error("Cluster isn't ready and enableOfflineQueue options is false")), 'CLUSTER_DOWN');
  t.equal(errorKind(new Error('None of startup nodes is available')), 'CLUSTER_DOWN');
  t.equal(errorKind(Object.assign(new Error('WRONGPASS invalid username-password pair'), { name: 'ReplyError' })), 'WRONGPASS');
  t.equal(errorKind(Object.assign(new Error('NOAUTH'), { name: 'ReplyError' })), 'NOAUTH');
  t.equal(errorKind(Object.assign(new Error('weird lower case reply'), { name: 'ReplyError' })), 'ReplyError');
  t.equal(errorKind(Object.assign(new Error('redis://user:secret@host failed'), { code: 'not a code: secret' })), 'Error', 'odd codes are not echoed');
  t.equal(errorKind(new TypeError('x')), 'TypeError');
  t.equal(errorKind(Object.assign(new Error('x'), { name: 'bad name with spaces' })), 'UNKNOWN');
  t.equal(errorKind({ message: 42 }), 'UNKNOWN');
  t.equal(errorKind('a string'), 'UNKNOWN');
  t.equal(errorKind(null), 'UNKNOWN');
});

t.test('options are checked', async (t) => {
  t.throws(() => createRedisSessionStore({}), TypeError);
  t.throws(() => createRedisSessionStore({ url: SHARED_REDIS_URL, cluster: [{ host: '127.0.0.1', port: 1 }] }), TypeError);
  t.throws(() => createRedisSessionStore({ sentinels: [], name: 'm' }), TypeError);
  t.throws(() => createRedisSessionStore({ sentinels: [{ host: '127.0.0.1', port: 1 }] }), TypeError);
  t.throws(() => createRedisSessionStore({ sentinels: [{ host: '127.0.0.1', port: 1 }], name: '' }), TypeError);
  t.throws(() => createRedisSessionStore({ cluster: [] }), TypeError);
  t.throws(() => createRedisSessionStore({ url: SHARED_REDIS_URL, commandTimeoutMs: 0 }), RangeError);
  t.throws(() => createRedisSessionStore({ url: SHARED_REDIS_URL, commandTimeoutMs: 1.5 }), RangeError);
  t.equal(DEFAULT_KEY_PREFIX, 'gatehouse:');
  const nowhere = createRedisSessionStore({ sentinels: [{ host: '127.0.0.1', port: await freePort() }], name: 'm', commandTimeoutMs: 100 });
  t.equal((await rejection(nowhere.store.take('x'))).err instanceof SessionStoreUnavailableError, true, 'no sentinel answers');
  t.equal(nowhere.store.health().ok, false);
  await nowhere.store.close();
});

t.test('key layout: hashed ids, index sets, expiry set on the server', async (t) => {
  const P = `${RUN_PREFIX}layout:`;
  const { store } = open({ keyPrefix: P });
  const now = Date.now();
  const id = newSessionId();
  const h = storageKey(id);
  const oidc = { sub: 'sub-1', sid: 'sid-1', refreshToken: 'rt' };
  await store.create(id, data(now, { oidc, expiresAt: now + 60 * MIN }), now, 10 * MIN);

  const keys = (await keysUnder(admin, P)).sort();
  t.same(keys, [
    `${P}o:corp:sid:${storageKey('sid-1')}`,
    `${P}o:corp:sub:${storageKey('sub-1')}`,
    `${P}s:${h}`,
    `${P}u:${storageKey('alice')}`,
  ].sort());
  const hash = await admin.hgetall(`${P}s:${h}`);
  t.same(Object.keys(hash).sort(), ['d', 'e', 'i', 'l']);
  t.equal(hash.l, String(now));
  t.equal(hash.e, String(now + 60 * MIN));
  t.equal(hash.i, String(10 * MIN));
  t.same(JSON.parse(hash.d!), data(now, { oidc, expiresAt: now + 60 * MIN }));
  for (const k of keys) {
    const dump = (await admin.type(k)) === 'hash' ? JSON.stringify(await admin.hgetall(k)) : JSON.stringify(await admin.smembers(k));
    t.notOk(dump.includes(id) || k.includes(id), `${k} never holds the raw id`);
  }
  const ttl = await admin.pttl(`${P}s:${h}`);
  t.ok(ttl > 10 * MIN - 2000 && ttl <= 10 * MIN, `session TTL is the idle timeout (${ttl})`);
  const setTtl = await admin.pttl(`${P}u:${storageKey('alice')}`);
  t.ok(setTtl > 60 * MIN - 2000 && setTtl <= 60 * MIN, `index TTL is the absolute lifetime (${setTtl})`);

  // A touch resets the TTL, but never past expiresAt.
  await admin.pexpire(`${P}s:${h}`, 1000);
  t.equal(await store.touch(id, now + 9 * MIN, 10 * MIN), true);
  const slid = await admin.pttl(`${P}s:${h}`);
  t.ok(slid > 10 * MIN - 2000 && slid <= 10 * MIN, `slid to the idle timeout again (${slid})`);
  t.equal(await admin.hget(`${P}s:${h}`, 'l'), String(now + 9 * MIN));
  for (const at of [18, 27, 36, 45]) t.equal(await store.touch(id, now + at * MIN, 10 * MIN), true);
  t.equal(await store.touch(id, now + 53 * MIN, 9 * MIN), true);
  const capped = await admin.pttl(`${P}s:${h}`);
  t.ok(capped > 7 * MIN - 2000 && capped <= 7 * MIN, `capped by expiresAt (${capped})`);
  t.equal(await admin.hget(`${P}s:${h}`, 'i'), String(9 * MIN), 'the idle timeout of the last touch');

  // An index set lives as long as its longest-lived member.
  const later = newSessionId();
  await store.create(later, data(now, { expiresAt: now + 120 * MIN }), now, 10 * MIN);
  t.ok((await admin.pttl(`${P}u:${storageKey('alice')}`)) > 119 * MIN);
  await store.create(newSessionId(), data(now, { expiresAt: now + 30 * MIN }), now, 10 * MIN);
  t.ok((await admin.pttl(`${P}u:${storageKey('alice')}`)) > 119 * MIN, 'a shorter one does not shorten it');
  t.equal(await admin.scard(`${P}u:${storageKey('alice')}`), 3);

  await store.delete(id);
  t.equal(await admin.exists(`${P}s:${h}`), 0);
  t.equal(await admin.sismember(`${P}u:${storageKey('alice')}`, h), 0, 'delete removes its index entries');
  t.equal(await admin.exists(`${P}o:corp:sid:${storageKey('sid-1')}`), 0);
});

t.test('Redis expires sessions by itself', async (t) => {
  const P = `${RUN_PREFIX}ttl:`;
  const { store } = open({ keyPrefix: P });
  const now = Date.now();
  const id = newSessionId();
  await store.create(id, data(now), now, 150);
  t.equal(await admin.exists(`${P}s:${storageKey(id)}`), 1);
  await sleep(300);
  t.equal(await admin.exists(`${P}s:${storageKey(id)}`), 0, 'gone from Redis, not only hidden by the read check');
  t.same(await store.list({ user: 'alice' }), []);
  t.equal(await admin.exists(`${P}u:${storageKey('alice')}`), 0, 'the dangling index entry was pruned');
});

t.test('corrupt or foreign values are "no session", never a crash', async (t) => {
  const P = `${RUN_PREFIX}corrupt:`;
  const { store } = open({ keyPrefix: P });
  const now = Date.now();
  const ids = Array.from({ length: 7 }, () => newSessionId());
  const k = (i: number): string => `${P}s:${storageKey(ids[i]!)}`;
  await admin.set(k(0), 'not a hash');
  await admin.hset(k(1), { d: '{bad json', l: String(now), e: String(now + MIN), i: String(MIN) });
  await admin.hset(k(2), { d: JSON.stringify(data(now)), l: 'yesterday', e: String(now + MIN), i: String(MIN) });
  await admin.hset(k(3), { d: JSON.stringify({ ...data(now), groups: 'staff' }), l: String(now), e: String(now + MIN), i: String(MIN) });
  await admin.hset(k(4), { l: String(now), e: String(now + MIN), i: String(MIN) });
  await admin.hset(k(5), { d: '{bad json', l: String(now), e: String(now + MIN), i: String(MIN) });
  await admin.hset(k(6), { d: JSON.stringify(data(now)), l: String(now), e: '9999999999999999', i: String(MIN) });
  for (const i of [0, 1, 2, 3, 6]) t.equal(await store.get(ids[i]!, now, MIN), undefined, `get ${i}`);
  t.equal(await store.touch(ids[0]!, now, MIN), false, 'touch of a non-hash');
  t.equal(await store.touch(ids[2]!, now, MIN), false, 'touch with a bad lastSeenAt');
  t.equal(await store.replace(ids[0]!, data(now)), false, 'replace of a non-hash');
  t.equal(await store.replace(ids[2]!, data(now)), false, 'replace with a bad lastSeenAt');
  t.same(await store.list({}), [], 'list skips them');
  t.equal(await store.delete(ids[0]!), false, 'delete of a non-hash removes it');
  t.equal(await admin.exists(k(0)), 0);
  t.equal(await store.delete(ids[1]!), false);
  t.equal(await admin.exists(k(1)), 0);

  // replace repairs a session whose data was unreadable, and indexes the new data.
  t.equal(await store.replace(ids[4]!, data(now, { user: 'carol' })), true, 'missing data field');
  t.equal((await store.get(ids[4]!, now, MIN))?.user, 'carol');
  t.equal(await store.replace(ids[5]!, data(now, { user: 'dave' })), true, 'unreadable data field');
  t.equal(await store.deleteByUser('dave'), 1);
  t.equal(await store.deleteByUser('carol'), 1);
});

t.test('parseSessionData checks every field', async (t) => {
  const ok = { user: 'a', groups: ['g'], claims: {}, provider: 'p', createdAt: 1, expiresAt: 2 };
  t.same(parseSessionData(JSON.stringify(ok)), ok);
  const full = { ...ok, email: 'e', name: 'n', oidc: { sub: 's', sid: 'i', idToken: 't', refreshToken: 'r', accessTokenExpiresAt: 3 } };
  t.same(parseSessionData(JSON.stringify(full)), full);
  const bad: unknown[] = [
    null,
    [],
    'str',
    { ...ok, user: 1 },
    { ...ok, email: 1 },
    { ...ok, name: null },
    { ...ok, groups: 'g' },
    { ...ok, groups: [1] },
    { ...ok, claims: [] },
    { ...ok, claims: null },
    { ...ok, provider: undefined },
    { ...ok, createdAt: '1' },
    { ...ok, expiresAt: null },
    { ...ok, oidc: 'x' },
    { ...ok, oidc: {} },
    { ...ok, oidc: { sub: 's', sid: 1 } },
    { ...ok, oidc: { sub: 's', idToken: 1 } },
    { ...ok, oidc: { sub: 's', refreshToken: 1 } },
    { ...ok, oidc: { sub: 's', accessTokenExpiresAt: '3' } },
  ];
  for (const b of bad) t.equal(parseSessionData(JSON.stringify(b)), undefined, JSON.stringify(b));
  t.equal(parseSessionData('{'), undefined);
  t.equal(parseSessionData(null), undefined);
  t.equal(parseSessionData(undefined), undefined);
});

t.test('list and deleteBy prune index entries of vanished sessions', async (t) => {
  const P = `${RUN_PREFIX}prune:`;
  const { store } = open({ keyPrefix: P });
  const now = Date.now();
  const [a, b, c] = [newSessionId(), newSessionId(), newSessionId()];
  for (const id of [a, b, c]) await store.create(id, data(now, { oidc: { sub: 's' } }), now, MIN);
  await admin.del(`${P}s:${storageKey(a)}`);
  const userSet = `${P}u:${storageKey('alice')}`;
  t.equal(await admin.scard(userSet), 3);
  t.equal((await store.list({ user: 'alice' })).length, 2);
  t.equal(await admin.sismember(userSet, storageKey(a)), 0, 'pruned by list');
  t.equal(await admin.scard(userSet), 2);
  await admin.del(`${P}s:${storageKey(b)}`);
  t.equal(await store.deleteByOidc('corp', { sub: 's' }), 1);
  t.equal(await admin.exists(`${P}o:corp:sub:${storageKey('s')}`), 0, 'the whole set is gone');
  t.same(await admin.smembers(userSet), [storageKey(b)], 'b’s entry elsewhere waits for the next read of that set');
  t.equal(await store.deleteByUser('alice'), 0);
  t.equal(await admin.exists(userSet), 0, 'pruned by deleteByUser');
});

t.test('the SCAN pattern escapes glob characters of the prefix', async (t) => {
  const { store: globbed } = open({ keyPrefix: `${RUN_PREFIX}g*[1]:` });
  const { store: other } = open({ keyPrefix: `${RUN_PREFIX}gX1:` });
  const now = Date.now();
  await other.create(newSessionId(), data(now), now, MIN);
  t.equal((await other.list({})).length, 1);
  t.same(await globbed.list({}), []);
  await globbed.create(newSessionId(), data(now, { user: 'glob' }), now, MIN);
  t.same((await globbed.list({})).map((s) => s.user), ['glob']);
});

t.test('list over many sessions (batches)', async (t) => {
  const { store } = open();
  const now = Date.now();
  await Promise.all(Array.from({ length: 1203 }, (_, i) => store.create(newSessionId(), data(now, { createdAt: now + i }), now, MIN)));
  const all = await store.list({});
  t.equal(all.length, 1203);
  t.equal(all[0]?.createdAt, now);
  t.equal(all[1202]?.createdAt, now + 1202);
  t.equal((await store.list({ user: 'alice' })).length, 1203);
  t.equal(await store.deleteByUser('alice'), 1203);
});

t.test('default key prefix and default clock', async (t) => {
  const { store } = createRedisSessionStore({ url: SHARED_REDIS_URL });
  stores.push(store);
  const id = newSessionId();
  const now = Date.now();
  await store.create(id, data(now, { user: `default-prefix-${RUN_PREFIX}` }), now, 5000);
  t.equal(await admin.exists(`gatehouse:s:${storageKey(id)}`), 1);
  t.equal(await store.replace(id, data(now, { user: `default-prefix-${RUN_PREFIX}` })), true, 'replace judges liveness by the default clock');
  t.equal(await store.delete(id), true);
});

t.test('an onStateChange that throws does not break the store', async (t) => {
  const { store } = open({
    onStateChange: () => {
      throw new Error('reporter bug');
    },
  });
  const now = Date.now();
  await store.create(newSessionId(), data(now), now, MIN);
  t.equal(store.health().ok, true);
});

t.test('never up since start: calls wait up to the command timeout, then fail', async (t) => {
  const port = await freePort();
  const { store } = createRedisSessionStore({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300 });
  const { err, ms } = await rejection(store.get(newSessionId(), Date.now(), MIN));
  t.type(err, SessionStoreUnavailableError);
  t.equal((err as SessionStoreUnavailableError).kind, 'ECONNREFUSED');
  t.equal((err as Error).message, 'session store unavailable (ECONNREFUSED)');
  t.ok(ms >= 250 && ms < 1000, `waited for the first connection (${Math.round(ms)} ms)`);
  t.same(store.health(), { ok: false, store: 'redis', lastError: 'ECONNREFUSED' });
  await store.close();
  const closed = await rejection(store.get(newSessionId(), Date.now(), MIN));
  t.equal((closed.err as SessionStoreUnavailableError).kind, 'CLOSED');
  t.ok(closed.ms < 50, 'a closed store fails at once');
  await store.close();
});

t.test('fails fast while Redis is down, recovers by itself when it is back', async (t) => {
  const port = await freePort();
  let server = await startRedisServer(port);
  const states: StoreHealth[] = [];
  const { store, client } = createRedisSessionStore({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'fault:', onStateChange: (h) => states.push(h) });
  const attempts = createRedisAttemptStore(client, 'fault:throttle:');
  const now = Date.now();
  const id = newSessionId();
  await store.create(id, data(now), now, MIN);
  t.equal((await store.get(id, now, MIN))?.user, 'alice');
  t.same(store.health(), { ok: true, store: 'redis' });
  t.equal(await attempts.recordFailure('k', MIN), 1);

  // Killed with a command on its way: it fails, and quickly.
  server.kill('SIGKILL');
  const inFlight = await rejection(store.get(id, now, MIN));
  t.type(inFlight.err, SessionStoreUnavailableError);
  t.ok(inFlight.ms < 1500, `in-flight call failed in ${Math.round(inFlight.ms)} ms`);
  await stopRedisServer(server);
  await waitUntil('health to turn false', 3000, () => store.health().ok === false);

  const calls: Array<[string, () => Promise<unknown>]> = [
    ['get', () => store.get(id, now, MIN)],
    ['create', () => store.create(newSessionId(), data(now), now, MIN)],
    ['touch', () => store.touch(id, now, MIN)],
    ['delete', () => store.delete(id)],
    ['list', () => store.list({})],
    ['putOnce', () => store.putOnce('tx', 'v', MIN)],
    ['take', () => store.take('tx')],
    ['acquireLock', () => store.acquireLock('l', MIN)],
  ];
  for (const [name, call] of calls) {
    const { err, ms } = await rejection(call());
    t.type(err, SessionStoreUnavailableError, name);
    t.ok(ms < 1500, `${name} failed in ${Math.round(ms)} ms`);
  }
  const throttle = await rejection(attempts.recordFailure('k', MIN));
  t.ok(throttle.ms < 1500, 'the throttle on the same client fails fast too');
  await waitUntil('a reconnect attempt', 5000, () => store.health().lastError === 'ECONNREFUSED');
  t.same(store.health(), { ok: false, store: 'redis', lastError: 'ECONNREFUSED' });

  server = await startRedisServer(port);
  const back = performance.now();
  await waitUntil('reconnect', 5000, () => store.health().ok);
  t.ok(performance.now() - back < 3000, 'reconnected within the bounded backoff');
  t.equal(await store.get(id, now, MIN), undefined, 'a fresh Redis without persistence: the session is gone');
  const again = newSessionId();
  await store.create(again, data(now), now, MIN);
  t.equal((await store.get(again, now, MIN))?.user, 'alice', 'the same store works again');
  t.equal(await attempts.recordFailure('k', MIN), 1);
  t.same(states.map((s) => s.ok), [true, false, true], 'one report per flip, not one per retry');
  t.equal(states[1]?.store, 'redis');

  // Hung, not dead (SIGSTOP): the command timeout bounds the wait.
  server.kill('SIGSTOP');
  const hung = await rejection(store.get(again, now, MIN));
  t.equal((hung.err as SessionStoreUnavailableError).kind, 'COMMAND_TIMEOUT');
  // 1 s command timeout, plus slack for a loaded test machine.
  t.ok(hung.ms >= 900 && hung.ms < 1800, `timed out after ${Math.round(hung.ms)} ms`);
  t.equal(store.health().lastError, 'COMMAND_TIMEOUT');
  // Closing while it hangs still finishes: QUIT times out and the socket is dropped.
  const closing = performance.now();
  await store.close();
  t.ok(performance.now() - closing < 1500, 'close is bounded too');
  t.equal(store.health().ok, false);
  t.equal((await rejection(store.get(again, now, MIN))).err instanceof SessionStoreUnavailableError, true);
  await stopRedisServer(server);
  await waitUntil('the client to end', 3000, () => client.status === 'end');
});

t.test('Redis Cluster (a one-node cluster of our own)', async (t) => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'));
  tmpDirs.push(dir);
  const server = await startRedisServer(port, ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--dir', dir, '--cluster-announce-ip', '127.0.0.1']);
  const setup = new Redis(port, '127.0.0.1');
  await setup.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  await waitUntil('cluster_state:ok', 5000, async () => String(await setup.call('CLUSTER', 'INFO')).includes('cluster_state:ok'));
  setup.disconnect();

  const { store, client } = createRedisSessionStore({ cluster: [{ host: '127.0.0.1', port }], keyPrefix: 'c:' });
  const now = Date.now();
  const ids = [newSessionId(), newSessionId()];
  await store.create(ids[0]!, data(now, { oidc: { sub: 's', sid: 'i' } }), now, MIN);
  await store.create(ids[1]!, data(now, { user: 'bob', createdAt: now + 1 }), now, MIN);
  t.equal((await store.get(ids[0]!, now, MIN))?.oidc?.sid, 'i');
  t.equal(await store.touch(ids[0]!, now + 1000, MIN), true);
  t.equal(await store.replace(ids[0]!, data(now, { user: 'carol', oidc: { sub: 's', sid: 'i' } })), true);
  t.same((await store.list({})).map((s) => s.user), ['carol', 'bob'], 'SCAN on every master');
  t.equal(await store.putOnce('tx', 'v', MIN), true);
  t.equal(await store.take('tx'), 'v');
  const token = await store.acquireLock('l', MIN);
  t.ok(token);
  await store.releaseLock('l', token!);
  t.ok(await store.acquireLock('l', MIN));
  const attempts = createRedisAttemptStore(client, 'c:throttle:');
  t.equal(await attempts.recordFailure('k', MIN), 1);
  t.equal((await attempts.peek('k')).failures, 1);
  t.equal(await store.deleteByOidc('corp', { sid: 'i' }), 1);
  t.equal(await store.deleteByUser('bob'), 1);
  t.same(store.health(), { ok: true, store: 'redis' });

  await stopRedisServer(server);
  await waitUntil('cluster health to turn false', 5000, () => store.health().ok === false);
  const { err, ms } = await rejection(store.get(ids[1]!, now, MIN));
  t.type(err, SessionStoreUnavailableError);
  t.ok(ms < 1500, `cluster call failed in ${Math.round(ms)} ms`);
  await waitUntil('an error kind', 5000, () => store.health().lastError !== undefined);
  // The node's refusal or the cluster's summary of it, whichever came last.
  t.match(store.health().lastError, /^(ECONNREFUSED|ClusterAllFailedError)$/);
  await store.close();
});

t.test('Redis Sentinel (a master and a sentinel of our own)', async (t) => {
  const masterPort = await freePort();
  const master = await startRedisServer(masterPort);
  const sentinelPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sentinel-'));
  tmpDirs.push(dir);
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\ndir ${dir}\nrequirepass sentinel-secret\nsentinel monitor gh-master 127.0.0.1 ${masterPort} 1\n`);
  // The store starts before its sentinel: it keeps asking (sentinelRetryStrategy) until one answers.
  const { store } = createRedisSessionStore({ sentinels: [{ host: '127.0.0.1', port: sentinelPort }], name: 'gh-master', keyPrefix: 's:', sentinelPassword: 'sentinel-secret' });
  await sleep(150);
  t.equal(store.health().ok, false);
  const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  t.teardown(() => stopRedisServer(sentinel));
  await waitUntil('the store to find the master through the sentinel', 5000, () => store.health().ok);

  const now = Date.now();
  const id = newSessionId();
  await store.create(id, data(now), now, MIN);
  t.equal((await store.get(id, now, MIN))?.user, 'alice');
  const direct = new Redis(masterPort, '127.0.0.1');
  t.equal(await direct.exists(`s:s:${storageKey(id)}`), 1, 'written to the master the sentinel named');
  direct.disconnect();
  t.same(store.health(), { ok: true, store: 'redis', lastError: 'SENTINELS_UNREACHABLE' }, 'the last error stays for operators');
  await store.close();
  await stopRedisServer(sentinel);
  await stopRedisServer(master);
});

t.test('a password is passed to Redis (sentinel/cluster option also works for url)', async (t) => {
  const port = await freePort();
  const server = await startRedisServer(port, ['--requirepass', 'hunter2-secret']);
  const good = createRedisSessionStore({ url: `redis://127.0.0.1:${port}`, password: 'hunter2-secret', keyPrefix: 'p:' });
  const now = Date.now();
  await good.store.create(newSessionId(), data(now), now, MIN);
  t.equal(good.store.health().ok, true);
  await good.store.close();

  const bad = createRedisSessionStore({ url: `redis://:wrong-secret@127.0.0.1:${port}`, keyPrefix: 'p:', commandTimeoutMs: 300 });
  const { err } = await rejection(bad.store.get(newSessionId(), now, MIN));
  t.type(err, SessionStoreUnavailableError);
  const health = JSON.stringify(bad.store.health());
  t.notOk(health.includes('wrong-secret'), 'health never shows the URL');
  t.equal(bad.store.health().lastError, 'WRONGPASS');
  await bad.store.close();
  await stopRedisServer(server);
});
