import t from 'tap';
import { forwardAuthAnswer, refusalAnswer, signInUrl, SIGN_IN_HINT_HEADER, type AnswerContext } from '../../../src/forward-auth/answer.js';
import type { ForwardAuthStyle } from '../../../src/forward-auth/facts.js';
import { compileAllow } from '../../../src/pipeline/authorize/allow.js';
import type { AssertionSigner } from '../../../src/pipeline/headers/assertion.js';
import { compileTemplate } from '../../../src/pipeline/headers/template.js';
import { createHeaderPolicy, type HeaderPolicy } from '../../../src/pipeline/headers/upstream-headers.js';
import { compileMatch } from '../../../src/pipeline/match/compile-match.js';
import type { CompiledRoute, Policy, RouteAuth } from '../../../src/pipeline/policy.js';
import { decide } from '../../../src/pipeline/run.js';
import type { Authenticator, AuthResult, Identity, RequestFacts } from '../../../src/pipeline/types.js';

const alice: Identity = { user: 'alice', email: 'a@example.com', groups: ['staff', 'ops,team'], scopes: ['read'], claims: { tenant: 't1' }, method: 'basic', authenticator: 'staff' };

function authenticator(name: string, type: Authenticator['type'], result: AuthResult, extra: Partial<Authenticator> = {}): Authenticator {
  return { name, type, async authenticate() { return result; }, ...extra };
}
const basicChallenge = 'Basic realm="Staff", charset="UTF-8"';
const basic = (result: AuthResult): Authenticator => authenticator('staff', 'basic', result, { challenge: basicChallenge });
const session = (result: AuthResult): Authenticator => authenticator('web', 'session', result);
const skip: AuthResult = { outcome: 'skip' };

const tenant = compileTemplate('{claims.tenant}');
if (!tenant.ok) throw new Error(tenant.message);

function route(auth: RouteAuth, extra: Partial<CompiledRoute> = {}): CompiledRoute {
  const m = compileMatch({ path: '/**' });
  if (!m.ok) throw new Error('match');
  return {
    index: 0,
    name: 'app',
    match: m.match,
    upstream: { kind: 'http', origin: 'http://10.1.0.5:8000', authority: '10.1.0.5:8000', basePath: '' },
    auth,
    allow: compileAllow(undefined),
    requirements: [],
    requiredScopes: [],
    templates: [{ header: 'X-Tenant', render: tenant.ok ? tenant.render : () => undefined }],
    forwardCredentials: false,
    allowMethodOverride: false,
    preserveHost: false,
    assertionAudience: 'http://10.1.0.5:8000',
    stripPrefix: undefined,
    timeoutMs: 30_000,
    allowPreflight: false,
    csrf: 'origin',
    signInRedirect: false,
    ...extra,
  };
}

const signer: AssertionSigner = {
  header: 'X-Auth-Assertion',
  ttlMs: 60_000,
  signingKid: 'k1',
  sign: (input) => `jws-for-${input.identity.user}-${input.audience}`,
  publicJwks: () => ({ keys: [] }),
  publicKeys: [],
};
const NAMES = { user: 'X-Auth-User', email: 'X-Auth-Email', name: 'X-Auth-Name', groups: 'X-Auth-Groups', method: 'X-Auth-Method', route: 'X-Auth-Route' };
const headerPolicy: HeaderPolicy = createHeaderPolicy(NAMES, ['X-Auth-'], ['X-Tenant'], signer, ['gh']);

function policy(r: CompiledRoute, publicOrigins: readonly string[] = []): Policy {
  return { routes: [r], headers: headerPolicy, publicOrigins };
}

/** The original request as facts.ts rebuilds it: a trusted ingress's headers included. */
function facts(over: Partial<RequestFacts> = {}, headers: Record<string, string> = {}): RequestFacts {
  const all: Record<string, string> = {
    host: 'app.example.com',
    authorization: 'Basic YWxpY2U6eA==',
    cookie: 'gh=abc; other=1',
    'x-forwarded-for': '198.51.100.7',
    'x-original-url': 'https://app.example.com/reports?x=1',
    'x-auth-user': 'mallory',
    ...headers,
  };
  return {
    method: 'GET',
    scheme: 'https',
    authority: 'app.example.com',
    hostname: 'app.example.com',
    path: '/reports',
    query: 'x=1',
    headers: all,
    rawHeaders: Object.entries(all).flat(),
    peer: '10.0.0.1',
    peerTrusted: true,
    clientIp: '198.51.100.7',
    ...over,
  };
}

async function answer(r: CompiledRoute, f: RequestFacts, style: ForwardAuthStyle = 'traefik', publicOrigins: readonly string[] = []) {
  const decision = await decide(policy(r, publicOrigins), f, { requestId: 'rid-1' });
  const ctx: AnswerContext = { style, facts: f, requestId: 'rid-1', headerPolicy, publicOrigins };
  return forwardAuthAnswer(decision, ctx);
}

const body = (code: string) => ({ error: code.includes('REQUIRED') || code.includes('INVALID') ? 'Unauthorized' : 'Forbidden', code, message: '', requestId: 'rid-1' });

t.test('allow: 200 with the identity headers gatehouse sets upstream, and nothing of the request', async (t) => {
  const a = await answer(route({ kind: 'check', authenticators: [basic({ outcome: 'ok', identity: alice, consumed: 'authorization' })] }), facts());
  t.same(a, {
    status: 200,
    headers: {
      'cache-control': 'no-store',
      'x-auth-user': 'alice',
      'x-auth-email': 'a@example.com',
      'x-auth-groups': 'staff,ops%2Cteam',
      'x-auth-method': 'basic',
      'x-auth-route': 'app',
      'x-tenant': 't1',
      'x-auth-assertion': 'jws-for-alice-http://10.1.0.5:8000',
    },
  });
  t.equal(a.body, undefined);
});

t.test('allow on an anonymous route: only method and route, never a client-sent identity', async (t) => {
  const a = await answer(route({ kind: 'anonymous' }), facts());
  t.same(a, { status: 200, headers: { 'cache-control': 'no-store', 'x-auth-method': 'anonymous', 'x-auth-route': 'app' } });
});

t.test('allow without an assertion signer: the identity headers alone', async (t) => {
  const plain = createHeaderPolicy(NAMES, ['X-Auth-'], []);
  const r = route({ kind: 'check', authenticators: [basic({ outcome: 'ok', identity: { ...alice, email: undefined, groups: [] } as Identity, consumed: 'authorization' })] }, { templates: [] });
  const f = facts();
  const decision = await decide({ routes: [r], headers: plain, publicOrigins: [] }, f, { requestId: 'rid-1' });
  const a = forwardAuthAnswer(decision, { style: 'nginx', facts: f, requestId: 'rid-1', headerPolicy: plain, publicOrigins: [] });
  t.same(a.headers, { 'cache-control': 'no-store', 'x-auth-user': 'alice', 'x-auth-method': 'basic', 'x-auth-route': 'app' });
});

t.test('deny: the proxy-mode answer, whatever the caller', async (t) => {
  for (const style of ['nginx', 'traefik', 'envoy'] as const) {
    const none = await answer(route({ kind: 'check', authenticators: [basic(skip)] }), facts({}, { accept: 'text/html' }), style);
    t.same({ ...none, body: { ...none.body, message: '' } }, { status: 401, headers: { 'cache-control': 'no-store', 'www-authenticate': [basicChallenge] }, body: body('GATEHOUSE_ERR_AUTH_REQUIRED') }, `${style} 401`);
    const bad = await answer(route({ kind: 'check', authenticators: [basic({ outcome: 'fail', reason: 'bad-password', code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS' })] }), facts(), style);
    t.same([bad.status, bad.headers['www-authenticate'], bad.body?.code], [401, [basicChallenge], 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS']);
    const forbidden = await answer(route({ kind: 'check', authenticators: [basic({ outcome: 'ok', identity: alice, consumed: 'authorization' })] }, { allow: compileAllow({ groups: ['admin'] }) }), facts(), style);
    t.same({ ...forbidden, body: { ...forbidden.body, message: '' } }, { status: 403, headers: { 'cache-control': 'no-store' }, body: body('GATEHOUSE_ERR_AUTHZ_FORBIDDEN') }, `${style} 403`);
    const closed = await answer(route({ kind: 'deny' }), facts(), style);
    t.same([closed.status, closed.body?.code], [403, 'GATEHOUSE_ERR_AUTHZ_ROUTE_DENIED']);
    const throttled = await answer(route({ kind: 'check', authenticators: [basic({ outcome: 'fail', reason: 'throttled', code: 'GATEHOUSE_ERR_AUTH_THROTTLED', retryAfter: 7.2 })] }), facts(), style);
    t.same([throttled.status, throttled.headers['retry-after'], throttled.body?.code], [429, '8', 'GATEHOUSE_ERR_AUTH_THROTTLED']);
    const down = await answer(route({ kind: 'check', authenticators: [basic({ outcome: 'fail', reason: 'store-down', code: 'GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE' })] }), facts(), style);
    t.same([down.status, down.body?.code], [503, 'GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE']);
  }
});

t.test('deny: insufficient scope keeps its challenge; no route is 404', async (t) => {
  const bearer = authenticator('api', 'jwt', { outcome: 'ok', identity: { ...alice, method: 'jwt', scopes: [] }, consumed: 'authorization' }, { challenge: 'Bearer realm="api"', scopeChallenge: (s) => `Bearer realm="api", error="insufficient_scope", scope="${s.join(' ')}"` });
  const a = await answer(route({ kind: 'check', authenticators: [bearer] }, { allow: compileAllow({ scopes: ['orders:read'] }), requiredScopes: ['orders:read'] }), facts());
  t.same([a.status, a.headers['www-authenticate'], a.body?.code], [403, ['Bearer realm="api", error="insufficient_scope", scope="orders:read"'], 'GATEHOUSE_ERR_AUTHZ_INSUFFICIENT_SCOPE']);
  const f = facts();
  const none = forwardAuthAnswer({ kind: 'no-route' }, { style: 'nginx', facts: f, requestId: 'rid-1', headerPolicy, publicOrigins: [] });
  t.same([none.status, none.body?.code], [404, 'GATEHOUSE_ERR_ROUTE_NOT_FOUND']);
});

const sessionRoute = (extra: Authenticator[] = []): CompiledRoute => route({ kind: 'check', authenticators: [session(skip), ...extra] }, { signInRedirect: true });
const browser = { accept: 'text/html,application/xhtml+xml;q=0.9' };

t.test('a browser on a session route: Traefik and Envoy get a 302 to sign in, built from publicUrl', async (t) => {
  for (const style of ['traefik', 'envoy'] as const) {
    const a = await answer(sessionRoute(), facts({}, browser), style, ['https://auth.example.com']);
    t.same(a, {
      status: 302,
      headers: { 'cache-control': 'no-store', location: `https://auth.example.com/.gatehouse/login?rd=${encodeURIComponent('https://app.example.com/reports?x=1')}` },
      body: { error: 'Unauthorized', code: 'GATEHOUSE_ERR_AUTH_REQUIRED', message: 'Authentication is required.', requestId: 'rid-1' },
    }, style);
  }
});

t.test('a browser on a session route: nginx gets the 401 (challenges kept) and the sign-in URL in a header', async (t) => {
  const a = await answer(sessionRoute([basic(skip)]), facts({}, browser), 'nginx', ['https://auth.example.com']);
  t.same(a, {
    status: 401,
    headers: { 'cache-control': 'no-store', 'www-authenticate': [basicChallenge], [SIGN_IN_HINT_HEADER]: `https://auth.example.com/.gatehouse/login?rd=${encodeURIComponent('https://app.example.com/reports?x=1')}` },
    body: { error: 'Unauthorized', code: 'GATEHOUSE_ERR_AUTH_REQUIRED', message: 'Authentication is required.', requestId: 'rid-1' },
  });
  t.equal(SIGN_IN_HINT_HEADER, 'x-auth-redirect');
});

t.test('a bad session cookie sends a browser to sign in too; other clients and other refusals do not', async (t) => {
  const invalid = route({ kind: 'check', authenticators: [session({ outcome: 'fail', reason: 'bad-signature', code: 'GATEHOUSE_ERR_SESSION_INVALID' })] }, { signInRedirect: true });
  const a = await answer(invalid, facts({}, browser), 'traefik', ['https://app.example.com']);
  t.same([a.status, a.headers.location], [302, `https://app.example.com/.gatehouse/login?rd=${encodeURIComponent('/reports?x=1')}`]);
  const api = await answer(sessionRoute(), facts({}, { accept: 'application/json' }), 'traefik', ['https://app.example.com']);
  t.same([api.status, api.headers.location, api.headers[SIGN_IN_HINT_HEADER]], [401, undefined, undefined]);
  const post = await answer(sessionRoute(), facts({ method: 'POST' }, browser), 'nginx', ['https://app.example.com']);
  t.same([post.status, post.headers[SIGN_IN_HINT_HEADER]], [401, undefined]);
});

t.test('signInUrl: publicUrl naming the original host, else the first; relative without publicUrl', async (t) => {
  const f = facts({ authority: 'b.example.com', hostname: 'b.example.com', path: '/x y', query: '' });
  t.equal(signInUrl(f, ['https://a.example.com', 'https://b.example.com']), `https://b.example.com/.gatehouse/login?rd=${encodeURIComponent('/x y')}`);
  t.equal(signInUrl(f, ['https://a.example.com']), `https://a.example.com/.gatehouse/login?rd=${encodeURIComponent('https://b.example.com/x y')}`);
  // Never from the Host: without publicUrl the browser resolves it on the page it asked for.
  t.equal(signInUrl(f, []), `/.gatehouse/login?rd=${encodeURIComponent('/x y')}`);
  // Same host, other scheme: not the same origin, so rd stays absolute.
  t.equal(signInUrl(facts({ scheme: 'http', query: '' }), ['https://app.example.com']), `https://app.example.com/.gatehouse/login?rd=${encodeURIComponent('http://app.example.com/reports')}`);
});

t.test('refusalAnswer: our JSON error body with the code status', async (t) => {
  t.same(refusalAnswer('GATEHOUSE_ERR_FORWARD_AUTH_UNTRUSTED', 'r'), {
    status: 403,
    headers: { 'cache-control': 'no-store' },
    body: { error: 'Forbidden', code: 'GATEHOUSE_ERR_FORWARD_AUTH_UNTRUSTED', message: 'Only trusted proxies may ask for forward-auth decisions.', requestId: 'r' },
  });
  t.equal(refusalAnswer('GATEHOUSE_ERR_FORWARD_AUTH_NOT_NORMALIZED', 'r').status, 400);
});
