// The `type: session` authenticator over the real memory store and session manager.
import t from 'tap';
import type { LoginProvider, RefreshResult } from '../../../src/login/types.js';
import { createSessionAuthenticator } from '../../../src/pipeline/authenticate/session.js';
import type { RequestFacts } from '../../../src/pipeline/types.js';
import { createSessionManager } from '../../../src/sessions/manager.js';
import { createMemorySessionStore } from '../../../src/sessions/memory-store.js';
import type { SessionStore, StoredSession } from '../../../src/sessions/types.js';

const T0 = 1_800_000_000_000;
const cookie = { name: '__Host-gh', secure: true, sameSite: 'lax' as const };
const secret = Buffer.alloc(32, 7);

function setup(opts: { store?: SessionStore; providers?: Map<string, LoginProvider>; idleMs?: number } = {}) {
  let now = T0;
  const store = opts.store ?? createMemorySessionStore({ now: () => now });
  const manager = createSessionManager({ store, cookie, secrets: [secret], maxAgeMs: 3_600_000, idleTimeoutMs: opts.idleMs ?? 600_000 });
  const errors: string[] = [];
  const auth = createSessionAuthenticator({ name: 'web', manager, providers: opts.providers ?? new Map(), now: () => now, onError: (where) => errors.push(where) });
  return { store, manager, auth, errors, tick: (ms: number) => (now += ms), now: () => now };
}

function facts(cookieHeader?: string | string[]): RequestFacts {
  const rawHeaders: string[] = [];
  for (const c of cookieHeader === undefined ? [] : [cookieHeader].flat()) rawHeaders.push('Cookie', c);
  return { method: 'GET', scheme: 'https', authority: 'app', hostname: 'app', path: '/', query: '', headers: {}, rawHeaders, peer: '127.0.0.1', peerTrusted: false, clientIp: '127.0.0.1' };
}

const valueOf = (setCookie: string): string => setCookie.split(';', 1)[0]!;

t.test('no cookie or an unknown session is skip; a live one is ok with the stored identity', async (t) => {
  const { manager, auth } = setup();
  t.same(await auth.authenticate(facts()), { outcome: 'skip' });
  const { setCookie } = await manager.start('local', { user: 'alice', email: 'a@example.com', name: 'Alice', groups: ['staff'], claims: { tenant: 't1' } }, T0);
  const result = await auth.authenticate(facts(valueOf(setCookie)));
  t.same(result, { outcome: 'ok', consumed: 'cookie', identity: { user: 'alice', email: 'a@example.com', name: 'Alice', groups: ['staff'], scopes: [], claims: { tenant: 't1' }, method: 'session', authenticator: 'web' } });
  await manager.end((await manager.resolve(['Cookie', valueOf(setCookie)], T0) as { id: string }).id);
  t.same(await auth.authenticate(facts(valueOf(setCookie))), { outcome: 'skip' }, 'deleted (logout, revoke): no session');
});

t.test('a bad signature or two session cookies fail; they never fall through', async (t) => {
  const { manager, auth } = setup();
  const { setCookie } = await manager.start('local', { user: 'alice', groups: [], claims: {} }, T0);
  const good = valueOf(setCookie);
  const tampered = good.slice(0, -2) + (good.endsWith('AA') ? 'BB' : 'AA');
  t.match(await auth.authenticate(facts(tampered)), { outcome: 'fail', reason: 'session-bad-signature', code: 'GATEHOUSE_ERR_SESSION_INVALID' });
  t.match(await auth.authenticate(facts([good, good])), { outcome: 'fail', reason: 'session-ambiguous', code: 'GATEHOUSE_ERR_SESSION_INVALID' }, 'two Cookie headers');
  t.match(await auth.authenticate(facts(`${good}; ${good}`)), { outcome: 'fail', reason: 'session-ambiguous' }, 'twice in one header');
  const unsigned = good.slice(0, good.lastIndexOf('.'));
  t.match(await auth.authenticate(facts(unsigned)), { outcome: 'fail', code: 'GATEHOUSE_ERR_SESSION_INVALID' }, 'unsigned id');
});

t.test('idle and absolute expiry end a session; use slides the idle timeout', async (t) => {
  const { manager, auth, tick } = setup({ idleMs: 600_000 });
  const { setCookie } = await manager.start('local', { user: 'alice', groups: [], claims: {} }, T0);
  const c = valueOf(setCookie);
  for (let i = 0; i < 8; i++) {
    tick(500_000); // under the idle timeout each time; 4 000 s in all
    if (i < 7) t.equal((await auth.authenticate(facts(c))).outcome, 'ok', `request ${i} keeps it alive`);
  }
  t.equal((await auth.authenticate(facts(c))).outcome, 'skip', 'past maxAge (1 h) however active');
  const second = valueOf((await manager.start('local', { user: 'bob', groups: [], claims: {} }, T0 + 4_000_000)).setCookie);
  tick(600_001);
  t.equal((await auth.authenticate(facts(second))).outcome, 'skip', 'idle for longer than idleTimeout');
});

t.test('a store outage is a 503 failure, never skip or ok', async (t) => {
  const broken = createMemorySessionStore();
  const failing: SessionStore = { ...broken, get: async () => Promise.reject(Object.assign(new Error('down'), { code: 'ECONNREFUSED' })) };
  const { manager, auth, errors } = setup({ store: failing });
  const { setCookie } = await manager.start('local', { user: 'alice', groups: [], claims: {} }, T0);
  t.same(await auth.authenticate(facts(valueOf(setCookie))), { outcome: 'fail', reason: 'session-store-unavailable', code: 'GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE' });
  t.same(errors, ['session-store']);
  t.same(await auth.authenticate(facts()), { outcome: 'skip' }, 'no cookie: the store is not asked');
  t.same(auth.health?.(), { ok: true, store: 'memory' });
});

t.test('OIDC sessions are renewed through their provider before the access token expires', async (t) => {
  const results: RefreshResult[] = [];
  const seen: StoredSession[] = [];
  const provider: LoginProvider = {
    name: 'corp',
    type: 'oidc',
    label: 'Corp',
    login: async () => Promise.reject(new Error('unused')),
    refresh: async (session) => {
      seen.push(session);
      return results.shift() ?? { outcome: 'current' };
    },
  };
  const { manager, auth, store } = setup({ providers: new Map([['corp', provider]]) });
  const oidc = { sub: 's1', refreshToken: 'r1', accessTokenExpiresAt: T0 + 30_000 };
  const c = valueOf((await manager.start('corp', { user: 'alice', groups: ['a'], claims: {}, oidc }, T0)).setCookie);

  results.push({ outcome: 'current' });
  t.match(await auth.authenticate(facts(c)), { outcome: 'ok', identity: { groups: ['a'] } }, 'not due');
  results.push({ outcome: 'unavailable' });
  t.match(await auth.authenticate(facts(c)), { outcome: 'ok', identity: { groups: ['a'] } }, 'OP down or another request refreshing: the session goes on');

  const renewedData = { user: 'alice', groups: ['a', 'b'], claims: { v: 2 }, provider: 'corp', createdAt: 0, expiresAt: 0, oidc: { ...oidc, refreshToken: 'r2' } };
  results.push({ outcome: 'renewed', data: renewedData });
  t.match(await auth.authenticate(facts(c)), { outcome: 'ok', identity: { groups: ['a', 'b'], claims: { v: 2 } } }, 'renewed claims apply at once');
  const id = (await manager.resolve(['Cookie', c], T0) as { id: string }).id;
  const stored = await store.get(id, T0, 600_000);
  t.equal(stored?.oidc?.refreshToken, 'r2', 'stored');
  t.equal(stored?.expiresAt, T0 + 3_600_000, 'the absolute lifetime is never extended by a renewal');

  results.push({ outcome: 'ended' });
  t.same(await auth.authenticate(facts(c)), { outcome: 'skip' }, 'refresh token refused: signed out');
  t.equal(await store.get(id, T0, 600_000), undefined, 'and the session is gone');
  t.equal(seen.length, 4);

  const plain = valueOf((await manager.start('local', { user: 'bob', groups: [], claims: {} }, T0)).setCookie);
  t.equal((await auth.authenticate(facts(plain))).outcome, 'ok', 'sessions of other providers are not refreshed');
  t.equal(seen.length, 4);
});

t.test('a renewal racing a logout does not resurrect the session', async (t) => {
  let manager!: ReturnType<typeof createSessionManager>;
  let id = '';
  const provider: LoginProvider = {
    name: 'corp',
    type: 'oidc',
    label: 'Corp',
    login: async () => Promise.reject(new Error('unused')),
    refresh: async (session) => {
      await manager.end(id); // logged out while the OP answered
      return { outcome: 'renewed', data: session };
    },
  };
  const s = setup({ providers: new Map([['corp', provider]]) });
  manager = s.manager;
  const c = valueOf((await manager.start('corp', { user: 'alice', groups: [], claims: {}, oidc: { sub: 's', refreshToken: 'r' } }, T0)).setCookie);
  id = (await manager.resolve(['Cookie', c], T0) as { id: string }).id;
  t.same(await s.auth.authenticate(facts(c)), { outcome: 'skip' });
});
