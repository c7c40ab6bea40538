// Consumed credentials stay at the gate (security.md §12): the Authorization header a
// Basic check consumed is removed before forwarding (unless `forwardCredentials: true`);
// ambiguous credentials and hosts (two Authorization, two Host) are refused, not guessed;
// redirects naming the upstream's internal address are rewritten to the public one.
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { assertNothingForwarded, basic, onlyRequest, rawGet, valuesFolded } from './support.js';

let upstream: RecordingUpstream;
let gw: TestGateway;

const ALICE = basic('alice', 'wonderland');
const BOB = basic('bob', 'builder');

t.before(async () => {
  upstream = await startRecordingUpstream();
  gw = await startTestGateway(`
publicUrl: [https://app.example.com, http://public.example.com]
authenticators:
  staff:
    type: basic
    users:
      - { name: alice, hash: "${hashSync('wonderland', 4)}" }
      - { name: bob, hash: "${hashSync('builder', 4)}" }
routes:
  - name: hosted
    match: { host: admin.example.com, path: /h/** }
    upstream: ${upstream.url}
    auth: staff
  - name: hosted-open
    match: { path: /h/** }
    upstream: ${upstream.url}
    auth: anonymous
  - name: app
    match: { path: /app/** }
    upstream: ${upstream.url}
    auth: staff
    allow: { users: [alice] }
  - name: pass
    match: { path: /pass/** }
    upstream: ${upstream.url}
    auth: staff
    forwardCredentials: true
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
  await upstream.close();
});

// --- the checked credential is removed ----------------------------------------------------

t.test('the Authorization header a Basic check consumed is not forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${ALICE}`]));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'authorization'), []);
  t.same(valuesFolded(got, 'x-auth-user'), ['alice']);
});

t.test('...whatever the letter case of its name', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`AUTHORIZATION: ${ALICE}`]));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'authorization'), []);
});

t.test('forwardCredentials: true passes the checked header on (the opt-in works)', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/pass/x', [`Authorization: ${ALICE}`]));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'authorization'), [ALICE]);
});

// --- ambiguous credentials: refused, not guessed ------------------------------------------

const twoAuthorizations: Array<[string, string[]]> = [
  ['two valid Authorization headers (alice, bob)', [`Authorization: ${ALICE}`, `Authorization: ${BOB}`]],
  ['a forbidden user first, then an allowed one (no picking either)', [`Authorization: ${BOB}`, `Authorization: ${ALICE}`]],
  ['a valid then a wrong credential', [`Authorization: ${ALICE}`, `Authorization: ${basic('alice', 'guess')}`]],
  ['a wrong then a valid credential', [`Authorization: ${basic('alice', 'guess')}`, `Authorization: ${ALICE}`]],
  ['two spellings of the name (Authorization, authorization)', [`Authorization: ${ALICE}`, `authorization: ${ALICE}`]],
  ['a Basic and a Bearer credential', [`Authorization: ${ALICE}`, 'Authorization: Bearer abc.def.ghi']],
];

for (const [what, lines] of twoAuthorizations) {
  t.test(`refuses ${what}: 400, never forwarded`, async (t) => {
    const res = await rawRequest(gw.url, rawGet('/app/x', lines));
    t.equal(res.status, 400);
    await assertNothingForwarded(t, upstream);
  });
}

t.test('refuses two Authorization headers on an anonymous route too: 400, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', [`Authorization: ${ALICE}`, `Authorization: ${BOB}`]));
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

t.test('a comma-joined pair of credentials in one header is not guessed at: 401, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${ALICE}, ${BOB}`]));
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

t.test('refuses two Host headers: 400, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, 'GET /h/x HTTP/1.1\r\nHost: open.example.com\r\nHost: admin.example.com\r\nConnection: close\r\n\r\n');
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

t.test('refuses two Host headers whatever their order: 400, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, 'GET /h/x HTTP/1.1\r\nHost: admin.example.com\r\nhost: open.example.com\r\nConnection: close\r\n\r\n');
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

t.test('Proxy-Authorization is no substitute for Authorization: 401, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Proxy-Authorization: ${ALICE}`]));
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

t.test('credentials in an absolute-form target are neither used nor forwarded: 400', async (t) => {
  const res = await rawRequest(gw.url, rawGet('http://alice:wonderland@gate.test/app/x'));
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

// --- redirects stay home -------------------------------------------------------------------

t.test("an upstream redirect naming the upstream's internal address is rewritten to the public one", async (t) => {
  upstream.respondWith((_req, res) => {
    res.writeHead(302, { location: `${upstream.url}/private/next?a=1`, 'content-length': 0 });
    res.end();
  });
  const res = await rawRequest(gw.url, rawGet('/open/x', [], 'public.example.com'));
  t.equal(res.status, 302);
  t.equal(res.headers.location, 'http://public.example.com/private/next?a=1');
  t.notMatch(res.raw, new RegExp(new URL(upstream.url).host.replace(/\./g, '\\.')));
});

t.test('a scheme-relative redirect naming the upstream is rewritten too', async (t) => {
  upstream.respondWith((_req, res) => {
    res.writeHead(302, { location: `//${new URL(upstream.url).host}/private`, 'content-length': 0 });
    res.end();
  });
  const res = await rawRequest(gw.url, rawGet('/open/x', [], 'public.example.com'));
  t.equal(res.status, 302);
  t.equal(res.headers.location, 'http://public.example.com/private');
});

t.test('with publicUrl set, a forged Host never becomes the redirect target', async (t) => {
  upstream.respondWith((_req, res) => {
    res.writeHead(302, { location: `${upstream.url}/private`, 'content-length': 0 });
    res.end();
  });
  const res = await rawRequest(gw.url, rawGet('/open/x', [], 'evil.example'));
  t.equal(res.status, 302);
  t.equal(res.headers.location, 'https://app.example.com/private');
});
