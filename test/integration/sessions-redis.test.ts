// Sessions shared through Redis by two real `gatehouse serve` processes (security.md §8):
// a session made on one instance works on the other, and a logout or an operator's
// `gatehouse sessions revoke` on either ends it on both at once, with no cache to wait out.
// Redis: the shared one on 127.0.0.1:6379, under a key prefix of this run only, whose keys
// are deleted at the end (test/helpers/redis.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { hash } from '@node-rs/bcrypt';
import { Redis } from 'ioredis';
import t from 'tap';
import { request } from 'undici';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { SHARED_REDIS_URL, deleteKeysUnder, runPrefix } from '../helpers/redis.js';
import { cookiePair, hidden, signIn } from '../helpers/sign-in.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'src/cli/main.ts');
const RUN_PREFIX = runPrefix();
const COOKIE = 'gh_test_session';
const PASSWORD = randomBytes(12).toString('hex');
const SECRET = randomBytes(32).toString('hex');

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sessions-redis-'));
const file = join(dir, 'gatehouse.yaml');
const admin = new Redis(SHARED_REDIS_URL);
const children = new Set<ChildProcess>();
let upstream: RecordingUpstream;

// tsx's transform would feed tap wrong coverage for src/ (toolchain.md): not measured here.
const childEnv = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0', GATEHOUSE_SESSION_SECRET: SECRET };

t.teardown(async () => {
  await Promise.all([...children].map((c) => stop(c)));
  await deleteKeysUnder(admin, RUN_PREFIX);
  await admin.quit();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function stop(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** A `gatehouse serve` child; resolves with its proxy URL once it listens. */
async function serve(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '-c', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        if (line.msg === 'gatehouse listening') resolve(line.proxy as string);
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`gatehouse serve exited (${code}) before listening: ${stderr.slice(-2000)}`)));
  });
  return { url, child };
}

/** `gatehouse sessions …` against the same config. */
function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'sessions', ...args, '-c', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const idOf = (cookie: string): string => cookie.slice(COOKIE.length + 1).split('.', 1)[0]!;
const idHash = (id: string): string => createHash('sha256').update(id, 'utf8').digest('base64url');

/** Signs in over HTTP as a browser would (the form, then the POST); the session cookie. */
const signInAs = (base: string, user = 'alice'): Promise<string> => signIn(base, { cookie: COOKIE, user, password: PASSWORD });

async function get(base: string, path: string, cookie: string | undefined, accept?: string) {
  const res = await request(`${base}${path}`, { headers: { ...(cookie ? { cookie } : {}), ...(accept ? { accept } : {}) } });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body };
}

let A: string;
let B: string;

t.before(async () => {
  upstream = await startRecordingUpstream();
  const aliceHash = await hash(PASSWORD, 4);
  writeFileSync(
    file,
    [
      'listen: 127.0.0.1:0',
      'admin: { listen: "127.0.0.1:0" }',
      'sessions:',
      '  store: redis',
      '  redis:',
      `    url: ${SHARED_REDIS_URL}`,
      `    keyPrefix: "${RUN_PREFIX}"`,
      '  cookie:',
      `    name: ${COOKIE}`,
      '    secure: false',
      '  secret: ${env:GATEHOUSE_SESSION_SECRET}',
      '  maxAge: 1h',
      '  idleTimeout: 30m',
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
      '      - { name: bob, hash: "' + aliceHash + '" }',
      'routes:',
      '  - name: app',
      '    match: { path: /app/** }',
      `    upstream: ${upstream.url}`,
      '    auth: web',
      '',
    ].join('\n'),
  );
  const [a, b] = await Promise.all([serve(), serve()]);
  A = a.url;
  B = b.url;
});

t.test('sign in on A, use and log out on B: A refuses the cookie on the very next request', async (t) => {
  t.not(A, B, 'two instances');
  const cookie = await signInAs(A);
  t.match(cookie, new RegExp(`^${COOKIE}=[A-Za-z0-9_-]{43}\\.`));
  const key = `${RUN_PREFIX}s:${idHash(idOf(cookie))}`;
  t.equal(await admin.exists(key), 1, 'the session lives in Redis under sha256(id), never the id');

  const seen = upstream.requests.length;
  const onB = await get(B, '/app/home', cookie);
  t.equal(onB.status, 200, 'the session made on A works on B');
  t.equal(upstream.requests.length, seen + 1);
  const forwarded = upstream.requests.at(-1)!;
  t.equal(forwarded.headers['x-auth-user'], 'alice');
  t.equal(forwarded.headers['x-auth-method'], 'session');
  t.notOk(String(forwarded.headers.cookie ?? '').includes(COOKIE), 'the session cookie is not forwarded');

  // Log out on B: the confirmation page's session-bound token, then the POST.
  const page = await get(B, '/.gatehouse/logout', cookie, 'text/html');
  t.equal(page.status, 200);
  const out = await request(`${B}/.gatehouse/logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, 'sec-fetch-site': 'same-origin', accept: 'text/html' },
    body: new URLSearchParams({ csrf: hidden(page.body, 'csrf')! }).toString(),
  });
  await out.body.text();
  t.equal(out.statusCode, 303);
  t.equal(out.headers.location, '/.gatehouse/login');
  t.match(cookiePair(out.headers, COOKIE), new RegExp(`^${COOKIE}=$`), 'the cookie is cleared');
  t.equal(await admin.exists(key), 0, 'the logout deleted it from Redis');

  const before = upstream.requests.length;
  const api = await get(A, '/app/home', cookie);
  t.equal(api.status, 401, 'A: an API-style request with the ended session is refused at once');
  const browser = await get(A, '/app/home?x=1', cookie, 'text/html');
  t.equal(browser.status, 302, 'A: a browser is sent to sign in');
  t.equal(browser.headers.location, `/.gatehouse/login?rd=${encodeURIComponent('/app/home?x=1')}`);
  const onBAgain = await get(B, '/app/home', cookie);
  t.equal(onBAgain.status, 401, 'B refuses it too');
  t.equal(upstream.requests.length, before, 'the upstream was not reached');
});

t.test('gatehouse sessions list / revoke --user alice: by hash prefix, ended on both instances at once', async (t) => {
  const onA = await signInAs(A);
  const onB = await signInAs(B);
  const bobs = await signInAs(A, 'bob');
  for (const [base, c] of [[A, onA], [B, onA], [A, onB], [B, onB]] as const) t.equal((await get(base, '/app/x', c)).status, 200, 'live before the revocation');

  // Both read only: run side by side (each CLI start costs seconds on a loaded machine).
  const [listed, json] = await Promise.all([cli('list', '--user', 'alice'), cli('list', '--user', 'alice', '--json')]);
  t.equal(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trim().split('\n');
  t.equal(lines[0], 'id\tuser\tprovider\tcreated\tlast seen\texpires');
  const rows = lines.slice(1).map((l) => l.split('\t'));
  t.equal(rows.length, 2, 'alice has two live sessions (the logged-out one is gone)');
  t.same(rows.map((r) => r[0]).sort(), [idHash(idOf(onA)).slice(0, 12), idHash(idOf(onB)).slice(0, 12)].sort(), 'sessions are named by the hash prefix');
  for (const r of rows) {
    t.equal(r[1], 'alice');
    t.equal(r[2], 'local');
  }
  for (const c of [onA, onB, bobs]) {
    t.notOk(listed.stdout.includes(idOf(c)), 'never the session id');
    t.notOk(listed.stdout.includes(idHash(idOf(c))), 'never the whole storage key');
  }
  t.equal(json.code, 0, json.stderr);
  t.same(
    (JSON.parse(json.stdout) as Array<{ id: string; user: string }>).map((s) => s.id).sort(),
    rows.map((r) => r[0]).sort(),
  );

  const seen = upstream.requests.length;
  const revoked = await cli('revoke', '--user', 'alice');
  t.equal(revoked.code, 0, revoked.stderr);
  t.equal(revoked.stdout, 'revoked 2 session(s) of alice\n');
  for (const [base, c] of [[A, onA], [B, onA], [A, onB], [B, onB]] as const) t.equal((await get(base, '/app/x', c)).status, 401, 'revoked everywhere at once');
  t.equal(upstream.requests.length, seen, 'no revoked request reached the upstream');
  t.equal((await get(B, '/app/x', bobs)).status, 200, "bob's session is untouched");

  const after = await cli('list', '--user', 'alice');
  t.equal(after.code, 0, after.stderr);
  t.equal(after.stdout, 'id\tuser\tprovider\tcreated\tlast seen\texpires\n', 'nothing left for alice');
});
