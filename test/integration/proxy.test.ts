// The whole gateway against a real recording upstream on loopback.
import http from 'node:http';
import { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { request } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import { startTestGateway, requestLines, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';

const basic = (u: string, p: string): string => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

let upstream: RecordingUpstream;
let gw: TestGateway;
let wsUpstream: WebSocketServer;
let closedPort: number;

t.before(async () => {
  upstream = await startRecordingUpstream();
  wsUpstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wsUpstream.once('listening', r));
  wsUpstream.on('connection', (ws, req) => {
    ws.send(JSON.stringify({ url: req.url, user: req.headers['x-auth-user'] ?? null, spoof: req.headers['x-auth-spoof'] ?? null }));
    ws.on('message', (m) => ws.send(`echo:${m.toString()}`));
  });
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const wsPort = (wsUpstream.address() as AddressInfo).port;
  gw = await startTestGateway(`
authenticators:
  staff:
    type: basic
    realm: Staff
    users:
      - { name: alice, hash: "${hashSync('wonderland', 4)}" }
      - { name: bob, hash: "${hashSync('builder', 4)}" }
    groups: { alice: [admin, "ops,team"] }
routes:
  - name: admin
    match: { path: /admin/** }
    upstream: ${upstream.url}
    auth: staff
    allow: { groups: [admin] }
    headers: { X-User-Route: "{user}@{route}" }
  - name: api
    match: { path: /api/**, methods: [GET, POST] }
    upstream: ${upstream.url}/base
    auth: anonymous
    rewrite: { stripPrefix: /api }
  - name: dav
    match: { path: /dav/** }
    upstream: ${upstream.url}
    auth: anonymous
  - name: slow
    match: { path: /slow }
    upstream: ${upstream.url}
    auth: anonymous
    timeout: 300ms
  - name: down
    match: { path: /down }
    upstream: http://127.0.0.1:${closedPort}
    auth: anonymous
  - name: ws
    match: { path: /ws/** }
    upstream: http://127.0.0.1:${wsPort}
    auth: staff
  - name: closed
    match: { path: /closed }
    upstream: echo
    auth: deny
  - name: echo
    match: { path: /echo/** }
    upstream: echo
    auth: anonymous
  - name: root
    match: { path: /, methods: [GET] }
    upstream: ${upstream.url}
    auth: anonymous
`);
});

t.afterEach(async () => {
  upstream.requests.length = 0;
  upstream.respondWith(undefined);
});

t.teardown(async () => {
  await gw.close();
  await upstream.close();
  await new Promise((r) => wsUpstream.close(r));
});

t.test('anonymous route: forwarded with rewrite, base path, query and anonymous identity', async (t) => {
  const res = await request(`${gw.url}/api/v1/items?x=1&y=%20`, { headers: { 'x-auth-user': 'root', 'x-custom': 'kept' } });
  t.equal(res.statusCode, 200);
  await res.body.text();
  t.equal(upstream.requests.length, 1);
  const got = upstream.requests[0]!;
  t.equal(got.url, '/base/v1/items?x=1&y=%20');
  t.equal(got.headers['x-auth-method'], 'anonymous');
  t.equal(got.headers['x-auth-route'], 'api');
  t.equal(got.headers['x-auth-user'], undefined);
  t.equal(got.headers['x-custom'], 'kept');
  t.equal(got.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(got.headers.host, new URL(upstream.url).host);
  t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  t.equal(got.headers['x-request-id'], res.headers['x-request-id']);
});

t.test('Basic: allowed user reaches the upstream with identity headers, credential removed', async (t) => {
  const res = await request(`${gw.url}/admin/panel`, { headers: { authorization: basic('alice', 'wonderland'), 'x-auth-groups': 'root', 'X-User-Route': 'spoof' } });
  t.equal(res.statusCode, 200);
  await res.body.text();
  const got = upstream.requests[0]!;
  t.equal(got.headers['x-auth-user'], 'alice');
  t.equal(got.headers['x-auth-groups'], 'admin,ops%2Cteam');
  t.equal(got.headers['x-auth-method'], 'basic');
  t.equal(got.headers['x-auth-route'], 'admin');
  t.equal(got.headers['x-user-route'], 'alice@admin');
  t.equal(got.headers.authorization, undefined);
});

t.test('Basic: 401 with challenge, 403 when not allowed; nothing forwarded', async (t) => {
  const none = await request(`${gw.url}/admin/panel`);
  t.equal(none.statusCode, 401);
  t.equal(none.headers['www-authenticate'], 'Basic realm="Staff", charset="UTF-8"');
  t.match(await none.body.json(), { code: 'GATEHOUSE_ERR_AUTH_REQUIRED', error: 'Unauthorized' });
  const wrong = await request(`${gw.url}/admin/panel`, { headers: { authorization: basic('alice', 'nope') } });
  t.equal(wrong.statusCode, 401);
  t.match(await wrong.body.json(), { code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS' });
  const unknown = await request(`${gw.url}/admin/panel`, { headers: { authorization: basic('mallory', 'nope') } });
  t.equal(unknown.statusCode, 401);
  t.match(await unknown.body.json(), { code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS' });
  const forbidden = await request(`${gw.url}/admin/panel`, { headers: { authorization: basic('bob', 'builder') } });
  t.equal(forbidden.statusCode, 403);
  t.match(await forbidden.body.json(), { code: 'GATEHOUSE_ERR_AUTHZ_FORBIDDEN' });
  t.equal(upstream.requests.length, 0);
});

t.test('no route, deny route and method mismatch never forward', async (t) => {
  for (const [method, path, status] of [['GET', '/nowhere', 404], ['GET', '/closed', 403], ['DELETE', '/api/x', 404], ['POST', '/', 404]] as const) {
    const res = await request(`${gw.url}${path}`, { method });
    t.equal(res.statusCode, status, `${method} ${path}`);
    await res.body.text();
  }
  t.equal(upstream.requests.length, 0);
});

t.test('POST bodies stream to the upstream after the decision', async (t) => {
  const res = await request(`${gw.url}/api/post`, { method: 'POST', body: 'hello=world', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(res.statusCode, 200);
  await res.body.text();
  t.equal(upstream.requests[0]!.body, 'hello=world');
  t.equal(upstream.requests[0]!.method, 'POST');
  const chunked = await request(`${gw.url}/api/post`, { method: 'POST', body: Readable.from(['a', 'b']) });
  t.equal(chunked.statusCode, 200);
  await chunked.body.text();
  t.equal(upstream.requests[1]!.body, 'ab');
});

t.test('bodies of WebDAV and other extension methods reach the upstream too', async (t) => {
  const xml = '<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>';
  for (const method of ['PROPFIND', 'PROPPATCH', 'MKCOL', 'LOCK', 'REPORT', 'SEARCH']) {
    const before = upstream.requests.length;
    const res = await request(`${gw.url}/dav/x`, { method, body: xml, headers: { 'content-type': 'application/xml' } });
    await res.body.text();
    t.equal(res.statusCode, 200, method);
    t.equal(upstream.requests[before]?.method, method);
    t.equal(upstream.requests[before]?.body, xml, `${method} body forwarded`);
  }
});

t.test('upstream down → 502, timeout → 504, no identity in the body', async (t) => {
  const down = await request(`${gw.url}/down`);
  t.equal(down.statusCode, 502);
  t.match(await down.body.json(), { code: 'GATEHOUSE_ERR_UPSTREAM_UNREACHABLE' });
  upstream.respondWith((_req, res) => setTimeout(() => res.end('late'), 1500));
  const slow = await request(`${gw.url}/slow`);
  t.equal(slow.statusCode, 504);
  const body = await slow.body.text();
  t.match(JSON.parse(body), { code: 'GATEHOUSE_ERR_UPSTREAM_TIMEOUT' });
  t.notMatch(body, /anonymous|x-auth/i);
});

t.test('upstream Locations naming the upstream are rewritten to the public origin', async (t) => {
  upstream.respondWith((_req, res) => {
    res.writeHead(302, { location: `${upstream.url}/base/next?a=1`, connection: 'close' });
    res.end();
  });
  const res = await request(`${gw.url}/api/go`, { headers: { host: 'public.example.com' } });
  t.equal(res.statusCode, 302);
  t.equal(res.headers.location, 'http://public.example.com/api/next?a=1', 'origin, base path and prefix mapped back');
  await res.body.text();
});

t.test('echo upstream answers with what an upstream would receive', async (t) => {
  const res = await request(`${gw.url}/echo/x/%2e%2e/b?q=1`, { headers: { 'X-Auth-User': 'root' } });
  t.equal(res.statusCode, 200);
  const body = (await res.body.json()) as { method: string; path: string; headers: Record<string, string>; bodyBytes: number };
  t.equal(body.method, 'GET');
  t.equal(body.path, '/echo/b?q=1');
  t.equal(body.headers['x-auth-method'], 'anonymous');
  t.equal(body.headers['x-auth-user'], undefined);
  t.equal(body.bodyBytes, 0);
  const post = await request(`${gw.url}/echo/p`, { method: 'POST', body: 'x'.repeat(1000) });
  t.match(await post.body.json(), { bodyBytes: 1000 });
});

t.test('WebSocket: handshake authenticated first, identity set, spoof stripped', async (t) => {
  const refused = new WebSocket(`${gw.url.replace('http', 'ws')}/ws/chat`);
  const status = await new Promise<number>((resolve) => refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
  t.equal(status, 401);
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws/chat`, { headers: { authorization: basic('alice', 'wonderland'), 'x-auth-spoof': 'x' } });
  const first = await new Promise<string>((resolve, reject) => {
    ws.once('message', (m) => resolve(m.toString()));
    ws.once('error', reject);
  });
  t.same(JSON.parse(first), { url: '/ws/chat', user: 'alice', spoof: null });
  ws.send('ping');
  t.equal(await new Promise<string>((resolve) => ws.once('message', (m) => resolve(m.toString()))), 'echo:ping');
  ws.close();
  const echo = new WebSocket(`${gw.url.replace('http', 'ws')}/echo/ws`);
  const hello = await new Promise<string>((resolve) => echo.once('message', (m) => resolve(m.toString())));
  t.match(JSON.parse(hello), { path: '/echo/ws', headers: { 'x-auth-method': 'anonymous' } });
  echo.send('x');
  t.equal(await new Promise<string>((resolve) => echo.once('message', (m) => resolve(m.toString()))), 'x');
  echo.close();
});

t.test('Expect: 100-continue is answered only after the decision', async (t) => {
  const refused = await rawRequest(gw.url, 'POST /admin/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
  t.equal(refused.status, 401);
  t.notMatch(refused.raw, /100 Continue/);
  const allowed = await rawRequest(gw.url, 'POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhello');
  t.equal(allowed.status, 200);
  t.match(allowed.raw, /^HTTP\/1.1 100 Continue/);
  t.equal(upstream.requests.at(-1)?.body, 'hello');
  t.equal(upstream.requests.at(-1)?.headers.expect, undefined);
});

t.test('one decision line per request, without secrets', async (t) => {
  const before = requestLines(gw).length;
  const res = await request(`${gw.url}/admin/x?token=supersecret`, { headers: { authorization: basic('alice', 'wonderland') } });
  await res.body.text();
  const lines = requestLines(gw).slice(before);
  t.equal(lines.length, 1);
  t.match(lines[0], { route: 'admin', authenticator: 'staff', outcome: 'allow', user: 'alice', status: 200, path: '/admin/x', method: 'GET' });
  t.type(lines[0]!.ms, 'number');
  t.notMatch(gw.logText(), /wonderland|supersecret|YWxpY2U6/);
});

t.test('admin listener: healthz, readyz, metrics', async (t) => {
  const health = await request(`${gw.adminUrl}/healthz`);
  t.same(await health.body.json(), { status: 'ok' });
  const ready = await request(`${gw.adminUrl}/readyz`);
  t.equal(ready.statusCode, 200);
  t.match(await ready.body.json(), { status: 'ready' });
  const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text();
  t.match(metrics, /gatehouse_requests_total\{route="admin",outcome="allow",status="200"\} \d+/);
  t.match(metrics, /gatehouse_auth_duration_seconds_bucket\{le="[^"]+",authenticator="staff",outcome="ok"\}/);
  t.notMatch(metrics, /alice|\/admin\/x/);
  const onProxy = await request(`${gw.url}/metrics`);
  t.equal(onProxy.statusCode, 404, 'metrics are not on the proxy port');
  await onProxy.body.text();
});
