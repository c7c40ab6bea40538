// `gatehouse serve` as a real process: starts, serves, reloads on SIGHUP (keeping the
// running config when the new one is invalid) and exits 0 on SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { request } from 'undici';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-serve-'));
const file = join(dir, 'gatehouse.yaml');
const config = (auth: string): string => `listen: 127.0.0.1:0\nadmin: { listen: "127.0.0.1:0" }\nroutes:\n  - name: r\n    match: { path: /** }\n    upstream: echo\n    auth: ${auth}\n`;

t.test('serve, reload on SIGHUP, refuse a broken reload, stop on SIGTERM', async (t) => {
  writeFileSync(file, config('anonymous'));
  // tsx's transform would feed tap wrong coverage for src/ (toolchain.md): not measured here.
  const env = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{ msg: string; resolve: (l: Record<string, unknown>) => void }> = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    lines.push(line);
    for (const w of waiters.splice(0)) {
      if (line.msg === w.msg) w.resolve(line);
      else waiters.push(w);
    }
  });
  const next = (msg: string): Promise<Record<string, unknown>> => new Promise((resolve) => waiters.push({ msg, resolve }));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const listening = await next('gatehouse listening');
  const url = listening.proxy as string;
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const first = await request(`${url}/x`);
  t.equal(first.statusCode, 200);
  await first.body.text();

  writeFileSync(file, config('deny'));
  const reloaded = next('config reloaded');
  child.kill('SIGHUP');
  await reloaded;
  const denied = await request(`${url}/x`);
  t.equal(denied.statusCode, 403, 'the new policy applies');
  await denied.body.text();

  writeFileSync(file, config('nobody'));
  const rejected = next('config reload rejected; keeping the running config');
  child.kill('SIGHUP');
  const rejection = await rejected;
  t.match((rejection.problems as string[])[0], /gatehouse\.yaml:7:11 routes\[0\]\.auth: unknown authenticator "nobody"/);
  const still = await request(`${url}/x`);
  t.equal(still.statusCode, 403, 'the running config is kept');
  await still.body.text();

  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.ok(lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'));
});
