// `serve` in this process (signals from an EventEmitter): SIGHUP and `watch: true`
// reloads, a rejected reload, caches that leave with their config generation, and the
// graceful stop. reload.test.ts does the same to a real process under load.
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import t from 'tap';
import { request } from 'undici';
import { runServe } from '../../src/cli/serve.js';

const SECRET = 'a-shared-secret-of-at-least-32-bytes!';

interface Running {
  readonly signals: EventEmitter;
  readonly lines: Array<Record<string, unknown>>;
  readonly proxy: string;
  readonly admin: string;
  readonly exited: Promise<number>;
  next(msg: string): Promise<Record<string, unknown>>;
}

async function serve(file: string): Promise<Running> {
  const signals = new EventEmitter();
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{ msg: string; resolve: (l: Record<string, unknown>) => void }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        for (const w of waiters.splice(0)) {
          if (line.msg === w.msg) w.resolve(line);
          else waiters.push(w);
        }
      }
      done();
    },
  });
  const stderr = new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });
  let urls: { proxy: string; admin: string | undefined } | undefined;
  const exited = runServe({ config: file, signals, logDestination: sink, retireAfterMs: 50, onListening: (u) => (urls = u) }, { stdout: stderr, stderr, stdin: process.stdin, env: {} });
  while (!urls) await new Promise((r) => setTimeout(r, 5));
  return { signals, lines, proxy: urls.proxy, admin: urls.admin!, exited, next: (msg) => new Promise((resolve) => waiters.push({ msg, resolve })) };
}

const config = (route: string, extra = ''): string => `listen: 127.0.0.1:0\nadmin: { listen: "127.0.0.1:0" }\n${extra}routes:\n${route}`;
// The route's name tells which config answered: the echo upstream shows X-Auth-Route.
const echo = (auth: string, name = 'a'): string => `  - name: ${name}\n    match: { path: /** }\n    upstream: echo\n    auth: ${auth}\n`;

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await request(url, { headers });
  return { status: res.statusCode, body: await res.body.text() };
}

t.test('SIGHUP reloads; an invalid file is rejected and the running config kept', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, config(echo('anonymous', 'a')));
  const gh = await serve(file);
  t.match((await get(`${gh.proxy}/x`)).body, /"x-auth-route":"a"/);

  writeFileSync(file, config(echo('anonymous', 'b')));
  const reloaded = gh.next('config reloaded');
  gh.signals.emit('SIGHUP');
  await reloaded;
  t.match((await get(`${gh.proxy}/x`)).body, /"x-auth-route":"b"/, 'the new policy applies');

  writeFileSync(file, config(echo('nobody')));
  const rejected = gh.next('config reload rejected; keeping the running config');
  gh.signals.emit('SIGHUP');
  const rejection = await rejected;
  t.equal(rejection.reason, 'signal');
  t.match((rejection.problems as string[])[0], /gatehouse\.yaml:\d+:11 routes\[0\]\.auth: unknown authenticator "nobody"/);
  t.match((await get(`${gh.proxy}/x`)).body, /"x-auth-route":"b"/, 'still the running config');
  const metrics = (await get(`${gh.admin}/metrics`)).body;
  t.match(metrics, /gatehouse_config_reloads_total\{result="success"\} 1/);
  t.match(metrics, /gatehouse_config_reloads_total\{result="failure"\} 1/);

  // listen, admin, workers… apply only at the next start: said so, not ignored silently.
  writeFileSync(file, `listen: 127.0.0.1:1\nworkers: 2\nadmin: { listen: "127.0.0.1:0" }\nroutes:\n${echo('anonymous')}`);
  const warned = gh.next('these keys changed but apply only after a restart');
  gh.signals.emit('SIGHUP');
  t.same((await warned).keys, ['listen', 'workers']);

  gh.signals.emit('SIGTERM');
  t.equal(await gh.exited, 0);
});

t.test('watch: true reloads on a change of the file; a reload can turn it off', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, config(echo('anonymous', 'a'), 'watch: true\n'));
  const gh = await serve(file);
  const first = gh.next('config reloaded');
  writeFileSync(file, config(echo('anonymous', 'b'), 'watch: true\n'));
  await first;
  t.match((await get(`${gh.proxy}/x`)).body, /"x-auth-route":"b"/);

  const bad = gh.next('config reload rejected; keeping the running config');
  writeFileSync(file, config(echo('nobody'), 'watch: true\n'));
  t.equal((await bad).reason, 'watch');

  const off = gh.next('config reloaded');
  writeFileSync(file, config(echo('anonymous', 'c'), 'watch: false\n'));
  await off;
  writeFileSync(file, config(echo('anonymous', 'd'), 'watch: false\n'));
  await new Promise((r) => setTimeout(r, 600));
  t.match((await get(`${gh.proxy}/x`)).body, /"x-auth-route":"c"/, 'no longer watching');
  t.equal(gh.lines.filter((l) => l.msg === 'config reloaded').length, 2);

  gh.signals.emit('SIGINT');
  t.equal(await gh.exited, 0);
  t.ok(gh.lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGINT'));
});

t.test('caches derived from config leave with their generation', async (t) => {
  // A verified token is remembered until it expires. Were the cache shared across a
  // reload, a token the new config refuses (other audience) would still pass from it.
  const dir = t.testdir({});
  const file = join(dir, 'gatehouse.yaml');
  const jwt = (audience: string): string =>
    config(`  - name: api\n    match: { path: /** }\n    upstream: echo\n    auth: partners\n`, `authenticators:\n  partners:\n    type: jwt\n    secret: "${SECRET}"\n    algorithms: [HS256]\n    audience: ${audience}\n`);
  writeFileSync(file, jwt('orders'));
  const gh = await serve(file);
  const token = await new SignJWT({ sub: 'svc' }).setProtectedHeader({ alg: 'HS256' }).setAudience('orders').setExpirationTime('5m').sign(Buffer.from(SECRET));
  const auth = { authorization: `Bearer ${token}` };
  t.equal((await get(`${gh.proxy}/x`, auth)).status, 200);
  t.equal((await get(`${gh.proxy}/x`, auth)).status, 200, 'verified, then remembered');

  writeFileSync(file, jwt('billing'));
  const reloaded = gh.next('config reloaded');
  gh.signals.emit('SIGHUP');
  await reloaded;
  t.equal((await get(`${gh.proxy}/x`, auth)).status, 401, 'the remembered verification left with the old config');

  gh.signals.emit('SIGTERM');
  t.equal(await gh.exited, 0);
});

t.test('a reload that ends after SIGTERM is closed, not swapped in', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, config(echo('anonymous', 'a')));
  const gh = await serve(file);
  writeFileSync(file, config(echo('anonymous', 'b')));
  gh.signals.emit('SIGHUP');
  // One microtask: the reload has started compiling, and has not finished.
  await Promise.resolve();
  gh.signals.emit('SIGTERM');
  gh.signals.emit('SIGTERM');
  t.equal(await gh.exited, 0);
  t.notOk(gh.lines.some((l) => l.msg === 'config reloaded'));
  t.equal(gh.lines.filter((l) => l.msg === 'shutting down').length, 1, 'a second signal changes nothing');
});

t.test('SIGTERM past shutdownTimeout: the cut is counted in a warning, the code is still 0', async (t) => {
  let held = 0;
  const upstream = http.createServer(() => held++);
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    upstream.closeAllConnections();
    upstream.close();
  });
  const dir = t.testdir({});
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, config(`  - name: hang\n    match: { path: /** }\n    upstream: http://127.0.0.1:${(upstream.address() as AddressInfo).port}\n    auth: anonymous\n`, 'shutdownTimeout: 200ms\n'));
  const gh = await serve(file);
  const hanging = request(`${gh.proxy}/x`).then(() => 'answered', () => 'cut');
  while (held === 0) await new Promise((r) => setTimeout(r, 10));
  gh.signals.emit('SIGTERM');
  t.equal(await gh.exited, 0);
  t.equal(await hanging, 'cut');
  t.match(gh.lines.find((l) => l.msg === 'shutdown grace period over; open connections were cut'), { level: 'warn', cut: 1, timeoutMs: 200 });
});
