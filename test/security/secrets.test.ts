// Secrets stay secret (security.md §13, §10): passwords, Authorization values, tokens in
// query strings, cookies and password hashes never appear in logs, metrics, error bodies
// or `explain` output — whether the request was allowed, refused, malformed, throttled,
// or failed upstream. Each case plants distinctive values and searches every output.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { runExplain } from '../../src/cli/explain.js';
import { loadAndCompile } from '../../src/cli/load-compiled.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { captureIo } from '../unit/cli/io.js';
import { basic, onlyRequest, rawGet, sleep, type TapTest } from './support.js';

const PASSWORD = 'Tr0ub4dor-unique-7Qz';
const HASH = hashSync(PASSWORD, 4);
// The salt and digest part, should a hash ever be printed after some reformatting.
const HASH_TAIL = HASH.slice(7);
const TOKEN = basic('alice', PASSWORD).slice('Basic '.length);

let upstream: RecordingUpstream;
let gw: TestGateway;
let closedPort: number;
let configYaml: string;

t.before(async () => {
  upstream = await startRecordingUpstream();
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  configYaml = `
limits: { headerBytes: 4096 }
authenticators:
  staff:
    type: basic
    users:
      - { name: alice, hash: "${HASH}" }
      - { name: bob, hash: "${hashSync('b0b-not-used', 4)}" }
    throttle: { window: 60s, maxFailuresPerUserAndIp: 2, maxFailuresPerIp: 50, slowdownAfterUserFailures: 100 }
routes:
  - name: app
    match: { path: /app/** }
    upstream: ${upstream.url}
    auth: staff
  - name: pass
    match: { path: /pass/** }
    upstream: ${upstream.url}
    auth: staff
    forwardCredentials: true
  - name: app-down
    match: { path: /down/** }
    upstream: http://127.0.0.1:${closedPort}
    auth: staff
  - name: app-slow
    match: { path: /slow/** }
    upstream: ${upstream.url}
    auth: staff
    timeout: 200ms
  - name: open
    match: { path: /open/** }
    upstream: ${upstream.url}
    auth: anonymous
`;
  gw = await startTestGateway(configYaml);
});

t.afterEach(async () => {
  upstream.requests.length = 0;
  upstream.respondWith(undefined);
});

t.teardown(async () => {
  await gw.close();
  await upstream.close();
});

const escape = (s: string): RegExp => new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));

/** None of `secrets` occurs in the logs written since `logMark`, nor in `outputs`. */
async function assertNoLeak(t: TapTest, logMark: number, outputs: Record<string, string>, secrets: readonly string[]): Promise<void> {
  await sleep(20); // the decision line is written when the response finishes
  const logs = gw.logText().split('\n').slice(logMark).join('\n');
  for (const secret of secrets) {
    t.notMatch(logs, escape(secret), `logs never contain ${JSON.stringify(secret.slice(0, 12))}…`);
    for (const [where, text] of Object.entries(outputs)) t.notMatch(text, escape(secret), `${where} never contains ${JSON.stringify(secret.slice(0, 12))}…`);
  }
}

const mark = (): number => gw.logText().split('\n').length;
const answer = (res: RawResponse): Record<string, string> => ({ 'the answer': res.raw });

// --- credentials ----------------------------------------------------------------------------

t.test('a successful sign-in: password, Authorization token and hash are never logged', async (t) => {
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: Basic ${TOKEN}`]));
  t.equal(res.status, 200);
  await assertNoLeak(t, m, answer(res), [PASSWORD, TOKEN, HASH_TAIL]);
});

t.test('a wrong password: neither the guess nor its token is logged or echoed', async (t) => {
  const guess = 'Guess-Pa55-unique-Kx9';
  // bob: failures must not throttle alice, whom later cases sign in as.
  const token = basic('bob', guess).slice(6);
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: Basic ${token}`]));
  t.equal(res.status, 401);
  await assertNoLeak(t, m, answer(res), [guess, token, HASH_TAIL]);
});

t.test('an unknown user: the password tried is never logged or echoed', async (t) => {
  const guess = 'Unknown-Pa55-unique-Jw2';
  const token = basic('mallory', guess).slice(6);
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: Basic ${token}`]));
  t.equal(res.status, 401);
  await assertNoLeak(t, m, answer(res), [guess, token]);
});

t.test('malformed credentials (non-UTF-8 password): the raw token is never logged or echoed', async (t) => {
  const token = Buffer.concat([Buffer.from('alice:Raw-unique-Pw3'), Buffer.from([0xff, 0xfe])]).toString('base64');
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: Basic ${token}`]));
  t.equal(res.status, 401);
  await assertNoLeak(t, m, answer(res), [token, 'Raw-unique-Pw3']);
});

t.test('malformed credentials (no colon): the decoded text is never logged or echoed', async (t) => {
  const token = Buffer.from('NoColon-unique-Secret8').toString('base64');
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: Basic ${token}`]));
  t.equal(res.status, 401);
  await assertNoLeak(t, m, answer(res), [token, 'NoColon-unique-Secret8']);
});

t.test('a throttled attempt: the 429 carries neither password nor token', async (t) => {
  const guesses = ['Throttle-unique-A1', 'Throttle-unique-B2', 'Throttle-unique-C3'];
  const m = mark();
  let last: RawResponse | undefined;
  for (const g of guesses) last = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: ${basic('carol', g)}`]));
  t.equal(last?.status, 429);
  await assertNoLeak(t, m, answer(last!), [...guesses, ...guesses.map((g) => basic('carol', g).slice(6))]);
});

t.test('an unauthenticated Authorization on an anonymous route is not logged', async (t) => {
  const token = Buffer.from('bob:Anon-unique-Pw5').toString('base64');
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/open/x', [`Authorization: Basic ${token}`, 'Proxy-Authorization: Basic UHJveHktdW5pcXVlLVB3Ng==']));
  t.equal(res.status, 200);
  // Not the answer: it is the recording upstream's echo of what it was sent.
  await assertNoLeak(t, m, {}, [token, 'UHJveHktdW5pcXVlLVB3Ng==']);
});

t.test('a request the parser rejects (obs-fold) never has its Authorization logged', async (t) => {
  const m = mark();
  const res = await rawRequest(gw.url, `GET /app/x HTTP/1.1\r\nHost: gate.test\r\nAuthorization: Basic ${TOKEN}\r\nX-Folded: a\r\n b\r\n\r\n`);
  t.equal(res.status, 400);
  await assertNoLeak(t, m, answer(res), [TOKEN, PASSWORD]);
});

t.test('a request with oversized headers never has its Authorization logged', async (t) => {
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/app/x', [`Authorization: Basic ${TOKEN}`, `X-Pad: ${'p'.repeat(5000)}`]));
  t.equal(res.status, 431);
  await assertNoLeak(t, m, answer(res), [TOKEN, PASSWORD]);
});

// --- tokens in query strings and cookies ---------------------------------------------------

t.test('a token in the query of an allowed request is never logged', async (t) => {
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/open/x?access_token=QueryTok-unique-111'));
  t.equal(res.status, 200);
  t.equal(onlyRequest(t, upstream).url, '/open/x?access_token=QueryTok-unique-111', 'the query itself is forwarded');
  await assertNoLeak(t, m, {}, ['QueryTok-unique-111']);
});

t.test('a token in the query of a refused request is never logged or echoed', async (t) => {
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/app/x?access_token=QueryTok-unique-222'));
  t.equal(res.status, 401);
  await assertNoLeak(t, m, answer(res), ['QueryTok-unique-222']);
});

t.test('a token in the query of an unroutable request is never logged or echoed', async (t) => {
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/nowhere?access_token=QueryTok-unique-333'));
  t.equal(res.status, 404);
  await assertNoLeak(t, m, answer(res), ['QueryTok-unique-333']);
});

t.test('a token in the query of a malformed target is never logged or echoed', async (t) => {
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/open/%zz?access_token=QueryTok-unique-444'));
  t.equal(res.status, 400);
  await assertNoLeak(t, m, answer(res), ['QueryTok-unique-444']);
});

t.test('a cookie value is never logged', async (t) => {
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/open/x', ['Cookie: session=CookieVal-unique-555; other=CookieVal-unique-666']));
  t.equal(res.status, 200);
  await assertNoLeak(t, m, {}, ['CookieVal-unique-555', 'CookieVal-unique-666']);
});

// --- upstream failures (§10: no identity data in the body) --------------------------------

t.test('upstream unreachable: the 502 carries no credential, identity or internal address', async (t) => {
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/down/x', [`Authorization: Basic ${TOKEN}`]));
  t.equal(res.status, 502);
  t.notMatch(res.body, /alice|basic|x-auth/i);
  await assertNoLeak(t, m, { 'the 502 body': res.body }, [TOKEN, PASSWORD, `127.0.0.1:${closedPort}`]);
});

t.test('upstream timeout: the 504 carries no credential or identity', async (t) => {
  upstream.respondWith((_req, res) => {
    setTimeout(() => res.end('late'), 1000);
  });
  const m = mark();
  const res = await rawRequest(gw.url, rawGet('/slow/x', [`Authorization: Basic ${TOKEN}`]));
  t.equal(res.status, 504);
  t.notMatch(res.body, /alice|basic|x-auth/i);
  await assertNoLeak(t, m, answer(res), [TOKEN, PASSWORD]);
});

// --- metrics -------------------------------------------------------------------------------

t.test('metrics never carry credentials, query tokens, user names or hashes', async (t) => {
  const res = await fetch(`${gw.adminUrl}/metrics`);
  const text = await res.text();
  t.equal(res.status, 200);
  t.match(text, /gatehouse_requests_total/, 'the metrics were read');
  for (const secret of [PASSWORD, TOKEN, HASH_TAIL, 'QueryTok-unique', 'CookieVal-unique', 'Throttle-unique', 'alice', 'mallory']) {
    t.notMatch(text, escape(secret), `metrics never contain ${secret.slice(0, 12)}`);
  }
});

// --- explain (§13) -------------------------------------------------------------------------

t.test('explain never prints the Authorization it checked, even where it is forwarded', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-explain-'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, `listen: 127.0.0.1:0\nadmin: false\n${configYaml}`);
  for (const json of [false, true]) {
    for (const path of ['/pass/x', '/app/x', '/open/x?access_token=Explain-unique-777']) {
      const io = captureIo();
      const code = await runExplain({ config: file, method: 'GET', url: `http://gate.test${path}`, headers: [`Authorization: Basic ${TOKEN}`, 'Cookie: s=Explain-cookie-888'], json }, io);
      t.equal(code, 0, `${path} json=${json}`);
      for (const secret of [TOKEN, PASSWORD, HASH_TAIL, 'Explain-cookie-888']) {
        t.notMatch(io.out() + io.err(), escape(secret), `explain ${path} (json=${json}) never prints ${secret.slice(0, 12)}`);
      }
    }
  }
});

// --- configuration errors -------------------------------------------------------------------

const badConfigs: Array<[string, string, string, string]> = [
  ['a hash of an unsupported scheme', 'authenticators:\n  s:\n    type: basic\n    users:\n      - { name: a, hash: "${env:SECRET}" }\nroutes: []\n', '$1$CfgSalt-unique$abcdefghij', 'CfgSalt-unique'],
  ['credentials inside an upstream URL', 'routes:\n  - { name: r, match: { path: /x }, upstream: "${env:SECRET}", auth: anonymous }\n', 'http://svc:CfgPass-unique-9@127.0.0.1:1', 'CfgPass-unique'],
  ['a realm with a forbidden character', 'authenticators:\n  s:\n    type: basic\n    realm: "${env:SECRET}"\nroutes: []\n', 'CfgRealm-unique-"x', 'CfgRealm-unique'],
];

for (const [what, yaml, secret, needle] of badConfigs) {
  t.test(`a config error about ${what} never quotes the substituted secret`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cfg-'));
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, `listen: 127.0.0.1:0\nadmin: false\n${yaml}`);
    const loaded = await loadAndCompile(file, { SECRET: secret });
    t.equal(loaded.ok, false, 'the config is refused');
    const text = loaded.ok ? '' : loaded.messages.join('\n');
    t.notMatch(text, escape(needle), 'the message does not quote the secret');
  });
}
