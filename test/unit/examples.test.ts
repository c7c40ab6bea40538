// Every config we ship (config/gatehouse.yaml, config/container.yaml, config/examples/*.yaml
// and the Helm chart's default) must load and compile with the real loader and compiler,
// and do what its comments say. A key renamed in the schema, or an example that drifts
// from it, fails here instead of in a user's terminal.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { compileConfig, type CompiledConfig } from '../../src/config/compile.js';
import { loadConfigFile, loadConfigText, type LoadedConfig } from '../../src/config/load.js';
import { buildFacts } from '../../src/pipeline/facts.js';
import { decide, type Decision } from '../../src/pipeline/run.js';

const root = new URL('../../', import.meta.url).pathname;
const configDir = join(root, 'config');
const examplesDir = join(configDir, 'examples');
const pemDir = join(root, 'test/fixtures/config/valid/pem');

/** The variables the examples document, with sample values (secrets come from the environment). */
const EXAMPLE_ENV = {
  REDIS_URL: 'redis://127.0.0.1:6379/0',
  GATEHOUSE_SESSION_SECRET: 'example-session-secret-of-at-least-32-characters',
  OIDC_CLIENT_SECRET: 'example-client-secret',
};

/** Examples that read files which are not in the repository (see prepareTls). */
const NEEDS_FILES = new Set(['tls.yaml']);

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface Ask {
  readonly method?: string;
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly peer?: string;
}

/** Runs the real pipeline on a described request, as `gatehouse explain` does. */
async function ask(config: CompiledConfig, { method = 'GET', url, headers = {}, peer = '127.0.0.1' }: Ask): Promise<Decision> {
  const u = new URL(url);
  const all: Record<string, string> = { host: u.host, ...headers };
  const built = buildFacts(
    {
      method,
      url: u.pathname + u.search,
      headers: Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), v])),
      rawHeaders: Object.entries(all).flat(),
      peer,
      scheme: u.protocol === 'https:' ? 'https' : 'http',
    },
    config.limits,
    config.trustedPeer,
  );
  if (!built.ok) throw new Error(`request refused: ${built.reason}`);
  return decide(config.policy, built.facts, { requestId: 'test' });
}

/** `allow <route> <user>` | `deny <route> <status-code>` | `no-route`. */
function summary(d: Decision): string {
  if (d.kind === 'no-route') return 'no-route';
  if (d.kind === 'deny') return `deny ${d.route.name} ${d.code}`;
  return `allow ${d.route.name} ${d.identity.user ?? 'anonymous'}`;
}

/** The part of a tap test these helpers use. */
interface Teardown {
  teardown(fn: () => unknown): void;
}

async function compiled(loaded: LoadedConfig, t: Teardown): Promise<CompiledConfig> {
  const config = await compileConfig(loaded);
  t.teardown(() => config.close());
  return config;
}

/**
 * tls.yaml reads its PEMs from ./tls/ next to it, which the repository does not ship.
 * Copy it into a temp folder with the test fixtures' throwaway PEMs at exactly the paths
 * the example names: if the example changes its paths, loading fails here.
 */
function prepareTls(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-example-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(examplesDir, 'tls.yaml'), join(dir, 'tls.yaml'));
  copyFileSync(join(examplesDir, 'users.htpasswd'), join(dir, 'users.htpasswd'));
  mkdirSync(join(dir, 'tls'));
  const files: Record<string, string> = {
    'server.crt': 'server.crt',
    'server.key': 'server.key',
    'upstream-ca.crt': 'ca.crt',
    'client.crt': 'client.crt',
    'client.key': 'client.key',
  };
  for (const [name, fixture] of Object.entries(files)) copyFileSync(join(pemDir, fixture), join(dir, 'tls', name));
  return join(dir, 'tls.yaml');
}

const exampleFiles = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

t.test('the examples the docs promise exist', async (t) => {
  for (const name of ['basic-htpasswd.yaml', 'multi-route-policies.yaml', 'behind-a-load-balancer.yaml', 'tls.yaml']) {
    t.ok(exampleFiles.includes(name), name);
  }
});

t.test('every shipped config loads and compiles', async (t) => {
  const files = [join(configDir, 'gatehouse.yaml'), join(configDir, 'container.yaml'), ...exampleFiles.map((f) => join(examplesDir, f))];
  for (const file of files) {
    await t.test(file.slice(root.length), async (t) => {
      const name = file.slice(examplesDir.length + 1);
      const path = file.startsWith(examplesDir) && NEEDS_FILES.has(name) ? prepareTls(t) : file;
      // A fixed environment: no shipped config may depend on the tester's variables.
      const config = await compiled(loadConfigFile(path, EXAMPLE_ENV), t);
      t.ok(config.policy.routes.length > 0, 'has routes');
    });
  }
});

t.test('config/gatehouse.yaml: the quick start the README describes', async (t) => {
  const config = await compiled(loadConfigFile(join(configDir, 'gatehouse.yaml'), {}), t);
  t.same(config.listen, { host: '127.0.0.1', port: 8080 });
  t.same(config.admin, { host: '127.0.0.1', port: 9090 });
  t.equal(summary(await ask(config, { url: 'http://127.0.0.1:8080/hello' })), 'allow public anonymous');
  t.equal(
    summary(await ask(config, { url: 'http://127.0.0.1:8080/private/x', headers: { Authorization: basic('demo', 'gatehouse-demo') } })),
    'allow private demo',
  );
  t.equal(summary(await ask(config, { url: 'http://127.0.0.1:8080/private/x' })), 'deny private GATEHOUSE_ERR_AUTH_REQUIRED');
  t.equal(
    summary(await ask(config, { url: 'http://127.0.0.1:8080/private/x', headers: { Authorization: basic('demo', 'wrong') } })),
    'deny private GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS',
  );
});

t.test('config/container.yaml: the same demo, on every interface', async (t) => {
  const container = await compiled(loadConfigFile(join(configDir, 'container.yaml'), {}), t);
  const local = await compiled(loadConfigFile(join(configDir, 'gatehouse.yaml'), {}), t);
  t.same(container.listen, { host: '0.0.0.0', port: 8080 });
  t.same(container.admin, { host: '0.0.0.0', port: 9090 });
  t.same(
    container.policy.routes.map((r) => [r.name, r.match.spec, r.auth.kind, r.requirements]),
    local.policy.routes.map((r) => [r.name, r.match.spec, r.auth.kind, r.requirements]),
  );
});

t.test('Dockerfile: runs container.yaml from GATEHOUSE_CONFIG, exposes its ports', async (t) => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  t.match(dockerfile, /^ENV GATEHOUSE_CONFIG=\/etc\/gatehouse\/gatehouse\.yaml$/m);
  t.match(dockerfile, /^COPY .*config\/container\.yaml \/etc\/gatehouse\/gatehouse\.yaml$/m);
  t.match(dockerfile, /^EXPOSE 8080 9090$/m);
  t.match(dockerfile, /127\.0\.0\.1:9090\/healthz/);
  t.match(dockerfile, /^USER \d+:\d+$/m, 'a numeric non-root user (Kubernetes runAsNonRoot can verify it)');
  t.match(dockerfile, /^CMD \["node", ?"dist\/cli\/main\.js", ?"serve"\]$/m);
});

t.test('basic-htpasswd.yaml: users from the file and inline, admins only below /admin', async (t) => {
  const config = await compiled(loadConfigFile(join(examplesDir, 'basic-htpasswd.yaml'), {}), t);
  const alice = { Authorization: basic('alice', 'alice-example-password') };
  const bob = { Authorization: basic('bob', 'bob-example-password') };
  const carol = { Authorization: basic('carol', 'carol-example-password') };
  t.equal(summary(await ask(config, { url: 'http://127.0.0.1:8080/healthz' })), 'allow health anonymous');
  t.equal(summary(await ask(config, { method: 'POST', url: 'http://127.0.0.1:8080/healthz' })), 'deny app GATEHOUSE_ERR_AUTH_REQUIRED');
  t.equal(summary(await ask(config, { url: 'http://127.0.0.1:8080/admin/users', headers: alice })), 'allow admin alice');
  t.equal(summary(await ask(config, { url: 'http://127.0.0.1:8080/admin/users', headers: bob })), 'deny admin GATEHOUSE_ERR_AUTHZ_FORBIDDEN');
  t.equal(summary(await ask(config, { url: 'http://127.0.0.1:8080/', headers: bob })), 'allow app bob');
  t.equal(summary(await ask(config, { url: 'http://127.0.0.1:8080/', headers: carol })), 'allow app carol', 'argon2id line of the htpasswd file');
});

t.test('multi-route-policies.yaml: each route its own policy', async (t) => {
  const config = await compiled(loadConfigFile(join(examplesDir, 'multi-route-policies.yaml'), {}), t);
  const alice = { Authorization: basic('alice', 'alice-example-password') };
  const bob = { Authorization: basic('bob', 'bob-example-password') };
  const bot = { Authorization: basic('ci-bot', 'ci-bot-example-password') };
  t.equal(summary(await ask(config, { method: 'HEAD', url: 'https://example.com/status' })), 'allow status anonymous');
  t.equal(summary(await ask(config, { url: 'https://example.com/internal/x', headers: alice })), 'deny internal GATEHOUSE_ERR_AUTHZ_ROUTE_DENIED');
  t.equal(summary(await ask(config, { method: 'POST', url: 'https://api.example.com/deploy/web', headers: bot })), 'allow deploy ci-bot');
  t.equal(summary(await ask(config, { method: 'POST', url: 'https://api.example.com/deploy/web', headers: alice })), 'deny deploy GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS');

  const read = await ask(config, { url: 'https://api.example.com/orders/42?x=1', headers: { ...bob, 'X-Caller': 'people:alice' } });
  t.equal(summary(read), 'allow orders-read bob');
  t.equal(read.kind === 'allow' && read.forward.target, '/v1/42?x=1', 'prefix stripped, upstream base path added');
  t.equal(read.kind === 'allow' && read.forward.headers['x-caller'], 'people:bob', 'the client-sent X-Caller is replaced');
  t.equal(summary(await ask(config, { method: 'POST', url: 'https://api.example.com/orders/42', headers: bob })), 'deny orders-write GATEHOUSE_ERR_AUTHZ_FORBIDDEN');
  t.equal(summary(await ask(config, { method: 'POST', url: 'https://api.example.com/orders/42', headers: alice })), 'allow orders-write alice');

  t.equal(summary(await ask(config, { url: 'https://eu.example.com/reports/2024-05', headers: alice })), 'allow reports alice');
  t.equal(summary(await ask(config, { url: 'https://eu.example.com/reports/2024-05', headers: bob })), 'deny reports GATEHOUSE_ERR_AUTHZ_FORBIDDEN');
  t.equal(summary(await ask(config, { url: 'https://eu.example.com/reports/latest', headers: bob })), 'allow portal bob');

  const wiki = await ask(config, { url: 'https://example.com/Wiki/Home', headers: bob });
  t.equal(summary(wiki), 'allow wiki bob');
  t.equal(wiki.kind === 'allow' && wiki.forward.headers.host, 'example.com', 'preserveHost');
  const preflight = { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'PUT' };
  t.equal(summary(await ask(config, { method: 'OPTIONS', url: 'https://example.com/wiki/x', headers: preflight })), 'allow wiki anonymous');
  t.equal(summary(await ask(config, { url: 'https://example.com/anything' })), 'deny portal GATEHOUSE_ERR_AUTH_REQUIRED');
});

t.test('behind-a-load-balancer.yaml: X-Forwarded-* believed from the load balancers only', async (t) => {
  const config = await compiled(loadConfigFile(join(examplesDir, 'behind-a-load-balancer.yaml'), {}), t);
  t.same(config.publicOrigins, ['https://app.example.com']);
  t.equal(config.trustedPeer('10.0.3.4'), true);
  t.equal(config.trustedPeer('fd00:10::7'), true);
  t.equal(config.trustedPeer('10.1.0.1'), false);
  t.equal(config.trustedPeer('203.0.113.9'), false);
  const alice = { Authorization: basic('alice', 'alice-example-password') };
  const forwarded = { ...alice, 'X-Forwarded-For': '198.51.100.7, 203.0.113.9', 'X-Forwarded-Proto': 'https' };

  const viaLb = await ask(config, { url: 'http://app.example.com/x', headers: forwarded, peer: '10.0.0.5' });
  t.equal(summary(viaLb), 'allow app alice');
  t.equal(viaLb.kind === 'allow' && viaLb.forward.headers['x-real-ip'], '203.0.113.9', 'client = right-most untrusted hop');
  t.equal(viaLb.kind === 'allow' && viaLb.forward.headers['x-forwarded-proto'], 'https');

  const direct = await ask(config, { url: 'http://app.example.com/x', headers: forwarded, peer: '203.0.113.50' });
  t.equal(direct.kind === 'allow' && direct.forward.headers['x-real-ip'], '203.0.113.50', 'an untrusted peer cannot claim another address');
  t.equal(direct.kind === 'allow' && direct.forward.headers['x-forwarded-for'], '203.0.113.50', 'replaced, not appended to');
  t.equal(direct.kind === 'allow' && direct.forward.headers['x-forwarded-proto'], 'http');
  t.equal(summary(await ask(config, { url: 'http://other.example.com/x', headers: alice, peer: '10.0.0.5' })), 'no-route');
});

t.test('tls.yaml: HTTPS listener and mutual TLS to the upstream, PEMs read from files', async (t) => {
  const config = await compiled(loadConfigFile(prepareTls(t), {}), t);
  const pem = (name: string) => readFileSync(join(pemDir, name), 'utf8');
  t.same(config.tls, { cert: pem('server.crt'), key: pem('server.key') });
  t.same(config.listen, { host: '0.0.0.0', port: 8443 });
  t.same(config.upstreamTls.get('https://billing.internal:8443'), {
    ca: pem('ca.crt'),
    cert: pem('client.crt'),
    key: pem('client.key'),
    rejectUnauthorized: true,
  });
});

t.test('helm/gatehouse/values.yaml: the chart default config compiles and matches the chart ports', async (t) => {
  const values = parse(readFileSync(join(root, 'helm/gatehouse/values.yaml'), 'utf8')) as {
    config: string;
    ports: { http: number; admin: number };
  };
  t.type(values.config, 'string');
  // As mounted in the pod: /etc/gatehouse/gatehouse.yaml.
  const config = await compiled(loadConfigText(values.config, '/etc/gatehouse/gatehouse.yaml', {}), t);
  t.same(config.listen, { host: '0.0.0.0', port: values.ports.http });
  t.same(config.admin, { host: '0.0.0.0', port: values.ports.admin });
  t.equal(summary(await ask(config, { url: 'http://gatehouse/anything' })), 'allow public anonymous');
  const chart = parse(readFileSync(join(root, 'helm/gatehouse/Chart.yaml'), 'utf8')) as Record<string, unknown>;
  t.equal(chart.apiVersion, 'v2');
  t.equal(chart.name, 'gatehouse');
});
