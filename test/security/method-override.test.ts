// Method override (security.md §5): X-HTTP-Method-Override and friends would let a client
// turn a GET that a route allowed into a DELETE upstream. They are removed, in every
// spelling, unless the route sets `allowMethodOverride: true`; the method gatehouse
// matches is the method the upstream receives.
import t from 'tap';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { assertNothingForwarded, finalStatus, namesWithFoldedPrefix, onlyRequest, openRaw, rawGet, sleep, valuesFolded } from './support.js';

let upstream: RecordingUpstream;
let gw: TestGateway;

t.before(async () => {
  upstream = await startRecordingUpstream();
  gw = await startTestGateway(`
routes:
  - name: legacy
    match: { path: /legacy/** }
    upstream: ${upstream.url}
    auth: anonymous
    allowMethodOverride: true
  - name: read
    match: { path: /data/**, methods: [GET] }
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

const overrides: Array<[string, string]> = [
  ['X-HTTP-Method-Override', 'X-HTTP-Method-Override'],
  ['X-HTTP-Method', 'X-HTTP-Method'],
  ['X-Method-Override', 'X-Method-Override'],
  ['x_http_method_override (underscores)', 'x_http_method_override'],
  ['X.HTTP.Method.Override (dots)', 'X.HTTP.Method.Override'],
  ['X-Http-Method_Override (mixed)', 'X-Http-Method_Override'],
];

for (const [what, name] of overrides) {
  t.test(`${what} cannot turn an allowed GET into a DELETE upstream`, async (t) => {
    const res = await rawRequest(gw.url, rawGet('/data/x', [`${name}: DELETE`]));
    t.equal(res.status, 200);
    const got = onlyRequest(t, upstream);
    t.equal(got.method, 'GET');
    t.same(valuesFolded(got, name), []);
  });
}

t.test('all override spellings at once leave none upstream', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/data/x', overrides.map(([, name]) => `${name}: PUT`)));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(namesWithFoldedPrefix(got, 'x-http-method'), []);
  t.same(namesWithFoldedPrefix(got, 'x-method-override'), []);
});

t.test('a route with allowMethodOverride: true forwards the header (the opt-in works)', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/legacy/x', ['X-HTTP-Method-Override: DELETE']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-http-method-override'), ['DELETE']);
});

t.test('an override header does not change which method is matched: POST to a GET-only route is 404', async (t) => {
  const res = await rawRequest(gw.url, 'POST /data/x HTTP/1.1\r\nHost: gate.test\r\nX-HTTP-Method-Override: GET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  t.equal(res.status, 404);
  await assertNothingForwarded(t, upstream);
});

t.test('methods are matched exactly: a lower-case "get" is not GET', async (t) => {
  const res = await rawRequest(gw.url, 'get /data/x HTTP/1.1\r\nHost: gate.test\r\nConnection: close\r\n\r\n');
  t.not(res.status, 200);
  await assertNothingForwarded(t, upstream);
});

t.test('TRACE (which reflects credentials back, XST) is refused: 405, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, 'TRACE /legacy/x HTTP/1.1\r\nHost: gate.test\r\nAuthorization: Basic YWxpY2U6d29uZGVybGFuZA==\r\nConnection: close\r\n\r\n');
  t.equal(res.status, 405);
  t.notMatch(res.body, /YWxpY2U6d29uZGVybGFuZA==/);
  await assertNothingForwarded(t, upstream);
});

t.test('TRACK is refused: 405, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, 'TRACK /legacy/x HTTP/1.1\r\nHost: gate.test\r\nConnection: close\r\n\r\n');
  t.not(res.status, 200);
  await assertNothingForwarded(t, upstream);
});

t.test('CONNECT never opens a tunnel through the gateway', async (t) => {
  const target = new URL(upstream.url).host;
  const conn = openRaw(gw.url);
  conn.socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  await Promise.race([conn.closed, sleep(500)]);
  conn.socket.write('GET /data/x HTTP/1.1\r\nHost: gate.test\r\n\r\n');
  await sleep(200);
  conn.socket.destroy();
  const status = finalStatus(conn.received());
  t.ok(status === undefined || status >= 400, `answered ${status ?? 'nothing'}`);
  await assertNothingForwarded(t, upstream);
});
