// Hot reload of a real `gatehouse serve` process under a steady, bounded load: autocannon
// for ~10 s while the config is rewritten 12 times (10 valid, alternating two policies,
// one of them picked up by `watch: true` alone; 2 invalid, with SIGHUP). Not one request
// may fail, and the responses must follow the policy of the moment.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { request } from 'undici';

interface CannonResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  requests: { total: number; average: number };
  statusCodeStats: Record<string, { count: number }>;
}
type Cannon = (options: Record<string, unknown>) => PromiseLike<CannonResult>;
// autocannon ships no types.
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Two policies the echo upstream tells apart by the route's name (X-Auth-Route).
const valid = (policy: 'a' | 'b'): string => `listen: 127.0.0.1:0
admin: { listen: "127.0.0.1:0" }
watch: true
routes:
  - name: policy-${policy}
    match: { path: /** }
    upstream: echo
    auth: anonymous
`;
const INVALID = [valid('a').replace('auth: anonymous', 'auth: nobody'), valid('b').replace('routes:', 'routes: [')];

t.test('10 reloads and 2 rejected ones under load: zero failed requests, responses follow the policy', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, valid('a'));
  const env = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '-c', file], { stdio: ['ignore', 'pipe', 'inherit'], env });
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines: Array<Record<string, unknown>> = [];
  const listening = new Promise<Record<string, unknown>>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        if (line.msg === 'gatehouse listening') resolve(line);
      } catch {
        // not a log line
      }
    });
  });
  const started = await listening;
  const proxy = started.proxy as string;
  const admin = started.admin as string;

  const reloads = async (): Promise<{ success: number; failure: number }> => {
    const text = await (await request(`${admin}/metrics`)).body.text();
    const count = (result: string): number => Number(new RegExp(`gatehouse_config_reloads_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    return { success: count('success'), failure: count('failure') };
  };
  const policyNow = async (): Promise<string> => {
    const body = (await (await request(`${proxy}/probe`)).body.json()) as { headers: Record<string, string> };
    return body.headers['x-auth-route']!;
  };

  // Every response, in the order they arrive: which policy answered.
  const seen: string[] = [];
  const verifyBody = (body: string): boolean => {
    const policy = /"x-auth-route":"(policy-[ab])"/.exec(body)?.[1];
    if (policy) seen.push(policy);
    return policy !== undefined;
  };
  // 300 requests/s. autocannon's rate limit sends each second's quota at the start of the
  // second, in one burst: five instances started 200 ms apart make a burst every 200 ms,
  // so that no reload falls between two bursts unseen.
  const loadStarted = Date.now();
  const loads: Array<PromiseLike<CannonResult>> = [];
  for (let i = 0; i < 5; i++) {
    loads.push(autocannon({ url: `${proxy}/load`, connections: 2, overallRate: 60, duration: 10 - i * 0.2, verifyBody }));
    await sleep(200);
  }
  await sleep(300);

  const steps: Array<{ text: string; via: 'signal' | 'watch'; expect: 'success' | 'failure'; policy: string }> = [];
  let current: 'a' | 'b' = 'a';
  for (let i = 0; i < 10; i++) {
    current = current === 'a' ? 'b' : 'a';
    steps.push({ text: valid(current), via: i === 5 ? 'watch' : 'signal', expect: 'success', policy: `policy-${current}` });
    if (i === 2 || i === 6) steps.push({ text: INVALID[i === 2 ? 0 : 1]!, via: 'signal', expect: 'failure', policy: `policy-${current}` });
  }
  const timings: number[] = [];
  for (const step of steps) {
    const before = await reloads();
    const at = Date.now();
    writeFileSync(file, step.text);
    if (step.via === 'signal') child.kill('SIGHUP');
    for (;;) {
      const now = await reloads();
      if (now[step.expect] > before[step.expect]) break;
      await sleep(20);
    }
    timings.push(Date.now() - at);
    t.equal(await policyNow(), step.policy, `${step.expect === 'success' ? 'reloaded' : 'rejected'} (${step.via}): ${step.policy} answers`);
    await sleep(350);
  }
  const stepsEnded = Date.now();
  const results = await Promise.all(loads);
  const sum = (pick: (r: CannonResult) => number): number => results.reduce((n, r) => n + pick(r), 0);
  const result = {
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    non2xx: sum((r) => r.non2xx),
    mismatches: sum((r) => r.mismatches),
    total: sum((r) => r.requests.total),
    statuses: [...new Set(results.flatMap((r) => Object.keys(r.statusCodeStats)))],
  };

  const final = await reloads();
  t.same(final, { success: 10, failure: 2 }, 'gatehouse_config_reloads_total: 10 successes, 2 failures');
  t.equal(result.errors, 0, 'no connection errors');
  t.equal(result.timeouts, 0, 'no timeouts');
  t.equal(result.non2xx, 0, 'no status other than 200');
  t.equal(result.mismatches, 0, 'every body came from one of the two policies');
  t.ok(result.total > 2000, `${result.total} requests`);
  t.same(result.statuses, ['200']);
  let switches = 0;
  for (let i = 1; i < seen.length; i++) if (seen[i] !== seen[i - 1]) switches++;
  t.ok(switches >= 10, `the load saw the policy switch ${switches} times`);
  t.same(new Set(seen), new Set(['policy-a', 'policy-b']));
  const watchReload = lines.find((l) => l.msg === 'config reloaded');
  t.ok(watchReload, 'reloads are logged');
  const rejected = lines.filter((l) => l.msg === 'config reload rejected; keeping the running config');
  t.same(rejected.map((l) => l.reason), ['signal', 'signal'], 'each invalid file reported once (the watcher does not repeat it)');
  // Runs of responses from one policy, in order: "policy-a×420 policy-b×120 …".
  const runs: Array<[string, number]> = [];
  for (const policy of seen) {
    const last = runs[runs.length - 1];
    if (last?.[0] === policy) last[1]++;
    else runs.push([policy, 1]);
  }
  t.comment(`responses by policy, in order: ${runs.map(([p, n]) => `${p}×${n}`).join(' ')}`);
  t.comment(`the 12 rewrites ended ${stepsEnded - loadStarted} ms into the load`);
  t.comment(`${result.total} requests, reload → visible in ${Math.min(...timings)}–${Math.max(...timings)} ms`);

  child.kill('SIGTERM');
  t.equal(await exited, 0);
});
