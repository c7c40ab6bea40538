// Attacks on path normalization and matching (security.md §1 "what was authorized is
// what is forwarded", §2 "normalize, or refuse", §3 "match the path, never the query").
// Sent as exact bytes: fetch/undici would normalize these targets before they left.
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { assertNothingForwarded, onlyRequest, rawGet } from './support.js';

let upstream: RecordingUpstream;
let gw: TestGateway;

t.before(async () => {
  upstream = await startRecordingUpstream();
  gw = await startTestGateway(`
authenticators:
  staff:
    type: basic
    users:
      - { name: alice, hash: "${hashSync('wonderland', 4)}" }
routes:
  - name: hosted-admin
    match: { host: admin.example.com, path: /h/** }
    upstream: ${upstream.url}
    auth: staff
  - name: hosted-open
    match: { path: /h/** }
    upstream: ${upstream.url}
    auth: anonymous
  - name: admin
    match: { path: /admin/** }
    upstream: ${upstream.url}
    auth: staff
  - name: secret
    match: { path: /secret/**, caseSensitive: false }
    upstream: ${upstream.url}
    auth: staff
  - name: api
    match: { path: /api/** }
    upstream: ${upstream.url}/base
    auth: anonymous
    rewrite: { stripPrefix: /api }
  - name: public
    match: { path: /public/** }
    upstream: ${upstream.url}
    auth: anonymous
  - name: catch-all
    match: { host: catchall.example.com, path: /** }
    upstream: ${upstream.url}
    auth: anonymous
`);
});

t.afterEach(async () => {
  upstream.requests.length = 0;
});

t.teardown(async () => {
  await gw.close();
  await upstream.close();
});

// --- ambiguous targets: 400, never forwarded (§2) ------------------------------------

const refused: Array<[string, string]> = [
  ['encoded slash %2F inside a segment', '/public/..%2Fadmin/x'],
  ['lower-case encoded slash %2f', '/public/%2fadmin/x'],
  ['encoded backslash %5C', '/public/..%5Cadmin/x'],
  ['raw backslash (IIS and Windows path separator)', '/public\\..\\admin/x'],
  ['encoded NUL (C-string truncation)', '/public/x%00.html'],
  ['encoded CR LF (header injection through the path)', '/public/x%0D%0AX-Auth-User:%20root'],
  ['invalid percent-encoding %zz', '/public/%zz'],
  ['truncated percent-escape at the end', '/public/x%2'],
  ['IIS %u escapes', '/public/%u002e%u002e/admin/x'],
  ['overlong UTF-8 slash %C0%AF', '/public/..%C0%AFadmin/x'],
  ['overlong UTF-8 dots %C0%AE%C0%AE', '/public/%C0%AE%C0%AE/admin/x'],
  ['invalid UTF-8 byte %FF', '/public/%FF'],
  ['truncated UTF-8 sequence %E2%82', '/public/%E2%82x'],
  ['double-encoded dots %252e%252e', '/public/%252e%252e/admin/x'],
  ['double-encoded slash %252f', '/public/..%252fadmin/x'],
  ['double encoding assembled from encoded digits %25%32%65', '/public/%25%32%65%25%32%65/admin/x'],
  ['a fragment in the target', '/public/x#/../../admin/x'],
  ['.. above the root', '/..'],
  ['.. climbing above the root after a prefix', '/public/../../admin/x'],
  ['encoded dot segments above the root', '/%2e%2e/admin/x'],
  ['absolute-form with a non-http scheme', 'ftp://gate.test/public/x'],
];

for (const [what, target] of refused) {
  t.test(`refuses ${what}: 400, never forwarded`, async (t) => {
    const res = await rawRequest(gw.url, rawGet(target));
    t.equal(res.status, 400);
    await assertNothingForwarded(t, upstream);
  });
}

t.test('refuses asterisk-form (OPTIONS *): 400, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, 'OPTIONS * HTTP/1.1\r\nHost: gate.test\r\nConnection: close\r\n\r\n');
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

t.test('refuses a raw non-ASCII byte in the target: 400, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/public/caf\xc3\xa9'));
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

t.test('refuses a raw control character in the target: 400, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/public/\x01x'));
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

// An ext_authz caller that does not normalize sends `/.gatehouse/auth` + the original
// path: `/.gatehouse/auth/../../x` must not become a proxied `/x` whose upstream answer
// the caller would take for gatehouse's verdict.
for (const target of ['/.gatehouse/auth/../../public/x', '/.gatehouse/../public/x', '/%2egatehouse/auth/%2e%2e/%2e%2e/public/x', '/.GATEHOUSE/auth/../../public/x', 'http://gate.test/.gatehouse/../public/x']) {
  t.test(`refuses a target leaving the /.gatehouse namespace: ${target}`, async (t) => {
    const res = await rawRequest(gw.url, rawGet(target));
    t.equal(res.status, 400);
    t.match(res.body, /GATEHOUSE_ERR_REQUEST_BAD_TARGET/);
    await assertNothingForwarded(t, upstream);
  });
}

// `..;` is `..` to Tomcat, Jetty and Spring (path parameters are cut before dot segments
// are resolved): forwarded as-is it reaches /admin/x on such an upstream (the Shiro /
// Spring `..;` bypass class). It is an ambiguous dot segment: refuse it.
t.test('refuses a dot segment carrying matrix parameters (..;): 400, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/public/..;/admin/x'));
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

t.test('refuses ..; in a WebSocket handshake target too: never forwarded', async (t) => {
  const res = await rawRequest(
    gw.url,
    'GET /public/..;/admin/x HTTP/1.1\r\nHost: gate.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

// --- Host (§2: lower-cased, trailing dot and default port removed; malformed is 400) ---

const badHosts: Array<[string, string]> = [
  ['with userinfo (admin.example.com@evil.example)', 'admin.example.com@evil.example'],
  ['listing two hosts', 'admin.example.com, open.example.com'],
  ['with an empty label', 'admin..example.com'],
  ['with a port out of range', 'gate.test:99999'],
  ['with a percent-escape', 'admin%2eexample.com'],
];

for (const [what, host] of badHosts) {
  t.test(`refuses a Host ${what}: 400, never forwarded`, async (t) => {
    const res = await rawRequest(gw.url, rawGet('/h/x', [], host));
    t.equal(res.status, 400);
    await assertNothingForwarded(t, upstream);
  });
}

t.test('refuses a request without Host (HTTP/1.0): 400, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, 'GET /public/x HTTP/1.0\r\n\r\n');
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

t.test('refuses an absolute-form target whose authority differs from Host: 400, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('http://evil.example/public/x'));
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

t.test('refuses an absolute-form target naming the protected host under another Host: 400', async (t) => {
  const res = await rawRequest(gw.url, rawGet('http://admin.example.com/h/x', [], 'open.example.com'));
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

t.test('Host in upper case with a trailing dot still selects the protected host route', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/h/x', [], 'ADMIN.Example.COM.'));
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

t.test('Host with a port still selects the protected host route (port ignored)', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/h/x', [], 'admin.example.com:8080'));
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

// --- resolved before matching: the protected route decides (§2) ------------------------

const resolvedIntoAdmin: Array<[string, string]> = [
  ['.. out of a public prefix', '/public/../admin/x'],
  ['%2e%2e (encoded unreserved dots)', '/public/%2e%2e/admin/x'],
  ['mixed .%2E', '/public/.%2E/admin/x'],
  ['a leading //', '//admin/x'],
  ['// around ..', '/public//..//admin/x'],
  ['. segments', '/./admin/./x'],
  ['encoded unreserved letters %61%64%6D%69%6E', '/%61%64%6D%69%6E/x'],
  ['.. out of a stripPrefix route', '/api/../admin/x'],
];

for (const [what, target] of resolvedIntoAdmin) {
  t.test(`${what} resolves to /admin/x before matching: 401, never forwarded`, async (t) => {
    const res = await rawRequest(gw.url, rawGet(target));
    t.equal(res.status, 401);
    await assertNothingForwarded(t, upstream);
  });
}

t.test('caseSensitive: false route cannot be dodged by changing case', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/SeCrEt/x'));
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

// --- what was matched is what is forwarded (§1) -----------------------------------------

const forwardedAs: Array<[string, string, string]> = [
  ['.. out of a protected prefix is forwarded resolved, not raw', '/admin/../public/x', '/public/x'],
  ['%2e%2e out of a protected prefix is forwarded resolved, not raw', '/admin/%2e%2e/public/x', '/public/x'],
  ['. and // are removed from the forwarded path', '/public/a/./b//c/', '/public/a/b/c/'],
  ['encoded unreserved characters are forwarded decoded', '/public/%7euser/%41', '/public/~user/A'],
  ['a reserved escape stays encoded in upper-case hex and never becomes a ?', '/public/a%3fb', '/public/a%3Fb'],
  ['encoded UTF-8 is forwarded in upper-case hex', '/public/caf%c3%a9', '/public/caf%C3%A9'],
  ['characters outside pchar are forwarded percent-encoded', '/public/a"b<c>', '/public/a%22b%3Cc%3E'],
  ['matrix parameters are kept literally', '/public/x;jsessionid=1', '/public/x;jsessionid=1'],
  ['stripPrefix applies to the normalized path', '/api/%2e%2e/api/y', '/base/y'],
  ['an absolute-form target matching Host is forwarded in origin-form', 'http://gate.test/public/x', '/public/x'],
];

for (const [what, target, expected] of forwardedAs) {
  t.test(what, async (t) => {
    const res = await rawRequest(gw.url, rawGet(target));
    t.equal(res.status, 200);
    t.equal(onlyRequest(t, upstream).url, expected);
  });
}

// --- the query plays no part (§3) --------------------------------------------------------

t.test('dot segments in the query neither change the route nor get resolved', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/public/x?/../../admin/x'));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.equal(got.url, '/public/x?/../../admin/x');
  t.equal(got.headers['x-auth-route'], 'public');
});

t.test('a redirect-style query value containing /../ passes through untouched', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/public/x?next=/../a'));
  t.equal(res.status, 200);
  t.equal(onlyRequest(t, upstream).url, '/public/x?next=/../a');
});

t.test('a public-looking query does not open a protected path', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/admin/x?/public/x'));
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

t.test('a fragment-looking escape in the query does not reach matching', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/admin/x?%23/../../public/x'));
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

// --- what matches nothing is never forwarded (§4) ---------------------------------------

t.test('a matrix parameter on the protected segment matches nothing: 404, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/admin;x=1/panel'));
  t.equal(res.status, 404);
  await assertNothingForwarded(t, upstream);
});

t.test('full-width letters are not folded into ASCII: 404, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/%EF%BD%81dmin/x'));
  t.equal(res.status, 404);
  await assertNothingForwarded(t, upstream);
});

// --- gatehouse's own prefix is recognised on the normalized path (config.md) --------------

const internal: Array<[string, string]> = [
  ['plainly', '/.gatehouse/anything'],
  ['with the prefix percent-encoded', '/%2Egatehouse/anything'],
  ['behind a leading //', '//.gatehouse/anything'],
  ['behind a resolved ..', '/public/../.gatehouse/anything'],
  ['in another letter case', '/.GateHouse/anything'],
];

for (const [what, target] of internal) {
  t.test(`/.gatehouse ${what} is never forwarded, even under a catch-all route`, async (t) => {
    const res = await rawRequest(gw.url, rawGet(target, [], 'catchall.example.com'));
    t.not(res.status, 200);
    await assertNothingForwarded(t, upstream);
  });
}

t.test('the catch-all route itself forwards (so the cases above are meaningful)', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/.gatehousex/y', [], 'catchall.example.com'));
  t.equal(res.status, 200);
  t.equal(onlyRequest(t, upstream).url, '/.gatehousex/y');
});
