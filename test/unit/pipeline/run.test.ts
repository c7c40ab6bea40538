import t from 'tap';
import { compileAllow } from '../../../src/pipeline/authorize/allow.js';
import { createHeaderPolicy } from '../../../src/pipeline/headers/upstream-headers.js';
import { compileMatch, type RouteMatchSpec } from '../../../src/pipeline/match/compile-match.js';
import type { CompiledRoute, Policy, RouteAuth, UpstreamTarget } from '../../../src/pipeline/policy.js';
import { decide, isInternalPath, matchRoute, upstreamPath } from '../../../src/pipeline/run.js';
import type { Authenticator, AuthResult, Identity, RequestFacts } from '../../../src/pipeline/types.js';

const alice: Identity = { user: 'alice', groups: ['staff'], scopes: [], claims: {}, method: 'basic', authenticator: 'a' };

function fake(name: string, result: AuthResult | ((f: RequestFacts) => AuthResult), calls: string[] = []): Authenticator {
  return {
    name,
    type: 'basic',
    challenge: `Basic realm="${name}", charset="UTF-8"`,
    async authenticate(f) {
      calls.push(name);
      return typeof result === 'function' ? result(f) : result;
    },
  };
}

function route(index: number, match: RouteMatchSpec, auth: RouteAuth, extra: Partial<CompiledRoute> = {}): CompiledRoute {
  const m = compileMatch(match);
  if (!m.ok) throw new Error(JSON.stringify(m.errors));
  const upstream: UpstreamTarget = { kind: 'http', origin: 'http://127.0.0.1:9000', authority: '127.0.0.1:9000', basePath: '' };
  return {
    index,
    name: `r${index}`,
    match: m.match,
    upstream,
    auth,
    allow: compileAllow(undefined),
    requirements: [],
    requiredScopes: [],
    templates: [],
    forwardCredentials: false,
    allowMethodOverride: false,
    preserveHost: false,
    assertionAudience: 'http://127.0.0.1:9000',
    stripPrefix: undefined,
    timeoutMs: 30_000,
    allowPreflight: false,
    csrf: 'origin',
    signInRedirect: false,
    ...extra,
  };
}

function policy(routes: CompiledRoute[]): Policy {
  return { routes, headers: createHeaderPolicy({ user: 'X-Auth-User', email: 'X-Auth-Email', name: 'X-Auth-Name', groups: 'X-Auth-Groups', method: 'X-Auth-Method', route: 'X-Auth-Route' }, ['X-Auth-'], []), publicOrigins: [] };
}

function facts(over: Partial<RequestFacts> = {}): RequestFacts {
  return { method: 'GET', scheme: 'http', authority: 'app', hostname: 'app', path: '/', query: '', headers: {}, rawHeaders: [], peer: '127.0.0.1', peerTrusted: false, clientIp: '127.0.0.1', ...over };
}

const ok: AuthResult = { outcome: 'ok', identity: alice, consumed: 'authorization' };
const skip: AuthResult = { outcome: 'skip' };

t.test('first match wins; no match is no-route', async (t) => {
  const p = policy([route(0, { path: '/a/**' }, { kind: 'anonymous' }), route(1, { path: '/**' }, { kind: 'deny' })]);
  t.equal(matchRoute(p, facts({ path: '/a/x' }))?.name, 'r0');
  t.equal(matchRoute(p, facts({ path: '/b' }))?.name, 'r1');
  t.same(await decide(policy([route(0, { path: '/a' }, { kind: 'anonymous' })]), facts({ path: '/b' }), { requestId: 'x' }), { kind: 'no-route' });
});

t.test('the /.gatehouse prefix is never matched by a route, in any case', async (t) => {
  const p = policy([route(0, { path: '/**' }, { kind: 'anonymous' })]);
  for (const path of ['/.gatehouse', '/.gatehouse/', '/.gatehouse/jwks.json', '/.GateHouse/x']) t.equal(matchRoute(p, facts({ path })), undefined, path);
  for (const path of ['/.gatehousex', '/a/.gatehouse/x', '/.gatehouse-x/y']) t.equal(matchRoute(p, facts({ path }))?.name, 'r0', path);
});

t.test('anonymous routes allow with an anonymous identity; deny routes refuse', async (t) => {
  const d = await decide(policy([route(0, { path: '/**' }, { kind: 'anonymous' })]), facts({ path: '/p', query: 'q=1' }), { requestId: 'rid' });
  t.equal(d.kind, 'allow');
  if (d.kind !== 'allow') return;
  t.equal(d.identity.method, 'anonymous');
  t.equal(d.forward.target, '/p?q=1');
  t.equal(d.forward.headers['x-auth-method'], 'anonymous');
  t.equal(d.forward.headers['x-request-id'], 'rid');
  const denied = await decide(policy([route(0, { path: '/**' }, { kind: 'deny' })]), facts(), { requestId: 'rid' });
  t.match(denied, { kind: 'deny', code: 'GATEHOUSE_ERR_AUTHZ_ROUTE_DENIED', reasons: ['route-denied'] });
});

t.test('authenticators run in order: skip passes on, ok stops, fail stops (never falls through)', async (t) => {
  const calls: string[] = [];
  const p = policy([route(0, { path: '/**' }, { kind: 'check', authenticators: [fake('a', skip, calls), fake('b', ok, calls), fake('c', ok, calls)] })]);
  const d = await decide(p, facts(), { requestId: 'r' });
  t.same(calls, ['a', 'b']);
  t.match(d, { kind: 'allow', attempts: [{ authenticator: 'a', outcome: 'skip' }, { authenticator: 'b', outcome: 'ok' }] });

  const calls2: string[] = [];
  const failing = policy([route(0, { path: '/**' }, { kind: 'check', authenticators: [fake('a', { outcome: 'fail', reason: 'bad', code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS' }, calls2), fake('b', ok, calls2)] })]);
  const denied = await decide(failing, facts(), { requestId: 'r' });
  t.same(calls2, ['a']);
  t.match(denied, { kind: 'deny', code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS', reasons: ['bad'], challenges: ['Basic realm="a", charset="UTF-8"', 'Basic realm="b", charset="UTF-8"'] });
});

t.test('all skip: 401 with every challenge; throttled fail keeps retryAfter', async (t) => {
  const p = policy([route(0, { path: '/**' }, { kind: 'check', authenticators: [fake('a', skip), fake('b', skip)] })]);
  t.match(await decide(p, facts(), { requestId: 'r' }), { kind: 'deny', code: 'GATEHOUSE_ERR_AUTH_REQUIRED', reasons: ['no-credentials'] });
  const throttled = policy([route(0, { path: '/**' }, { kind: 'check', authenticators: [fake('a', { outcome: 'fail', reason: 'throttled', code: 'GATEHOUSE_ERR_AUTH_THROTTLED', retryAfter: 30 })] })]);
  t.match(await decide(throttled, facts(), { requestId: 'r' }), { kind: 'deny', retryAfter: 30 });
});

t.test('authorization: 403 with reasons and the identity', async (t) => {
  const p = policy([route(0, { path: '/**' }, { kind: 'check', authenticators: [fake('a', ok)] }, { allow: compileAllow({ groups: ['admin'] }) })]);
  t.match(await decide(p, facts(), { requestId: 'r' }), { kind: 'deny', code: 'GATEHOUSE_ERR_AUTHZ_FORBIDDEN', reasons: ['groups-missing'], identity: { user: 'alice' } });
});

t.test('RFC 6750: the rejecting authenticator\'s challenge replaces its generic one', async (t) => {
  const bearer: Authenticator = {
    name: 'tokens',
    type: 'jwt',
    challenge: 'Bearer realm="api"',
    async authenticate() {
      return { outcome: 'fail', reason: 'expired', code: 'GATEHOUSE_ERR_AUTH_TOKEN_EXPIRED', challenge: 'Bearer realm="api", error="invalid_token", error_description="token expired"' };
    },
  };
  const p = policy([route(0, { path: '/**' }, { kind: 'check', authenticators: [fake('a', skip), bearer] })]);
  t.match(await decide(p, facts(), { requestId: 'r' }), {
    kind: 'deny',
    code: 'GATEHOUSE_ERR_AUTH_TOKEN_EXPIRED',
    challenges: ['Basic realm="a", charset="UTF-8"', 'Bearer realm="api", error="invalid_token", error_description="token expired"'],
  });
});

t.test('RFC 6750: missing scopes on a token identity is insufficient_scope with the required scopes', async (t) => {
  const tokenIdentity: Identity = { ...alice, scopes: ['read'], method: 'jwt', authenticator: 'tokens' };
  const bearer: Authenticator = {
    name: 'tokens',
    type: 'jwt',
    challenge: 'Bearer realm="api"',
    scopeChallenge: (required) => `Bearer realm="api", error="insufficient_scope", scope="${required.join(' ')}"`,
    async authenticate() {
      return { outcome: 'ok', identity: tokenIdentity, consumed: 'authorization' };
    },
  };
  const scoped = route(0, { path: '/**' }, { kind: 'check', authenticators: [bearer] }, { allow: compileAllow({ scopes: ['write', 'admin'] }), requiredScopes: ['write', 'admin'] });
  t.match(await decide(policy([scoped]), facts(), { requestId: 'r' }), {
    kind: 'deny',
    code: 'GATEHOUSE_ERR_AUTHZ_INSUFFICIENT_SCOPE',
    challenges: ['Bearer realm="api", error="insufficient_scope", scope="write admin"'],
  });
  const grouped = route(0, { path: '/**' }, { kind: 'check', authenticators: [bearer] }, { allow: compileAllow({ groups: ['x'] }) });
  t.match(await decide(policy([grouped]), facts(), { requestId: 'r' }), { kind: 'deny', code: 'GATEHOUSE_ERR_AUTHZ_FORBIDDEN', challenges: ['Bearer realm="api"'] });
});

t.test('CORS preflight passes unauthenticated only when the route allows it', async (t) => {
  const calls: string[] = [];
  const pre = facts({ method: 'OPTIONS', headers: { origin: 'https://x', 'access-control-request-method': 'POST' } });
  const open = policy([route(0, { path: '/**' }, { kind: 'check', authenticators: [fake('a', skip, calls)] }, { allowPreflight: true })]);
  t.match(await decide(open, pre, { requestId: 'r' }), { kind: 'allow', identity: { method: 'anonymous' } });
  t.same(calls, []);
  t.match(await decide(open, facts({ method: 'OPTIONS', headers: { origin: 'https://x' } }), { requestId: 'r' }), { kind: 'deny' });
  const closed = policy([route(0, { path: '/**' }, { kind: 'check', authenticators: [fake('a', skip)] })]);
  t.match(await decide(closed, pre, { requestId: 'r' }), { kind: 'deny', code: 'GATEHOUSE_ERR_AUTH_REQUIRED' });
});

t.test('the forwarded path is the matched path after the rewrite', async (t) => {
  const base = route(0, { path: '/api/**' }, { kind: 'anonymous' }, { stripPrefix: '/api' });
  t.equal(upstreamPath(base, '/api/x/y'), '/x/y');
  t.equal(upstreamPath(base, '/api'), '/');
  t.equal(upstreamPath(base, '/api/'), '/');
  t.equal(upstreamPath(base, '/apix'), '/apix');
  const withBase = { ...base, upstream: { kind: 'http' as const, origin: 'http://u', authority: 'u', basePath: '/app' } };
  t.equal(upstreamPath(withBase, '/api/x'), '/app/x');
  t.equal(upstreamPath(withBase, '/api'), '/app');
  t.equal(upstreamPath(withBase, '/api/'), '/app/');
  t.equal(upstreamPath({ ...base, upstream: { kind: 'echo' } }, '/api/x'), '/x');
  const d = await decide(policy([base]), facts({ path: '/api/v1', query: 'a=b' }), { requestId: 'r' });
  t.match(d, { kind: 'allow', forward: { target: '/v1?a=b', method: 'GET' } });
});

t.test('upgrade keeps the handshake headers', async (t) => {
  const d = await decide(policy([route(0, { path: '/**' }, { kind: 'anonymous' })]), facts({ headers: { upgrade: 'websocket', connection: 'Upgrade' }, rawHeaders: ['Upgrade', 'websocket', 'Connection', 'Upgrade'] }), { requestId: 'r', upgrade: true });
  t.match(d, { kind: 'allow', forward: { headers: { connection: 'Upgrade', upgrade: 'websocket' } } });
});

t.test('session-cookie requests with unsafe methods must be same-origin (csrf: origin)', async (t) => {
  const session: AuthResult = { outcome: 'ok', identity: { ...alice, method: 'session' }, consumed: 'cookie' };
  const p = (csrf: 'origin' | 'off', result: AuthResult = session): Policy => ({ ...policy([route(0, { path: '/**' }, { kind: 'check', authenticators: [fake('web', result)] }, { csrf })]), publicOrigins: ['https://app.example.com'] });
  const cross = await decide(p('origin'), facts({ method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } }), { requestId: 'x' });
  t.equal(cross.kind, 'deny');
  if (cross.kind === 'deny') {
    t.equal(cross.code, 'GATEHOUSE_ERR_CSRF_REJECTED');
    t.same(cross.reasons, ['csrf-cross-site']);
  }
  t.equal((await decide(p('origin'), facts({ method: 'DELETE', headers: {} }), { requestId: 'x' })).kind, 'deny', 'no Origin, no Sec-Fetch-Site');
  t.equal((await decide(p('origin'), facts({ method: 'POST', headers: { origin: 'https://app.example.com' } }), { requestId: 'x' })).kind, 'allow');
  t.equal((await decide(p('origin'), facts({ method: 'GET', headers: { 'sec-fetch-site': 'cross-site' } }), { requestId: 'x' })).kind, 'allow', 'safe methods pass (top-level navigation)');
  t.equal((await decide(p('off'), facts({ method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } }), { requestId: 'x' })).kind, 'allow', 'csrf: off');
  t.equal((await decide(p('origin', ok), facts({ method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } }), { requestId: 'x' })).kind, 'allow', 'a header credential is not sent by a browser on its own');
});

t.test('a WebSocket handshake with the session cookie must be same-origin too', async (t) => {
  const session: AuthResult = { outcome: 'ok', identity: { ...alice, method: 'session' }, consumed: 'cookie' };
  const p: Policy = { ...policy([route(0, { path: '/**' }, { kind: 'check', authenticators: [fake('web', session)] })]), publicOrigins: ['https://app.example.com'] };
  const ws = (headers: Record<string, string>) => facts({ method: 'GET', headers: { upgrade: 'websocket', connection: 'Upgrade', ...headers } });
  const cross = await decide(p, ws({ origin: 'https://evil.example' }), { requestId: 'x', upgrade: true });
  t.equal(cross.kind === 'deny' && cross.code, 'GATEHOUSE_ERR_CSRF_REJECTED', 'cross-site WebSocket hijacking refused');
  t.equal((await decide(p, ws({ origin: 'https://app.example.com' }), { requestId: 'x', upgrade: true })).kind, 'allow');
  t.equal((await decide(p, ws({ origin: 'https://evil.example' }), { requestId: 'x' })).kind, 'allow', 'a plain GET is a navigation');
});

t.test('internal paths as an upstream might read them are never routed', async (t) => {
  const p = policy([route(0, { path: '/**' }, { kind: 'anonymous' })]);
  for (const path of ['/.gatehouse;x/login', '/.gatehouse;/logout', '/.GATEHOUSE;jsessionid=1/login/local', '/.gatehouse./login', '/.gatehouse..', '/.gatehouse;a.b']) {
    t.equal(isInternalPath(path), true, path);
    t.equal(matchRoute(p, facts({ path })), undefined, path);
  }
  for (const path of ['/', '/a', '/.well-known/x', '/.gatehousex;y', '/x/.gatehouse', '/.gate;house']) t.equal(isInternalPath(path), false, path);
});
