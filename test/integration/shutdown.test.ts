// Graceful shutdown of a real `gatehouse serve` process: SIGTERM while slow upstream
// requests are in flight → every one completes with 200, /readyz answers 503 during the
// drain, an idle keep-alive connection does not hold the exit, exit code 0. And past
// shutdownTimeout: the rest is cut, a warning counts it, and the exit code is still 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { Agent, request } from 'undici';
import { startSlowUpstream } from '../helpers/slow-upstream.js';

interface Served {
  readonly child: ChildProcess;
  readonly lines: Array<Record<string, unknown>>;
  readonly proxy: string;
  readonly admin: string;
  readonly exited: Promise<number | null>;
}

async function serve(yaml: string): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-shutdown-'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, yaml);
  // tsx's transform would feed tap wrong coverage for src/ (toolchain.md): not measured here.
  const env = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '-c', file], { stdio: ['ignore', 'pipe', 'inherit'], env });
  const lines: Array<Record<string, unknown>> = [];
  let listening: (line: Record<string, unknown>) => void = () => undefined;
  const started = new Promise<Record<string, unknown>>((resolve) => (listening = resolve));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      if (line.msg === 'gatehouse listening') listening(line);
    } catch {
      // not a log line
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = await started;
  return { child, lines, proxy: line.proxy as string, admin: line.admin as string, exited };
}

const config = (upstream: string, shutdownTimeout: string): string => `listen: 127.0.0.1:0
admin: { listen: "127.0.0.1:0" }
shutdownTimeout: ${shutdownTimeout}
routes:
  - name: slow
    match: { path: /slow/** }
    upstream: ${upstream}
    auth: anonymous
  - name: fast
    match: { path: /** }
    upstream: echo
    auth: anonymous
`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('SIGTERM during slow requests: all complete with 200, /readyz 503 meanwhile, exit 0', async (t) => {
  const DELAY = 2000;
  const upstream = await startSlowUpstream(DELAY, 'done');
  t.teardown(upstream.close);
  const gh = await serve(config(upstream.url, '20s'));
  t.teardown(() => gh.child.kill('SIGKILL'));
  const agent = new Agent({ keepAliveTimeout: 60_000, connections: 10 });
  t.teardown(() => agent.close());
  t.equal((await request(`${gh.admin}/readyz`)).statusCode, 200);
  // An idle keep-alive connection, as pooling clients leave them: it must not hold the exit.
  const warm = await request(`${gh.proxy}/warm`, { dispatcher: agent });
  t.equal(warm.statusCode, 200);
  await warm.body.text();

  const inFlight = [1, 2, 3, 4, 5].map(async (i) => {
    const res = await request(`${gh.proxy}/slow/${i}`, { dispatcher: agent });
    return { status: res.statusCode, body: await res.body.text() };
  });
  while (upstream.holding() < 5) await sleep(10);
  const sent = Date.now();
  gh.child.kill('SIGTERM');

  // Poll readiness through the drain, on fresh connections.
  const readiness: number[] = [];
  let done = false;
  const polling = (async () => {
    while (!done) {
      try {
        const res = await request(`${gh.admin}/readyz`, { reset: true });
        readiness.push(res.statusCode);
        await res.body.text();
      } catch {
        break; // the admin listener closed: the drain is over
      }
      await sleep(50);
    }
  })();
  const answers = await Promise.all(inFlight);
  const code = await gh.exited;
  const took = Date.now() - sent;
  done = true;
  await polling;

  t.same(answers, [1, 2, 3, 4, 5].map((i) => ({ status: 200, body: `done /slow/${i}` })), 'every request in flight completed with 200');
  t.equal(code, 0, 'exit code 0');
  // A poll may come in before the signal is handled; from the first 503 on, never 200 again.
  const from = readiness.indexOf(503);
  t.ok(from >= 0 && readiness.slice(from).every((s) => s === 503), `/readyz was 503 during the drain (${from} poll(s) before the signal was handled, then ${readiness.length - from} × 503)`);
  t.ok(readiness.length - from >= 10, 'and stayed so until the admin listener closed');
  t.ok(took < DELAY + 2500, `exited ${took} ms after SIGTERM, right after the last request (upstream delay ${DELAY} ms)`);
  const messages = gh.lines.map((l) => l.msg);
  t.ok(messages.includes('shutting down'));
  t.match(gh.lines.find((l) => l.msg === 'shutdown complete'), { ms: Number });
  t.notOk(messages.includes('shutdown grace period over; open connections were cut'));
  t.comment(`SIGTERM → exit: ${took} ms with 5 requests in flight for up to ${DELAY} ms; gateway's own drain: ${gh.lines.find((l) => l.msg === 'shutdown complete')?.ms} ms`);
});

t.test('past shutdownTimeout the rest is cut: warned with the count, exit 0 all the same', async (t) => {
  const upstream = await startSlowUpstream(15_000, 'done');
  t.teardown(upstream.close);
  const gh = await serve(config(upstream.url, '500ms'));
  t.teardown(() => gh.child.kill('SIGKILL'));
  const cutShort = [1, 2].map((i) => request(`${gh.proxy}/slow/${i}`).then((r) => r.statusCode, () => 'cut'));
  while (upstream.holding() < 2) await sleep(10);
  const sent = Date.now();
  gh.child.kill('SIGTERM');
  const code = await gh.exited;
  const took = Date.now() - sent;
  t.equal(code, 0);
  t.ok(took < 3000, `exited ${took} ms after SIGTERM with a 500 ms grace period`);
  t.same(await Promise.all(cutShort), ['cut', 'cut']);
  t.match(gh.lines.find((l) => l.msg === 'shutdown grace period over; open connections were cut'), { level: 'warn', cut: 2, timeoutMs: 500 });
  t.comment(`grace period 500 ms: exit ${took} ms after SIGTERM`);
});
