// Micro-benchmark of the jwt authenticator's authenticate() alone, HS256, as the bench's
// cold and warm targets use it (issuer, audience, one algorithm, default cache size).
//
//   node --import tsx bench/jwt-micro.ts [src|dist] [tokensPerPass] [passes]
//   (COLD_ONLY=1: skip the warm passes; PROFILE=file.cpuprofile: profile the cold ones)
//
// Cold: every request carries a token never seen before (one pass = N fresh tokens, a new
// authenticator per pass so its cache starts empty and fills after 10 000). Warm: the same
// token every time. Prints ns/op per pass and the best, plus GC time (PerformanceObserver).
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const srcDir = path.resolve(process.argv[2] ?? 'src');
const N = Number(process.argv[3] ?? 200_000);
const PASSES = Number(process.argv[4] ?? 5);
// A source tree (src/, run through tsx) or a build (dist/).
const entry = ['jwt.ts', 'jwt.js'].map((f) => path.join(srcDir, 'pipeline/authenticate', f)).find((f) => fs.existsSync(f));
if (entry === undefined) throw new Error(`no pipeline/authenticate/jwt.{ts,js} under ${srcDir}`);
const { createJwtAuthenticator } = (await import(pathToFileURL(entry).href)) as typeof import('../src/pipeline/authenticate/jwt.js');

const secret = randomBytes(32).toString('hex');
const issuer = 'https://issuer.bench.invalid/';
const audience = 'gatehouse-bench';
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const head = b64({ alg: 'HS256', typ: 'JWT' });
const tag = randomBytes(6).toString('base64url');
const iat = Math.floor(Date.now() / 1000);
const sign = (i: number): string => {
  const input = `${head}.${b64({ iss: issuer, aud: audience, sub: 'bench-hs256', iat, exp: iat + 6 * 3600, jti: `${tag}-${i}` })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
};
const facts = (token: string): any => ({ headers: { authorization: `Bearer ${token}` } });

const make = () =>
  createJwtAuthenticator({
    name: 'bench',
    realm: 'bench',
    algorithms: ['HS256'],
    keys: { kind: 'secret', secret: Buffer.from(secret) },
    issuer,
    audience: [audience],
    clockToleranceMs: 30_000,
    claims: { user: 'sub', groups: 'groups', scopes: 'scope' },
    cache: { maxEntries: 10_000 },
  });

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

const all: any[] = [];
for (let i = 0; i < N; i++) all.push(facts(sign(i)));

async function pass(list: any[]): Promise<{ ns: number; cpu: number; gc: number }> {
  const auth = make();
  const gc0 = gcMs;
  const t0 = process.hrtime.bigint();
  // CPU time as well as wall time: on a shared machine, time spent descheduled is not ours.
  const c0 = process.cpuUsage();
  for (let i = 0; i < list.length; i++) {
    const r = await auth.authenticate(list[i]);
    if (r.outcome !== 'ok') throw new Error(`unexpected ${JSON.stringify(r)}`);
  }
  const c = process.cpuUsage(c0);
  const cpu = ((c.user + c.system) * 1000) / list.length;
  const ns = Number(process.hrtime.bigint() - t0) / list.length;
  // GC entries are delivered from the event loop, not from microtasks.
  await new Promise((r) => setTimeout(r, 20));
  return { ns, cpu, gc: ((gcMs - gc0) * 1e6) / list.length };
}

const report = (what: string, rs: { ns: number; cpu: number; gc: number }[]) => {
  const best = rs.reduce((a, b) => (a.cpu <= b.cpu ? a : b));
  console.log(
    `${what}: best ${best.cpu.toFixed(0)} ns CPU/op (${best.ns.toFixed(0)} ns wall, gc ${best.gc.toFixed(0)} ns); CPU per pass ${rs.map((r) => r.cpu.toFixed(0)).join(' / ')}`,
  );
};

// PROFILE=file.cpuprofile: a CPU profile of the cold passes only (not of the signing).
const session = process.env.PROFILE ? new (await import('node:inspector')).Session() : undefined;
const post = (method: string, params?: object): Promise<any> =>
  new Promise((resolve, reject) => session!.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
if (session) {
  session.connect();
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
}
const cold = [];
for (let p = 0; p < PASSES; p++) cold.push(await pass(all));
report('cold', cold);
if (session) {
  const { profile } = await post('Profiler.stop');
  fs.writeFileSync(process.env.PROFILE!, JSON.stringify(profile));
}
if (process.env.COLD_ONLY) process.exit(0);
const warmList = Array(N).fill(all[0]);
const warm = [];
for (let p = 0; p < PASSES; p++) warm.push(await pass(warmList));
report('warm', warm);
