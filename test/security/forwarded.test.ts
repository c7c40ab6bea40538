// Forwarded headers (security.md §5): `X-Forwarded-*`, `Forwarded` and `X-Real-IP` from
// an untrusted peer are replaced, not appended to; only a peer in `trustedProxies` may
// speak for the client (client address, scheme), and even then the client address is the
// right-most hop that is not a trusted proxy. Tests connect from 127.0.0.1.
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { requestLines, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { assertNothingForwarded, basic, namesWithFoldedPrefix, onlyRequest, rawGet, valuesFolded } from './support.js';

let upstream: RecordingUpstream;
let untrusted: TestGateway;
let trusted: TestGateway;

const config = (upstreamUrl: string, extra: string): string => `${extra}
authenticators:
  staff:
    type: basic
    users:
      - { name: alice, hash: "${hashSync('wonderland', 4)}" }
    throttle: { window: 60s, maxFailuresPerUserAndIp: 2, maxFailuresPerIp: 3, slowdownAfterUserFailures: 100 }
routes:
  - name: internal
    match: { host: internal.example.com, path: /internal/** }
    upstream: ${upstreamUrl}
    auth: anonymous
  - name: app
    match: { path: /app/** }
    upstream: ${upstreamUrl}
    auth: staff
  - name: open
    match: { path: /open/** }
    upstream: ${upstreamUrl}
    auth: anonymous
`;

t.before(async () => {
  upstream = await startRecordingUpstream();
  untrusted = await startTestGateway(config(upstream.url, 'trustedProxies: []'));
  trusted = await startTestGateway(config(upstream.url, 'trustedProxies: [127.0.0.1]'));
});

t.afterEach(async () => {
  upstream.requests.length = 0;
});

t.teardown(async () => {
  await untrusted.close();
  await trusted.close();
  await upstream.close();
});

// --- untrusted peer: replaced, never appended -------------------------------------------

t.test('untrusted: X-Forwarded-For is replaced by the peer address, not appended to', async (t) => {
  const res = await rawRequest(untrusted.url, rawGet('/open/x', ['X-Forwarded-For: 10.0.0.1']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-forwarded-for'), ['127.0.0.1']);
});

t.test('untrusted: several X-Forwarded-For lines are replaced by one', async (t) => {
  const res = await rawRequest(untrusted.url, rawGet('/open/x', ['X-Forwarded-For: 10.0.0.1', 'X-Forwarded-For: 10.0.0.2, 10.0.0.3']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-forwarded-for'), ['127.0.0.1']);
});

t.test('untrusted: X-Forwarded-Proto https cannot claim TLS on a plain connection', async (t) => {
  const res = await rawRequest(untrusted.url, rawGet('/open/x', ['X-Forwarded-Proto: https']));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-forwarded-proto'), ['http']);
  t.match(valuesFolded(got, 'forwarded')[0], /proto=http$/);
});

t.test('untrusted: X-Forwarded-Host is replaced by the request authority', async (t) => {
  const res = await rawRequest(untrusted.url, rawGet('/open/x', ['X-Forwarded-Host: evil.example']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-forwarded-host'), ['gate.test']);
});

t.test('untrusted: X-Forwarded-Port, -Prefix and -Server are removed', async (t) => {
  const res = await rawRequest(untrusted.url, rawGet('/open/x', ['X-Forwarded-Port: 443', 'X-Forwarded-Prefix: /admin', 'X-Forwarded-Server: trusted-lb']));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-forwarded-port'), []);
  t.same(valuesFolded(got, 'x-forwarded-prefix'), []);
  t.same(valuesFolded(got, 'x-forwarded-server'), []);
});

t.test('untrusted: Forwarded is replaced by the one element gatehouse writes', async (t) => {
  const res = await rawRequest(untrusted.url, rawGet('/open/x', ['Forwarded: for=10.0.0.1;proto=https;host=evil.example']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'forwarded'), ['for=127.0.0.1;host="gate.test";proto=http']);
});

t.test('untrusted: X-Real-IP is replaced by the peer address', async (t) => {
  const res = await rawRequest(untrusted.url, rawGet('/open/x', ['X-Real-IP: 10.0.0.1']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-real-ip'), ['127.0.0.1']);
});

t.test('untrusted: _ and . spellings of forwarded headers are removed too', async (t) => {
  const res = await rawRequest(untrusted.url, rawGet('/open/x', ['X_Forwarded_For: 10.0.0.1', 'x.real.ip: 10.0.0.1', 'X_FORWARDED_PROTO: https', 'X.Forwarded.Host: evil.example']));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-forwarded-for'), ['127.0.0.1']);
  t.same(valuesFolded(got, 'x-real-ip'), ['127.0.0.1']);
  t.same(valuesFolded(got, 'x-forwarded-proto'), ['http']);
  t.same(valuesFolded(got, 'x-forwarded-host'), ['gate.test']);
});

// security.md §5 says `X-Forwarded-*`: the family, not six names. Upstreams read others of
// it as facts about the request (oauth2-proxy's X-Forwarded-User/-Email, forward-auth's
// X-Forwarded-Uri/-Method, X-Forwarded-Ssl/-Scheme for "was this https").
const otherForwarded: Array<[string, string]> = [
  ['X-Forwarded-User (an identity claim)', 'X-Forwarded-User: admin'],
  ['X-Forwarded-Email (an identity claim)', 'X-Forwarded-Email: ceo@example.com'],
  ['X-Forwarded-Uri (the original path)', 'X-Forwarded-Uri: /admin/panel'],
  ['X-Forwarded-Ssl (a TLS claim)', 'X-Forwarded-Ssl: on'],
];

for (const [what, line] of otherForwarded) {
  t.test(`untrusted: ${what} does not reach the upstream`, async (t) => {
    const res = await rawRequest(untrusted.url, rawGet('/open/x', [line]));
    t.equal(res.status, 200);
    const name = line.slice(0, line.indexOf(':'));
    t.same(valuesFolded(onlyRequest(t, upstream), name), []);
  });
}

t.test('a Host carrying a double quote cannot break out of the Forwarded header: 400', async (t) => {
  const res = await rawRequest(untrusted.url, rawGet('/open/x', [], 'gate.test";for=10.0.0.1'));
  t.equal(res.status, 400);
  await assertNothingForwarded(t, upstream);
});

t.test('untrusted: X-Forwarded-Host does not select a host-scoped route', async (t) => {
  const res = await rawRequest(untrusted.url, rawGet('/internal/x', ['X-Forwarded-Host: internal.example.com']));
  t.equal(res.status, 404);
  await assertNothingForwarded(t, upstream);
});

t.test('untrusted: the decision log records the peer, not a claimed X-Forwarded-For', async (t) => {
  const before = requestLines(untrusted).length;
  const res = await rawRequest(untrusted.url, rawGet('/open/x', ['X-Forwarded-For: 10.9.9.9', 'X-Real-IP: 10.9.9.9']));
  t.equal(res.status, 200);
  const lines = requestLines(untrusted).slice(before);
  t.equal(lines.length, 1);
  t.equal(lines[0]!.client, '127.0.0.1');
});

t.test('untrusted: a fresh X-Forwarded-For per attempt does not escape the per-IP throttle', async (t) => {
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await rawRequest(untrusted.url, rawGet('/app/x', [`Authorization: ${basic(`user${i}`, 'guess')}`, `X-Forwarded-For: 10.1.0.${i}`]));
    statuses.push(res.status);
  }
  t.same(statuses, [401, 401, 401, 429, 429]);
  const res = await rawRequest(untrusted.url, rawGet('/app/x', [`Authorization: ${basic('alice', 'wonderland')}`, 'X-Forwarded-For: 10.1.0.99']));
  t.equal(res.status, 429, 'not even the right password gets through while the peer is throttled');
  await assertNothingForwarded(t, upstream);
});

// --- trusted peer: appended, and the client is the right-most untrusted hop -------------

t.test('trusted: X-Forwarded-For is appended to, ending with the peer', async (t) => {
  const res = await rawRequest(trusted.url, rawGet('/open/x', ['X-Forwarded-For: 203.0.113.7']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-forwarded-for'), ['203.0.113.7, 127.0.0.1']);
});

t.test('trusted: the client is the right-most untrusted hop, not a forged left-most one', async (t) => {
  const before = requestLines(trusted).length;
  const res = await rawRequest(trusted.url, rawGet('/open/x', ['X-Forwarded-For: 198.51.100.66, 203.0.113.7']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-real-ip'), ['203.0.113.7']);
  t.equal(requestLines(trusted).slice(before)[0]?.client, '203.0.113.7');
});

t.test('trusted: trusted hops are skipped when finding the client', async (t) => {
  const res = await rawRequest(trusted.url, rawGet('/open/x', ['X-Forwarded-For: 203.0.113.7, 127.0.0.1']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-real-ip'), ['203.0.113.7']);
});

t.test('trusted: non-canonical spellings are dropped even from a trusted proxy', async (t) => {
  const res = await rawRequest(trusted.url, rawGet('/open/x', ['X_Forwarded_For: 6.6.6.6', 'x.real.ip: 6.6.6.6']));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-forwarded-for'), ['127.0.0.1']);
  t.same(valuesFolded(got, 'x-real-ip'), ['127.0.0.1']);
  t.same(
    namesWithFoldedPrefix(got, 'x-forwarded-for').filter((n) => n !== 'x-forwarded-for'),
    [],
  );
});

t.test('trusted: X-Forwarded-Proto from the proxy is believed', async (t) => {
  const res = await rawRequest(trusted.url, rawGet('/open/x', ['X-Forwarded-Proto: https']));
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-forwarded-proto'), ['https']);
  t.match(valuesFolded(got, 'forwarded')[0], /proto=https$/);
});

t.test('trusted: Forwarded from the proxy is appended to', async (t) => {
  const res = await rawRequest(trusted.url, rawGet('/open/x', ['Forwarded: for=203.0.113.7;proto=https']));
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'forwarded'), ['for=203.0.113.7;proto=https, for=127.0.0.1;host="gate.test";proto=http']);
});

t.test('trusted: one throttled client behind the proxy does not lock out another', async (t) => {
  for (let i = 0; i < 2; i++) {
    const res = await rawRequest(trusted.url, rawGet('/app/x', [`Authorization: ${basic('alice', `guess${i}`)}`, 'X-Forwarded-For: 203.0.113.50']));
    t.equal(res.status, 401);
  }
  const blocked = await rawRequest(trusted.url, rawGet('/app/x', [`Authorization: ${basic('alice', 'wonderland')}`, 'X-Forwarded-For: 203.0.113.50']));
  t.equal(blocked.status, 429);
  await assertNothingForwarded(t, upstream);
  const other = await rawRequest(trusted.url, rawGet('/app/x', [`Authorization: ${basic('alice', 'wonderland')}`, 'X-Forwarded-For: 203.0.113.51']));
  t.equal(other.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), ['alice']);
});
