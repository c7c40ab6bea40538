// Hop-by-hop and Connection-nomination tricks (security.md §5): headers named in
// `Connection:` are dropped, but the identity headers gatehouse sets come after that and
// cannot be dropped by a client; proxy-only fields never travel on; an Upgrade never
// turns an authorized request into a tunnel for unauthorized ones (§1).
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { assertNothingForwarded, basic, onlyRequest, openRaw, rawGet, sleep, valuesFolded, waitFor } from './support.js';

let upstream: RecordingUpstream;
let gw: TestGateway;

// An upstream that accepts every protocol upgrade (as an h2c-capable server does) and
// records what it is asked for, before and after switching.
let upgrading: http.Server;
const upgradeLog: string[] = [];
const upgradeSockets = new Set<Socket>();

const ALICE = basic('alice', 'wonderland');

t.before(async () => {
  upstream = await startRecordingUpstream();
  upgrading = http.createServer((req, res) => {
    upgradeLog.push(`request ${req.method} ${req.url}`);
    res.end('ok');
  });
  upgrading.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
    upgradeSockets.add(socket);
    upgradeLog.push(`upgrade ${req.headers.upgrade ?? ''} ${req.url}`);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade ?? ''}\r\n\r\n`);
    socket.on('data', (d: Buffer) => {
      const line = d.toString('latin1').split('\r\n')[0]!;
      upgradeLog.push(`tunnel ${line}`);
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret');
    });
    // http.Server sockets allow half-open: close our side when the peer closes its own.
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => upgrading.listen(0, '127.0.0.1', resolve));
  const upgradingUrl = `http://127.0.0.1:${(upgrading.address() as AddressInfo).port}`;

  gw = await startTestGateway(`
authenticators:
  staff:
    type: basic
    users:
      - { name: alice, hash: "${hashSync('wonderland', 4)}" }
    groups: { alice: [admin] }
routes:
  - name: app
    match: { path: /app/** }
    upstream: ${upstream.url}
    auth: staff
    headers: { X-Tenant: "{user}" }
  - name: open
    match: { path: /open/** }
    upstream: ${upstream.url}
    auth: anonymous
  - name: h2-open
    match: { path: /h2/open/** }
    upstream: ${upgradingUrl}
    auth: anonymous
  - name: h2-closed
    match: { path: /h2/** }
    upstream: ${upgradingUrl}
    auth: staff
`);
});

t.afterEach(async () => {
  upstream.requests.length = 0;
  upgradeLog.length = 0;
});

t.teardown(async () => {
  for (const s of upgradeSockets) s.destroy();
  await gw.close();
  await upstream.close();
  upgrading.closeAllConnections();
  await new Promise((resolve) => upgrading.close(resolve));
});

// --- nominating gatehouse's own headers --------------------------------------------------

t.test('Connection: X-Auth-User cannot remove the verified user', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${ALICE}`, 'Connection: X-Auth-User']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), ['alice']);
});

t.test('Connection: X-Auth-Method, X-Auth-Route cannot remove them on an anonymous route', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', ['Connection: X-Auth-Method, X-Auth-Route']));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-auth-method'), ['anonymous']);
  t.same(valuesFolded(got, 'x-auth-route'), ['open']);
});

t.test('Connection: X-Auth-Groups cannot remove the groups', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${ALICE}`, 'Connection: x-auth-groups']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-groups'), ['admin']);
});

t.test("Connection nominating a route's template header cannot remove it", async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${ALICE}`, 'Connection: X-Tenant']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-tenant'), ['alice']);
});

t.test('a nomination in a second Connection line cannot remove the verified user either', async (t) => {
  const res = await rawRequest(
    gw.url,
    `GET /app/x HTTP/1.1\r\nHost: gate.test\r\nAuthorization: ${ALICE}\r\nConnection: keep-alive\r\nConnection: X-Auth-User, X-Auth-Route\r\n\r\n`,
  );
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-auth-user'), ['alice']);
  t.same(valuesFolded(got, 'x-auth-route'), ['app']);
});

t.test('nominating X-Forwarded-For, X-Real-IP and Forwarded cannot remove the ones gatehouse sets', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', ['Connection: X-Forwarded-For, X-Real-IP, Forwarded, X-Forwarded-Proto']));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-forwarded-for'), ['127.0.0.1']);
  t.same(valuesFolded(got, 'x-real-ip'), ['127.0.0.1']);
  t.same(valuesFolded(got, 'x-forwarded-proto'), ['http']);
  t.equal(valuesFolded(got, 'forwarded').length, 1);
});

t.test('nominating X-Request-Id cannot remove the id that ties the upstream to the log', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', ['Connection: X-Request-Id', 'X-Request-Id: forged']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-request-id'), [res.headers['x-request-id']]);
});

t.test('Connection: Authorization does not skip the credential check', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${basic('alice', 'guess')}`, 'Connection: Authorization']));
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

t.test('an ordinary header nominated in Connection is dropped, others are kept (RFC 9110 §7.6.1)', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', ['Connection: X-Hop', 'X-Hop: 1', 'X-End-To-End: 2']));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-hop'), []);
  t.same(valuesFolded(got, 'x-end-to-end'), ['2']);
});

// --- proxy-only and hop-by-hop fields never travel on ------------------------------------

const hopByHop: Array<[string, string]> = [
  ['Proxy-Authorization (a credential meant for a proxy)', 'Proxy-Authorization: Basic cHJveHk6c2VjcmV0'],
  ['Keep-Alive', 'Keep-Alive: timeout=600'],
  ['Proxy-Connection', 'Proxy-Connection: keep-alive'],
  ['TE', 'TE: trailers'],
  ['Trailer', 'Trailer: X-Auth-User'],
  ['HTTP2-Settings', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'],
];

for (const [what, line] of hopByHop) {
  t.test(`${what} is never forwarded`, async (t) => {
    const res = await rawRequest(gw.url, rawGet('/open/x', [line]));
    t.equal(res.status, 200);
    t.same(valuesFolded(onlyRequest(t, upstream), line.slice(0, line.indexOf(':'))), []);
  });
}

// --- upgrades ---------------------------------------------------------------------------

const H2C = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';

// h2c smuggling (Bishop Fox, 2020): a proxy that relays `Upgrade: h2c` hands the client a
// raw HTTP/2 connection to the upstream, on which it can ask for any path unchecked.
t.test('an h2c upgrade on an open route never becomes a tunnel to protected paths', async (t) => {
  const conn = openRaw(gw.url);
  conn.socket.write(`GET /h2/open/x HTTP/1.1\r\nHost: gate.test\r\n${H2C}\r\n`);
  // Whatever the gateway makes of it, wait for its first answer before trying the tunnel.
  await waitFor(() => /^HTTP\/1\.1 \d{3}/.test(conn.received()));
  conn.socket.write('GET /h2/admin/secret HTTP/1.1\r\nHost: gate.test\r\n\r\n');
  await sleep(400);
  conn.socket.destroy();
  t.same(
    upgradeLog.filter((l) => l.startsWith('upgrade') || l.includes('/h2/admin')),
    [],
    'the upstream was neither asked to switch protocols nor reached on a protected path',
  );
  t.notMatch(conn.received(), /secret/);
});

t.test('an h2c upgrade on a protected route: refused (400) before any decision, nothing reaches the upstream', async (t) => {
  const res = await rawRequest(gw.url, `GET /h2/admin/x HTTP/1.1\r\nHost: gate.test\r\n${H2C}\r\n`);
  t.equal(res.status, 400);
  await sleep(30);
  t.same(upgradeLog, []);
});

t.test('a WebSocket handshake without credentials: 401, nothing reaches the upstream', async (t) => {
  const res = await rawRequest(
    gw.url,
    'GET /app/ws HTTP/1.1\r\nHost: gate.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

// WebSocket smuggling (0ang3el, 2019): the upstream declines the upgrade, the proxy keeps
// the connection as a tunnel anyway, and the next request on it goes straight through.
t.test('an upgrade the upstream declines does not leave a tunnel behind', async (t) => {
  const conn = openRaw(gw.url);
  conn.socket.write(
    'GET /open/ws HTTP/1.1\r\nHost: gate.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  await waitFor(() => /^HTTP\/1\.1 \d{3}/.test(conn.received()));
  conn.socket.write('GET /app/secret HTTP/1.1\r\nHost: gate.test\r\n\r\n');
  await sleep(400);
  conn.socket.destroy();
  t.same(
    upstream.requests.map((r) => r.url),
    ['/open/ws'],
    'only the declined handshake reached the upstream',
  );
});
