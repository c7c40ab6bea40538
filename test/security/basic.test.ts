// Basic: no oracle (security.md §7). Unknown user and wrong password are answered alike
// and cost alike; failures are throttled per (user, client IP) and per client IP with
// 429 + Retry-After; failures from many IPs slow a user down but never lock the real
// user out from a clean IP; malformed credentials are refused, never guessed at.
// The gateway trusts 127.0.0.1 so each case can act from its own client addresses.
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { assertNothingForwarded, basic, onlyRequest, rawGet, valuesFolded } from './support.js';

let upstream: RecordingUpstream;
let gw: TestGateway;
let timing: TestGateway;

t.before(async () => {
  upstream = await startRecordingUpstream();
  gw = await startTestGateway(`
trustedProxies: [127.0.0.1]
authenticators:
  staff:
    type: basic
    realm: Staff
    users:
      - { name: alice, hash: "${hashSync('wonderland', 4)}" }
      - { name: carol, hash: "${hashSync('col:on:pass', 4)}" }
      - { name: dave, hash: "${hashSync('d4ve', 4)}" }
      - { name: erin, hash: "${hashSync('3rin', 4)}" }
      - { name: frank, hash: "${hashSync('fr4nk', 4)}" }
    throttle: { window: 60s, maxFailuresPerUserAndIp: 3, maxFailuresPerIp: 6, slowdownAfterUserFailures: 4 }
routes:
  - name: app
    match: { path: /app/** }
    upstream: ${upstream.url}
    auth: staff
`);
  // A real cost (10) only here: at cost 4 a hash check takes about a millisecond, too
  // little to tell a dummy verification from none at all.
  timing = await startTestGateway(`
trustedProxies: [127.0.0.1]
authenticators:
  staff:
    type: basic
    users:
      - { name: grace, hash: "${hashSync('h0pper', 10)}" }
      - { name: heidi, hash: "${hashSync('kl4us', 10)}" }
routes:
  - name: app
    match: { path: /app/** }
    upstream: ${upstream.url}
    auth: staff
`);
});

t.afterEach(async () => {
  upstream.requests.length = 0;
});

t.teardown(async () => {
  await gw.close();
  await timing.close();
  await upstream.close();
});

/** GET /app/x with this Authorization value, as client `ip` (behind the trusted proxy). */
function attempt(authorization: string | undefined, ip: string, on: TestGateway = gw): Promise<RawResponse> {
  const lines = [`X-Forwarded-For: ${ip}`];
  if (authorization !== undefined) lines.push(`Authorization: ${authorization}`);
  return rawRequest(on.url, rawGet('/app/x', lines));
}

/** The answer without what legitimately differs per request. */
function comparable(res: RawResponse): unknown {
  const headers = { ...res.headers };
  delete headers.date;
  delete headers['x-request-id'];
  const body = JSON.parse(res.body) as Record<string, unknown>;
  delete body.requestId;
  return { status: res.status, headers, body };
}

const b64 = (bytes: Buffer): string => 'Basic ' + bytes.toString('base64');

// --- no oracle ----------------------------------------------------------------------------

t.test('unknown user and wrong password get the identical answer', async (t) => {
  const wrong = await attempt(basic('alice', 'not-it'), '192.0.2.1');
  const unknown = await attempt(basic('mallory', 'not-it'), '192.0.2.1');
  t.equal(wrong.status, 401);
  t.same(comparable(unknown), comparable(wrong));
  await assertNothingForwarded(t, upstream);
});

t.test('unknown user costs a hash verification like a wrong password (no timing oracle)', async (t) => {
  const time = async (auth: string, ip: string): Promise<number> => {
    const started = performance.now();
    const res = await attempt(auth, ip, timing);
    t.equal(res.status, 401);
    return performance.now() - started;
  };
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 5; i++) {
    // A fresh client address and password each time: nothing throttled, nothing cached.
    known.push(await time(basic(i % 2 ? 'grace' : 'heidi', `guess-${i}`), `192.0.2.${10 + i}`));
    unknown.push(await time(basic(`nobody${i}`, `guess-${i}`), `192.0.2.${20 + i}`));
  }
  t.ok(median(unknown) >= median(known) * 0.5, `unknown ${median(unknown).toFixed(1)} ms vs wrong password ${median(known).toFixed(1)} ms`);
  await assertNothingForwarded(t, upstream);
});

t.test('unknown and known names are throttled alike, with identical 429 answers', async (t) => {
  const known: RawResponse[] = [];
  const unknown: RawResponse[] = [];
  for (let i = 0; i < 4; i++) {
    known.push(await attempt(basic('frank', `guess-${i}`), '192.0.2.30'));
    unknown.push(await attempt(basic('nobody-at-all', `guess-${i}`), '192.0.2.31'));
  }
  t.same(known.map((r) => r.status), [401, 401, 401, 429]);
  t.same(unknown.map((r) => comparable(r)), known.map((r) => comparable(r)));
  await assertNothingForwarded(t, upstream);
});

// --- throttle -----------------------------------------------------------------------------

t.test('per (user, IP): after the limit the answer is 429 with a Retry-After in seconds', async (t) => {
  const statuses: number[] = [];
  let last: RawResponse | undefined;
  for (let i = 0; i < 4; i++) {
    last = await attempt(basic('alice', `guess-${i}`), '192.0.2.40');
    statuses.push(last.status);
  }
  t.same(statuses, [401, 401, 401, 429]);
  t.match(last?.headers['retry-after'], /^[1-9][0-9]*$/);
  t.ok(Number(last?.headers['retry-after']) <= 60, 'no longer than the window');
  await assertNothingForwarded(t, upstream);
});

t.test('while throttled, even the right password is 429 and never forwarded (no confirmation)', async (t) => {
  for (let i = 0; i < 3; i++) await attempt(basic('alice', `guess-${i}`), '192.0.2.41');
  const res = await attempt(basic('alice', 'wonderland'), '192.0.2.41');
  t.equal(res.status, 429);
  await assertNothingForwarded(t, upstream);
});

t.test('per IP: failures spread over many names block that IP for every name', async (t) => {
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await attempt(basic(`spray${i}`, 'Winter2024!'), '192.0.2.42')).status);
  t.same(statuses, [401, 401, 401, 401, 401, 401]);
  const next = await attempt(basic('alice', 'wonderland'), '192.0.2.42');
  t.equal(next.status, 429);
  t.match(next.headers['retry-after'], /^[1-9][0-9]*$/);
  await assertNothingForwarded(t, upstream);
});

t.test('a burst of parallel guesses cannot exceed the per-(user, IP) limit', async (t) => {
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt(basic('erin', `burst-${i}`), '192.0.2.43')));
  const verified = answers.filter((r) => r.status === 401).length;
  const throttled = answers.filter((r) => r.status === 429).length;
  t.ok(verified <= 3, `${verified} guesses were checked`);
  t.equal(verified + throttled, 12);
  await assertNothingForwarded(t, upstream);
});

t.test('failures against a user from many IPs never lock that user out from a clean IP', async (t) => {
  const failures = await Promise.all(Array.from({ length: 10 }, (_, i) => attempt(basic('dave', `spray-${i}`), `198.51.100.${i + 1}`)));
  t.same(failures.map((r) => r.status), Array(10).fill(401));
  const res = await attempt(basic('dave', 'd4ve'), '198.51.100.200');
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), ['dave']);
});

t.test('failures against a user from many IPs slow that user down instead', async (t) => {
  await Promise.all(Array.from({ length: 5 }, (_, i) => attempt(basic('carol', `spray-${i}`), `198.51.100.${50 + i}`)));
  const started = performance.now();
  const res = await attempt(basic('carol', 'col:on:pass'), '198.51.100.250');
  const elapsed = performance.now() - started;
  t.equal(res.status, 200);
  t.ok(elapsed >= 240, `the check waited ${elapsed.toFixed(0)} ms`);
});

t.test('the slowdown hits an unknown name the same way (it reveals nothing)', async (t) => {
  await Promise.all(Array.from({ length: 5 }, (_, i) => attempt(basic('ghost', `spray-${i}`), `198.51.100.${60 + i}`)));
  const started = performance.now();
  const res = await attempt(basic('ghost', 'anything'), '198.51.100.251');
  const elapsed = performance.now() - started;
  t.equal(res.status, 401);
  t.ok(elapsed >= 240, `the check waited ${elapsed.toFixed(0)} ms`);
  await assertNothingForwarded(t, upstream);
});

// --- malformed and tricky credentials: 401, never forwarded, never a crash ----------------

const malformed: Array<[string, string]> = [
  ['the scheme without a token', 'Basic'],
  ['the scheme and an empty token', 'Basic '],
  ['a token that is not base64', 'Basic !!!!'],
  ['base64 with junk inside', `Basic ${Buffer.from('alice:wonderland').toString('base64').slice(0, 8)}*${Buffer.from('alice:wonderland').toString('base64').slice(8)}`],
  ['credentials without a colon', b64(Buffer.from('alicewonderland'))],
  ['an empty user name', b64(Buffer.from(':wonderland'))],
  ['non-UTF-8 bytes in the password', b64(Buffer.concat([Buffer.from('alice:'), Buffer.from([0xff, 0xfe, 0xc0, 0xaf])]))],
  ['non-UTF-8 bytes in the user name', b64(Buffer.concat([Buffer.from('al'), Buffer.from([0xe9]), Buffer.from('ce:wonderland')]))],
  ['a NUL inside the password', b64(Buffer.from('alice:wonder\x00land'))],
  ['a CR LF inside the user name', b64(Buffer.from('alice\r\nX-Auth-User: root:wonderland'))],
  ['a token far over any sane size', `Basic ${'QUFB'.repeat(2000)}`],
  ['two tokens after the scheme', `Basic ${Buffer.from('alice:wonderland').toString('base64')} ${Buffer.from('bob:x').toString('base64')}`],
];

malformed.forEach(([what, value], i) => {
  t.test(`malformed: ${what} is 401 and never forwarded`, async (t) => {
    const res = await attempt(value, `203.0.113.${i + 1}`);
    t.equal(res.status, 401);
    t.match(res.headers['www-authenticate'], /^Basic realm="Staff"/);
    await assertNothingForwarded(t, upstream);
  });
});

t.test('a password containing colons is split at the first colon only', async (t) => {
  const res = await attempt(basic('carol', 'col:on:pass'), '203.0.113.100');
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), ['carol']);
});

t.test('a prefix of a colon-containing password is a wrong password', async (t) => {
  const res = await attempt(basic('carol', 'col'), '203.0.113.101');
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

t.test('a user name cannot absorb part of the password (carol:col + on:pass)', async (t) => {
  const res = await attempt(b64(Buffer.from('carol:col:on')), '203.0.113.102');
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

t.test('a password differing only by trailing whitespace is wrong (no trimming)', async (t) => {
  const res = await attempt(basic('alice', 'wonderland '), '203.0.113.103');
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

t.test('another scheme on a Basic route is a 401 with the Basic challenge', async (t) => {
  const res = await attempt('Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.', '203.0.113.104');
  t.equal(res.status, 401);
  t.equal(res.headers['www-authenticate'], 'Basic realm="Staff", charset="UTF-8"');
  await assertNothingForwarded(t, upstream);
});

t.test('the gateway still answers a good sign-in after all of the above', async (t) => {
  const res = await attempt(basic('alice', 'wonderland'), '203.0.113.200');
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), ['alice']);
});
