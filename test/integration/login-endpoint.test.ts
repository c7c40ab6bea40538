// The shell around the sign-in endpoints: how a POST body is read (bounded in size and
// time, security.md §11) before the router sees it.
import net from 'node:net';
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { MAX_FORM_BYTES } from '../../src/server/login-endpoint.js';

let gw: TestGateway;
t.before(async () => {
  gw = await startTestGateway(`
sessions:
  cookie: { name: gh, secure: false }
login:
  providers:
    local: { type: form, authenticator: staff }
authenticators:
  web: { type: session }
  staff:
    type: basic
    users: [{ name: alice, hash: "${hashSync('wonderland', 4)}" }]
routes:
  - name: app
    match: { path: /** }
    upstream: echo
    auth: web
`);
});
t.teardown(() => gw.close());

const post = (headers: string[], body = ''): string =>
  `POST /.gatehouse/login/local HTTP/1.1\r\nHost: gate.test\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n${body}`;
const FORM = 'application/x-www-form-urlencoded';

t.test('a form body is read: a wrong token is the form\'s 403, not a parse error', async (t) => {
  const body = 'username=alice&password=x&csrf=nope';
  const res = await rawRequest(gw.url, post([`Content-Type: ${FORM}`, `Content-Length: ${body.length}`], body));
  t.equal(res.status, 403);
  t.match(res.body, /GATEHOUSE_ERR_CSRF_REJECTED/);
});

t.test('another content type is refused before the router', async (t) => {
  const res = await rawRequest(gw.url, post(['Content-Type: application/json', 'Content-Length: 2'], '{}'));
  t.equal(res.status, 400);
  t.match(res.body, /GATEHOUSE_ERR_REQUEST_MALFORMED/);
  t.equal((await rawRequest(gw.url, post(['Content-Length: 0']))).status, 400, 'no content type');
});

t.test('a declared or streamed body over the limit is 413', async (t) => {
  const declared = await rawRequest(gw.url, post([`Content-Type: ${FORM}`, `Content-Length: ${MAX_FORM_BYTES + 1}`]));
  t.equal(declared.status, 413, 'refused on the declared length, nothing read');
  const big = 'a='.concat('x'.repeat(MAX_FORM_BYTES));
  const chunked = `${(big.length).toString(16)}\r\n${big}\r\n0\r\n\r\n`;
  const streamed = await rawRequest(gw.url, post([`Content-Type: ${FORM}`, 'Transfer-Encoding: chunked'], chunked));
  t.equal(streamed.status, 413, 'counted while streaming');
});

t.test('Expect: 100-continue is answered only when the form is ours to read', async (t) => {
  const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(gw.url).port) });
  const got: string[] = [];
  socket.on('data', (c: Buffer) => got.push(c.toString('latin1')));
  const body = 'csrf=x';
  socket.write(post([`Content-Type: ${FORM}`, `Content-Length: ${body.length}`, 'Expect: 100-continue']));
  await new Promise((r) => setTimeout(r, 300));
  t.match(got.join(''), /^HTTP\/1\.1 100 Continue\r\n/, 'invited');
  socket.write(body);
  await new Promise((r) => socket.on('close', r));
  t.match(got.join(''), /HTTP\/1\.1 403 /, 'then decided');
});

t.test('a client that aborts mid-body gets nothing and the gateway keeps serving', async (t) => {
  const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(gw.url).port) });
  await new Promise((r) => socket.on('connect', r));
  socket.write(post([`Content-Type: ${FORM}`, 'Content-Length: 100'], 'username=al'));
  await new Promise((r) => setTimeout(r, 100));
  socket.destroy();
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(gw.logs.some((l) => l.status === 500 || l.level === 'error'), 'no internal error was logged');
  t.equal((await rawRequest(gw.url, `GET /.gatehouse/login/local HTTP/1.1\r\nHost: gate.test\r\nConnection: close\r\n\r\n`)).status, 200);
});
