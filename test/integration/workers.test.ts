// `workers: 2` as real processes: both workers serve (told apart by the `pid` of the log
// line each request leaves), a SIGKILLed worker is replaced and requests fail at most
// while that happens (the gap is measured), SIGHUP reloads every worker after one
// validation, the admin listener answers for all of them, and SIGTERM ends it all with 0.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { request } from 'undici';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const config = (route: string, auth = 'anonymous'): string => `listen: 127.0.0.1:0
admin: { listen: "127.0.0.1:0" }
workers: 2
shutdownTimeout: 5s
routes:
  - name: ${route}
    match: { path: /** }
    upstream: echo
    auth: ${auth}
`;

t.test('workers: 2 — both serve, a killed one is replaced, reload and stop reach all', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-workers-'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, config('first'));
  const env = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '-c', file], { stdio: ['ignore', 'pipe', 'inherit'], env });
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Record<string, unknown>);
    } catch {
      t.fail(`a broken log line: ${text.slice(0, 200)}`);
    }
  });
  const find = async (match: (l: Record<string, unknown>) => boolean, what: string, ms = 20_000): Promise<Record<string, unknown>> => {
    const end = Date.now() + ms;
    for (;;) {
      const line = lines.find(match);
      if (line) return line;
      if (Date.now() > end) throw new Error(`no log line: ${what}`);
      await sleep(20);
    }
  };
  /** Requests on fresh connections (round-robin hands each to the next worker), and the pid each was served by. */
  const spread = async (n: number): Promise<Array<{ pid: number; route: string }>> => {
    const ids: Array<{ id: string; route: string }> = [];
    for (let i = 0; i < n; i++) {
      const res = await request(`${proxy}/spread/${i}`, { reset: true });
      const body = (await res.body.json()) as { headers: Record<string, string> };
      t.equal(res.statusCode, 200);
      ids.push({ id: res.headers['x-request-id'] as string, route: body.headers['x-auth-route']! });
    }
    return Promise.all(ids.map(async ({ id, route }) => ({ pid: (await find((l) => l.requestId === id, `request ${id}`, 5000)).pid as number, route })));
  };

  const primary = await find((l) => l.msg === 'gatehouse primary starting workers', 'primary');
  const admin = primary.admin as string;
  const ready = await find((l) => l.msg === 'workers ready', 'workers ready');
  const pids = ready.pids as number[];
  t.equal(pids.length, 2);
  const listening = await find((l) => l.msg === 'gatehouse listening', 'a worker listening');
  const proxy = listening.proxy as string;
  t.match(listening, { worker: Number, pid: Number }, 'worker lines say which worker wrote them');

  const first = await spread(20);
  t.same(new Set(first.map((s) => s.pid)), new Set(pids), 'both workers served');
  const readyz = await request(`${admin}/readyz`);
  t.equal(readyz.statusCode, 200);
  t.match(await readyz.body.json(), { status: 'ready', workers: { expected: 2, ready: 2 } });

  // Kill one worker while a client keeps sending, one request per fresh connection.
  const victim = pids[0]!;
  const outcomes: Array<{ at: number; ok: boolean }> = [];
  let sending = true;
  const client = (async () => {
    while (sending) {
      const at = Date.now();
      try {
        const res = await request(`${proxy}/during`, { reset: true, headersTimeout: 2000 });
        await res.body.text();
        outcomes.push({ at, ok: res.statusCode === 200 });
      } catch {
        outcomes.push({ at, ok: false });
      }
      await sleep(5);
    }
  })();
  await sleep(300);
  const killedAt = Date.now();
  process.kill(victim, 'SIGKILL');
  const exit = await find((l) => l.msg === 'worker exited unexpectedly; starting another', 'the exit noticed');
  t.match(exit, { level: 'error', pid: victim, signal: 'SIGKILL', restartInMs: 0 });
  const started = await find((l) => l.msg === 'worker started', 'the replacement');
  const replacedAt = Date.parse(started.time as string);
  await sleep(500);
  sending = false;
  await client;
  const failed = outcomes.filter((o) => !o.ok);
  const gap = failed.length === 0 ? 0 : failed[failed.length - 1]!.at - failed[0]!.at;
  t.ok(outcomes.length > 20, `${outcomes.length} requests during the replacement`);
  t.ok(failed.every((o) => o.at >= killedAt - 5 && o.at <= replacedAt), 'failures only between the kill and the replacement being up');
  t.ok(gap <= replacedAt - killedAt, 'no longer than the replacement took');
  t.comment(`kill → replacement listening: ${replacedAt - killedAt} ms; ${failed.length} of ${outcomes.length} requests failed, over ${gap} ms`);

  const newPid = started.pid as number;
  t.not(newPid, victim);
  const after = await spread(20);
  t.same(new Set(after.map((s) => s.pid)), new Set([pids[1], newPid]), 'both serve again: the survivor and the replacement');
  const metrics = await (await request(`${admin}/metrics`)).body.text();
  t.match(metrics, /^gatehouse_worker_restarts_total 1$/m);
  t.match(metrics, /^gatehouse_workers\{state="ready"\} 2$/m);
  t.match(metrics, /^gatehouse_requests_total\{route="first",outcome="allow",status="200"\} \d+$/m, 'the workers\' counters, merged');

  // Reload: validated once by the primary, then every worker swaps.
  writeFileSync(file, config('second'));
  child.kill('SIGHUP');
  await find((l) => l.msg === 'workers reloaded', 'workers reloaded');
  const reloaded = await spread(10);
  t.same(new Set(reloaded.map((s) => s.route)), new Set(['second']), 'every worker runs the new config');
  t.equal(new Set(reloaded.map((s) => s.pid)).size, 2);
  writeFileSync(file, config('third', 'nobody'));
  child.kill('SIGHUP');
  await find((l) => l.msg === 'config reload rejected; keeping the running config', 'rejected');
  await sleep(300);
  t.equal(lines.filter((l) => l.msg === 'config reload rejected; keeping the running config').length, 1, 'an invalid file is reported once, by the primary');
  t.same(new Set((await spread(6)).map((s) => s.route)), new Set(['second']), 'and no worker swapped');

  const stopAt = Date.now();
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'the primary exits 0 once its workers are done');
  t.comment(`SIGTERM → exit: ${Date.now() - stopAt} ms`);
  t.equal(lines.filter((l) => l.msg === 'shutdown complete' && l.worker !== undefined).length, 2, 'both workers shut down gracefully');
  t.match(lines[lines.length - 1], { msg: 'shutdown complete', code: 0 });
});
