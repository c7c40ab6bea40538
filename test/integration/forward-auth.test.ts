// Forward-auth contracts over real HTTP: check requests shaped like Traefik's ForwardAuth,
// Envoy's ext_authz HTTP service and nginx's auth_request send them, against a real
// gateway; decisions compared with proxy mode's for the same original request. The
// real-nginx run is forward-auth-nginx.test.ts.
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { request } from 'undici';
import { requestLines, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type Recorded, type RecordingUpstream } from '../helpers/recording-upstream.js';

const basic = (u: string, p: string): string => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');
const CHALLENGE = 'Basic realm="Staff", charset="UTF-8"';
const SIGN_IN = 'https://auth.example.com/.gatehouse/login';

let upstream: RecordingUpstream;
let gw: TestGateway;
let untrusted: TestGateway;

function config(trusted: string, upstreamUrl: string): string {
  const hash = (p: string): string => hashSync(p, 4);
  return `
publicUrl: https://auth.example.com
trustedProxies: ${trusted}
sessions:
  store: memory
  cookie: { name: ghs, secure: false }
authenticators:
  web:
    type: session
  staff:
    type: basic
    realm: Staff
    users:
      - { name: alice, hash: "${hash('wonderland')}" }
      - { name: bob, hash: "${hash('builder')}" }
    groups: { alice: [admin] }
    throttle: { window: 60s, maxFailuresPerUserAndIp: 1000, maxFailuresPerIp: 1000, slowdownAfterUserFailures: 1000 }
login:
  providers:
    local: { type: form, authenticator: staff }
  allowedRedirectHosts: [app.example.com]
routes:
  - name: ops
    match: { host: ops.example.com, path: /** }
    upstream: ${upstreamUrl}
    auth: deny
  - name: admin
    match: { path: /admin/** }
    upstream: ${upstreamUrl}
    auth: staff
    allow: { groups: [admin] }
    headers: { X-User-Route: "{user}@{route}" }
  - name: docs-read
    match: { path: /docs/**, methods: [GET, HEAD] }
    upstream: ${upstreamUrl}
    auth: anonymous
  - name: docs-write
    match: { path: /docs/** }
    upstream: ${upstreamUrl}
    auth: staff
  - name: app
    match: { path: /app/** }
    upstream: ${upstreamUrl}
    auth: [web, staff]
  - name: public
    match: { host: app.example.com, path: /** }
    upstream: ${upstreamUrl}
    auth: anonymous
`;
}

t.before(async () => {
  upstream = await startRecordingUpstream();
  gw = await startTestGateway(config('[127.0.0.1, "::1"]', upstream.url));
  untrusted = await startTestGateway(config('[10.99.0.1]', upstream.url));
});

t.teardown(async () => {
  await gw?.close();
  await untrusted?.close();
  await upstream?.close();
});

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

async function ask(base: string, path: string, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
  const res = await request(`${base}${path}`, { method, headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

const traefik = (uri: string, extra: Record<string, string> = {}, method = 'GET', host = 'app.example.com'): Record<string, string> => ({
  'x-forwarded-method': method,
  'x-forwarded-proto': 'https',
  'x-forwarded-host': host,
  'x-forwarded-uri': uri,
  'x-forwarded-for': '203.0.113.7',
  ...extra,
});

/** Identity headers of an answer or of what an upstream received. */
function identity(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (name.startsWith('x-auth-') || name === 'x-user-route') out[name] = String(value);
  return out;
}

/** What the upstream receives in proxy mode for the same original request. */
async function proxyModeIdentity(path: string, headers: Record<string, string>): Promise<Record<string, string> | number> {
  const before = upstream.requests.length;
  const res = await request(`${gw.url}${path}`, { headers });
  await res.body.text();
  if (upstream.requests.length === before) return res.statusCode;
  return identity((upstream.requests.at(-1) as Recorded).headers);
}

function code(a: Answer): string {
  return (JSON.parse(a.body) as { code: string }).code;
}

t.test('Traefik: allowed checks answer 200 with the identity headers proxy mode sets, nothing else', async (t) => {
  const before = upstream.requests.length;
  const a = await ask(gw.url, '/.gatehouse/auth', traefik('/admin/reports?x=1', { authorization: basic('alice', 'wonderland'), cookie: 'a=b', 'x-auth-user': 'mallory' }));
  t.equal(a.status, 200);
  t.same(identity(a.headers), { 'x-auth-user': 'alice', 'x-auth-groups': 'admin', 'x-auth-method': 'basic', 'x-auth-route': 'admin', 'x-user-route': 'alice@admin' });
  t.same(identity(a.headers), await proxyModeIdentity('/admin/reports?x=1', { authorization: basic('alice', 'wonderland'), 'x-auth-user': 'mallory' }));
  for (const echoed of ['cookie', 'authorization', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-uri', 'forwarded', 'x-real-ip', 'location']) t.equal(a.headers[echoed], undefined, `no ${echoed}`);
  t.equal(a.body, '');
  t.equal(upstream.requests.length, before + 1, 'only the proxy-mode request reached the upstream');
  const anon = await ask(gw.url, '/.gatehouse/auth', traefik('/docs/intro', { 'x-auth-user': 'mallory' }));
  t.same([anon.status, identity(anon.headers)], [200, { 'x-auth-method': 'anonymous', 'x-auth-route': 'docs-read' }]);
});

t.test('Traefik: refusals are proxy mode\'s, in our JSON format', async (t) => {
  const none = await ask(gw.url, '/.gatehouse/auth', traefik('/admin/x'));
  t.same([none.status, none.headers['www-authenticate'], code(none)], [401, CHALLENGE, 'GATEHOUSE_ERR_AUTH_REQUIRED']);
  const wrong = await ask(gw.url, '/.gatehouse/auth', traefik('/admin/x', { authorization: basic('alice', 'nope') }));
  t.same([wrong.status, wrong.headers['www-authenticate'], code(wrong)], [401, CHALLENGE, 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS']);
  const bob = await ask(gw.url, '/.gatehouse/auth', traefik('/admin/x', { authorization: basic('bob', 'builder') }));
  t.same([bob.status, bob.headers['www-authenticate'], code(bob)], [403, undefined, 'GATEHOUSE_ERR_AUTHZ_FORBIDDEN']);
  t.same(JSON.parse(bob.body), { error: 'Forbidden', code: 'GATEHOUSE_ERR_AUTHZ_FORBIDDEN', message: 'You are not allowed to access this resource.', requestId: bob.headers['x-request-id'] });
});

t.test('Traefik: the original method and host decide, not the check request\'s', async (t) => {
  t.equal((await ask(gw.url, '/.gatehouse/auth', traefik('/docs/page', {}, 'GET'))).status, 200);
  const del = await ask(gw.url, '/.gatehouse/auth', traefik('/docs/page', {}, 'DELETE'));
  t.same([del.status, code(del)], [401, 'GATEHOUSE_ERR_AUTH_REQUIRED'], 'DELETE needs the staff route');
  const ops = await ask(gw.url, '/.gatehouse/auth', traefik('/docs/page', {}, 'GET', 'OPS.example.com'));
  t.same([ops.status, code(ops)], [403, 'GATEHOUSE_ERR_AUTHZ_ROUTE_DENIED'], 'the original host picks the route');
});

t.test('Envoy: the original path after /.gatehouse/auth, method and Host of the check itself', async (t) => {
  const ok = await ask(gw.url, '/.gatehouse/auth/admin/reports?x=1', { host: 'app.example.com', authorization: basic('alice', 'wonderland'), 'x-forwarded-proto': 'https' });
  t.same([ok.status, identity(ok.headers)], [200, { 'x-auth-user': 'alice', 'x-auth-groups': 'admin', 'x-auth-method': 'basic', 'x-auth-route': 'admin', 'x-user-route': 'alice@admin' }]);
  const post = await ask(gw.url, '/.gatehouse/auth/docs/page', { host: 'app.example.com' }, 'POST');
  t.same([post.status, post.headers['www-authenticate'], code(post)], [401, CHALLENGE, 'GATEHOUSE_ERR_AUTH_REQUIRED']);
  const read = await ask(gw.url, '/.gatehouse/auth/docs/page', { host: 'app.example.com' }, 'HEAD');
  t.same([read.status, identity(read.headers)], [200, { 'x-auth-method': 'anonymous', 'x-auth-route': 'docs-read' }]);
  const ops = await ask(gw.url, '/.gatehouse/auth/x', { host: 'ops.example.com' });
  t.equal(ops.status, 403);
});

t.test('nginx contract by hand: X-Original-URL and X-Original-Method', async (t) => {
  const ok = await ask(gw.url, '/.gatehouse/auth', { 'x-original-url': 'https://app.example.com/admin/x', 'x-original-method': 'GET', authorization: basic('alice', 'wonderland') });
  t.same([ok.status, identity(ok.headers)['x-auth-user']], [200, 'alice']);
  const post = await ask(gw.url, '/.gatehouse/auth', { 'x-original-url': 'https://app.example.com/docs/x', 'x-original-method': 'POST' });
  t.equal(post.status, 401, 'the subrequest is a GET; the original POST is decided');
});

t.test('a browser on a session route: 302 for Traefik and Envoy, 401 plus a hint for nginx', async (t) => {
  const rd = 'https://app.example.com/app/home?tab=1';
  const expected = `${SIGN_IN}?rd=${encodeURIComponent(rd)}`;
  const browser = { accept: 'text/html,application/xhtml+xml' };
  const tr = await ask(gw.url, '/.gatehouse/auth', traefik('/app/home?tab=1', browser));
  t.same([tr.status, tr.headers.location, code(tr)], [302, expected, 'GATEHOUSE_ERR_AUTH_REQUIRED'], 'traefik');
  const en = await ask(gw.url, '/.gatehouse/auth/app/home?tab=1', { host: 'app.example.com', 'x-forwarded-proto': 'https', ...browser });
  t.same([en.status, en.headers.location], [302, expected], 'envoy');
  const ng = await ask(gw.url, '/.gatehouse/auth', { 'x-original-url': rd, 'x-original-method': 'GET', ...browser });
  t.same([ng.status, ng.headers.location, ng.headers['x-auth-redirect'], ng.headers['www-authenticate']], [401, undefined, expected, CHALLENGE], 'nginx');
  // The sign-in page accepts that rd because app.example.com is in allowedRedirectHosts.
  const chooser = await request(`${gw.url}${new URL(expected).pathname}${new URL(expected).search}`, { headers: browser });
  await chooser.body.text();
  t.equal(chooser.headers.location, `/.gatehouse/login/local?rd=${encodeURIComponent(rd)}`);
  // API clients on the same route get the plain 401.
  const api = await ask(gw.url, '/.gatehouse/auth', traefik('/app/home', { accept: 'application/json' }));
  t.same([api.status, api.headers.location, api.headers['www-authenticate']], [401, undefined, CHALLENGE]);
});

t.test('an untrusted caller is refused with 403 and nothing is evaluated', async (t) => {
  const lines = requestLines(untrusted).length;
  const before = upstream.requests.length;
  for (const [path, headers] of [
    ['/.gatehouse/auth', traefik('/admin/x', { authorization: basic('alice', 'wonderland') })],
    ['/.gatehouse/auth', traefik('/admin/x', { authorization: basic('alice', 'wrong') })],
    ['/.gatehouse/auth/admin/x', { host: 'app.example.com', authorization: basic('alice', 'wonderland') }],
    ['/.gatehouse/auth', { 'x-original-url': 'https://app.example.com/docs/x', 'x-original-method': 'GET' }],
  ] as Array<[string, Record<string, string>]>) {
    const a = await ask(untrusted.url, path, headers);
    t.same([a.status, code(a), identity(a.headers)], [403, 'GATEHOUSE_ERR_FORWARD_AUTH_UNTRUSTED', {}], path);
  }
  const mine = requestLines(untrusted).slice(lines);
  t.equal(mine.length, 4);
  for (const line of mine) t.same([line.outcome, line.reasons, line.route, line.authenticator, line.user, line.status], ['refuse', ['forward-auth-untrusted'], undefined, undefined, undefined, 403]);
  const metrics = await (await request(`${untrusted.adminUrl}/metrics`)).body.text();
  t.notMatch(metrics, /gatehouse_auth_duration_seconds_count\{/, 'no authenticator ran');
  t.match(metrics, /gatehouse_requests_total\{route="",outcome="refuse",status="403"\} 4/);
  t.equal(upstream.requests.length, before);
});

t.test('security.md §2: an original target the normalizer would change is refused', async (t) => {
  for (const uri of ['/public/../admin/x', '/public/%2e%2e/admin/x', '//admin/x', '/%61dmin/x', '/admin/./x']) {
    const a = await ask(gw.url, '/.gatehouse/auth', traefik(uri, { authorization: basic('alice', 'wonderland') }));
    t.same([a.status, code(a), identity(a.headers)], [400, 'GATEHOUSE_ERR_FORWARD_AUTH_NOT_NORMALIZED', {}], `traefik ${uri}`);
  }
  // Envoy: exact bytes (a URL parser would resolve the dots before sending).
  for (const target of ['/.gatehouse/auth/public/%2e%2e/admin/x', '/.gatehouse/auth/public/../admin/x', '/.gatehouse/auth//admin/x']) {
    const a = await rawRequest(gw.url, `GET ${target} HTTP/1.1\r\nHost: app.example.com\r\nAuthorization: ${basic('alice', 'wonderland')}\r\nConnection: close\r\n\r\n`);
    t.same([a.status, (JSON.parse(a.body) as { code: string }).code, a.headers['x-auth-user']], [400, 'GATEHOUSE_ERR_FORWARD_AUTH_NOT_NORMALIZED', undefined], `envoy ${target}`);
  }
  const ambiguous = await rawRequest(gw.url, `GET /.gatehouse/auth/ HTTP/1.1\r\nHost: app.example.com\r\nX-Original-URL: https://app.example.com/admin/x\r\nX-Original-Method: GET\r\nConnection: close\r\n\r\n`);
  t.same([ambiguous.status, (JSON.parse(ambiguous.body) as { code: string }).code], [400, 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST']);
  const none = await ask(gw.url, '/.gatehouse/auth', {});
  t.same([none.status, code(none)], [400, 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST']);
});

t.test('each check is one decision line and one sample of the existing request counter', async (t) => {
  const lines = requestLines(gw).length;
  const a = await ask(gw.url, '/.gatehouse/auth', traefik('/admin/metrics-probe', { authorization: basic('alice', 'wonderland') }));
  t.equal(a.status, 200);
  const mine = requestLines(gw).slice(lines);
  t.equal(mine.length, 1);
  t.match(mine[0], { method: 'GET', host: 'app.example.com', path: '/admin/metrics-probe', client: '203.0.113.7', route: 'admin', authenticator: 'staff', outcome: 'allow', user: 'alice', status: 200 });
  const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text();
  t.match(metrics, /gatehouse_requests_total\{route="admin",outcome="allow",status="200"\} \d+/);
  t.notMatch(metrics, /metrics-probe|alice/, 'no path or user as a label');
});

t.test('no route for the original request: 404, as in proxy mode', async (t) => {
  const a = await ask(gw.url, '/.gatehouse/auth', traefik('/anything', {}, 'GET', 'elsewhere.example.com'));
  t.same([a.status, code(a), identity(a.headers)], [404, 'GATEHOUSE_ERR_ROUTE_NOT_FOUND', {}]);
  const line = requestLines(gw).at(-1);
  t.same([line?.outcome, line?.route, line?.path], ['no-route', undefined, '/anything']);
});

/** Signs in at gatehouse's own form (proxy mode) and returns the session cookie pair. */
async function signIn(): Promise<string> {
  const pairs = (h: Record<string, string | string[] | undefined>): string[] => [h['set-cookie']].flat().filter((c): c is string => typeof c === 'string').map((c) => c.split(';', 1)[0]!);
  const form = await request(`${gw.url}/.gatehouse/login/local?rd=/app/x`, { headers: { accept: 'text/html' } });
  const html = await form.body.text();
  const field = (name: string): string => (new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '').replace(/&amp;/g, '&');
  const post = await request(`${gw.url}/.gatehouse/login/local`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: pairs(form.headers).join('; '), 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ username: 'alice', password: 'wonderland', csrf: field('csrf'), rd: field('rd') }).toString(),
  });
  await post.body.text();
  const session = pairs(post.headers).find((p) => p.startsWith('ghs='));
  if (post.statusCode !== 303 || session === undefined) throw new Error(`sign-in failed: ${post.statusCode}`);
  return session;
}

t.test('a session-cookie WebSocket handshake from another site is refused, as in proxy mode', async (t) => {
  const cookie = await signIn();
  // As nginx sends it: the client's Upgrade header, its own `Connection: close` (undici
  // refuses to send an Upgrade header, hence raw bytes).
  const check = async (path: string, extra: string, method = 'GET') => {
    const a = await rawRequest(gw.url, `${method} ${path} HTTP/1.1\r\nHost: app.example.com\r\nX-Forwarded-Proto: https\r\nCookie: ${cookie}\r\n${extra}Connection: close\r\n\r\n`);
    return { status: a.status, method: a.headers['x-auth-method'], code: a.body ? (JSON.parse(a.body) as { code: string }).code : undefined };
  };
  t.same(await check('/.gatehouse/auth/app/socket', 'Upgrade: websocket\r\nOrigin: https://auth.example.com\r\n'), { status: 200, method: 'session', code: undefined });
  t.same(await check('/.gatehouse/auth/app/socket', 'Upgrade: WebSocket\r\nOrigin: https://evil.example\r\n'), { status: 403, method: undefined, code: 'GATEHOUSE_ERR_CSRF_REJECTED' });
  // A plain GET with the cookie is a navigation: allowed from anywhere (SameSite decides).
  t.same(await check('/.gatehouse/auth/app/page', 'Origin: https://evil.example\r\n'), { status: 200, method: 'session', code: undefined });
  // Other upgrades are no WebSocket handshake; unsafe methods are checked anyway.
  t.same(await check('/.gatehouse/auth/app/socket', 'Upgrade: h2c\r\nOrigin: https://evil.example\r\n'), { status: 200, method: 'session', code: undefined });
  t.same(await check('/.gatehouse/auth/app/socket', 'Upgrade: websocket\r\nOrigin: https://evil.example\r\nContent-Length: 0\r\n', 'POST'), { status: 403, method: undefined, code: 'GATEHOUSE_ERR_CSRF_REJECTED' });
});
