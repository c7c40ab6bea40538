#!/usr/bin/env node
// `npm run bench`: gatehouse against the upstream alone and against a bare Fastify proxy,
// in one run, on one machine. See bench/README.md for what each figure means.
//
// Processes (each in its own session/process group, so it can be stopped as a whole):
//   upstream.mjs        the upstream, a separate node:http process
//   fastify-proxy.mjs   the reference proxy (Fastify 5 + @fastify/http-proxy)
//   dist/cli/main.js    gatehouse, log level info, stdout (one JSON line per request) to /dev/null
//   redis-server        (session target only) a Redis of its own on a free port, nothing saved
//   dist/cli/main.js    (session target only) a second gatehouse with `sessions.store: redis`
//   run.mjs --load      the load generator (autocannon), one process per measurement
//   run.mjs --sign      token signers (node:crypto), a few processes before each cold-JWT
//                       measurement: they fill the pool of distinct tokens it sends
// With taskset and >= 2 CPUs, the load generator (and this runner) run on LOAD_CPU and
// every system under test on SUT_CPU: on a 2-core machine the proxy and the upstream
// share one core, so req/s means "one core doing proxy + upstream".
import { execFileSync, spawn } from 'node:child_process';
import { createHmac, createPrivateKey, generateKeyPairSync, randomBytes, sign as cryptoSign } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const HERE = path.dirname(SELF);
const ROOT = path.resolve(HERE, '..');

// ---------------------------------------------------------------------------------------
// Load generator (child process): warm-up, then the measured run; prints marker lines so
// the runner samples CPU counters exactly around the measured part.

async function loadGenerator() {
  const o = JSON.parse(process.env.BENCH_LOAD);
  const { default: autocannon } = await import('autocannon');
  // Cold JWT targets: a pool of distinct tokens, each sent once (warm-up first, then the
  // measurement). The last `reserve` tokens are only for requests already being built
  // when the pool ran low: at that point the run stops (never wraps around).
  let tokens;
  let next = 0;
  const reserve = 4 * o.connections;
  if (o.tokenFiles) {
    tokens = [];
    for (const f of o.tokenFiles) {
      for (const t of fs.readFileSync(f, 'utf8').split('\n')) if (t) tokens.push(t);
    }
    if (new Set(tokens).size !== tokens.length) throw new Error('token pool holds duplicates');
  }
  let measuring = false;
  let exhausted;
  const run = (duration, latencies) =>
    new Promise((resolve, reject) => {
      const clients = [];
      const state = { startedAt: performance.now(), exhaustedAt: undefined, responses: 0, ok: 0 };
      const opts = { url: o.url, connections: o.connections, duration, headers: o.headers, timeout: 10, pipelining: 1 };
      if (tokens) {
        opts.setupClient = (client) => clients.push(client);
        opts.requests = [
          {
            // Called for every request autocannon sends (and once per client at start).
            setupRequest(req) {
              if (next >= tokens.length - reserve && state.exhaustedAt === undefined) {
                state.exhaustedAt = performance.now();
                if (measuring) process.stdout.write('MEASURE-END\n');
                // Not synchronously: this may run inside a client's own response handler.
                setImmediate(() => {
                  for (const c of clients) c.destroy();
                });
              }
              if (next >= tokens.length) throw new Error('token pool exhausted beyond its reserve');
              req.headers.authorization = 'Bearer ' + tokens[next++];
              return req;
            },
          },
        ];
      }
      const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve({ result, state })));
      instance.on('response', (_client, status, _bytes, ms) => {
        if (state.exhaustedAt !== undefined) return;
        state.responses += 1;
        if (status >= 200 && status < 300) {
          state.ok += 1;
          // autocannon's own histogram keeps whole milliseconds; sub-ms latencies need our own.
          if (latencies) latencies.push(ms);
        }
      });
    });
  if (o.warmup > 0) {
    const { state } = await run(o.warmup, undefined);
    if (state.exhaustedAt !== undefined) throw new Error(`token pool (${tokens.length}) exhausted during the warm-up`);
  }
  const latencies = new Samples();
  measuring = true;
  process.stdout.write('MEASURE-START\n');
  const { result: r, state } = await run(o.duration, latencies);
  if (state.exhaustedAt === undefined) process.stdout.write('MEASURE-END\n');
  else {
    // Only what completed before the pool ran low counts, over the time until then.
    exhausted = { afterS: round((state.exhaustedAt - state.startedAt) / 1000, 3), responses: state.responses };
  }
  const out = {
    requests: exhausted ? state.responses : r.requests.total,
    sent: r.requests.sent,
    duration: exhausted ? exhausted.afterS : r.duration,
    exhausted,
    tokens: tokens ? { pool: tokens.length, used: next } : undefined,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: exhausted ? state.responses - state.ok : r.non2xx,
    statusCodes: r.statusCodeStats,
    bytes: r.throughput.total,
    latencyMs: {
      p50: latencies.percentile(50),
      p90: latencies.percentile(90),
      p99: latencies.percentile(99),
      max: latencies.percentile(100),
      mean: latencies.mean(),
    },
    autocannonLatencyMs: { p50: r.latency.p50, p99: r.latency.p99 },
  };
  process.stdout.write('RESULT ' + JSON.stringify(out) + '\n');
  // Destroyed clients may leave timers behind; nothing else is left to do.
  process.exit(0);
}

// ---------------------------------------------------------------------------------------
// JWT signing (node:crypto directly: jose signs RS256 several times slower)

const b64urlJson = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** (signing input) → base64url signature, for HS256/RS256/ES256 (RFC 7518 §3). */
function signerFor(alg, keyText) {
  const hash = `sha${alg.slice(2)}`;
  if (alg.startsWith('HS')) {
    // gatehouse uses the configured text's UTF-8 bytes as the HMAC key.
    const secret = Buffer.from(keyText, 'utf8');
    return (input) => createHmac(hash, secret).update(input).digest('base64url');
  }
  const key = createPrivateKey(keyText);
  if (alg.startsWith('RS')) return (input) => cryptoSign(hash, Buffer.from(input), key).toString('base64url');
  if (alg.startsWith('ES')) return (input) => cryptoSign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  throw new Error(`no signer for ${alg}`);
}

function signToken(sign, header, claims) {
  const input = `${b64urlJson(header)}.${b64urlJson(claims)}`;
  return `${input}.${sign(input)}`;
}

/** Child process: signs `count` distinct tokens (jti = prefix + index) into a file. */
function tokenSigner() {
  const o = JSON.parse(process.env.BENCH_SIGN);
  const sign = signerFor(o.alg, fs.readFileSync(o.keyFile, 'utf8'));
  const head = b64urlJson(o.header) + '.';
  const out = new Array(o.count);
  for (let i = 0; i < o.count; i++) {
    const input = head + b64urlJson({ ...o.claims, jti: `${o.prefix}${i}` });
    out[i] = `${input}.${sign(input)}`;
  }
  fs.writeFileSync(o.out, out.join('\n') + '\n');
}

class Samples {
  constructor() {
    this.values = new Float64Array(1 << 16);
    this.n = 0;
  }
  push(v) {
    if (this.n === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.n++] = v;
  }
  percentile(p) {
    if (this.n === 0) return null;
    if (!this.sorted) this.sorted = this.values.slice(0, this.n).sort();
    const i = Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1));
    return round(this.sorted[i], 3);
  }
  mean() {
    if (this.n === 0) return null;
    let s = 0;
    for (let i = 0; i < this.n; i++) s += this.values[i];
    return round(s / this.n, 3);
  }
}

// ---------------------------------------------------------------------------------------
// Runner

function settingsFromEnv(env) {
  const number = (name, def, min) => {
    if (env[name] === undefined || env[name] === '') return def;
    const v = Number(env[name]);
    if (!Number.isFinite(v) || v < min) throw new Error(`${name} must be a number >= ${min}, got ${JSON.stringify(env[name])}`);
    return v;
  };
  const integer = (name, def, min) => {
    const v = number(name, def, min);
    if (!Number.isInteger(v)) throw new Error(`${name} must be an integer, got ${JSON.stringify(env[name])}`);
    return v;
  };
  const duration = number('DURATION', 10, 1);
  const warmup = number('WARMUP', 3, 0);
  if (!Number.isInteger(duration) || !Number.isInteger(warmup)) throw new Error('DURATION and WARMUP are whole seconds');
  return {
    duration,
    warmup,
    connections: integer('CONNECTIONS', 50, 1),
    rounds: integer('ROUNDS', 1, 1),
    loadCpu: integer('LOAD_CPU', 0, 0),
    sutCpu: integer('SUT_CPU', 1, 0),
    pin: env.PIN !== '0',
    boost: env.BOOST !== '0',
    boostNice: integer('BOOST_NICE', -10, -20),
    noiseMax: number('NOISE_MAX', 25, 0),
    noiseRetries: integer('NOISE_RETRIES', 1, 0),
    noiseBudget: integer('NOISE_BUDGET', 2, 0),
    targets: env.TARGETS ? env.TARGETS.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    // Cold JWT pools: distinct tokens per measurement = expected req/s × margin × (warm-up +
    // duration); the expected rate is the best gatehouse req/s seen so far in this run.
    coldPool: env.COLD_POOL ? integer('COLD_POOL', 0, 1000) : undefined,
    coldMargin: number('COLD_MARGIN', 1.25, 1),
    coldRate: env.COLD_RATE ? number('COLD_RATE', 0, 1) : undefined,
    keepWork: env.KEEP_WORK === '1',
    // Extra node flags for profiling, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (skews figures).
    gatehouseNodeArgs: (env.GATEHOUSE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    fastifyNodeArgs: (env.FASTIFY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    resultsDir: env.RESULTS_DIR || path.join(ROOT, 'bench-results'),
  };
}

// --- processes -------------------------------------------------------------------------

const started = new Map(); // pgid → entry; every process group this runner started

function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts argv in a new session (spawn's `detached` = setsid(), so the pid is also the
 * process-group id), optionally pinned with taskset (which execs: same pid).
 */
function startProcess(name, argv, { env = process.env, cpu, stdio, pinning, boost }) {
  const cmd = pinning.enabled && cpu !== undefined ? ['taskset', '-c', String(cpu), ...argv] : argv;
  const child = spawn(cmd[0], cmd.slice(1), { detached: true, stdio, env, cwd: ROOT });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd[0]})`);
  const entry = { name, pgid: child.pid, child, exit: undefined, boosted: false };
  entry.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      entry.exit = { code, signal };
      resolve(entry.exit);
    });
    child.once('error', (err) => {
      entry.exit = { code: null, signal: null, error: err.message };
      resolve(entry.exit);
    });
  });
  started.set(entry.pgid, entry);
  if (boost.enabled) {
    // A higher weight for the session's autogroup keeps other tenants' work off the core
    // our processes are pinned to (see /work/shared/bench: neighbours otherwise slow it).
    try {
      fs.writeFileSync(`/proc/${child.pid}/autogroup`, String(boost.nice));
      entry.boosted = true;
    } catch {
      boost.failures += 1;
    }
  }
  return entry;
}

async function stopProcess(entry, graceMs = 5000) {
  if (!entry.exit) {
    signalGroup(entry.pgid, 'SIGTERM');
    await Promise.race([entry.exited, sleep(graceMs)]);
  }
  // Whatever is left of the group (the leader ignoring SIGTERM, or anything it forked).
  signalGroup(entry.pgid, 'SIGKILL');
  if (!entry.exit) await Promise.race([entry.exited, sleep(1000)]);
  started.delete(entry.pgid);
}

async function stopAll() {
  await Promise.all([...started.values()].map((e) => stopProcess(e)));
}

// Last resort (process.exit from anywhere, uncaught error): synchronous kill.
process.on('exit', () => {
  for (const pgid of started.keys()) signalGroup(pgid, 'SIGKILL');
});

// --- /proc sampling ----------------------------------------------------------------------

function clockTicks() {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return v > 0 ? v : 100;
  } catch {
    return 100;
  }
}

/** utime+stime (ticks, all threads) summed per process group, for the groups asked. */
function groupTicks(pgids) {
  const out = new Map(pgids.map((g) => [g, 0]));
  for (const d of fs.readdirSync('/proc')) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    let s;
    try {
      s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ..."
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const pgrp = Number(f[2]);
    if (out.has(pgrp)) out.set(pgrp, out.get(pgrp) + Number(f[11]) + Number(f[12]));
  }
  return out;
}

/** Per-CPU busy and total ticks from /proc/stat (busy includes irq, softirq and steal). */
function cpuTicks() {
  const out = new Map();
  for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = v;
    const busy = user + nice + system + irq + softirq + (steal || 0);
    out.set(Number(m[1]), { busy, total: busy + idle + iowait, steal: steal || 0 });
  }
  return out;
}

function snapshot(pgids) {
  const self = process.cpuUsage();
  return { at: performance.now(), groups: groupTicks(pgids), cpus: cpuTicks(), selfUs: self.user + self.system };
}

// --- HTTP helpers -------------------------------------------------------------------------

function httpGet(url, headers = {}, timeoutMs = 5000) {
  return httpRequest('GET', url, headers, undefined, timeoutMs);
}

function httpRequest(method, url, headers = {}, body = undefined, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** `name=value` of the Set-Cookie for `name`, or undefined. */
function setCookiePair(headers, name) {
  const all = [].concat(headers['set-cookie'] ?? []);
  return all.map((c) => c.split(';', 1)[0]).find((p) => p.startsWith(`${name}=`));
}

/** A hidden form field's value from one of gatehouse's own pages (HTML-escaped there). */
function hiddenField(html, name) {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  return m === null ? undefined : m[1].replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** True once a Redis answers PING on 127.0.0.1:port. */
function redisPing(port) {
  return new Promise((resolve) => {
    const socket = net.createConnection({ host: '127.0.0.1', port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => done(chunk.toString('latin1').startsWith('+PONG')));
  });
}

async function waitRedis(entry, port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (entry.exit) throw new Error(`${entry.name} exited before it was ready (${describeExit(entry.exit)})`);
    if (await redisPing(port)) return;
    await sleep(100);
  }
  throw new Error(`${entry.name} not answering PING on 127.0.0.1:${port} after ${timeoutMs / 1000} s`);
}

async function waitReady(entry, url, ok, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (entry.exit) throw new Error(`${entry.name} exited before it was ready (${describeExit(entry.exit)})`);
    try {
      const r = await httpGet(url, {}, 1000);
      if (ok(r)) return;
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = err.message;
    }
    await sleep(100);
  }
  throw new Error(`${entry.name} not ready at ${url} after ${timeoutMs / 1000} s (${last})`);
}

function describeExit(e) {
  return e.error ?? (e.signal ? `signal ${e.signal}` : `exit code ${e.code}`);
}

async function freePorts(n) {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what}: answer is not JSON: ${text.slice(0, 200)}`);
  }
}

// --- small maths --------------------------------------------------------------------------

function round(v, digits) {
  if (v === null || v === undefined || !Number.isFinite(v)) return null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function median(values) {
  const v = values.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const ratio = (a, b) => (a === null || b === null || b === 0 || a === undefined || b === undefined ? null : a / b);

// --- the run --------------------------------------------------------------------------------

async function runner() {
  let settings;
  try {
    settings = settingsFromEnv(process.env);
  } catch (err) {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(2);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-'));
  let failed = false;
  let interrupted = false;
  const onSignal = (signal) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, stopping everything it started…\n`);
    stopAll().finally(() => {
      if (!settings.keepWork) fs.rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, onSignal);

  try {
    await bench(settings, work);
  } catch (err) {
    failed = true;
    // Interrupted: the processes we stopped make the run fail; that is not news.
    if (interrupted) await new Promise(() => {});
    process.stderr.write(`\nbench: FAILED: ${err.message}\n`);
  } finally {
    await stopAll();
    if (failed || settings.keepWork) process.stderr.write(`bench: logs and config kept in ${work}\n`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

// Measured in this order (warm before cold, so a cold pool can be sized from what the
// run has seen; anonymous before the JWT targets, which are compared with it).
/** Upstream CPU/req ≥ this × the run's lowest marks a sample taken on a slowed core. */
const SLOWED_CORE = 1.4;

const TARGETS_ALL = [
  'direct',
  'fastify',
  'gatehouse-anon',
  'gatehouse-basic-warm',
  'jwt-hs256-warm',
  'jwt-hs256-cold',
  'jwt-rs256-warm',
  'jwt-rs256-cold',
  'jwt-es256-warm',
  'jwt-es256-cold',
  'session-redis-warm',
];
const TARGET_GROUPS = {
  all: TARGETS_ALL,
  base: TARGETS_ALL.slice(0, 4),
  jwt: TARGETS_ALL.filter((t) => t.startsWith('jwt-')),
  'jwt-warm': TARGETS_ALL.filter((t) => t.startsWith('jwt-') && t.endsWith('-warm')),
  'jwt-cold': TARGETS_ALL.filter((t) => t.startsWith('jwt-') && t.endsWith('-cold')),
  hs256: ['jwt-hs256-warm', 'jwt-hs256-cold'],
  rs256: ['jwt-rs256-warm', 'jwt-rs256-cold'],
  es256: ['jwt-es256-warm', 'jwt-es256-cold'],
  // The targets the issue ratios need: all of them, and the JWT ones only.
  issue: ['fastify', 'gatehouse-anon', 'gatehouse-basic-warm', 'jwt-hs256-cold', 'jwt-es256-warm'],
  'jwt-issue': ['gatehouse-anon', 'jwt-hs256-cold', 'jwt-es256-warm'],
  // The session-cookie target and the baseline its ratio needs.
  session: ['gatehouse-anon', 'session-redis-warm'],
};

/** TARGETS (names and group names, comma-separated) → target names, in measuring order. */
function chooseTargets(list) {
  if (list === undefined) return TARGETS_ALL;
  const wanted = new Set();
  for (const item of list) {
    if (TARGET_GROUPS[item]) for (const t of TARGET_GROUPS[item]) wanted.add(t);
    else if (TARGETS_ALL.includes(item)) wanted.add(item);
    else throw new Error(`unknown target ${item} (TARGETS: a comma list of ${TARGETS_ALL.join(', ')} or of the groups ${Object.keys(TARGET_GROUPS).join(', ')})`);
  }
  return TARGETS_ALL.filter((t) => wanted.has(t));
}

function versionOf(pkg) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

function gitCommit() {
  try {
    return execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function hasRedisServer() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function hasTaskset() {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function bench(S, work) {
  const cli = path.join(ROOT, 'dist', 'cli', 'main.js');
  if (!fs.existsSync(cli)) throw new Error(`${path.relative(ROOT, cli)} is missing: run \`npm run build\` (npm run bench does)`);
  const ncpu = os.cpus().length;
  const clk = clockTicks();
  const taskset = hasTaskset();
  const pinning = {
    enabled: S.pin && taskset && ncpu >= 2 && S.loadCpu !== S.sutCpu && Math.max(S.loadCpu, S.sutCpu) < ncpu,
    loadCpu: S.loadCpu,
    sutCpu: S.sutCpu,
  };
  pinning.note = pinning.enabled
    ? `load generator (autocannon) and this runner on cpu ${S.loadCpu}; upstream, fastify-proxy and gatehouse on cpu ${S.sutCpu} (taskset)`
    : `not pinned (${!S.pin ? 'PIN=0' : !taskset ? 'taskset not found' : ncpu < 2 ? 'fewer than 2 CPUs' : 'LOAD_CPU/SUT_CPU invalid'})`;
  if (pinning.enabled) {
    try {
      execFileSync('taskset', ['-pc', String(S.loadCpu), String(process.pid)], { stdio: 'ignore' });
    } catch {
      pinning.note += ' (could not pin the runner itself)';
    }
  }
  const boost = { enabled: S.boost, nice: S.boostNice, failures: 0 };

  const date = new Date();
  const chosen = chooseTargets(S.targets);
  const perSample = S.warmup + S.duration + 1;
  const estimate = Math.round(chosen.length * S.rounds * perSample + 8);

  const versions = {
    node: process.version,
    gatehouse: JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
    gitCommit: gitCommit(),
    fastify: versionOf('fastify'),
    '@fastify/http-proxy': versionOf('@fastify/http-proxy'),
    '@fastify/reply-from': versionOf('@fastify/reply-from'),
    undici: versionOf('undici'),
    autocannon: versionOf('autocannon'),
  };
  const machine = {
    cpus: ncpu,
    model: os.cpus()[0]?.model,
    kernel: os.release(),
    loadavg: os.loadavg().map((x) => round(x, 2)),
    note: '2 cores shared with other tenants: noisy; compare ratios and CPU/req, not absolute req/s',
  };

  const say = (s) => process.stdout.write(s + '\n');
  say(`gatehouse bench — ${date.toISOString()}`);
  say(`machine: ${machine.model} × ${ncpu} CPUs, kernel ${machine.kernel}, load avg ${machine.loadavg.join(' ')} (shared machine: noisy)`);
  say(`versions: node ${versions.node}, gatehouse ${versions.gatehouse} (${versions.gitCommit ?? 'no git'}), fastify ${versions.fastify}, @fastify/http-proxy ${versions['@fastify/http-proxy']}, autocannon ${versions.autocannon}`);
  say(`pinning: ${pinning.note}`);
  say(`settings: ${S.duration} s per target after ${S.warmup} s warm-up, ${S.connections} connections, ${S.rounds} round(s), targets ${chosen.join(',')}; ~${estimate} s${chosen.some((t) => t.endsWith('-cold')) ? ' plus signing the cold pools (RS256: ~10-20 s each)' : ''}`);

  // --- start everything -------------------------------------------------------------------
  // One call for every port: closed listeners' ports could come back from a second call.
  const [upPort, fastifyPort, gwPort, adminPort, redisPort, sessionGwPort, sessionAdminPort] = await freePorts(7);
  const log = (name) => fs.openSync(path.join(work, `${name}.log`), 'w');
  const nodeEnv = { ...process.env, NODE_ENV: 'production' };

  const upstream = startProcess('upstream', [process.execPath, path.join(HERE, 'upstream.mjs')], {
    env: { ...nodeEnv, PORT: String(upPort) }, cpu: S.sutCpu, stdio: ['ignore', log('upstream'), log('upstream.err')], pinning, boost,
  });
  const upstreamUrl = `http://127.0.0.1:${upPort}`;
  const fastifyProxy = startProcess('fastify-proxy', [process.execPath, ...S.fastifyNodeArgs, path.join(HERE, 'fastify-proxy.mjs')], {
    env: { ...nodeEnv, PORT: String(fastifyPort), UPSTREAM_URL: upstreamUrl }, cpu: S.sutCpu, stdio: ['ignore', log('fastify-proxy'), log('fastify-proxy.err')], pinning, boost,
  });

  // A cost-10 bcrypt user (the issue's case), made fresh for this run.
  const { hash } = await import('@node-rs/bcrypt');
  const basicUser = 'bench';
  const basicPassword = randomBytes(12).toString('hex');
  const bcryptHash = await hash(basicPassword, 10);
  if (!bcryptHash.startsWith('$2b$10$')) throw new Error('unexpected bcrypt hash format');
  fs.writeFileSync(path.join(work, 'users.htpasswd'), `${basicUser}:${bcryptHash}\n`, { mode: 0o600 });

  // JWT keys, made fresh for this run: an HS256 secret (64 ASCII bytes, >= 32 as RFC 7518
  // §3.2 asks), an RSA-2048 key given as a JWKS with a kid, a P-256 key given as a PEM
  // public key (no kid). The private halves stay in the temp dir, for the signers.
  const keyDir = path.join(work, 'keys');
  fs.mkdirSync(keyDir, { mode: 0o700 });
  const writeKey = (name, text) => {
    const file = path.join(keyDir, name);
    fs.writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  const hsSecret = randomBytes(32).toString('hex');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsKid = `bench-rs256-${randomBytes(4).toString('hex')}`;
  writeKey('rs256.jwks.json', JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: rsKid, alg: 'RS256', use: 'sig' }] }) + '\n');
  writeKey('es256.pub.pem', ec.publicKey.export({ type: 'spki', format: 'pem' }));
  const jwtIssuer = 'https://issuer.bench.invalid/';
  const jwtAudience = 'gatehouse-bench';
  const jwt = {
    hs256: { alg: 'HS256', keyFile: writeKey('hs256.secret', hsSecret), header: { alg: 'HS256', typ: 'JWT' } },
    rs256: { alg: 'RS256', keyFile: writeKey('rs256.key.pem', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' })), header: { alg: 'RS256', typ: 'JWT', kid: rsKid } },
    es256: { alg: 'ES256', keyFile: writeKey('es256.key.pem', ec.privateKey.export({ type: 'pkcs8', format: 'pem' })), header: { alg: 'ES256', typ: 'JWT' } },
  };
  const runTag = randomBytes(6).toString('base64url');
  let poolNo = 0;
  for (const [id, spec] of Object.entries(jwt)) {
    spec.id = id;
    spec.sub = `bench-${id}`;
    spec.sign = signerFor(spec.alg, fs.readFileSync(spec.keyFile, 'utf8'));
    let n = 0;
    /** Claims for a token valid for `ttlS`, with a jti no other token of this run has. */
    spec.claims = (ttlS, jti = `${runTag}-${id}-single-${n++}`) => {
      const iat = Math.floor(Date.now() / 1000);
      return { iss: jwtIssuer, aud: jwtAudience, sub: spec.sub, iat, exp: iat + ttlS, jti };
    };
    spec.token = (ttlS = 6 * 3600) => signToken(spec.sign, spec.header, spec.claims(ttlS));
    // The one token the warm target repeats (6 h: longer than any run).
    spec.warmToken = spec.token();
  }
  const jwtAuthenticator = (name, id) => {
    const keyLine = { hs256: '    secret: ${env:GATEHOUSE_BENCH_HS256_SECRET}', rs256: '    keys: ${file:./keys/rs256.jwks.json}', es256: '    keys: ${file:./keys/es256.pub.pem}' }[id];
    return [`  ${name}:`, '    type: jwt', `    realm: gatehouse bench ${id}`, keyLine, `    issuer: ${jwtIssuer}`, `    audience: ${jwtAudience}`, `    algorithms: [${jwt[id].alg}]`];
  };
  // One route and one authenticator (so one token cache) per JWT target: the cold pools
  // churn their cache without evicting the warm targets' token.
  const jwtTargetNames = TARGET_GROUPS.jwt;

  const configFile = path.join(work, 'gatehouse.bench.yaml');
  fs.writeFileSync(
    configFile,
    [
      '# Generated by bench/run.mjs for one run. Logging stays on (info): production runs with it.',
      `listen: 127.0.0.1:${gwPort}`,
      'admin:',
      `  listen: 127.0.0.1:${adminPort}`,
      'log:',
      '  level: info',
      'authenticators:',
      '  bench-users:',
      '    type: basic',
      '    realm: gatehouse bench',
      '    htpasswd: ./users.htpasswd',
      ...jwtTargetNames.flatMap((t) => jwtAuthenticator(`bench-${t}`, t.split('-')[1])),
      'routes:',
      '  - name: bench-anonymous',
      '    match: { path: /anon/** }',
      `    upstream: ${upstreamUrl}`,
      '    auth: anonymous',
      '  - name: bench-basic',
      '    match: { path: /basic/** }',
      `    upstream: ${upstreamUrl}`,
      '    auth: bench-users',
      ...jwtTargetNames.flatMap((t) => [`  - name: bench-${t}`, `    match: { path: /${t}/** }`, `    upstream: ${upstreamUrl}`, `    auth: bench-${t}`]),
      '',
    ].join('\n'),
  );
  const gatehouse = startProcess('gatehouse', [process.execPath, ...S.gatehouseNodeArgs, cli, 'serve', '-c', configFile], {
    // stdout carries one JSON line per request: discarded, but still produced and written.
    env: { ...nodeEnv, GATEHOUSE_BENCH_HS256_SECRET: hsSecret }, cpu: S.sutCpu, stdio: ['ignore', 'ignore', log('gatehouse.err')], pinning, boost,
  });

  // The session target runs on a SECOND gatehouse with `sessions.store: redis`, and a
  // Redis of its own on the measured core (its CPU is part of what a session check
  // costs; the shared Redis on 6379 serves other people's tests). Not on the first
  // gatehouse: with a Redis session store every Basic authenticator keeps its throttle
  // counters in that Redis too, which would change what gatehouse-basic-warm measures.
  const sessionCookie = 'bench_session';
  const sessionSecret = randomBytes(32).toString('hex');
  let redis;
  let gatehouseSessions;
  if (chosen.includes('session-redis-warm')) {
    if (!hasRedisServer()) throw new Error('session-redis-warm needs redis-server (Debian: apt-get install redis-server); leave it out of TARGETS otherwise');
    redis = startProcess('redis', ['redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], {
      cpu: S.sutCpu, stdio: ['ignore', log('redis'), log('redis.err')], pinning, boost,
    });
    const sessionConfigFile = path.join(work, 'gatehouse.sessions.bench.yaml');
    fs.writeFileSync(
      sessionConfigFile,
      [
        '# Generated by bench/run.mjs: the session-cookie target (sessions in Redis). Logging stays on (info).',
        `listen: 127.0.0.1:${sessionGwPort}`,
        'admin:',
        `  listen: 127.0.0.1:${sessionAdminPort}`,
        'log:',
        '  level: info',
        'sessions:',
        '  store: redis',
        '  redis:',
        `    url: redis://127.0.0.1:${redisPort}/0`,
        '    keyPrefix: "gatehouse-bench:"',
        '  cookie:',
        `    name: ${sessionCookie}`,
        '    secure: false                # plain http on loopback',
        '  secret: ${env:GATEHOUSE_BENCH_SESSION_SECRET}',
        '  maxAge: 12h',
        '  idleTimeout: 1h',
        'login:',
        '  providers:',
        '    local:',
        '      type: form',
        '      authenticator: bench-users',
        'authenticators:',
        '  web:',
        '    type: session',
        '  bench-users:',
        '    type: basic',
        '    realm: gatehouse bench',
        '    htpasswd: ./users.htpasswd',
        'routes:',
        '  - name: bench-session',
        '    match: { path: /session/** }',
        `    upstream: ${upstreamUrl}`,
        '    auth: web',
        '',
      ].join('\n'),
    );
    gatehouseSessions = startProcess('gatehouse-sessions', [process.execPath, ...S.gatehouseNodeArgs, cli, 'serve', '-c', sessionConfigFile], {
      env: { ...nodeEnv, GATEHOUSE_BENCH_SESSION_SECRET: sessionSecret }, cpu: S.sutCpu, stdio: ['ignore', 'ignore', log('gatehouse-sessions.err')], pinning, boost,
    });
  }

  try {
    await waitReady(upstream, `${upstreamUrl}/`, (r) => r.status === 200);
    await waitReady(fastifyProxy, `http://127.0.0.1:${fastifyPort}/`, (r) => r.status === 200);
    await waitReady(gatehouse, `http://127.0.0.1:${adminPort}/readyz`, (r) => r.status === 200);
    if (redis) {
      await waitRedis(redis, redisPort);
      await waitReady(gatehouseSessions, `http://127.0.0.1:${sessionAdminPort}/readyz`, (r) => r.status === 200);
    }
  } catch (err) {
    const tail = (name) => {
      try {
        return fs.readFileSync(path.join(work, name), 'utf8').slice(-2000);
      } catch {
        return '';
      }
    };
    const logs = ['upstream.err.log', 'fastify-proxy.err.log', 'gatehouse.err.log', ...(redis ? ['redis.log', 'gatehouse-sessions.err.log'] : [])];
    throw new Error(`${err.message}\n${logs.map((n) => `--- ${n}\n${tail(n)}`).join('\n')}`);
  }
  say(`boost: ${boost.enabled ? (boost.failures === 0 ? `autogroup nice ${boost.nice} for every process group started here` : `requested (autogroup nice ${boost.nice}) but not applied to ${boost.failures} process(es)`) : 'off (BOOST=0)'}`);

  const basicAuth = 'Basic ' + Buffer.from(`${basicUser}:${basicPassword}`).toString('base64');
  const wrongAuth = 'Basic ' + Buffer.from(`${basicUser}:not-${basicPassword}`).toString('base64');
  const gw = `http://127.0.0.1:${gwPort}`;
  const expect = (cond, target, what) => {
    if (!cond) throw new Error(`check of ${target} failed: ${what}`);
  };

  // The session target's one sign-in, as a browser does it: the form (its csrf cookie and
  // token), then the POST; the session cookie it sets is what every request then carries.
  const sgw = `http://127.0.0.1:${sessionGwPort}`;
  const sessionSignIn = async (name) => {
    const form = await httpGet(`${sgw}/.gatehouse/login/local?rd=/session/item`, { accept: 'text/html' });
    expect(form.status === 200, name, `sign-in form: want 200, got ${form.status}`);
    const csrfCookie = setCookiePair(form.headers, `${sessionCookie}-csrf`);
    const csrf = hiddenField(form.body, 'csrf');
    expect(csrfCookie !== undefined && csrf !== undefined, name, 'sign-in form without its csrf cookie or token');
    const body = new URLSearchParams({ username: basicUser, password: basicPassword, csrf, rd: '/session/item' }).toString();
    const res = await httpRequest('POST', `${sgw}/.gatehouse/login/local`, {
      'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), cookie: csrfCookie, 'sec-fetch-site': 'same-origin', accept: 'text/html',
    }, body);
    expect(res.status === 303 && res.headers.location === '/session/item', name, `sign-in POST: want 303 to /session/item, got ${res.status} ${res.headers.location ?? ''}`);
    const cookie = setCookiePair(res.headers, sessionCookie);
    expect(cookie !== undefined && new RegExp(`^${sessionCookie}=[A-Za-z0-9_-]{43}\\.`).test(cookie), name, 'sign-in set no session cookie of the expected shape');
    return cookie;
  };

  const targets = [
    {
      name: 'direct',
      label: '(a) upstream direct',
      url: `${upstreamUrl}/anon/item`,
      proxy: undefined,
      async check() {
        const r = await httpGet(this.url);
        expect(r.status === 200 && parseJson(r.body, this.name).ok === true, this.name, `want 200 from the upstream, got ${r.status}`);
      },
    },
    {
      name: 'fastify',
      label: '(b) Fastify 5 + @fastify/http-proxy',
      url: `http://127.0.0.1:${fastifyPort}/anon/item`,
      proxy: fastifyProxy,
      async check() {
        const r = await httpGet(this.url);
        const b = r.status === 200 ? parseJson(r.body, this.name) : {};
        expect(r.status === 200 && b.ok === true && b.url === '/anon/item', this.name, `want 200 from the upstream through the proxy, got ${r.status}`);
      },
    },
    {
      name: 'gatehouse-anon',
      label: '(c) gatehouse, anonymous route',
      url: `${gw}/anon/item`,
      proxy: gatehouse,
      async check() {
        // A client-sent identity header must not reach the upstream (stripPrefixes).
        const r = await httpGet(this.url, { 'x-auth-user': 'mallory' });
        const b = r.status === 200 ? parseJson(r.body, this.name) : {};
        expect(r.status === 200 && b.ok === true, this.name, `want 200 from the upstream, got ${r.status}`);
        expect(b['x-auth-method'] === 'anonymous', this.name, `upstream saw X-Auth-Method ${JSON.stringify(b['x-auth-method'])}, want "anonymous"`);
        expect(b['x-auth-user'] === null, this.name, 'a client-sent X-Auth-User reached the upstream');
      },
    },
    {
      name: 'gatehouse-basic-warm',
      label: '(d) gatehouse, Basic bcrypt-10, warm',
      url: `${gw}/basic/item`,
      headers: { authorization: basicAuth },
      proxy: gatehouse,
      checkedOnce: false,
      async check() {
        const none = await httpGet(this.url);
        expect(none.status === 401, this.name, `no credential: want 401, got ${none.status}`);
        expect(/^Basic /i.test(String(none.headers['www-authenticate'] ?? '')), this.name, 'no credential: 401 without a Basic challenge');
        if (!this.checkedOnce) {
          // Once per run only: each wrong guess counts against the throttle (5 per user+IP).
          const wrong = await httpGet(this.url, { authorization: wrongAuth });
          expect(wrong.status === 401, this.name, `wrong password: want 401, got ${wrong.status}`);
        }
        const ok = await httpGet(this.url, { authorization: basicAuth });
        const b = ok.status === 200 ? parseJson(ok.body, this.name) : {};
        expect(ok.status === 200 && b.ok === true, this.name, `right credential: want 200, got ${ok.status}`);
        expect(b['x-auth-user'] === basicUser, this.name, `upstream saw X-Auth-User ${JSON.stringify(b['x-auth-user'])}, want ${JSON.stringify(basicUser)}`);
        this.checkedOnce = true;
      },
    },
    ...jwtTargetNames.map((name, i) => {
      const [, id, kind] = name.split('-');
      const spec = jwt[id];
      const cold = kind === 'cold';
      return {
        name,
        label: `(${String.fromCharCode(101 + i)}) gatehouse, JWT ${spec.alg}, ${cold ? 'cold' : 'warm'}`,
        url: `${gw}/${name}/item`,
        headers: cold ? undefined : { authorization: `Bearer ${spec.warmToken}` },
        proxy: gatehouse,
        jwt: spec,
        cold,
        async check() {
          const challenge = (r) => String(r.headers['www-authenticate'] ?? '');
          const none = await httpGet(this.url);
          expect(none.status === 401, name, `no token: want 401, got ${none.status}`);
          expect(/^Bearer realm=/i.test(challenge(none)), name, 'no token: 401 without a Bearer challenge');
          // Cold: a token of its own (the pool's tokens must reach gatehouse unseen).
          const good = cold ? spec.token(600) : spec.warmToken;
          const bad = await httpGet(this.url, { authorization: `Bearer ${tamper(good)}` });
          expect(bad.status === 401, name, `tampered token: want 401, got ${bad.status}`);
          expect(/error="invalid_token"/.test(challenge(bad)), name, 'tampered token: 401 without error="invalid_token"');
          const ok = await httpGet(this.url, { authorization: `Bearer ${good}` });
          const b = ok.status === 200 ? parseJson(ok.body, name) : {};
          expect(ok.status === 200 && b.ok === true, name, `right token: want 200, got ${ok.status}`);
          expect(b['x-auth-user'] === spec.sub, name, `upstream saw X-Auth-User ${JSON.stringify(b['x-auth-user'])}, want ${JSON.stringify(spec.sub)}`);
          expect(b['x-auth-method'] === 'jwt', name, `upstream saw X-Auth-Method ${JSON.stringify(b['x-auth-method'])}, want "jwt"`);
          expect(b.auth === null, name, 'the Authorization header reached the upstream');
        },
      };
    }),
    {
      name: 'session-redis-warm',
      label: '(k) gatehouse, session cookie (Redis), warm',
      url: `${sgw}/session/item`,
      headers: undefined, // { cookie } after the first check's sign-in
      proxy: gatehouseSessions,
      redis,
      async check() {
        const name = this.name;
        const ready = await httpGet(`http://127.0.0.1:${sessionAdminPort}/readyz`);
        const sessions = ready.status === 200 ? parseJson(ready.body, name).sessions : undefined;
        expect(sessions?.ok === true && sessions.store === 'redis', name, `readyz: want sessions {ok: true, store: redis}, got ${ready.status} ${JSON.stringify(sessions)}`);
        const none = await httpGet(this.url);
        expect(none.status === 401, name, `no cookie: want 401, got ${none.status}`);
        const browser = await httpGet(this.url, { accept: 'text/html' });
        expect(browser.status === 302 && browser.headers.location === '/.gatehouse/login?rd=%2Fsession%2Fitem', name, `no cookie, Accept text/html: want 302 to sign-in, got ${browser.status} ${browser.headers.location ?? ''}`);
        // Once per run: the session lives 12 h (idle 1 h), longer than any run.
        if (this.headers === undefined) this.headers = { cookie: await sessionSignIn(name) };
        const { cookie } = this.headers;
        // The same id with the signature's first character changed: a failure (401), never "no session".
        const dot = cookie.indexOf('.');
        const forged = `${cookie.slice(0, dot + 1)}${cookie[dot + 1] === 'A' ? 'B' : 'A'}${cookie.slice(dot + 2)}`;
        const bad = await httpGet(this.url, { cookie: forged });
        expect(bad.status === 401 && parseJson(bad.body, name).code === 'GATEHOUSE_ERR_SESSION_INVALID', name, `forged signature: want 401 GATEHOUSE_ERR_SESSION_INVALID, got ${bad.status}`);
        const ok = await httpGet(this.url, { cookie });
        const b = ok.status === 200 ? parseJson(ok.body, name) : {};
        expect(ok.status === 200 && b.ok === true, name, `session cookie: want 200, got ${ok.status}`);
        expect(b['x-auth-user'] === basicUser, name, `upstream saw X-Auth-User ${JSON.stringify(b['x-auth-user'])}, want ${JSON.stringify(basicUser)}`);
        expect(b['x-auth-method'] === 'session', name, `upstream saw X-Auth-Method ${JSON.stringify(b['x-auth-method'])}, want "session"`);
        expect(b.cookies === undefined, name, `the session cookie reached the upstream (cookies ${JSON.stringify(b.cookies)})`);
      },
    },
  ].filter((t) => chosen.includes(t.name));

  /**
   * Signs `count` distinct tokens for a cold target in a few child processes (one per
   * CPU: nothing is measured meanwhile), each into its own file; returns the files.
   */
  const signPool = async (spec, count) => {
    const started0 = performance.now();
    const n = Math.max(1, Math.min(ncpu, 8));
    const prefix = `${runTag}-${spec.id}-p${++poolNo}-`;
    const ttlS = 3600; // a measurement follows at once; 1 h leaves room for any run
    const base = spec.claims(ttlS);
    delete base.jti;
    const jobs = [];
    for (let i = 0; i < n; i++) {
      const part = Math.floor(count / n) + (i < count % n ? 1 : 0);
      const out = path.join(work, `pool-${spec.id}-${poolNo}-${i}.txt`);
      const entry = startProcess(`signer-${i}`, [process.execPath, SELF, '--sign'], {
        env: { ...process.env, BENCH_SIGN: JSON.stringify({ alg: spec.alg, keyFile: spec.keyFile, header: spec.header, claims: base, prefix: `${prefix}${i}-`, count: part, out }) },
        // The runner is pinned to one CPU and children inherit that: give signers them all.
        cpu: pinning.enabled ? `0-${ncpu - 1}` : undefined,
        stdio: ['ignore', 'ignore', 'pipe'], pinning, boost,
      });
      let err = '';
      entry.child.stderr.on('data', (c) => (err += c));
      jobs.push(entry.exited.then((e) => {
        started.delete(entry.pgid);
        if (e.code !== 0) throw new Error(`token signer ${i} failed (${describeExit(e)}): ${err.slice(-1000)}`);
        return out;
      }));
    }
    const files = await Promise.all(jobs);
    return { files, count, signSeconds: round((performance.now() - started0) / 1000, 1), processes: n };
  };
  const poolSize = (spec) => {
    if (S.coldPool) return S.coldPool;
    const seen = [...samples, ...discarded].filter((x) => x.proxy === 'gatehouse').map((x) => x.rps);
    const rate = S.coldRate ?? (seen.length ? Math.max(...seen) : 8000);
    const n = Math.ceil(rate * S.coldMargin * (S.warmup + S.duration)) + 4 * S.connections;
    // HS256 tokens cost ~3 µs each to sign: a generous pool costs nothing.
    return spec.alg === 'HS256' ? Math.max(n, 150_000) : n;
  };

  // --- measure --------------------------------------------------------------------------------
  const ours = () => [...started.keys()];
  let noiseBudget = S.noiseBudget;
  const discarded = [];

  const measureOnce = async (target, roundNo) => {
    let pool;
    if (target.cold) {
      pool = await signPool(target.jwt, poolSize(target.jwt));
      say(`    ${target.name}: signed ${pool.count} distinct ${target.jwt.alg} tokens in ${pool.signSeconds} s (${pool.processes} processes)`);
    }
    await target.check();
    const load = startProcess('load', [process.execPath, SELF, '--load'], {
      env: {
        ...process.env,
        BENCH_LOAD: JSON.stringify({
          url: target.url, headers: target.headers ?? {}, connections: S.connections, duration: S.duration, warmup: S.warmup,
          tokenFiles: pool?.files,
        }),
      },
      cpu: S.loadCpu, stdio: ['ignore', 'pipe', 'pipe'], pinning, boost,
    });
    let before;
    let after;
    let result;
    let stderr = '';
    let buffered = '';
    load.child.stderr.on('data', (c) => (stderr += c));
    load.child.stdout.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line === 'MEASURE-START') before = snapshot(ours());
        else if (line === 'MEASURE-END') after = snapshot(ours());
        else if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7));
      }
    });
    const limit = (S.warmup + S.duration + 60) * 1000;
    const timedOut = await Promise.race([load.exited.then(() => false), sleep(limit).then(() => true)]);
    if (timedOut) {
      await stopProcess(load);
      throw new Error(`load generator for ${target.name} did not finish within ${limit / 1000} s`);
    }
    await stopProcess(load);
    for (const f of pool?.files ?? []) fs.rmSync(f, { force: true });
    if (load.exit.code !== 0 || !result || !before || !after) {
      throw new Error(`load generator for ${target.name} failed (${describeExit(load.exit)}): ${stderr.slice(-1500)}`);
    }
    for (const e of [upstream, fastifyProxy, gatehouse, ...(redis ? [redis, gatehouseSessions] : [])]) {
      if (e.exit) throw new Error(`${e.name} died during the measurement of ${target.name} (${describeExit(e.exit)})`);
    }

    const elapsed = (after.at - before.at) / 1000;
    const dTicks = (pgid) => (after.groups.get(pgid) ?? 0) - (before.groups.get(pgid) ?? 0);
    const cpuSeconds = (pgid) => dTicks(pgid) / clk;
    const reqs = result.requests;
    const perReqUs = (pgid) => (reqs > 0 ? round((cpuSeconds(pgid) * 1e6) / reqs, 1) : null);
    const cpuPct = (n) => {
      const a = after.cpus.get(n);
      const b = before.cpus.get(n);
      return a && b && a.total > b.total ? round((100 * (a.busy - b.busy)) / (a.total - b.total), 1) : null;
    };
    let busyAll = 0;
    let stealAll = 0;
    for (const [n, a] of after.cpus) {
      const b = before.cpus.get(n);
      if (b) {
        busyAll += a.busy - b.busy;
        stealAll += a.steal - b.steal;
      }
    }
    let oursTicks = ((after.selfUs - before.selfUs) / 1e6) * clk;
    for (const pgid of before.groups.keys()) oursTicks += dTicks(pgid);
    // Busy time on any core not spent by a process of ours, as % of one core.
    const others = round(Math.max(0, (100 * (busyAll - oursTicks)) / (elapsed * clk)), 1);

    return {
      target: target.name,
      proxy: target.proxy?.name ?? null,
      round: roundNo,
      rps: round(reqs / result.duration, 0),
      requests: reqs,
      durationS: result.duration,
      p50Ms: result.latencyMs.p50,
      p90Ms: result.latencyMs.p90,
      p99Ms: result.latencyMs.p99,
      maxMs: result.latencyMs.max,
      autocannonLatencyMs: result.autocannonLatencyMs,
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      statusCodes: result.statusCodes,
      // Cold JWT: pool size, tokens taken from it (warm-up included), signing time, and
      // whether it ran low before the end (then the figures cover `afterS` seconds only).
      tokens: pool ? { ...result.tokens, signSeconds: pool.signSeconds } : undefined,
      exhausted: result.exhausted,
      proxyCpuUsPerReq: target.proxy ? perReqUs(target.proxy.pgid) : null,
      upstreamCpuUsPerReq: perReqUs(upstream.pgid),
      // Session target: its Redis's CPU, on the measured core too (not in proxy CPU/req).
      redisCpuUsPerReq: target.redis ? perReqUs(target.redis.pgid) : null,
      loadGenCpuPct: round((100 * cpuSeconds(load.pgid)) / elapsed, 1),
      sutCpuBusyPct: pinning.enabled ? cpuPct(S.sutCpu) : null,
      loadCpuBusyPct: pinning.enabled ? cpuPct(S.loadCpu) : null,
      othersPct: others,
      stealPct: round((100 * stealAll) / (elapsed * clk), 1),
    };
  };

  const samples = [];
  for (let roundNo = 1; roundNo <= S.rounds; roundNo++) {
    for (const target of targets) {
      let attempts = [];
      for (let attempt = 0; ; attempt++) {
        const s = await measureOnce(target, roundNo);
        attempts.push(s);
        say(
          `  [round ${roundNo}] ${target.name.padEnd(21)} ${String(s.rps).padStart(7)} req/s  p50 ${fmt(s.p50Ms, 2)} ms  p99 ${fmt(s.p99Ms, 2)} ms` +
            `  proxy ${fmt(s.proxyCpuUsPerReq, 1)} µs/req  upstream ${fmt(s.upstreamCpuUsPerReq, 1)} µs/req` +
            (s.redisCpuUsPerReq !== null ? `  redis ${fmt(s.redisCpuUsPerReq, 1)} µs/req` : '') +
            `  others ${fmt(s.othersPct, 0)} %` +
            (s.errors || s.non2xx ? `  ERRORS ${s.errors} NON-2XX ${s.non2xx}` : '') +
            (s.exhausted ? `  TOKEN POOL RAN LOW after ${s.exhausted.afterS} s: stopped there, figures over ${s.exhausted.afterS} s` : ''),
        );
        if (s.othersPct === null || s.othersPct <= S.noiseMax || attempt >= S.noiseRetries || noiseBudget <= 0) break;
        noiseBudget -= 1;
        say(`    other tenants used ${s.othersPct} % of a core (> NOISE_MAX ${S.noiseMax}): measuring ${target.name} again`);
      }
      // Keep the cheaper sample: on this VM noise only ever adds CPU time per request, and
      // `others %` did not tell which of two samples it had slowed (README, Noise).
      const cost = (x) => x.proxyCpuUsPerReq ?? x.upstreamCpuUsPerReq ?? -x.rps;
      attempts.sort((a, b) => cost(a) - cost(b));
      samples.push(attempts[0]);
      for (const d of attempts.slice(1)) discarded.push(d);
    }
  }

  // --- report -----------------------------------------------------------------------------
  // The upstream does the same work for every proxied request, so its CPU/req gauges how
  // slow the measured core was (neighbours on the host slow it without showing up in
  // `others %`). Cold JWT targets raise it ~15-25 % themselves (cache pollution on the
  // shared core), hence the generous threshold.
  const upstreamFloor = Math.min(...samples.filter((x) => x.proxy !== null && x.upstreamCpuUsPerReq !== null).map((x) => x.upstreamCpuUsPerReq));
  const slowed = Number.isFinite(upstreamFloor) ? samples.filter((x) => x.proxy !== null && x.upstreamCpuUsPerReq >= SLOWED_CORE * upstreamFloor) : [];
  for (const x of slowed) x.slowedCore = true;
  const byTarget = new Map(targets.map((t) => [t.name, samples.filter((s) => s.target === t.name)]));
  // Medians over the samples taken on an unslowed core, when a target has any.
  const usable = (name) => {
    const ss = byTarget.get(name) ?? [];
    const clean = ss.filter((x) => !x.slowedCore);
    return clean.length > 0 ? clean : ss;
  };
  const med = (name, key) => median(usable(name).map((s) => s[key]));
  const summary = targets.map((t) => {
    const ss = byTarget.get(t.name);
    return {
      target: t.name,
      label: t.label,
      rps: med(t.name, 'rps'),
      rpsPerRound: ss.map((s) => `${s.rps}${s.slowedCore ? '*' : ''}`),
      slowedSamples: ss.filter((s) => s.slowedCore).length,
      p50Ms: med(t.name, 'p50Ms'),
      p99Ms: med(t.name, 'p99Ms'),
      errors: ss.reduce((a, s) => a + s.errors, 0),
      timeouts: ss.reduce((a, s) => a + s.timeouts, 0),
      non2xx: ss.reduce((a, s) => a + s.non2xx, 0),
      proxyCpuUsPerReq: med(t.name, 'proxyCpuUsPerReq'),
      upstreamCpuUsPerReq: med(t.name, 'upstreamCpuUsPerReq'),
      redisCpuUsPerReq: med(t.name, 'redisCpuUsPerReq'),
      loadGenCpuPct: med(t.name, 'loadGenCpuPct'),
      sutCpuBusyPct: med(t.name, 'sutCpuBusyPct'),
      othersPct: med(t.name, 'othersPct'),
      // Cold JWT: measurements cut short because the token pool ran low (see samples).
      poolExhausted: ss.filter((s) => s.exhausted).length,
    };
  });
  const get = (name) => summary.find((s) => s.target === name);
  const directRps = get('direct')?.rps ?? null;
  for (const s of summary) s.vsDirect = round(ratio(s.rps, directRps), 3);

  // Per-round ratios: both sides measured minutes apart at most, so drift cancels better.
  // Rounds where either side was measured on a slowed core are left out, unless that
  // leaves none.
  const perRound = (a, b, key) => {
    const all = [];
    for (let r = 1; r <= S.rounds; r++) {
      const x = samples.find((s) => s.target === a && s.round === r);
      const y = samples.find((s) => s.target === b && s.round === r);
      if (x && y) all.push({ v: round(ratio(x[key], y[key]), 3), slowed: Boolean(x.slowedCore || y.slowedCore) });
    }
    const clean = all.filter((p) => !p.slowed);
    return (clean.length > 0 ? clean : all).map((p) => p.v);
  };
  /** Rounds where a or b was measured on a slowed core; `all` when no round is left. */
  const slowedRounds = (a, b) => {
    const rounds = [...new Set(samples.filter((s) => (s.target === a || s.target === b) && s.slowedCore).map((s) => s.round))].sort((x, y) => x - y);
    const measured = new Set(samples.filter((s) => s.target === a).map((s) => s.round));
    return { rounds, all: rounds.length > 0 && [...measured].every((r) => rounds.includes(r)) };
  };
  /** a's figures ÷ b's: req/s (issue targets are req/s ratios) and proxy CPU/req. */
  const compare = (a, b, limit) => {
    const ofMedians = ratio(get(a)?.rps ?? null, get(b)?.rps ?? null);
    const rpsPerRound = perRound(a, b, 'rps');
    // With several rounds the verdict takes the median of the per-round ratios: each pairs
    // samples measured minutes apart, while the ratio of medians can pair a quiet round's
    // sample with a noisy one's (README, "Reading the output").
    const rps = S.rounds > 1 && rpsPerRound.length > 0 ? median(rpsPerRound) : ofMedians;
    return {
      a,
      b,
      rps: round(rps, 3),
      rpsOfMedians: round(ofMedians, 3),
      rpsPerRound,
      slowedRounds: slowedRounds(a, b),
      ...(limit === undefined ? {} : { target: round(1 / limit, 3), within: limit, met: rps === null ? null : rps >= 1 / limit }),
      cpuPerReq: round(ratio(get(a)?.proxyCpuUsPerReq ?? null, get(b)?.proxyCpuUsPerReq ?? null), 3),
    };
  };
  const ratios = {
    anonVsFastify: compare('gatehouse-anon', 'fastify', 1.3),
    basicWarmVsAnon: compare('gatehouse-basic-warm', 'gatehouse-anon', 1.2),
    // Issue 3: "warm JWT (ES256) within 1.15x of the anonymous route's req/s; cold HS256 within 1.3x".
    es256WarmVsAnon: compare('jwt-es256-warm', 'gatehouse-anon', 1.15),
    hs256ColdVsAnon: compare('jwt-hs256-cold', 'gatehouse-anon', 1.3),
    jwtVsAnon: Object.fromEntries(TARGET_GROUPS.jwt.filter((t) => get(t)).map((t) => [t, compare(t, 'gatehouse-anon')])),
    // No issue target. Its own Redis runs on the measured core: the CPU/req ratio with
    // Redis's share counts everything a session check costs there.
    sessionWarmVsAnon: {
      ...compare('session-redis-warm', 'gatehouse-anon'),
      cpuPerReqWithRedis: round(
        ratio(
          get('session-redis-warm') && get('session-redis-warm').proxyCpuUsPerReq !== null && get('session-redis-warm').redisCpuUsPerReq !== null
            ? get('session-redis-warm').proxyCpuUsPerReq + get('session-redis-warm').redisCpuUsPerReq
            : null,
          get('gatehouse-anon')?.proxyCpuUsPerReq ?? null,
        ),
        3,
      ),
    },
  };

  say('');
  say(`Results (${S.rounds > 1 ? `medians of ${S.rounds} rounds` : 'one round'}; ${S.duration} s per target, ${S.connections} connections):`);
  say('');
  const header = ['target', 'req/s', ...(S.rounds > 1 ? ['req/s per round'] : []), 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'vs direct', 'proxy CPU µs/req', 'upstream CPU µs/req', 'load gen CPU %', 'SUT core busy %', 'others %'];
  const rows = summary.map((s) => [
    `${s.label}`,
    fmt(s.rps, 0),
    ...(S.rounds > 1 ? [s.rpsPerRound.join(' / ')] : []),
    fmt(s.p50Ms, 2),
    fmt(s.p99Ms, 2),
    String(s.errors + s.timeouts),
    String(s.non2xx),
    fmt(s.vsDirect, 3),
    fmt(s.proxyCpuUsPerReq, 1),
    fmt(s.upstreamCpuUsPerReq, 1),
    fmt(s.loadGenCpuPct, 0),
    fmt(s.sutCpuBusyPct, 0),
    fmt(s.othersPct, 0),
  ]);
  say(markdownTable(header, rows, [false, ...header.slice(1).map(() => true)]));
  say('');
  const verdict = (r) => (r.met === null ? 'n/a' : r.met ? 'MET' : 'MISSED');
  const short = (n) => n.replace(/^gatehouse-/, '').replace(/^jwt-/, '');
  const perRoundText = (r) =>
    (r.rpsPerRound.length > 1 ? ` (median of per-round ${r.rpsPerRound.join(' / ')}; ratio of medians ${fmt(r.rpsOfMedians, 3)})` : '') +
    (r.slowedRounds.rounds.length === 0
      ? ''
      : r.slowedRounds.all
        ? ' [SUSPECT: measured on a slowed core]'
        : ` [round(s) ${r.slowedRounds.rounds.join(', ')} left out: slowed core]`);
  const line = (label, r) =>
    `  ${label.padEnd(27)}: ${short(r.a)}/${short(r.b)} req/s = ${fmt(r.rps, 3)}${perRoundText(r)}, target >= ${fmt(r.target, 3)} (within ${r.within}x) → ${verdict(r)}` +
    `; proxy CPU/req ${short(r.a)}/${short(r.b)} = ${fmt(r.cpuPerReq, 2)}x`;
  const issueLines = [
    ['anonymous vs bare Fastify', ratios.anonVsFastify],
    ['Basic warm vs anonymous', ratios.basicWarmVsAnon],
    ['JWT ES256 warm vs anonymous', ratios.es256WarmVsAnon],
    ['JWT HS256 cold vs anonymous', ratios.hs256ColdVsAnon],
  ].filter(([, r]) => r.rps !== null);
  say('Ratios (issue targets):');
  for (const [label, r] of issueLines) say(line(label, r));
  if (issueLines.length === 0) say('  none: their targets were not all measured (TARGETS)');
  const jwtRatios = Object.values(ratios.jwtVsAnon).filter((r) => r.rps !== null);
  if (jwtRatios.length) {
    say('JWT targets vs the anonymous route (req/s ratio; proxy CPU/req ratio, lower is better):');
    for (const r of jwtRatios) say(`  ${r.a.padEnd(15)} ${fmt(r.rps, 3)}${perRoundText(r)}; CPU/req ${fmt(r.cpuPerReq, 2)}x`);
  }
  const sr = ratios.sessionWarmVsAnon;
  if (sr.rps !== null) {
    const sw = get('session-redis-warm');
    say('Session target vs the anonymous route (no target set; req/s ratio; proxy CPU/req ratio, lower is better):');
    say(
      `  session-redis-warm ${fmt(sr.rps, 3)}${perRoundText(sr)}; CPU/req ${fmt(sr.cpuPerReq, 2)}x, ${fmt(sr.cpuPerReqWithRedis, 2)}x with Redis's CPU` +
        ` (gatehouse ${fmt(sw.proxyCpuUsPerReq, 1)} + Redis ${fmt(sw.redisCpuUsPerReq, 1)} µs/req vs anonymous ${fmt(get('gatehouse-anon').proxyCpuUsPerReq, 1)})`,
    );
  }
  if (directRps !== null) say(`  vs direct: ${summary.filter((s) => s.target !== 'direct').map((s) => `${s.target} ${fmt(s.vsDirect, 3)}`).join(', ')}`);
  const lowPools = summary.filter((s) => s.poolExhausted > 0);
  if (lowPools.length) say(`note: the token pool ran low for ${lowPools.map((s) => `${s.target} (${s.poolExhausted}×)`).join(', ')}: those samples stopped early and cover less than ${S.duration} s (COLD_MARGIN or COLD_POOL make pools bigger)`);
  const bad = summary.filter((s) => s.errors + s.timeouts + s.non2xx > 0);
  if (bad.length) say(`WARNING: errors or non-2xx answers during measurement: ${bad.map((s) => s.target).join(', ')} — those figures are not comparable`);
  const loadBound = summary.filter((s) => (s.loadGenCpuPct ?? 0) >= 90);
  if (loadBound.length) say(`note: the load generator used ≥ 90 % of its core for ${loadBound.map((s) => s.target).join(', ')}: that req/s is a floor (autocannon-bound)`);
  if (discarded.length) say(`note: ${discarded.length} noisy sample(s) measured again; the one with the lower CPU/req was kept (all in the JSON)`);
  if (slowed.length) {
    say(
      `note: the measured core was slowed during ${slowed.map((x) => `${x.target}${S.rounds > 1 ? ` (round ${x.round})` : ''}`).join(', ')}: ` +
        `the upstream needed ≥ ${SLOWED_CORE}× its lowest CPU/req of the run (${upstreamFloor} µs) for the same work. ` +
        (S.rounds > 1 ? 'Medians and ratios leave those samples out where a target has others (* in the per-round column)' : 'Ratios involving them are suspect'),
    );
  }
  fs.mkdirSync(S.resultsDir, { recursive: true });
  const file = path.join(S.resultsDir, `${date.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        date: date.toISOString(),
        machine,
        versions,
        pinning,
        boost: { enabled: boost.enabled, nice: boost.nice, failures: boost.failures },
        settings: { ...S, resultsDir: undefined },
        clockTicks: clk,
        summary,
        ratios,
        samples,
        discarded,
      },
      null,
      2,
    ) + '\n',
  );
  say(`\nresults: ${path.relative(process.cwd(), file) || file}`);
}

/** The same token with `sub` changed and the original signature: must be refused. */
function tamper(token) {
  const [h, p, sig] = token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  return `${h}.${b64urlJson({ ...claims, sub: 'mallory' })}.${sig}`;
}

function fmt(v, digits) {
  return v === null || v === undefined ? '-' : Number(v).toFixed(digits);
}

function markdownTable(header, rows, rightAlign) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const cell = (s, i) => (rightAlign[i] ? s.padStart(widths[i]) : s.padEnd(widths[i]));
  const out = [`| ${header.map(cell).join(' | ')} |`, `|${widths.map((w, i) => (rightAlign[i] ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|')}|`];
  for (const r of rows) out.push(`| ${r.map(cell).join(' | ')} |`);
  return out.join('\n');
}

// Dispatch last: the module's classes and constants above must be initialised first.
if (process.argv[2] === '--load') await loadGenerator();
else if (process.argv[2] === '--sign') tokenSigner();
else await runner();
