// Request smuggling (security.md §14): both Content-Length and Transfer-Encoding,
// duplicate or odd framing, obsolete line folding and invalid header characters are
// refused with 400, and nothing reaches the upstream — neither the outer request nor a
// request hidden in its body. Where a body is sent, it carries such a hidden request for
// a protected path: if framing were read two ways, that one would surface upstream.
// Two oracles: the recording upstream (complete requests) and a byte tap in front of it
// (not one byte of a refused request may leave the gateway).
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { assertNothingForwarded, finalStatus, openRaw, sleep, startByteTap, waitFor, type ByteTap } from './support.js';

let upstream: RecordingUpstream;
let wire: ByteTap;
let gw: TestGateway;

t.before(async () => {
  upstream = await startRecordingUpstream();
  wire = await startByteTap(upstream.url);
  gw = await startTestGateway(`
authenticators:
  staff:
    type: basic
    users:
      - { name: alice, hash: "${hashSync('wonderland', 4)}" }
routes:
  - name: app
    match: { path: /app/** }
    upstream: ${wire.url}
    auth: staff
  - name: open
    match: { path: /open/** }
    upstream: ${wire.url}
    auth: anonymous
`);
});

t.afterEach(async () => {
  upstream.requests.length = 0;
  wire.reset();
});

t.teardown(async () => {
  // The byte tap first: a forward the gateway started and never finished would otherwise
  // hold gw.close() until the route timeout.
  await wire.close();
  await gw.close();
  await upstream.close();
});

const HIDDEN = 'GET /app/secret HTTP/1.1\r\nHost: gate.test\r\n\r\n';
// A chunked body whose single chunk is empty, followed by the hidden request.
const CHUNKED_THEN_HIDDEN = `0\r\n\r\n${HIDDEN}`;
const head = (lines: readonly string[], method = 'POST', target = '/open/x'): string => `${method} ${target} HTTP/1.1\r\nHost: gate.test\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;

// The third element marks framing errors inside the body: the headers were fine, so the
// gateway may have decided and begun a forward before the error surfaced; not one byte
// may have left, but a connection may have been opened.
const cases: Array<[string, string, 'body-level'?]> = [
  ['Content-Length and Transfer-Encoding (CL first, CL.TE)', head([`Content-Length: ${CHUNKED_THEN_HIDDEN.length}`, 'Transfer-Encoding: chunked']) + CHUNKED_THEN_HIDDEN],
  ['Transfer-Encoding and Content-Length (TE first, TE.CL)', head(['Transfer-Encoding: chunked', 'Content-Length: 4']) + CHUNKED_THEN_HIDDEN],
  ['duplicate Content-Length with equal values', head(['Content-Length: 5', 'Content-Length: 5']) + 'hello' + HIDDEN],
  ['duplicate Content-Length with different values', head(['Content-Length: 5', `Content-Length: ${5 + HIDDEN.length}`]) + 'hello' + HIDDEN],
  ['a Content-Length list "5, 5"', head(['Content-Length: 5, 5']) + 'hello' + HIDDEN],
  ['a Content-Length with a plus sign', head(['Content-Length: +5']) + 'hello' + HIDDEN],
  ['a negative Content-Length', head(['Content-Length: -1']) + HIDDEN],
  ['a hexadecimal Content-Length', head(['Content-Length: 0x5']) + 'hello' + HIDDEN],
  ['Transfer-Encoding: identity', head(['Transfer-Encoding: identity']) + HIDDEN],
  ['an unknown transfer coding (xchunked)', head(['Transfer-Encoding: xchunked']) + CHUNKED_THEN_HIDDEN],
  ['chunked applied twice in one header', head(['Transfer-Encoding: chunked, chunked']) + CHUNKED_THEN_HIDDEN],
  ['Transfer-Encoding repeated on two lines', head(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked']) + CHUNKED_THEN_HIDDEN],
  ['chunked not last (chunked, gzip)', head(['Transfer-Encoding: chunked, gzip']) + CHUNKED_THEN_HIDDEN],
  ['whitespace before the colon of Transfer-Encoding', head(['Transfer-Encoding : chunked']) + CHUNKED_THEN_HIDDEN],
  ['a vertical tab hiding the Transfer-Encoding value', head(['Transfer-Encoding:\x0bchunked']) + CHUNKED_THEN_HIDDEN],
  ['obsolete line folding (obs-fold)', head(['X-Folded: a', ' b'], 'GET')],
  ['obs-fold carrying a Transfer-Encoding line', head(['X-Folded: a', ' Transfer-Encoding: chunked']) + CHUNKED_THEN_HIDDEN],
  ['obs-fold carrying an identity header', head(['X-Folded: a', '\tX-Auth-User: root'], 'GET')],
  ['a space inside a header name', head(['X Auth User: root'], 'GET')],
  ['whitespace before the colon of Host', 'GET /open/x HTTP/1.1\r\nHost : gate.test\r\n\r\n'],
  ['an empty header name', head([': value'], 'GET')],
  ['a control character in a header name', head(['X-A\x01uth: root'], 'GET')],
  ['a NUL in a header value', head(['X-Note: a\x00b'], 'GET')],
  ['a bare CR in a header value', head(['X-Note: a\rX-Auth-User: root'], 'GET')],
  ['bare LF line endings', 'GET /open/x HTTP/1.1\nHost: gate.test\nX-Auth-User: root\n\n'],
  ['an invalid chunk size', head(['Transfer-Encoding: chunked']) + `zz\r\nhello\r\n0\r\n\r\n${HIDDEN}`, 'body-level'],
  ['a chunk size that overflows', head(['Transfer-Encoding: chunked']) + `10000000000000001\r\nhello\r\n0\r\n\r\n${HIDDEN}`, 'body-level'],
  ['a chunk extension ending in a bare LF', head(['Transfer-Encoding: chunked']) + `5;x\nhello\r\n0\r\n\r\n${HIDDEN}`, 'body-level'],
  ['an unknown HTTP version (HTTP/1.2)', 'GET /open/x HTTP/1.2\r\nHost: gate.test\r\n\r\n'],
];

for (const [what, request, level] of cases) {
  t.test(`refuses ${what}: 400, nothing forwarded`, async (t) => {
    const res = await rawRequest(gw.url, request);
    t.equal(res.status, 400);
    await assertNothingForwarded(t, upstream);
    t.equal(wire.received(), '', 'not one byte reached the upstream');
    if (level !== 'body-level') t.equal(wire.accepted(), 0, 'no connection to the upstream was even opened');
  });
}

// --- framing that is valid must still be read one way only ------------------------------

t.test('a GET with a Content-Length body: the request hidden in the body never surfaces', async (t) => {
  const conn = openRaw(gw.url);
  conn.socket.write(head([`Content-Length: ${HIDDEN.length}`], 'GET') + HIDDEN);
  await waitFor(() => finalStatus(conn.received()) !== undefined);
  await sleep(200); // time for a hidden second request to surface, were it read as one
  conn.socket.destroy();
  t.equal(finalStatus(conn.received()), 200);
  t.same(
    upstream.requests.map((r) => `${r.method} ${r.url} ${r.body.length}`),
    ['GET /open/x 0'],
    'only the outer GET, without its body',
  );
});

t.test('a GET with a chunked body: the request hidden in the body never surfaces', async (t) => {
  const conn = openRaw(gw.url);
  conn.socket.write(head(['Transfer-Encoding: chunked'], 'GET') + `${HIDDEN.length.toString(16)}\r\n${HIDDEN}\r\n0\r\n\r\n`);
  await waitFor(() => finalStatus(conn.received()) !== undefined);
  await sleep(200);
  conn.socket.destroy();
  t.equal(finalStatus(conn.received()), 200);
  t.same(
    upstream.requests.map((r) => `${r.method} ${r.url} ${r.body.length}`),
    ['GET /open/x 0'],
  );
});

t.test('a chunked POST is forwarded with exactly its decoded body, nothing more', async (t) => {
  const conn = openRaw(gw.url);
  conn.socket.write(head(['Transfer-Encoding: chunked']) + `5\r\nhello\r\n0\r\n\r\n`);
  await waitFor(() => finalStatus(conn.received()) !== undefined);
  await sleep(100);
  conn.socket.destroy();
  t.same(upstream.requests.map((r) => `${r.method} ${r.url} ${r.body}`), ['POST /open/x hello']);
});

t.test('pipelined requests are decided one by one: the second, unauthenticated, is refused', async (t) => {
  const conn = openRaw(gw.url);
  conn.socket.write(`GET /open/x HTTP/1.1\r\nHost: gate.test\r\n\r\n${HIDDEN}`);
  await waitFor(() => [...conn.received().matchAll(/HTTP\/1\.1 \d{3} /g)].length >= 2);
  conn.socket.destroy();
  const statuses = [...conn.received().matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  t.same(statuses, [200, 401]);
  t.same(upstream.requests.map((r) => r.url), ['/open/x']);
});
