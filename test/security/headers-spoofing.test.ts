// Clients cannot speak for gatehouse (security.md §5): every client-sent header that
// folds (case, '_', '.') onto an identity header, a stripped prefix or a route's
// `headers` name is gone before forwarding, and identity values arrive as exactly one
// ASCII value. The oracle is what the upstream received, header by raw header.
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basic, namesWithFoldedPrefix, onlyRequest, rawGet, valuesFolded } from './support.js';

let upstream: RecordingUpstream;
let gw: TestGateway;
let custom: TestGateway;

const ALICE = basic('alice', 'wonderland');
const BOB = basic('bob', 'builder');

t.before(async () => {
  upstream = await startRecordingUpstream();
  const users = `
    users:
      - { name: alice, hash: "${hashSync('wonderland', 4)}" }
      - { name: bob, hash: "${hashSync('builder', 4)}" }
      - { name: "zoë", hash: "${hashSync('umlaut', 4)}" }
      - { name: "per%2Ccent", hash: "${hashSync('percent', 4)}" }
      - { name: "smith,john", hash: "${hashSync('comma', 4)}" }
      - { name: mallet, hash: "${hashSync('crlf', 4)}" }
    groups:
      alice: [admin, "ops,team"]
      mallet: ["staff\\r\\nX-Injected: yes"]`;
  gw = await startTestGateway(`
authenticators:
  staff:
    type: basic${users}
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
`);
  custom = await startTestGateway(`
identity:
  headers: { user: Remote-User, groups: Remote-Groups }
  stripPrefixes: [X-Auth-, X-Internal-]
authenticators:
  staff:
    type: basic${users}
routes:
  - name: app
    match: { path: /app/** }
    upstream: ${upstream.url}
    auth: staff
  - name: open
    match: { path: /open/** }
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
  await custom.close();
  await upstream.close();
});

// --- spellings of an identity header on an anonymous route -----------------------------

const spellings: Array<[string, string]> = [
  ['canonical X-Auth-User', 'X-Auth-User'],
  ['upper-case X-AUTH-USER', 'X-AUTH-USER'],
  ['underscores X_Auth_User (PHP/CGI fold _ into -)', 'X_Auth_User'],
  ['dots X.Auth.User', 'X.Auth.User'],
  ['mixed separators x-Auth_USER', 'x-Auth_USER'],
  ['mixed separators X.AUTH_user', 'X.AUTH_user'],
];

for (const [what, name] of spellings) {
  t.test(`${what} sent to an anonymous route never reaches the upstream`, async (t) => {
    const res = await rawRequest(gw.url, rawGet('/open/x', [`${name}: root`]));
    t.equal(res.status, 200);
    t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), []);
  });
}

t.test('all spellings at once, repeated, still leave no user header upstream', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', spellings.flatMap(([, name]) => [`${name}: root`, `${name}: admin`])));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), []);
});

// --- spoofing next to a real identity ----------------------------------------------------

t.test('a spoofed user next to valid credentials: the upstream sees only the verified user', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${ALICE}`, 'X-Auth-User: root', 'x_auth_user: root']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), ['alice']);
});

t.test('spoofed groups for a user without groups: no groups header at all upstream', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${BOB}`, 'X-Auth-Groups: admin', 'X_Auth_Groups: admin']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-groups'), []);
});

t.test('spoofed email and name for an identity without them: absent upstream', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${BOB}`, 'X-Auth-Email: ceo@example.com', 'x.auth.name: CEO']));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-auth-email'), []);
  t.same(valuesFolded(got, 'x-auth-name'), []);
});

t.test('a spoofed method header cannot claim a real sign-in on an anonymous route', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', ['X-Auth-Method: basic', 'x_auth_method: jwt']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-method'), ['anonymous']);
});

t.test('a spoofed route header cannot claim another route', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', ['X-Auth-Route: app', 'X.Auth.Route: app']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-route'), ['open']);
});

t.test('any header under the stripped prefix X-Auth- is removed, in any spelling', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', ['X-Auth-Admin: true', 'X_Auth_Roles: admin', 'x.auth.impersonate: alice', 'X-AUTH-: x']));
  t.equal(res.status, 200);
  t.same(namesWithFoldedPrefix(onlyRequest(t, upstream), 'x-auth-').sort(), ['x-auth-method', 'x-auth-route']);
});

t.test("a route's template header is replaced by the computed value on its own route", async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${ALICE}`, 'X-Tenant: evil-corp', 'x_tenant: evil-corp']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-tenant'), ['alice']);
});

t.test("a route's template header name is stripped on every other route too", async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', ['X-Tenant: evil-corp', 'X.Tenant: evil-corp']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-tenant'), []);
});

t.test('identity headers smuggled as chunked trailers never reach the upstream', async (t) => {
  let trailers: string[] = ['(no request)'];
  upstream.respondWith((req, res) => {
    trailers = req.rawTrailers;
    res.end('ok');
  });
  const res = await rawRequest(
    gw.url,
    'POST /open/x HTTP/1.1\r\nHost: gate.test\r\nTransfer-Encoding: chunked\r\nTrailer: X-Auth-User\r\nConnection: close\r\n\r\n' +
      '2\r\nhi\r\n0\r\nX-Auth-User: root\r\nX-Auth-Method: basic\r\n\r\n',
  );
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-auth-user'), []);
  t.same(valuesFolded(got, 'x-auth-method'), ['anonymous']);
  t.same(trailers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()).filter((n) => n.startsWith('x-auth')), []);
});

// --- identity values: one value, never several, never another header ------------------

t.test('a group containing a comma stays one group', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${ALICE}`]));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-groups'), ['admin,ops%2Cteam']);
});

t.test('a group containing CR LF cannot forge a header', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${basic('mallet', 'crlf')}`]));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-injected'), []);
  t.same(valuesFolded(got, 'x-auth-groups'), ['staff%0D%0AX-Injected: yes']);
});

t.test('a user name with a comma arrives as one encoded value', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${basic('smith,john', 'comma')}`]));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), ['smith%2Cjohn']);
});

t.test('a user name containing a literal %2C cannot pose as an encoded comma', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${basic('per%2Ccent', 'percent')}`]));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), ['per%252Ccent']);
});

t.test('a non-ASCII user name arrives as percent-encoded UTF-8', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${basic('zoë', 'umlaut')}`]));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), ['zo%C3%AB']);
});

// --- configured names and prefixes -------------------------------------------------------

t.test('a custom identity header name is stripped in every spelling', async (t) => {
  const res = await rawRequest(custom.url, rawGet('/open/x', ['Remote-User: root', 'remote_user: root', 'REMOTE.USER: root', 'Remote-Groups: admin']));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'remote-user'), []);
  t.same(valuesFolded(got, 'remote-groups'), []);
});

t.test('a custom identity header carries only the verified user', async (t) => {
  const res = await rawRequest(custom.url, rawGet('/app/x', [`Authorization: ${ALICE}`, 'Remote_User: root']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'remote-user'), ['alice']);
});

t.test('with custom names, the default X-Auth-User is still stripped by the prefix', async (t) => {
  const res = await rawRequest(custom.url, rawGet('/open/x', ['X-Auth-User: root', 'x_auth_user: root']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), []);
});

t.test('an extra stripPrefixes entry removes its headers in every spelling', async (t) => {
  const res = await rawRequest(custom.url, rawGet('/open/x', ['X-Internal-Role: admin', 'x_internal_role: admin', 'X.Internal.Trusted: 1', 'X-Internalx: kept']));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(namesWithFoldedPrefix(got, 'x-internal-'), []);
  t.same(valuesFolded(got, 'x-internalx'), ['kept'], 'a header merely sharing letters with the prefix is untouched');
});

t.test('a WebSocket handshake is stripped like any request', async (t) => {
  // The recording upstream declines upgrades, so it records the handshake it was sent.
  const res = await rawRequest(
    gw.url,
    'GET /open/ws HTTP/1.1\r\nHost: gate.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Auth-User: root\r\nX_Auth_Groups: admin\r\nX-Tenant: evil-corp\r\n\r\n',
  );
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-auth-user'), []);
  t.same(valuesFolded(got, 'x-auth-groups'), []);
  t.same(valuesFolded(got, 'x-tenant'), []);
  t.same(valuesFolded(got, 'x-auth-method'), ['anonymous']);
});
