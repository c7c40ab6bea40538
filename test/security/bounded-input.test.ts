// Bounded input (security.md §11): header size, header count, target length, body size
// and the time to receive headers are limited; exceeding one is a 4xx, never a crash and
// never a forward. `100 Continue` is never sent before the auth decision, so a refused
// request's body is never invited.
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { assertNothingForwarded, basic, finalStatus, onlyRequest, openRaw, rawGet, sleep, startByteTap, waitFor, type ByteTap } from './support.js';

let upstream: RecordingUpstream;
let uploads: ByteTap;
let gw: TestGateway;

const LIMITS = { headerBytes: 4096, headerCount: 20, targetBytes: 256, bodyBytes: 1024 };

t.before(async () => {
  upstream = await startRecordingUpstream();
  // Only the upload route goes through it, so its connection count is that route's alone.
  uploads = await startByteTap(upstream.url);
  gw = await startTestGateway(`
limits: { headerBytes: ${LIMITS.headerBytes}, headerCount: ${LIMITS.headerCount}, targetBytes: ${LIMITS.targetBytes}, headersTimeout: 1s, bodyBytes: ${LIMITS.bodyBytes} }
authenticators:
  staff:
    type: basic
    users:
      - { name: alice, hash: "${hashSync('wonderland', 4)}" }
routes:
  - name: app
    match: { path: /app/** }
    upstream: ${upstream.url}
    auth: staff
  - name: closed
    match: { path: /closed/** }
    upstream: ${upstream.url}
    auth: deny
  - name: upload
    match: { path: /upload/** }
    upstream: ${uploads.url}
    auth: anonymous
    timeout: 1s
  - name: open
    match: { path: /open/** }
    upstream: ${upstream.url}
    auth: anonymous
`);
});

t.afterEach(async () => {
  upstream.requests.length = 0;
});

t.teardown(async () => {
  // The tap first: a forward left hanging would otherwise hold gw.close().
  await uploads.close();
  await gw.close();
  await upstream.close();
});

const headerLines = (n: number, size = 8): string[] => Array.from({ length: n }, (_, i) => `X-H${i}: ${'v'.repeat(size)}`);

// --- header size and count -> 431 -------------------------------------------------------

t.test('one header larger than headerBytes: 431, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', [`X-Big: ${'a'.repeat(LIMITS.headerBytes + 100)}`]));
  t.equal(res.status, 431);
  await assertNothingForwarded(t, upstream);
});

t.test('small headers adding up to more than headerBytes: 431, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', headerLines(15, 400)));
  t.equal(res.status, 431);
  await assertNothingForwarded(t, upstream);
});

t.test('an oversized Authorization on a protected route: 431, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: Basic ${'QUFB'.repeat(1200)}`]));
  t.equal(res.status, 431);
  await assertNothingForwarded(t, upstream);
});

t.test('one header more than headerCount: 431, never forwarded', async (t) => {
  // Host + Connection + 19 = 21 header lines.
  const res = await rawRequest(gw.url, rawGet('/open/x', headerLines(LIMITS.headerCount - 1)));
  t.equal(res.status, 431);
  await assertNothingForwarded(t, upstream);
});

t.test('ten times headerCount (Node would silently drop the excess): 431, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', headerLines(LIMITS.headerCount * 10, 1)));
  t.equal(res.status, 431);
  await assertNothingForwarded(t, upstream);
});

t.test('exactly headerCount headers is still served (the limit is not off by one)', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/open/x', headerLines(LIMITS.headerCount - 2)));
  t.equal(res.status, 200);
  t.equal(onlyRequest(t, upstream).url, '/open/x');
});

// --- target length -> 414 ---------------------------------------------------------------

t.test('a path longer than targetBytes: 414, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet(`/open/${'a'.repeat(LIMITS.targetBytes)}`));
  t.equal(res.status, 414);
  await assertNothingForwarded(t, upstream);
});

t.test('a target long only because of its query: 414, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, rawGet(`/open/x?q=${'a'.repeat(LIMITS.targetBytes)}`));
  t.equal(res.status, 414);
  await assertNothingForwarded(t, upstream);
});

t.test('a target of exactly targetBytes is still served', async (t) => {
  const target = `/open/${'a'.repeat(LIMITS.targetBytes - '/open/'.length)}`;
  const res = await rawRequest(gw.url, rawGet(target));
  t.equal(res.status, 200);
  t.equal(onlyRequest(t, upstream).url, target);
});

// --- body size -> 413 -------------------------------------------------------------------

t.test('Content-Length over bodyBytes: 413 before any body byte, never forwarded', async (t) => {
  const res = await rawRequest(gw.url, `POST /open/x HTTP/1.1\r\nHost: gate.test\r\nContent-Length: ${LIMITS.bodyBytes + 1}\r\nConnection: close\r\n\r\n`);
  t.equal(res.status, 413);
  await assertNothingForwarded(t, upstream);
});

t.test('a chunked body growing past bodyBytes: 413, never delivered upstream', async (t) => {
  const chunk = 'x'.repeat(512);
  const body = Array.from({ length: 4 }, () => `200\r\n${chunk}\r\n`).join('') + '0\r\n\r\n';
  const res = await rawRequest(gw.url, `POST /open/x HTTP/1.1\r\nHost: gate.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`);
  t.equal(res.status, 413);
  await assertNothingForwarded(t, upstream, 'no complete request reached the upstream');
});

// Half a body must not pin an upstream connection: otherwise each aborted upload costs the
// upstream a connection (and a waiting handler) for as long as the gateway lives.
t.test('a client aborting a chunked upload does not leave the upstream request hanging', async (t) => {
  const conn = openRaw(gw.url);
  conn.socket.write('POST /upload/x HTTP/1.1\r\nHost: gate.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
  await waitFor(() => uploads.open() > 0, 2000);
  t.equal(uploads.open(), 1, 'the forward had started');
  conn.socket.destroy();
  // The route timeout is 1 s: by 3 s the forward must have been given up one way or another.
  await waitFor(() => uploads.open() === 0, 3000);
  t.equal(uploads.open(), 0, 'the upstream connection was released within 3 s');
  t.same(upstream.requests, [], 'and no complete request reached the upstream');
});

t.test('a body of exactly bodyBytes is forwarded whole', async (t) => {
  const body = 'y'.repeat(LIMITS.bodyBytes);
  const res = await rawRequest(gw.url, `POST /open/x HTTP/1.1\r\nHost: gate.test\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  t.equal(res.status, 200);
  t.equal(onlyRequest(t, upstream).body, body);
});

// --- Expect: 100-continue only after the decision ---------------------------------------

const expectRefused: Array<[string, string, string[], number]> = [
  ['no credentials on a protected route', '/app/x', [], 401],
  ['a wrong password', '/app/x', [`Authorization: ${basic('alice', 'guess')}`], 401],
  ['a route that matches nothing', '/nowhere', [], 404],
  ['a denied route', '/closed/x', [], 403],
  ['a body over bodyBytes on an open route', '/open/x', [], 413],
];

for (const [what, path, extra, status] of expectRefused) {
  t.test(`Expect: 100-continue with ${what}: ${status} and no 100 Continue`, async (t) => {
    const length = status === 413 ? LIMITS.bodyBytes + 1 : 5;
    const res = await rawRequest(
      gw.url,
      `POST ${path} HTTP/1.1\r\nHost: gate.test\r\n${extra.map((l) => `${l}\r\n`).join('')}Content-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`,
    );
    t.equal(res.status, status);
    t.notMatch(res.raw, /^HTTP\/1\.1 100/m);
    await assertNothingForwarded(t, upstream);
  });
}

t.test('Expect: 100-continue on an allowed request: 100 only then, and the body arrives', async (t) => {
  const conn = openRaw(gw.url);
  conn.socket.write(`POST /app/x HTTP/1.1\r\nHost: gate.test\r\nAuthorization: ${basic('alice', 'wonderland')}\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
  await waitFor(() => /^HTTP\/1\.1 100/.test(conn.received()), 2000);
  t.match(conn.received(), /^HTTP\/1\.1 100 Continue\r\n/);
  t.equal(upstream.requests.length, 0, 'nothing forwarded before the body was sent');
  conn.socket.write('hello');
  await conn.closed;
  t.equal(finalStatus(conn.received()), 200);
  t.equal(onlyRequest(t, upstream).body, 'hello');
});

// --- time to receive headers -> 408 ------------------------------------------------------

t.test('headers that never finish: 408 within the headersTimeout, never forwarded', async (t) => {
  const conn = openRaw(gw.url);
  const started = performance.now();
  conn.socket.write('GET /open/x HTTP/1.1\r\nHost: gate.test\r\nX-Slow: ');
  await Promise.race([conn.closed, sleep(5000)]);
  const elapsed = performance.now() - started;
  conn.socket.destroy();
  t.equal(finalStatus(conn.received()), 408);
  t.ok(elapsed < 5000, `answered after ${elapsed.toFixed(0)} ms (headersTimeout 1 s; Node's default would be 60 s)`);
  await assertNothingForwarded(t, upstream);
});

t.test('headers trickled one line at a time (slowloris) still time out: 408, never forwarded', async (t) => {
  const conn = openRaw(gw.url);
  const started = performance.now();
  conn.socket.write('GET /open/x HTTP/1.1\r\nHost: gate.test\r\n');
  let closed = false;
  void conn.closed.then(() => {
    closed = true;
  });
  for (let i = 0; i < 40 && !closed; i++) {
    await sleep(200);
    if (!closed) conn.socket.write(`X-Drip-${i}: ${i}\r\n`);
  }
  const elapsed = performance.now() - started;
  conn.socket.destroy();
  t.equal(finalStatus(conn.received()), 408);
  t.ok(elapsed < 5000, `cut off after ${elapsed.toFixed(0)} ms although a line came every 200 ms`);
  await assertNothingForwarded(t, upstream);
});

t.test('the gateway still serves normally after every limit was hit', async (t) => {
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${basic('alice', 'wonderland')}`]));
  t.equal(res.status, 200);
  t.equal(onlyRequest(t, upstream).url, '/app/x');
});
