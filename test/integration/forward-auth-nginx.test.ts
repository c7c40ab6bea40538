// Forward-auth behind a REAL nginx (Debian's nginx-light): `auth_request /.gatehouse/auth`
// asks gatehouse, auth_request_set copies the identity headers, proxy_pass forwards to a
// real recording upstream. Every request is also sent to gatehouse in proxy mode (same
// routes, same upstream) and both must behave alike: same status, same challenge, same
// identity at the upstream, nothing forwarded when refused.
//
// Needs /usr/sbin/nginx (Debian package `nginx-light`; .ci/run installs it). Without it
// the whole file is skipped, loudly.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSync } from '@node-rs/bcrypt';
import t from 'tap';
import { request } from 'undici';
import { requestLines, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type Recorded, type RecordingUpstream } from '../helpers/recording-upstream.js';

const NGINX = '/usr/sbin/nginx';
const KEY = readFileSync(new URL('../fixtures/jwt/test-only-p256.key.pem', import.meta.url), 'utf8');
const COOKIE = 'ghs';
const basic = (u: string, p: string): string => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');
const CHALLENGE = 'Basic realm="Staff", charset="UTF-8"';

// What gatehouse sets for the upstream, and what nginx copies from the auth answer.
const IDENTITY = ['x-auth-user', 'x-auth-email', 'x-auth-name', 'x-auth-groups', 'x-auth-method', 'x-auth-route', 'x-user-route'];

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The nginx configuration docs/forward-auth.md gives, on loopback ports. */
function nginxConf(dir: string, port: number, gatehouse: string, upstream: string): string {
  const vars = [...IDENTITY, 'x-auth-assertion'].map((h) => ({ header: h, variable: `$gh_${h.replace(/-/g, '_')}` }));
  return `
daemon off;
master_process on;
worker_processes 1;
${process.getuid?.() === 0 ? 'user root root; # the test runs as root; workers must read its temp dirs' : ''}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  upstream gatehouse { server ${gatehouse}; }
  server {
    listen 127.0.0.1:${port};

    # The decision: internal, so clients cannot call it through nginx.
    location = /.gatehouse/auth {
      internal;
      proxy_pass http://gatehouse;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Real-IP $remote_addr;
    }

    # Sign-in, callback and logout pages are gatehouse's own.
    location /.gatehouse/ {
      proxy_pass http://gatehouse;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }

    location / {
      auth_request /.gatehouse/auth;
${vars.map((v) => `      auth_request_set ${v.variable} $upstream_http_${v.header.replace(/-/g, '_')};`).join('\n')}
      auth_request_set $gh_signin $upstream_http_x_auth_redirect;
      error_page 401 = @gatehouse_401;
${vars.map((v) => `      proxy_set_header ${v.header} ${v.variable};`).join('\n')}
      proxy_pass ${upstream};
    }

    location @gatehouse_401 {
      if ($gh_signin) { return 302 $gh_signin; }
      return 401;
    }
  }
}
`;
}

interface Sent {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** What the upstream received for this request, if anything. */
  readonly upstream: Recorded | undefined;
}

if (!existsSync(NGINX)) {
  const why = `forward-auth nginx test needs ${NGINX}: install Debian's package "nginx-light" (apt-get install -y nginx-light; .ci/run does it)`;
  process.stderr.write(`\n!!! SKIPPED ${why} !!!\n\n`);
  t.comment(why);
  t.plan(0, why);
} else {
  main();
}

function main(): void {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let nginx: ChildProcess;
  let nginxUrl: string;
  let dir: string;
  let nginxOutput = '';

  t.before(async () => {
    upstream = await startRecordingUpstream();
    const hash = (p: string): string => hashSync(p, 4);
    const port = await freePort();
    nginxUrl = `http://127.0.0.1:${port}`;
    gw = await startTestGateway(
      `
# publicUrl names the origin browsers use: nginx's. Sign-in URLs are built from it.
publicUrl: ${nginxUrl}
trustedProxies: [127.0.0.1]
identity:
  assertion: { privateKey: "\${env:ASSERTION_KEY}", issuer: gatehouse-test, ttl: 60s }
sessions:
  store: memory
  cookie: { name: ${COOKIE}, secure: false }
authenticators:
  web:
    type: session
  staff:
    type: basic
    realm: Staff
    users:
      - { name: alice, hash: "${hash('wonderland')}" }
      - { name: bob, hash: "${hash('builder')}" }
    groups: { alice: [admin, "ops,team"] }
    throttle: { window: 60s, maxFailuresPerUserAndIp: 1000, maxFailuresPerIp: 1000, slowdownAfterUserFailures: 1000 }
login:
  providers:
    local: { type: form, authenticator: staff }
  allowedRedirectHosts: []
routes:
  - name: admin
    match: { path: /admin/** }
    upstream: ${upstream.url}
    auth: staff
    allow: { groups: [admin] }
    headers: { X-User-Route: "{user}@{route}" }
  - name: app
    match: { path: /app/** }
    upstream: ${upstream.url}
    auth: [web, staff]
  - name: public
    match: { path: /** }
    upstream: ${upstream.url}
    auth: anonymous
`,
      { env: { ASSERTION_KEY: KEY } },
    );
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-nginx-'));
    mkdirSync(join(dir, 'tmp'));
    writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, port, new URL(gw.url).host, upstream.url));
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    nginx.stdout!.on('data', (c: Buffer) => (nginxOutput += c.toString('utf8')));
    nginx.stderr!.on('data', (c: Buffer) => (nginxOutput += c.toString('utf8')));
    const exited = new Promise<never>((_, reject) => nginx.once('exit', (code) => reject(new Error(`nginx exited (${code}): ${nginxOutput}${readLog()}`))));
    const ready = (async () => {
      for (let i = 0; i < 100; i++) {
        const up = await new Promise<boolean>((resolve) => {
          const s = net.connect(port, '127.0.0.1', () => {
            s.destroy();
            resolve(true);
          });
          s.on('error', () => resolve(false));
        });
        if (up) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`nginx did not listen on ${port}: ${nginxOutput}${readLog()}`);
    })();
    await Promise.race([ready, exited]);
    exited.catch(() => undefined);
  });

  const readLog = (): string => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };

  t.teardown(async () => {
    if (nginx && nginx.exitCode === null) {
      const gone = new Promise((resolve) => nginx.once('exit', resolve));
      process.kill(nginx.pid!, 'SIGTERM');
      await gone;
    }
    await gw?.close();
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function send(base: string, path: string, headers: Record<string, string> = {}): Promise<Sent> {
    const before = upstream.requests.length;
    const res = await request(`${base}${path}`, { headers });
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body, upstream: upstream.requests.length > before ? upstream.requests.at(-1) : undefined };
  }

  /** The same request through nginx (forward-auth) and straight to gatehouse (proxy mode). */
  async function both(path: string, headers: Record<string, string> = {}): Promise<{ fa: Sent; proxy: Sent }> {
    return { fa: await send(nginxUrl, path, headers), proxy: await send(gw.url, path, headers) };
  }

  function identity(r: Recorded | undefined): Record<string, string> | undefined {
    if (!r) return undefined;
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(r.headers)) {
      if ((name.startsWith('x-auth') || name.startsWith('x_auth') || name === 'x-user-route') && name !== 'x-auth-assertion') out[name] = String(value);
    }
    return out;
  }

  t.test('anonymous: allowed, and the upstream sees the anonymous identity in both modes', async (t) => {
    const { fa, proxy } = await both('/public/page?x=1');
    t.same([fa.status, proxy.status], [200, 200]);
    t.same(identity(fa.upstream), { 'x-auth-method': 'anonymous', 'x-auth-route': 'public' });
    t.same(identity(fa.upstream), identity(proxy.upstream));
    t.equal(fa.upstream?.url, '/public/page?x=1');
    t.equal(fa.upstream?.headers['x-auth-assertion'], undefined, 'no assertion for anonymous');
  });

  t.test('Basic allowed: the upstream behind nginx gets the identity gatehouse decided', async (t) => {
    const { fa, proxy } = await both('/admin/reports?q=2', { authorization: basic('alice', 'wonderland') });
    t.same([fa.status, proxy.status], [200, 200]);
    t.same(identity(fa.upstream), { 'x-auth-user': 'alice', 'x-auth-groups': 'admin,ops%2Cteam', 'x-auth-method': 'basic', 'x-auth-route': 'admin', 'x-user-route': 'alice@admin' });
    t.same(identity(fa.upstream), identity(proxy.upstream));
    t.same([fa.upstream?.method, fa.upstream?.url], [proxy.upstream?.method, proxy.upstream?.url]);
    const jws = String(fa.upstream?.headers['x-auth-assertion']);
    const payload = JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    t.same([payload.iss, payload.sub], ['gatehouse-test', 'alice'], 'the assertion reaches the upstream too');
  });

  t.test('Basic denied: the same 401 with the same challenge, or 403; nothing forwarded', async (t) => {
    for (const [headers, status] of [
      [{}, 401],
      [{ authorization: basic('alice', 'wrong') }, 401],
      [{ authorization: basic('nobody', 'wrong') }, 401],
      [{ authorization: 'Basic !!!' }, 401],
      [{ authorization: basic('bob', 'builder') }, 403],
    ] as Array<[Record<string, string>, number]>) {
      const { fa, proxy } = await both('/admin/reports', headers);
      t.same([fa.status, proxy.status], [status, status], JSON.stringify(headers));
      t.equal(fa.headers['www-authenticate'], status === 401 ? CHALLENGE : undefined);
      t.equal(fa.headers['www-authenticate'], proxy.headers['www-authenticate']);
      t.same([fa.upstream, proxy.upstream], [undefined, undefined], 'nothing forwarded');
    }
  });

  t.test('spoofed identity headers never reach the upstream behind nginx', async (t) => {
    const spoofs = { 'X-Auth-User': 'admin', 'x-auth-groups': 'admin', 'X-AUTH-METHOD': 'basic', 'X-Auth-Route': 'admin', 'X-User-Route': 'root@admin', X_Auth_User: 'root', 'X-Auth-Email': 'boss@example.com' };
    const anon = await both('/public/x', spoofs);
    t.same([anon.fa.status, anon.proxy.status], [200, 200]);
    t.same(identity(anon.fa.upstream), { 'x-auth-method': 'anonymous', 'x-auth-route': 'public' });
    t.same(identity(anon.fa.upstream), identity(anon.proxy.upstream));
    const alice = await both('/admin/x', { ...spoofs, authorization: basic('alice', 'wonderland') });
    t.same([alice.fa.status, alice.proxy.status], [200, 200]);
    t.same(identity(alice.fa.upstream), { 'x-auth-user': 'alice', 'x-auth-groups': 'admin,ops%2Cteam', 'x-auth-method': 'basic', 'x-auth-route': 'admin', 'x-user-route': 'alice@admin' });
    t.same(identity(alice.fa.upstream), identity(alice.proxy.upstream));
  });

  t.test('the decision endpoint is not reachable through nginx', async (t) => {
    const res = await send(nginxUrl, '/.gatehouse/auth', { 'x-original-url': `${nginxUrl}/admin/x`, 'x-original-method': 'GET' });
    t.equal(res.status, 404);
    t.equal(res.upstream, undefined);
  });

  t.test('security.md §2: a target nginx would forward un-normalized is refused, never decided', async (t) => {
    const before = upstream.requests.length;
    for (const target of ['/public/%2e%2e/admin/x', '/public/../admin/x', '//admin/x', '/public/./x', '/%61dmin/x']) {
      const lines = requestLines(gw).length;
      const res = await rawRequest(nginxUrl, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      // nginx turns any auth answer but 2xx/401/403 into 500: refused either way.
      t.equal(res.status, 500, target);
      const line = requestLines(gw).slice(lines).find((l) => l.outcome === 'refuse');
      t.same([line?.status, line?.reasons], [400, ['not-normalized']], target);
    }
    t.equal(upstream.requests.length, before, 'nothing forwarded');
  });

  t.test('a browser on a session route is sent to sign in, signs in through nginx, and gets in', async (t) => {
    const page = await send(nginxUrl, '/app/home?tab=1', { accept: 'text/html' });
    t.equal(page.status, 302);
    // Built from publicUrl (never from Host); rd relative, as the sign-in page is on the same origin.
    t.equal(page.headers.location, `${nginxUrl}/.gatehouse/login?rd=${encodeURIComponent('/app/home?tab=1')}`);
    t.equal(page.upstream, undefined);
    // An API client on the same route gets the plain 401 with the Basic challenge.
    const api = await send(nginxUrl, '/app/home', { accept: 'application/json' });
    t.same([api.status, api.headers['www-authenticate'], api.headers.location], [401, CHALLENGE, undefined]);

    // Sign in, as a browser would, through nginx.
    const chooser = await send('', String(page.headers.location), { accept: 'text/html' });
    t.equal(chooser.status, 302);
    const form = await send(nginxUrl, String(chooser.headers.location), { accept: 'text/html' });
    t.equal(form.status, 200);
    const setCookies = [form.headers['set-cookie']].flat().filter((c): c is string => typeof c === 'string');
    const csrfCookie = setCookies.map((c) => c.split(';', 1)[0]!).find((c) => c.startsWith(`${COOKIE}-csrf=`));
    const field = (name: string): string => (new RegExp(`name="${name}" value="([^"]*)"`).exec(form.body)?.[1] ?? '').replace(/&amp;/g, '&').replace(/&#39;/g, "'").replace(/&quot;/g, '"');
    const post = await request(`${nginxUrl}/.gatehouse/login/local`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: csrfCookie ?? '', 'sec-fetch-site': 'same-origin', accept: 'text/html' },
      body: new URLSearchParams({ username: 'alice', password: 'wonderland', csrf: field('csrf'), rd: field('rd') }).toString(),
    });
    await post.body.text();
    t.same([post.statusCode, post.headers.location], [303, '/app/home?tab=1']);
    const session = [post.headers['set-cookie']].flat().filter((c): c is string => typeof c === 'string').map((c) => c.split(';', 1)[0]!).find((c) => c.startsWith(`${COOKIE}=`));
    t.ok(session, 'a session cookie');

    const inside = await send(nginxUrl, '/app/home?tab=1', { accept: 'text/html', cookie: session ?? '' });
    t.equal(inside.status, 200);
    t.same(identity(inside.upstream), { 'x-auth-user': 'alice', 'x-auth-groups': 'admin,ops%2Cteam', 'x-auth-method': 'session', 'x-auth-route': 'app' });
  });

  t.test('one decision line per check, with the route and outcome of the original request', async (t) => {
    const lines = requestLines(gw).length;
    await send(nginxUrl, '/admin/audit', { authorization: basic('bob', 'builder') });
    const mine = requestLines(gw).slice(lines);
    t.equal(mine.length, 1);
    t.match(mine[0], { method: 'GET', path: '/admin/audit', route: 'admin', authenticator: 'staff', outcome: 'deny', reasons: ['groups-missing'], user: 'bob', status: 403 });
  });
}
