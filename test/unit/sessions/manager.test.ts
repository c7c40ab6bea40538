import t from 'tap';
import { signerFactory } from '@fastify/cookie';
import { createSessionManager, type SessionSettings } from '../../../src/sessions/manager.js';
import { createMemorySessionStore } from '../../../src/sessions/memory-store.js';
import type { SessionStore } from '../../../src/sessions/types.js';
import type { SignIn } from '../../../src/login/types.js';

const NAME = '__Host-gatehouse';
const S1 = Buffer.alloc(32, 1);
const S2 = Buffer.alloc(32, 2);
const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

const signIn: SignIn = { user: 'alice', email: 'a@example.com', name: 'Alice', groups: ['staff'], claims: { tenant: 't1' } };

function setup(over: Partial<SessionSettings> = {}) {
  const store = createMemorySessionStore({ now: () => T0 });
  const calls: string[] = [];
  // Records the calls that reach the store, to pin when touchIfDue writes.
  const spy: SessionStore = {
    ...store,
    get: (...a) => (calls.push('get'), store.get(...a)),
    touch: (...a) => (calls.push(`touch@${a[1] - T0}`), store.touch(...a)),
    delete: (...a) => (calls.push('delete'), store.delete(...a)),
  };
  const manager = createSessionManager({
    store: spy,
    cookie: { name: NAME, secure: true, sameSite: 'lax' },
    secrets: [S1],
    maxAgeMs: 12 * HOUR,
    idleTimeoutMs: HOUR,
    ...over,
  });
  return { manager, store, calls };
}

const cookieHeader = (setCookie: string): string[] => ['Cookie', setCookie.split(';')[0] as string];

t.test('start: a new id each time, signed cookie, stored data', async (t) => {
  const { manager, store } = setup();
  const a = await manager.start('local', signIn, T0);
  const b = await manager.start('local', signIn, T0);
  t.not(a.id, b.id, 'never the same id (no fixation)');
  t.match(a.id, /^[A-Za-z0-9_-]{43}$/);
  const value = signerFactory([S1]).sign(a.id);
  t.equal(a.setCookie, `${NAME}=${value}; Max-Age=43200; Path=/; HttpOnly; Secure; SameSite=Lax`);
  t.strictSame(await store.get(a.id, T0, HOUR), {
    user: 'alice',
    email: 'a@example.com',
    name: 'Alice',
    groups: ['staff'],
    claims: { tenant: 't1' },
    provider: 'local',
    createdAt: T0,
    expiresAt: T0 + 12 * HOUR,
    lastSeenAt: T0,
  });
  const oidc = { sub: 'u1', sid: 's1', refreshToken: 'r' };
  const c = await manager.start('corp', { user: 'bob', groups: [], claims: {}, oidc }, T0);
  t.strictSame(await store.get(c.id, T0, HOUR), {
    user: 'bob',
    groups: [],
    claims: {},
    provider: 'corp',
    createdAt: T0,
    expiresAt: T0 + 12 * HOUR,
    oidc,
    lastSeenAt: T0,
  }, 'no undefined optional fields');
});

t.test('resolve: live, none, invalid', async (t) => {
  const { manager, store } = setup();
  const { id, setCookie } = await manager.start('local', signIn, T0);
  const live = await manager.resolve(cookieHeader(setCookie), T0 + 1000);
  t.equal(live.kind, 'live');
  t.equal(live.kind === 'live' && live.id, id);
  t.equal(live.kind === 'live' && live.session.user, 'alice');

  t.same(await manager.resolve([], T0), { kind: 'none' }, 'no cookie');
  t.same(await manager.resolve(['Cookie', 'other=1'], T0), { kind: 'none' }, 'other cookies');
  t.same(await manager.resolve(cookieHeader(setCookie), T0 + HOUR), { kind: 'none' }, 'idle');
  t.same(await manager.resolve(cookieHeader(setCookie), T0 + 13 * HOUR), { kind: 'none' }, 'expired');

  const other = await manager.start('local', signIn, T0);
  await store.delete(other.id);
  t.same(await manager.resolve(cookieHeader(other.setCookie), T0), { kind: 'none' }, 'deleted / unknown');

  const value = setCookie.split(';')[0]!.slice(NAME.length + 1);
  t.same(await manager.resolve(['Cookie', `${NAME}=${value}; ${NAME}=${value}`], T0), { kind: 'invalid', reason: 'ambiguous' });
  t.same(await manager.resolve(['Cookie', `${NAME}=${id}`], T0), { kind: 'invalid', reason: 'bad-signature' }, 'unsigned id');
  t.same(await manager.resolve(['Cookie', `${NAME}=${value}x`], T0), { kind: 'invalid', reason: 'bad-signature' }, 'tampered signature');
  t.same(await manager.resolve(['Cookie', `${NAME}=${signerFactory([S2]).sign(id)}`], T0), { kind: 'invalid', reason: 'bad-signature' }, 'another secret');
  t.same(await manager.resolve(['Cookie', `${NAME}=`], T0), { kind: 'invalid', reason: 'bad-signature' }, 'empty');
  t.same(await manager.resolve(['Cookie', `${NAME}=${signerFactory([S1]).sign('short')}`], T0), { kind: 'invalid', reason: 'malformed' }, 'signed, but not an id');
  t.same(await manager.resolve(['Cookie', `__host-gatehouse=${value}`], T0), { kind: 'none' }, 'name is case-sensitive');
});

t.test('resolve: a cookie signed with an older secret still verifies; the first secret signs', async (t) => {
  const old = setup({ secrets: [S2] });
  const { setCookie } = await old.manager.start('local', signIn, T0);
  const rotated = createSessionManager({ ...old.manager.settings, secrets: [S1, S2] });
  t.equal((await rotated.resolve(cookieHeader(setCookie), T0)).kind, 'live');
  const fresh = await rotated.start('local', signIn, T0);
  t.equal(fresh.setCookie.split(';')[0], `${NAME}=${signerFactory([S1]).sign(fresh.id)}`);
  const dropped = createSessionManager({ ...old.manager.settings, secrets: [S1] });
  t.same(await dropped.resolve(cookieHeader(setCookie), T0), { kind: 'invalid', reason: 'bad-signature' });
});

t.test('resolve and start reject when the store does', async (t) => {
  const { manager } = setup();
  const { setCookie } = await manager.start('local', signIn, T0);
  const boom = new Error('down');
  const broken: SessionStore = { ...createMemorySessionStore(), get: async () => Promise.reject(boom), create: async () => Promise.reject(boom), delete: async () => Promise.reject(boom) };
  const m = createSessionManager({ ...manager.settings, store: broken });
  await t.rejects(m.resolve(cookieHeader(setCookie), T0), boom);
  await t.rejects(m.start('local', signIn, T0), boom);
  await t.rejects(m.end('x'), boom);
  t.same(await m.resolve([], T0), { kind: 'none' }, 'no cookie: the store is not asked');
});

t.test('touchIfDue: at most once per min(60 s, idle/10)', async (t) => {
  const { manager, store, calls } = setup();
  const { id } = await manager.start('local', signIn, T0);
  const session = (await store.get(id, T0, HOUR))!;
  await manager.touchIfDue(id, session, T0 + 59_999);
  t.same(calls, [], 'not yet due');
  await manager.touchIfDue(id, session, T0 + 60_000);
  t.same(calls, ['touch@60000'], 'due after 60 s');
  t.equal((await store.get(id, T0 + 60_000, HOUR))?.lastSeenAt, T0 + 60_000);

  const short = setup({ idleTimeoutMs: 100_000 });
  const s2 = await short.manager.start('local', signIn, T0);
  const session2 = (await short.store.get(s2.id, T0, 100_000))!;
  await short.manager.touchIfDue(s2.id, session2, T0 + 9_999);
  t.same(short.calls, []);
  await short.manager.touchIfDue(s2.id, session2, T0 + 10_000);
  t.same(short.calls, ['touch@10000'], 'idle/10 when shorter than 60 s');
});

t.test('end and clearCookie', async (t) => {
  const { manager, store } = setup();
  const { id } = await manager.start('local', signIn, T0);
  await manager.end(id);
  t.equal(await store.get(id, T0, HOUR), undefined);
  await manager.end(id);
  t.equal(manager.clearCookie(), `${NAME}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=Lax`);
});

t.test('settings are checked', async (t) => {
  const { manager } = setup();
  const base = manager.settings;
  t.throws(() => createSessionManager({ ...base, secrets: [] }), TypeError);
  t.throws(() => createSessionManager({ ...base, maxAgeMs: 999 }), RangeError);
  t.throws(() => createSessionManager({ ...base, maxAgeMs: 1.5e3 + 0.5 }), RangeError);
  t.throws(() => createSessionManager({ ...base, idleTimeoutMs: 0 }), RangeError);
  t.throws(() => createSessionManager({ ...base, idleTimeoutMs: Number.POSITIVE_INFINITY }), RangeError);
  t.equal(createSessionManager({ ...base, maxAgeMs: 1500 }).settings.maxAgeMs, 1500);
});
