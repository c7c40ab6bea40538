// reload.ts in this process: reading the config once per attempt, queueing reloads, and
// `watch: true` seeing an editor's write-then-rename, in-place writes and symlink swaps,
// while ignoring other files of the folder and saves that change nothing.
import { renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { createReloader, digestOf, loadSnapshot, readSnapshot, serveDeps, type ReloadReason } from '../../src/cli/reload.js';
import { createLogger } from '../../src/logging.js';
import { createMetrics } from '../../src/server/metrics.js';

const ROUTE = (auth: string): string => `routes:\n  - name: r\n    match: { path: /** }\n    upstream: echo\n    auth: ${auth}\n`;

function capture(): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger('debug', sink), lines };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(10);
  }
}

t.test('readSnapshot and loadSnapshot', async (t) => {
  const dir = t.testdir({ 'g.yaml': ROUTE('anonymous'), 'latin1.yaml': Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]), sub: {}, 'bad.yaml': ROUTE('nobody') });
  const snap = readSnapshot(join(dir, 'g.yaml'));
  t.same(snap, { text: ROUTE('anonymous'), digest: digestOf(Buffer.from(ROUTE('anonymous'))) });
  t.equal(readSnapshot(join(dir, 'latin1.yaml')), undefined, 'not UTF-8');
  t.equal(readSnapshot(join(dir, 'sub')), undefined, 'not a file');
  t.equal(readSnapshot(join(dir, 'nope.yaml')), undefined, 'missing');

  const ok = await loadSnapshot(join(dir, 'g.yaml'), {}, {});
  t.ok(ok.ok);
  if (ok.ok) {
    t.equal(ok.snapshot.digest, snap!.digest);
    t.equal(ok.config.policy.routes.length, 1);
    await ok.config.close();
  }
  t.same(await loadSnapshot(join(dir, 'latin1.yaml'), {}, {}), { ok: false, messages: [`${join(dir, 'latin1.yaml')}:1:1 cannot read the configuration file: ${join(dir, 'latin1.yaml')} is not UTF-8 text`], digest: undefined });
  const bad = await loadSnapshot(join(dir, 'bad.yaml'), {}, {});
  t.same(bad.ok ? undefined : bad.digest, digestOf(ROUTE('nobody')), 'the digest of what was rejected: the watcher does not try it again');
  t.match(bad.ok ? undefined : bad.messages, [new RegExp(`^${join(dir, 'bad.yaml')}:5:11 routes\\[0\\]\\.auth: unknown authenticator "nobody"`)]);
  const given = await loadSnapshot(join(dir, 'nope.yaml'), {}, {}, ROUTE('deny'));
  t.ok(given.ok, 'a worker compiles the text its primary validated, whatever the file holds now');
  if (given.ok) {
    t.equal(given.snapshot.digest, digestOf(ROUTE('deny')));
    await given.config.close();
  }
  const hostile = new Proxy({}, {
    get() {
      throw new TypeError('boom');
    },
  }) as NodeJS.ProcessEnv;
  await t.rejects(loadSnapshot(join(dir, 'g.yaml'), hostile, {}, 'listen: "${env:X}"\n' + ROUTE('anonymous')), { message: 'boom' }, 'errors other than config problems are not swallowed');
});

t.test('serveDeps: JWKS and sign-in events become metrics and logs without secrets', async (t) => {
  const metrics = createMetrics();
  const { log, lines } = capture();
  let current: typeof log | undefined;
  const deps = serveDeps(metrics, () => current);
  deps.onJwksEvent!('idp', { type: 'error', detail: { error: 'timeout', stale: false, consecutiveFailures: 1 } } as never);
  current = log;
  deps.onJwksEvent!('idp', { type: 'error', detail: { error: 'timeout', stale: true, consecutiveFailures: 2 } } as never);
  deps.onJwksEvent!('idp', { type: 'refresh', detail: { changed: true, keys: 2, skipped: [] } } as never);
  deps.onJwksEvent!('idp', { type: 'refresh', detail: { changed: false, keys: 2, skipped: [] } } as never);
  deps.onJwksEvent!('idp', { type: 'refresh', detail: { changed: false, keys: 2, skipped: ['k1'] } } as never);
  deps.onLoginError!('session-read', Object.assign(new Error('redis://user:hunter2@host failed'), { code: 'ECONNREFUSED' }));
  log.flush();
  const text = await metrics.registry.metrics();
  t.match(text, /gatehouse_jwks_fetches_total\{authenticator="idp",result="error"\} 2/);
  t.match(text, /gatehouse_jwks_fetches_total\{authenticator="idp",result="refreshed"\} 1/);
  t.match(text, /gatehouse_jwks_fetches_total\{authenticator="idp",result="unchanged"\} 2/);
  t.match(text, /gatehouse_session_store_errors_total\{where="session-read"\} 1/);
  t.same(lines.map((l) => l.msg), ['jwks fetch failed', 'jwks refreshed', 'jwks refreshed', 'session or sign-in dependency failed']);
  t.same(lines[3]!.err, { code: 'ECONNREFUSED', type: 'Error' });
  t.notMatch(JSON.stringify(lines), /hunter2/);
  t.ok(deps.attempts, 'one throttle store for the process');
});

t.test('requests run one at a time, in order; a failing run is logged, not fatal', async (t) => {
  const dir = t.testdir({ 'g.yaml': ROUTE('anonymous') });
  const { log, lines } = capture();
  const order: string[] = [];
  let fail = false;
  const reloader = createReloader({
    file: join(dir, 'g.yaml'),
    digest: 'x',
    log,
    async run(reason: ReloadReason) {
      order.push(`start ${reason}`);
      await sleep(20);
      order.push(`end ${reason}`);
      if (fail) throw new Error('boom');
      return 'd';
    },
  });
  await Promise.all([reloader.request('signal'), reloader.request('watch')]);
  t.same(order, ['start signal', 'end signal', 'start watch', 'end watch']);
  fail = true;
  await reloader.request('signal');
  log.flush();
  t.same(lines.map((l) => [l.msg, (l.err as { message: string }).message]), [['config reload failed', 'boom']]);
  await reloader.close();
  await reloader.request('signal');
  t.equal(order.length, 6, 'closed: requests do nothing');
  reloader.setWatch(true);
  t.equal(reloader.watching, false, 'closed: no watch either');
});

t.test('watch: rename into place, in-place write, unchanged saves and other files', async (t) => {
  const dir = t.testdir({ 'g.yaml': ROUTE('anonymous'), 'users.htpasswd': 'x\n' });
  const file = join(dir, 'g.yaml');
  const { log } = capture();
  const runs: Array<{ reason: ReloadReason; text: string }> = [];
  const reloader = createReloader({
    file,
    digest: digestOf(ROUTE('anonymous')),
    log,
    debounceMs: 50,
    async run(reason) {
      const snap = readSnapshot(file);
      runs.push({ reason, text: snap?.text ?? '' });
      return snap?.digest;
    },
  });
  t.teardown(() => reloader.close());
  reloader.setWatch(true);
  reloader.setWatch(true);
  t.equal(reloader.watching, true);

  // An editor's save: a temporary file renamed over the original.
  writeFileSync(join(dir, '.g.yaml.swp'), ROUTE('deny'));
  renameSync(join(dir, '.g.yaml.swp'), file);
  await until(() => runs.length === 1);
  t.same(runs[0], { reason: 'watch', text: ROUTE('deny') });

  // In place, written in two bursts within the debounce: one reload.
  writeFileSync(file, ROUTE('anonymous').slice(0, 10));
  await sleep(10);
  writeFileSync(file, ROUTE('anonymous'));
  await until(() => runs.length === 2);
  await sleep(150);
  t.equal(runs.length, 2, 'a burst of writes is one reload');
  t.equal(runs[1]!.text, ROUTE('anonymous'));

  // Saved unchanged, another file of the folder, the file gone for a moment.
  writeFileSync(file, ROUTE('anonymous'));
  writeFileSync(join(dir, 'users.htpasswd'), 'y\n');
  rmSync(file);
  await sleep(200);
  t.equal(runs.length, 2, 'nothing to reload');
  writeFileSync(file, ROUTE('anonymous'));
  await sleep(200);
  t.equal(runs.length, 2, 'back as it was: still nothing');

  reloader.setWatch(false);
  t.equal(reloader.watching, false);
  writeFileSync(file, ROUTE('deny'));
  await sleep(200);
  t.equal(runs.length, 2, 'not watching');

  // Turned on again: the change made meanwhile is picked up.
  reloader.setWatch(true);
  await until(() => runs.length === 3);
  t.equal(runs[2]!.text, ROUTE('deny'));
});

t.test('watch: an unreadable file is reloaded (to report it); a symlink swap is seen', async (t) => {
  const dir = t.testdir({ data1: { 'g.yaml': ROUTE('anonymous') }, data2: { 'g.yaml': ROUTE('deny') }, elsewhere: { 'real.yaml': ROUTE('anonymous') } });
  // The Kubernetes ConfigMap layout: g.yaml -> ..data/g.yaml, ..data -> data1, swapped by a rename.
  symlinkSync('data1', join(dir, '..data'));
  symlinkSync(join('..data', 'g.yaml'), join(dir, 'g.yaml'));
  const file = join(dir, 'g.yaml');
  const { log } = capture();
  const runs: string[] = [];
  const reloader = createReloader({
    file,
    digest: digestOf(ROUTE('anonymous')),
    log,
    debounceMs: 50,
    async run() {
      const snap = readSnapshot(file);
      runs.push(snap?.text ?? 'unreadable');
      return snap?.digest;
    },
  });
  t.teardown(() => reloader.close());
  reloader.setWatch(true);
  symlinkSync('data2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  await until(() => runs.length === 1);
  t.equal(runs[0], ROUTE('deny'));

  writeFileSync(join(dir, 'data2', 'g.yaml'), Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
  await until(() => runs.length === 2);
  t.equal(runs[1], 'unreadable', 'the reload reports why');

  // A symlink to a file in another folder, edited in place there.
  const other = join(dir, 'other.yaml');
  symlinkSync(join(dir, 'elsewhere', 'real.yaml'), other);
  const runs2: string[] = [];
  const second = createReloader({
    file: other,
    digest: digestOf(ROUTE('anonymous')),
    log,
    debounceMs: 50,
    async run() {
      const snap = readSnapshot(other);
      runs2.push(snap!.text);
      return snap!.digest;
    },
  });
  t.teardown(() => second.close());
  second.setWatch(true);
  writeFileSync(join(dir, 'elsewhere', 'real.yaml'), ROUTE('deny'));
  await until(() => runs2.length === 1);
  t.equal(runs2[0], ROUTE('deny'));
});

t.test('watch: a folder that cannot be watched is logged, SIGHUP still works', async (t) => {
  const { log, lines } = capture();
  const reloader = createReloader({ file: '/nonexistent-gatehouse-dir/g.yaml', digest: 'x', log, async run() {
    return 'y';
  } });
  reloader.setWatch(true);
  log.flush();
  t.equal(reloader.watching, false);
  t.same(lines.map((l) => [l.msg, (l.err as { code: string }).code]), [['config watch failed; SIGHUP still reloads', 'ENOENT']]);
  await reloader.close();
});
