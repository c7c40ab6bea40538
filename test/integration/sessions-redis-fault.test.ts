// A Redis outage under a running gatehouse (security.md §10): session routes answer 503
// GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE quickly, never 200 and never forwarded; a Basic
// route keeps serving; /readyz stays 200 and reports the store in its body; sign-in
// answers 503. When Redis is back, the SAME cookie works again without restarting gatehouse.
//
// This file starts its OWN redis-server on a free port and stops it by pid (toolchain.md:
// never the shared one on 6379). Two kinds of outage:
//   - hung: SIGSTOP, then SIGCONT. The TCP connection stays open and nothing answers, so
//     every command runs into the store's command timeout (1 s). Data survives.
//   - down: a RDB snapshot (SAVE), then SIGKILL: connections are refused. Restarted on the
//     same port with the same --dir it loads the snapshot (--save '' only turns automatic
//     snapshots off), so the session made before the outage exists again.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startRedisServer, stopRedisServer, stopRedisServers } from '../helpers/redis.js';
import { cookiePair, postSignIn, signIn } from '../helpers/sign-in.js';
import { freePort, waitUntil } from '../helpers/wait.js';

const COOKIE = 'gh_fault_session';
const PASSWORD = randomBytes(12).toString('hex');
const FAIL_FAST_MS = 3000;

const redisDir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-fault-'));
let redis: ChildProcess | undefined;
let port = 0;
let upstream: RecordingUpstream;
let gw: TestGateway;

t.teardown(async () => {
  await gw?.close();
  await upstream?.close();
  await stopRedisServers();
  rmSync(redisDir, { recursive: true, force: true });
});

/** Our own redis-server on `port`, keeping its snapshot in `redisDir` for the restart. */
const startRedis = (): Promise<ChildProcess> => startRedisServer(port, ['--dir', redisDir, '--dbfilename', 'dump.rdb']);

/** Who signs in through the form (sign-in.ts: the form's GET, then the POST). */
const alice = { cookie: COOKIE, user: 'alice', password: PASSWORD };

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  const res = await request(`${gw.url}${path}`, { headers });
  const body = await res.body.text();
  return { status: res.statusCode, body, ms: performance.now() - started };
}

async function readyz(): Promise<{ status: number; sessions: { ok: boolean; store: string; lastError?: string } }> {
  const res = await request(`${gw.adminUrl}/readyz`);
  const body = JSON.parse(await res.body.text()) as { sessions: { ok: boolean; store: string; lastError?: string } };
  return { status: res.statusCode, sessions: body.sessions };
}

const basic = { authorization: 'Basic ' + Buffer.from(`alice:${PASSWORD}`).toString('base64') };

t.before(async () => {
  port = await freePort();
  redis = await startRedis();
  upstream = await startRecordingUpstream();
  const aliceHash = await hash(PASSWORD, 4);
  gw = await startTestGateway(
    [
      'sessions:',
      '  store: redis',
      '  redis:',
      `    url: redis://127.0.0.1:${port}/0`,
      '    keyPrefix: "gatehouse-fault:"',
      '  cookie:',
      `    name: ${COOKIE}`,
      '    secure: false',
      `  secret: ${randomBytes(32).toString('hex')}`,
      'login:',
      '  providers:',
      '    local:',
      '      type: form',
      '      authenticator: staff',
      'authenticators:',
      '  web:',
      '    type: session',
      '  staff:',
      '    type: basic',
      '    realm: test',
      '    users:',
      `      - { name: alice, hash: "${aliceHash}" }`,
      'routes:',
      '  - name: app',
      '    match: { path: /app/** }',
      `    upstream: ${upstream.url}`,
      '    auth: web',
      '  - name: basic',
      '    match: { path: /basic/** }',
      `    upstream: ${upstream.url}`,
      '    auth: staff',
      '',
    ].join('\n'),
  );
});

/** Polls the session route until 200; `before` lists any answer on the way other than 503. */
async function recovered(cookie: string, timeoutMs: number): Promise<{ status: number; before: number[] }> {
  const before: number[] = [];
  const r = await waitUntil('the session route to serve again', timeoutMs, async () => {
    const r = await get('/app/home', { cookie });
    if (r.status !== 200 && r.status !== 503) before.push(r.status);
    return r.status === 200 ? r : undefined;
  });
  return { status: r.status, before };
}

/** What every session-route answer must be while Redis is unavailable. */
async function assertUnavailable(t: Test, cookie: string, label: string): Promise<void> {
  const seen = upstream.requests.length;
  for (const headers of [{ cookie }, { cookie, accept: 'text/html' }] as Array<Record<string, string>>) {
    const r = await get('/app/home', headers);
    t.equal(r.status, 503, `${label}: session route 503 (${headers.accept ?? 'API'})`);
    t.equal((JSON.parse(r.body) as { code: string }).code, 'GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE');
    t.ok(r.ms < FAIL_FAST_MS, `${label}: answered in ${Math.round(r.ms)} ms (< ${FAIL_FAST_MS})`);
  }
  t.equal(upstream.requests.length, seen, `${label}: nothing forwarded`);
  const b = await get('/basic/item', basic);
  t.equal(b.status, 200, `${label}: the Basic route still serves`);
  // Its throttle counters live in the same Redis and fail open (basic.ts): a lookup may
  // wait out the command timeout, never longer.
  t.ok(b.ms < FAIL_FAST_MS, `${label}: Basic answered in ${Math.round(b.ms)} ms (< ${FAIL_FAST_MS})`);
  t.equal(upstream.requests.at(-1)!.headers['x-auth-user'], 'alice');
}

t.test('Redis hung (SIGSTOP): 503 within the command timeout; SIGCONT: the same cookie works again', async (t) => {
  const cookie = await signIn(gw.url, alice);
  t.equal((await get('/app/home', { cookie })).status, 200);
  t.equal((await get('/basic/item', basic)).status, 200, 'Basic warm before the outage');
  t.same((await readyz()).sessions, { ok: true, store: 'redis' });

  redis!.kill('SIGSTOP');
  try {
    await assertUnavailable(t, cookie, 'hung');
    const ready = await readyz();
    t.equal(ready.status, 200, '/readyz stays 200');
    // The timed-out command, the commands cut off when the hung socket is dropped, or
    // the reconnect to a server that answers nothing.
    t.match(ready.sessions.lastError, /^(COMMAND_TIMEOUT|ETIMEDOUT|NOT_CONNECTED|CONNECTION_CLOSED)$/, 'readyz names the failure');
    // A server that accepts nothing but keeps the connection open (SIGSTOP, a partition
    // without RST) is reported as down, not as ready.
    t.equal(ready.sessions.ok, false, 'readyz reports the hung store as not ok');
  } finally {
    redis!.kill('SIGCONT');
  }
  const back = await recovered(cookie, 5000);
  t.equal(back.status, 200, 'the same cookie works again, gatehouse not restarted');
  t.same(back.before, [], 'no answer but 503 while it came back');
  t.equal(upstream.requests.at(-1)!.headers['x-auth-user'], 'alice');
});

t.test('Redis down (killed, restarted from its snapshot): readyz 200 + ok:false, sign-in 503, then the same cookie again', async (t) => {
  const cookie = await signIn(gw.url, alice);
  t.equal((await get('/app/home', { cookie })).status, 200);
  // The snapshot the restarted server loads; taken on our own server, never the shared one.
  const ctl = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await ctl.connect();
  t.equal(await ctl.save(), 'OK');
  ctl.disconnect();

  await stopRedisServer(redis!);
  // The closed connection flips health at once; the first reconnect attempt (~100 ms
  // later) records why it fails.
  const ready = await waitUntil('readyz to report the refused reconnect', 3000, async () => {
    const r = await readyz();
    return !r.sessions.ok && r.sessions.lastError === 'ECONNREFUSED' ? r : undefined;
  });
  t.equal(ready.status, 200, '/readyz stays 200: Basic routes must keep serving');
  t.same(ready.sessions, { ok: false, store: 'redis', lastError: 'ECONNREFUSED' });
  await assertUnavailable(t, cookie, 'down');
  const scrape = await (await request(`${gw.adminUrl}/metrics`)).body.text();
  t.match(scrape, /^gatehouse_session_store_up 0$/m, 'metrics show the outage');
  t.match(scrape, /^gatehouse_config_info\{hash="[0-9a-f]{12}"\} 1$/m);

  const seen = upstream.requests.length;
  const refused = await postSignIn(gw.url, alice);
  t.equal(refused.status, 503, 'sign-in POST answers 503');
  t.match(refused.body, /GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE/);
  t.equal(cookiePair(refused.headers, COOKIE), undefined, 'no session cookie');
  t.ok(refused.ms < FAIL_FAST_MS, `sign-in refused in ${Math.round(refused.ms)} ms`);
  t.equal(upstream.requests.length, seen);

  redis = await startRedis();
  const started = performance.now();
  const back = await recovered(cookie, 10_000);
  t.equal(back.status, 200, 'the session made before the outage works again, gatehouse not restarted');
  t.same(back.before, [], 'no answer but 503 while it came back (never "no session")');
  t.comment(`sessions served again ${Math.round(performance.now() - started)} ms after Redis answered`);
  t.equal(upstream.requests.at(-1)!.headers['x-auth-user'], 'alice');
  const after = await readyz();
  t.equal(after.status, 200);
  t.equal(after.sessions.ok, true, 'readyz reports the store up again');
  t.match(await signIn(gw.url, alice), new RegExp(`^${COOKIE}=`), 'sign-in works again');
});
