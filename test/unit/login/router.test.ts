// /.gatehouse/login, /logout, /callback and /backchannel-logout dispatch, with the real
// session manager over the memory store and real CSRF tokens.
import t from 'tap';
import { createCsrfTokens } from '../../../src/login/csrf.js';
import { createLoginRouter } from '../../../src/login/router.js';
import type { LoginProvider, LoginRequest } from '../../../src/login/types.js';
import type { RequestFacts } from '../../../src/pipeline/types.js';
import { createSessionManager } from '../../../src/sessions/manager.js';
import { createMemorySessionStore } from '../../../src/sessions/memory-store.js';
import { storageKey } from '../../../src/sessions/session-id.js';
import type { SessionStore } from '../../../src/sessions/types.js';

const T0 = 1_800_000_000_000;
const cookie = { name: '__Host-gh', secure: true, sameSite: 'lax' as const };
const secrets = [Buffer.alloc(32, 3)];

function build(opts: { providers?: LoginProvider[]; store?: SessionStore; publicOrigins?: string[] } = {}) {
  const store = opts.store ?? createMemorySessionStore({ now: () => T0 });
  const manager = createSessionManager({ store, cookie, secrets, maxAgeMs: 3_600_000, idleTimeoutMs: 600_000 });
  const csrf = createCsrfTokens(secrets);
  const errors: string[] = [];
  const router = createLoginRouter({
    providers: new Map((opts.providers ?? []).map((p) => [p.name, p])),
    manager,
    csrf,
    publicOrigins: opts.publicOrigins ?? ['https://app.example.com'],
    allowedRedirectHosts: ['docs.example.com'],
    onError: (where) => errors.push(where),
  });
  return { router, manager, csrf, store, errors };
}

function request(method: string, path: string, over: { query?: string; cookie?: string; headers?: Record<string, string>; form?: Record<string, string> } = {}): LoginRequest {
  const rawHeaders = over.cookie === undefined ? [] : ['Cookie', over.cookie];
  const facts: RequestFacts = { method, scheme: 'https', authority: 'app.example.com', hostname: 'app.example.com', path, query: over.query ?? '', headers: over.headers ?? {}, rawHeaders, peer: '10.0.0.1', peerTrusted: false, clientIp: '10.0.0.1' };
  return { facts, requestId: 'rid', now: T0, ...(over.form ? { form: new URLSearchParams(over.form) } : {}) };
}

function provider(name: string, over: Partial<LoginProvider> = {}): LoginProvider & { calls: string[] } {
  const calls: string[] = [];
  return {
    name,
    type: 'form',
    label: `Label ${name}`,
    calls,
    async login(_req, rd, context) {
      calls.push(`login rd=${rd}`);
      const setCookie = await context.startSession(name, { user: 'alice', groups: [], claims: {} }, T0);
      return { status: 303, headers: { location: rd, 'set-cookie': [setCookie] }, body: '', contentType: 'text/plain' };
    },
    ...over,
  };
}

const valueOf = (setCookie: string): string => setCookie.split(';', 1)[0]!;

t.test('owns exactly the sign-in endpoints', async (t) => {
  const { router } = build();
  for (const p of ['/.gatehouse/login', '/.gatehouse/login/x', '/.gatehouse/logout', '/.gatehouse/callback/x', '/.gatehouse/backchannel-logout/x']) t.equal(router.owns(p), true, p);
  for (const p of ['/.gatehouse/jwks.json', '/.gatehouse/loginx', '/.gatehouse/logout/x', '/.gatehouse/auth']) t.equal(router.owns(p), false, p);
});

t.test('/.gatehouse/login: one provider → straight to it; several → a chooser; rd made safe', async (t) => {
  const one = build({ providers: [provider('local')] });
  const a = (await one.router.handle(request('GET', '/.gatehouse/login', { query: 'rd=%2Fapp%2Fx%3Fq%3D1' }))).answer;
  t.equal(a.status, 302);
  t.equal(a.headers.location, '/.gatehouse/login/local?rd=%2Fapp%2Fx%3Fq%3D1');
  const evil = (await one.router.handle(request('GET', '/.gatehouse/login', { query: 'rd=%2F%2Fevil.example' }))).answer;
  t.equal(evil.headers.location, '/.gatehouse/login/local?rd=%2F', 'open redirect falls back to /');
  const two = build({ providers: [provider('local'), provider('corp')] });
  const chooser = (await two.router.handle(request('GET', '/.gatehouse/login', { query: 'rd=/app' }))).answer;
  t.equal(chooser.status, 200);
  t.match(chooser.body, /href="\/\.gatehouse\/login\/local\?rd=%2Fapp"/);
  t.match(chooser.body, /Label corp/);
  t.equal((await two.router.handle(request('POST', '/.gatehouse/login'))).answer.status, 405);
});

t.test('/.gatehouse/login/<p>: dispatches with a safe rd; unknown provider 404', async (t) => {
  const p = provider('local');
  const { router } = build({ providers: [p] });
  await router.handle(request('GET', '/.gatehouse/login/local', { query: 'rd=https://docs.example.com/a' }));
  await router.handle(request('POST', '/.gatehouse/login/local', { form: { rd: '/\\evil' } }));
  t.same(p.calls, ['login rd=https://docs.example.com/a', 'login rd=/']);
  t.equal((await router.handle(request('GET', '/.gatehouse/login/nope'))).answer.status, 404);
  t.equal((await router.handle(request('GET', '/.gatehouse/login/local/x'))).answer.status, 404);
  t.equal((await router.handle(request('DELETE', '/.gatehouse/login/local'))).answer.status, 405);
});

t.test('signing in ends the session the browser had (a new id every time)', async (t) => {
  const { router, manager } = build({ providers: [provider('local')] });
  const first = (await router.handle(request('POST', '/.gatehouse/login/local'))).answer;
  const c1 = valueOf((first.headers['set-cookie'] as string[])[0]!);
  const second = (await router.handle(request('POST', '/.gatehouse/login/local', { cookie: c1 }))).answer;
  const c2 = valueOf((second.headers['set-cookie'] as string[])[0]!);
  t.not(c1, c2);
  t.equal((await manager.resolve(['Cookie', c1], T0)).kind, 'none', 'old session deleted');
  t.equal((await manager.resolve(['Cookie', c2], T0)).kind, 'live');
});

t.test('logout: GET shows a form, POST needs its token, ends the session and clears the cookie', async (t) => {
  const { router, manager, csrf } = build({ providers: [provider('local')] });
  const { id, setCookie } = await manager.start('local', { user: 'alice', groups: [], claims: {} }, T0);
  const c = valueOf(setCookie);
  const page = (await router.handle(request('GET', '/.gatehouse/logout', { cookie: c }))).answer;
  t.equal(page.status, 200);
  t.match(page.body, /method="post" action="\/\.gatehouse\/logout"/);
  const token = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  t.equal(csrf.verify(token, `logout:${storageKey(id)}`), true);

  const noToken = (await router.handle(request('POST', '/.gatehouse/logout', { cookie: c, form: {} }))).answer;
  t.equal(noToken.status, 403, 'no token');
  const otherToken = (await router.handle(request('POST', '/.gatehouse/logout', { cookie: c, form: { csrf: csrf.issue('logout:other') } }))).answer;
  t.equal(otherToken.status, 403, "another session's token");
  const crossSite = (await router.handle(request('POST', '/.gatehouse/logout', { cookie: c, form: { csrf: token }, headers: { 'sec-fetch-site': 'cross-site' } }))).answer;
  t.equal(crossSite.status, 403, 'cross-site even with the token');
  t.equal((await manager.resolve(['Cookie', c], T0)).kind, 'live', 'refusals did not end it');

  const done = (await router.handle(request('POST', '/.gatehouse/logout', { cookie: c, form: { csrf: token }, headers: { origin: 'https://app.example.com' } }))).answer;
  t.equal(done.status, 303);
  t.equal(done.headers.location, '/.gatehouse/login');
  t.match((done.headers['set-cookie'] as string[])[0], /^__Host-gh=; .*Max-Age=0/);
  t.equal(done.user, 'alice');
  t.equal((await manager.resolve(['Cookie', c], T0)).kind, 'none');

  const again = (await router.handle(request('POST', '/.gatehouse/logout', { cookie: c, form: { csrf: token } }))).answer;
  t.equal(again.status, 303, 'no session: just clear and go to sign-in');
  const signedOut = (await router.handle(request('GET', '/.gatehouse/logout'))).answer;
  t.match(signedOut.body, /signed out/i);
  t.equal((await router.handle(request('PUT', '/.gatehouse/logout'))).answer.status, 405);
});

t.test('logout of an OIDC session goes through the OP end-session endpoint', async (t) => {
  const seen: string[] = [];
  const corp = provider('corp', { type: 'oidc', endSessionUrl: async (_s, back) => (seen.push(back), 'https://idp.example.com/logout?x=1') });
  const broken = provider('broken', { type: 'oidc', endSessionUrl: async () => Promise.reject(new Error('OP down')) });
  const { router, manager, csrf, errors } = build({ providers: [corp, broken] });
  for (const [name, expected] of [['corp', 'https://idp.example.com/logout?x=1'], ['broken', '/.gatehouse/login']] as const) {
    const { id, setCookie } = await manager.start(name, { user: 'alice', groups: [], claims: {} }, T0);
    const answer = (await router.handle(request('POST', '/.gatehouse/logout', { cookie: valueOf(setCookie), form: { csrf: csrf.issue(`logout:${storageKey(id)}`) } }))).answer;
    t.equal(answer.headers.location, expected, name);
  }
  t.same(seen, ['https://app.example.com/.gatehouse/login']);
  t.same(errors, ['end-session']);
  const { setCookie } = await manager.start('corp', { user: 'alice', groups: [], claims: {} }, T0);
  const page = (await router.handle(request('GET', '/.gatehouse/logout', { cookie: valueOf(setCookie) }))).answer;
  t.match(page.headers['content-security-policy'], /form-action 'self' https:\/\/idp\.example\.com;/, 'the redirect after the POST is allowed by CSP');
});

t.test('callback and back-channel logout go to their provider; wrong methods and names refused', async (t) => {
  const ok = { status: 200, headers: {}, body: 'x', contentType: 'text/plain' };
  const corp = provider('corp', { type: 'oidc', callback: async () => ok, backchannelLogout: async () => ({ ...ok, body: 'bc' }) });
  const { router } = build({ providers: [corp, provider('local')] });
  t.same(await router.handle(request('GET', '/.gatehouse/callback/corp', { query: 'code=c&state=s' })), { answer: ok, endpoint: 'callback' });
  t.equal((await router.handle(request('POST', '/.gatehouse/callback/corp'))).answer.status, 405);
  t.equal((await router.handle(request('GET', '/.gatehouse/callback/local'))).answer.status, 404, 'forms have no callback');
  t.equal((await router.handle(request('POST', '/.gatehouse/backchannel-logout/corp'))).answer.body, 'bc');
  t.equal((await router.handle(request('GET', '/.gatehouse/backchannel-logout/corp'))).answer.status, 405);
  t.equal((await router.handle(request('POST', '/.gatehouse/backchannel-logout/local'))).answer.status, 404);
  t.equal((await router.handle(request('GET', '/.gatehouse/nothing'))).endpoint, 'unknown');
});

t.test('a store outage answers 503, never signs anyone in or out', async (t) => {
  const down = Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
  const base = createMemorySessionStore();
  const store: SessionStore = { ...base, get: async () => Promise.reject(down), create: async () => Promise.reject(down) };
  const throwing = provider('boom', { callback: async () => Promise.reject(down) });
  const { router, errors } = build({ store, providers: [provider('local'), throwing] });
  // A correctly signed cookie, so the store is asked.
  const signed = valueOf((await createSessionManager({ store: createMemorySessionStore(), cookie, secrets, maxAgeMs: 3_600_000, idleTimeoutMs: 600_000 }).start('local', { user: 'a', groups: [], claims: {} }, T0)).setCookie);
  t.equal((await router.handle(request('GET', '/.gatehouse/logout', { cookie: signed }))).answer.status, 503);
  t.equal((await router.handle(request('POST', '/.gatehouse/logout', { cookie: signed, form: {} }))).answer.status, 503);
  const login = (await router.handle(request('POST', '/.gatehouse/login/local'))).answer;
  t.equal(login.status, 503);
  t.equal((await router.handle(request('GET', '/.gatehouse/callback/boom'))).answer.status, 503);
  t.same(errors, ['session-store', 'session-store', 'login', 'callback']);
});

t.test('with the store reported down, a sign-in POST is answered before any password check', async (t) => {
  const base = createMemorySessionStore();
  const store: SessionStore = { ...base, health: () => ({ ok: false, store: 'redis', lastError: 'ECONNREFUSED' }) };
  const p = provider('local');
  const { router } = build({ store, providers: [p] });
  t.equal((await router.handle(request('POST', '/.gatehouse/login/local', { form: { username: 'a', password: 'b' } }))).answer.status, 503);
  t.same(p.calls, [], 'the provider (and its password check) never ran');
  await router.handle(request('GET', '/.gatehouse/login/local'));
  t.equal(p.calls.length, 1, 'the form itself still renders');
});
