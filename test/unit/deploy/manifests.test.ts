// docs/kubernetes/*.yaml, the sidecar example: every document is validated against the
// Kubernetes OpenAPI schemas bundled in kubernetes-models 5.1.0, checked for unknown
// fields by the same package's TypeScript interfaces (k8s-types.ts), and its embedded
// gatehouse.yaml is loaded and compiled by gatehouse itself. What the example promises
// about the sidecar (loopback app, Service to gatehouse only) is asserted here too.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { compileConfig } from '../../../src/config/compile.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { buildFacts } from '../../../src/pipeline/facts.js';
import { decide } from '../../../src/pipeline/run.js';
import { kubernetesTypeErrors, type TypedDocument } from './k8s-types.js';

const root = new URL('../../../', import.meta.url).pathname;
const dir = join(root, 'docs/kubernetes');

type Obj = Record<string, unknown>;

interface Kind {
  readonly model: new (data: never) => { validate(): void };
  readonly module: string;
  readonly type: string;
}

/** apiVersion/kind → model class and TypeScript interface. Anything else is refused. */
const KINDS: Record<string, Kind> = {
  'apps/v1/Deployment': { model: Deployment, module: 'kubernetes-models/apps/v1', type: 'IDeployment' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1', type: 'IService' },
  'v1/ConfigMap': { model: ConfigMap, module: 'kubernetes-models/v1', type: 'IConfigMap' },
};

interface Doc {
  readonly label: string;
  readonly value: Obj;
}

function load(file: string): Doc[] {
  // YAML 1.1, as the API server (go-yaml) reads manifests: `0440` is octal there.
  return parseAllDocuments(readFileSync(join(dir, file), 'utf8'), { version: '1.1' }).map((doc, i) => {
    if (doc.errors.length > 0 || doc.warnings.length > 0) {
      throw new Error(`${file}#${i}: ${[...doc.errors, ...doc.warnings].map((e) => e.message).join('; ')}`);
    }
    return { label: `${file}#${i}`, value: doc.toJS() as Obj };
  });
}

/** Validation problems of one document ('' when valid). */
function schemaProblem(value: Obj): string {
  const kind = KINDS[`${String(value.apiVersion)}/${String(value.kind)}`];
  if (!kind) return `unsupported ${String(value.apiVersion)} ${String(value.kind)}`;
  try {
    new kind.model(value as never).validate();
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

const typed = (docs: readonly Doc[]): TypedDocument[] =>
  docs.map((d) => {
    const kind = KINDS[`${String(d.value.apiVersion)}/${String(d.value.kind)}`]!;
    return { label: d.label, module: kind.module, type: kind.type, value: d.value };
  });

const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const docs = files.flatMap(load);
const one = (kind: string): Obj => {
  const found = docs.filter((d) => d.value.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!.value;
};

/** Reads a dotted path with numeric array indexes. */
function at(obj: unknown, path: string): unknown {
  let node = obj;
  for (const k of path.split('.')) {
    if (Array.isArray(node)) node = node[Number(k)];
    else if (typeof node === 'object' && node !== null) node = (node as Obj)[k];
    else return undefined;
  }
  return node;
}

t.test('the example files', async (t) => {
  t.same(files, ['configmap.yaml', 'deployment.yaml', 'service.yaml']);
  t.same(
    docs.map((d) => `${d.label} ${String(d.value.kind)}`),
    ['configmap.yaml#0 ConfigMap', 'deployment.yaml#0 Deployment', 'service.yaml#0 Service'],
  );
});

t.test('every document passes the Kubernetes schema', async (t) => {
  for (const d of docs) t.equal(schemaProblem(d.value), '', d.label);
});

t.test('the schema check can fail', async (t) => {
  const deployment = structuredClone(one('Deployment'));
  (at(deployment, 'spec.template.spec.containers.0.ports.0') as Obj).containerPort = '8080';
  t.match(schemaProblem(deployment), /containerPort must be integer/);
  const noSelector = structuredClone(one('Deployment'));
  delete (noSelector.spec as Obj).selector;
  t.match(schemaProblem(noSelector), /spec must have required property selector/);
  t.equal(schemaProblem({ apiVersion: 'v1', kind: 'Pod' }), 'unsupported v1 Pod', 'an unknown kind is not waved through');
});

t.test('no unknown or mistyped field anywhere (tsc over the kubernetes-models types)', async (t) => {
  t.same(kubernetesTypeErrors(root, typed(docs)), []);
  // kubernetes-models' validate() alone accepts this misspelling; the type check does not.
  const typo = structuredClone(one('Deployment'));
  const sc = at(typo, 'spec.template.spec.containers.0.securityContext') as Obj;
  sc.readOnlyRootFileSystem = sc.readOnlyRootFilesystem;
  delete sc.readOnlyRootFilesystem;
  t.equal(schemaProblem(typo), '', 'the schema check misses it');
  const errors = kubernetesTypeErrors(root, typed([{ label: 'typo', value: typo }]));
  t.equal(errors.length, 1);
  t.match(errors[0], /^typo: line \d+: .*'"readOnlyRootFileSystem"' does not exist in type 'ISecurityContext'/);
});

t.test('sidecar: gatehouse in front of the app, in one pod', async (t) => {
  const deployment = one('Deployment');
  const pod = at(deployment, 'spec.template.spec') as Obj;
  const containers = pod.containers as Obj[];
  t.same(
    containers.map((c) => c.name),
    ['gatehouse', 'app'],
  );
  const [gatehouse, app] = containers as [Obj, Obj];
  t.same(gatehouse.ports, [
    { name: 'http', containerPort: 8080, protocol: 'TCP' },
    { name: 'admin', containerPort: 9090, protocol: 'TCP' },
  ]);
  t.same(at(gatehouse, 'livenessProbe.httpGet'), { path: '/healthz', port: 'admin' });
  t.same(at(gatehouse, 'readinessProbe.httpGet'), { path: '/readyz', port: 'admin' });
  t.same(gatehouse.env, [{ name: 'GATEHOUSE_CONFIG', value: '/etc/gatehouse/gatehouse.yaml' }]);
  t.equal(app.ports, undefined, 'the app declares no port: nothing but gatehouse should reach it');
  t.ok((app.args as string[]).includes('-listen=127.0.0.1:5678'), 'the app listens on loopback only');

  // Both containers locked down, like the chart.
  for (const c of containers) {
    t.same(
      c.securityContext,
      { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
      `${String(c.name)}: securityContext`,
    );
    t.ok(at(c, 'resources.requests.memory') && at(c, 'resources.limits.memory'), `${String(c.name)}: memory request and limit`);
  }
  t.same(pod.securityContext, {
    runAsNonRoot: true,
    runAsUser: 10001,
    runAsGroup: 10001,
    fsGroup: 10001,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  t.equal(pod.automountServiceAccountToken, false);
  t.equal(pod.enableServiceLinks, false);
  t.equal(pod.terminationGracePeriodSeconds, 30);

  // /etc/gatehouse: the ConfigMap plus the users Secret, read-only; /tmp writable.
  t.same(gatehouse.volumeMounts, [
    { name: 'gatehouse-config', mountPath: '/etc/gatehouse', readOnly: true },
    { name: 'gatehouse-tmp', mountPath: '/tmp' },
  ]);
  const volumes = pod.volumes as Obj[];
  t.same(at(volumes[0], 'projected'), {
    defaultMode: 0o440,
    sources: [
      { configMap: { name: (one('ConfigMap').metadata as Obj).name } },
      { secret: { name: 'orders-gatehouse-users', items: [{ key: 'users.htpasswd', path: 'users.htpasswd' }] } },
    ],
  });
  t.same(at(volumes[1], 'emptyDir'), { medium: 'Memory', sizeLimit: '16Mi' });
});

t.test('the Service reaches gatehouse only', async (t) => {
  const service = one('Service');
  const deployment = one('Deployment');
  t.same(at(service, 'spec.selector'), at(deployment, 'spec.selector.matchLabels'));
  t.same(at(deployment, 'spec.selector.matchLabels'), at(deployment, 'spec.template.metadata.labels'));
  t.equal(at(service, 'spec.type'), 'ClusterIP');
  t.same(at(service, 'spec.ports'), [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }], 'not the admin port, not the app');
});

t.test('the embedded gatehouse.yaml compiles and sends allowed requests to the app', async (t) => {
  const text = (one('ConfigMap').data as Obj)['gatehouse.yaml'];
  t.type(text, 'string');
  // As projected in the pod: gatehouse.yaml and users.htpasswd side by side.
  const folder = mkdtempSync(join(tmpdir(), 'gatehouse-k8s-example-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  writeFileSync(join(folder, 'gatehouse.yaml'), text as string);
  copyFileSync(join(root, 'config/examples/users.htpasswd'), join(folder, 'users.htpasswd'));
  const config = await compileConfig(loadConfigFile(join(folder, 'gatehouse.yaml'), {}));
  t.teardown(() => config.close());
  const gatehouse = (at(one('Deployment'), 'spec.template.spec.containers') as Obj[])[0]!;
  const port = (name: string): unknown => (gatehouse.ports as Obj[]).find((p) => p.name === name)?.containerPort;
  t.same(config.listen, { host: '0.0.0.0', port: port('http') }, 'listen = the container http port, on the pod IP');
  t.same(config.admin, { host: '0.0.0.0', port: port('admin') }, 'admin.listen = the probes port');
  t.same(
    config.policy.routes.map((r) => [r.name, r.upstream.kind === 'http' ? r.upstream.origin : r.upstream.kind]),
    [
      ['admin', 'http://127.0.0.1:5678'],
      ['app', 'http://127.0.0.1:5678'],
    ],
  );
  // Users of config/examples/users.htpasswd, with its public example passwords.
  const ask = async (path: string, user?: string): Promise<string> => {
    const headers: Record<string, string> = { host: 'orders.example.com' };
    if (user) headers.authorization = 'Basic ' + Buffer.from(`${user}:${user}-example-password`).toString('base64');
    const built = buildFacts(
      { method: 'GET', url: path, headers, rawHeaders: Object.entries(headers).flat(), peer: '10.1.2.3', scheme: 'http' },
      config.limits,
      config.trustedPeer,
    );
    if (!built.ok) throw new Error(`refused: ${built.reason}`);
    const d = await decide(config.policy, built.facts, { requestId: 'test' });
    if (d.kind === 'no-route') return 'no-route';
    if (d.kind === 'deny') return `deny ${d.route.name} ${d.code}`;
    return `allow ${d.route.name} ${d.identity.user ?? 'anonymous'}`;
  };
  t.equal(await ask('/orders/1'), 'deny app GATEHOUSE_ERR_AUTH_REQUIRED');
  t.equal(await ask('/orders/1', 'carol'), 'allow app carol');
  t.equal(await ask('/admin/x', 'carol'), 'deny admin GATEHOUSE_ERR_AUTHZ_FORBIDDEN');
  t.equal(await ask('/admin/x', 'alice'), 'allow admin alice');
});
