// helm/gatehouse without helm (not obtainable here, see toolchain.md and the chart's
// README). What can be checked honestly is checked:
// - Chart.yaml and values.yaml parse, values.yaml passes values.schema.json (which helm
//   itself enforces on lint/install/upgrade), and the schema refuses wrong values;
// - every `.Values.x.y` a template reads exists in values.yaml, and every top-level value
//   is read by some template;
// - the templates' Go-template blocks are balanced and every `include` is defined;
// - the static skeleton of each manifest (template actions removed) is YAML with the
//   structure the chart promises (probes, ports, secret env, guards of optional objects).
// Templates are NOT rendered: `helm lint` and `helm template | kubeconform` must run
// where helm exists (README.md says how).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import t from 'tap';
import { parse, parseDocument } from 'yaml';

const root = new URL('../../../', import.meta.url).pathname;
const chartDir = join(root, 'helm/gatehouse');
const templatesDir = join(chartDir, 'templates');
const read = (...p: string[]): string => readFileSync(join(chartDir, ...p), 'utf8');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const values = parse(read('values.yaml')) as Obj;
const schema = JSON.parse(read('values.schema.json')) as Obj;
const templates = readdirSync(templatesDir).sort();
const template = (name: string): string => readFileSync(join(templatesDir, name), 'utf8');

// strict: an unknown keyword or a misplaced one in the schema is an error, not ignored.
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validateValues = ajv.compile(schema);
const problems = (v: unknown): ErrorObject[] => (validateValues(v) ? [] : [...(validateValues.errors ?? [])]);

/** values.yaml with one change; `undefined` deletes the key (as a null does in helm --set). */
function withValue(path: string, value: unknown): Obj {
  const copy = structuredClone(values);
  const keys = path.split('.');
  let node: Obj = copy;
  for (const k of keys.slice(0, -1)) {
    if (!isObj(node[k])) node[k] = {};
    node = node[k] as Obj;
  }
  const last = keys.at(-1)!;
  if (value === undefined) delete node[last];
  else node[last] = value as Json;
  return copy;
}

t.test('Chart.yaml', async (t) => {
  const doc = parseDocument(read('Chart.yaml'));
  t.same([doc.errors, doc.warnings], [[], []]);
  const chart = doc.toJS() as Obj;
  t.equal(chart.apiVersion, 'v2');
  t.equal(chart.name, 'gatehouse');
  t.equal(chart.type, 'application');
  t.match(chart.version, /^\d+\.\d+\.\d+$/, 'SemVer 2 chart version');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  t.equal(chart.appVersion, pkg.version, 'the default image tag is the version this repository builds');
  t.match(chart.kubeVersion, /^>=1\.(2[3-9]|[3-9]\d)\.0-0$/, 'autoscaling/v2 and policy/v1 exist');
});

t.test('values.yaml parses cleanly and passes values.schema.json', async (t) => {
  const doc = parseDocument(read('values.yaml'));
  t.same([doc.errors, doc.warnings], [[], []]);
  t.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  t.same(problems(values), []);
});

t.test('the schema knows every value and no stale one', async (t) => {
  const declared = schema.properties as Obj;
  t.equal(schema.additionalProperties, false, 'a misspelt top-level value fails helm lint');
  t.same(
    Object.keys(values).filter((k) => !(k in declared)),
    [],
  );
  t.same(
    Object.keys(declared).filter((k) => k !== 'global' && !(k in values)),
    [],
    'every schema property has a default in values.yaml',
  );
});

t.test('the schema refuses wrong values', async (t) => {
  const cases: [string, unknown, string, string][] = [
    // path, value, instancePath of the expected error, keyword
    ['replicaCount', 'two', '/replicaCount', 'type'],
    ['replicaCount', -1, '/replicaCount', 'minimum'],
    ['ports.http', 70000, '/ports/http', 'maximum'],
    ['ports.admin', '9090', '/ports/admin', 'type'],
    ['image.pullPolicy', 'Sometimes', '/image/pullPolicy', 'enum'],
    ['image.tag', 1.0, '/image/tag', 'type'],
    ['service.type', 'ExternalName', '/service/type', 'enum'],
    ['service.prot', 80, '/service', 'additionalProperties'],
    ['replicas', 3, '', 'additionalProperties'],
    ['config', { listen: '0.0.0.0:8080' }, '/config', 'type'],
    ['config', '', '/config', 'minLength'],
    ['secrets.session.existingSecret', 'Not_A_Name', '/secrets/session/existingSecret', 'anyOf'],
    ['secrets.oidc', [{ env: 'OIDC-SECRET', existingSecret: 'oidc', key: 'client-secret' }], '/secrets/oidc/0/env', 'pattern'],
    ['secrets.oidc', [{ env: 'OIDC_SECRET' }], '/secrets/oidc/0', 'required'],
    ['configFileSecrets', [{ name: 'users', items: [{ key: 'x', path: 'gatehouse.yaml' }] }], '/configFileSecrets/0/items/0/path', 'not'],
    ['livenessProbe.httpGet', { path: '/' }, '/livenessProbe', 'additionalProperties'],
    ['readinessProbe.periodSeconds', 0, '/readinessProbe/periodSeconds', 'minimum'],
    ['terminationGracePeriodSeconds', '30s', '/terminationGracePeriodSeconds', 'type'],
    ['securityContext.readOnlyRootFilesystem', 'yes', '/securityContext/readOnlyRootFilesystem', 'type'],
    ['podSecurityContext.runAsUser', -5, '/podSecurityContext/runAsUser', 'minimum'],
    ['resources.limits', { memory: true }, '/resources/limits/memory', 'type'],
    ['autoscaling.enabled', 'true', '/autoscaling/enabled', 'type'],
    ['podDisruptionBudget.minAvailable', 1, '/podDisruptionBudget', 'oneOf'],
    ['podDisruptionBudget.maxUnavailable', null, '/podDisruptionBudget', 'oneOf'],
    ['podDisruptionBudget.maxUnavailable', '150', '/podDisruptionBudget/maxUnavailable', 'pattern'],
    ['serviceMonitor.interval', '30', '/serviceMonitor/interval', 'pattern'],
    ['ingress.hosts', [{ host: 'a.example.com', paths: [{ path: '/', pathType: 'Any' }] }], '/ingress/hosts/0/paths/0/pathType', 'enum'],
    ['ingress.hosts', [{ host: 'a.example.com', paths: [{ path: 'no-slash', pathType: 'Prefix' }] }], '/ingress/hosts/0/paths/0/path', 'pattern'],
    ['updateStrategy.type', 'BlueGreen', '/updateStrategy/type', 'enum'],
  ];
  for (const [path, value, instancePath, keyword] of cases) {
    const errors = problems(withValue(path, value));
    t.ok(
      errors.some((e) => e.instancePath === instancePath && e.keyword === keyword),
      `${path} = ${JSON.stringify(value)}: ${keyword} at '${instancePath}'`,
      { errors: errors.map((e) => `${e.instancePath} ${e.keyword} ${e.message}`) },
    );
  }
});

t.test('the schema accepts the documented variants', async (t) => {
  const variants: [string, unknown][] = [
    ['global', { imageRegistry: 'x' }],
    ['podDisruptionBudget.maxUnavailable', '25%'],
    ['image.tag', '0.1.0'],
    ['secrets.session.existingSecret', 'gatehouse-session'],
    ['secrets.oidc', [{ env: 'OIDC_CLIENT_SECRET', existingSecret: 'gatehouse-oidc', key: 'client-secret' }]],
    ['configFileSecrets', [{ name: 'gatehouse-users' }, { name: 'gatehouse-keys', items: [{ key: 'assertion.pem', path: 'keys/assertion.pem' }] }]],
    ['extraEnv', [{ name: 'INTROSPECTION_SECRET', valueFrom: { secretKeyRef: { name: 'idp', key: 'secret' } } }]],
    ['autoscaling', { enabled: true, minReplicas: 2, maxReplicas: 5, targetCPUUtilizationPercentage: 60, targetMemoryUtilizationPercentage: 80 }],
    ['serviceMonitor', { enabled: true, interval: '1m30s', scrapeTimeout: '10s', labels: { release: 'prometheus' } }],
    ['lifecycle', { preStop: { exec: { command: ['sleep', '5'] } } }],
    ['ingress.tls', [{ secretName: 'app-example-com-tls', hosts: ['app.example.com'] }]],
  ];
  for (const [path, value] of variants) t.same(problems(withValue(path, value)), [], `${path} = ${JSON.stringify(value)}`);
  // minAvailable instead of maxUnavailable: helm deletes a key set to null, so both shapes occur.
  const min = withValue('podDisruptionBudget.minAvailable', 1);
  t.same(problems({ ...min, podDisruptionBudget: { enabled: true, minAvailable: 1, maxUnavailable: null } }), [], 'minAvailable, maxUnavailable null');
  t.same(problems({ ...min, podDisruptionBudget: { enabled: true, minAvailable: '50%' } }), [], 'minAvailable, maxUnavailable deleted');
});

t.test('secure defaults', async (t) => {
  const pod = values.podSecurityContext as Obj;
  const container = values.securityContext as Obj;
  t.equal(pod.runAsNonRoot, true);
  t.same(pod.seccompProfile, { type: 'RuntimeDefault' });
  t.equal(container.runAsNonRoot, true);
  t.equal(container.readOnlyRootFilesystem, true);
  t.equal(container.allowPrivilegeEscalation, false);
  t.same(container.capabilities, { drop: ['ALL'] });
  t.same(container.seccompProfile, { type: 'RuntimeDefault' });
  t.same((values.resources as Obj).requests, { cpu: '100m', memory: '128Mi' });
  t.equal((values.service as Obj).type, 'ClusterIP', 'the admin port is not published outside the cluster');
  t.same((values.secrets as Obj).oidc, [], 'no secret reference until you name your Secret');
  t.same(
    ['autoscaling', 'podDisruptionBudget', 'serviceMonitor', 'ingress'].map((k) => [k, (values[k] as Obj).enabled]),
    [
      ['autoscaling', false],
      ['podDisruptionBudget', true],
      ['serviceMonitor', false],
      ['ingress', false],
    ],
  );
});

/** `.Values.a.b.c` paths read by a template. */
function valueRefs(text: string): string[] {
  return [...text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map((m) => m[1]!.slice(1));
}

function hasPath(obj: Json, path: string): boolean {
  let node: Json = obj;
  for (const k of path.split('.')) {
    if (!isObj(node) || !Object.hasOwn(node, k)) return false;
    node = node[k]!;
  }
  return true;
}

t.test('the reference check works', async (t) => {
  t.same(valueRefs('{{ .Values.a.b }} {{- with $.Values.c }}{{ .d }}{{ end }} {{ .Values.e_1 | quote }}'), ['a.b', 'c', 'e_1']);
  t.equal(hasPath({ a: { b: null } }, 'a.b'), true, 'a null default counts');
  t.equal(hasPath({ a: { b: 1 } }, 'a.c'), false);
  t.equal(hasPath({ a: { b: 1 } }, 'a.b.c'), false, 'no descent into a scalar');
});

t.test('templates read only values that exist', async (t) => {
  t.same(templates, [
    'NOTES.txt',
    '_helpers.tpl',
    'configmap.yaml',
    'deployment.yaml',
    'hpa.yaml',
    'ingress.yaml',
    'pdb.yaml',
    'service.yaml',
    'servicemonitor.yaml',
  ]);
  const used = new Set<string>();
  for (const name of templates) {
    const refs = valueRefs(template(name));
    refs.forEach((r) => used.add(r.split('.')[0]!));
    t.same(
      refs.filter((r) => !hasPath(values, r)),
      [],
      `${name}: every .Values path is in values.yaml`,
    );
  }
  t.same(
    Object.keys(values).filter((k) => !used.has(k)),
    [],
    'every top-level value is used by a template',
  );
});

/** Template text without comments ({{/* ... *\/}}), which may contain any word. */
const actions = (text: string): string[] =>
  [...text.replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, '').matchAll(/\{\{-?\s*([\s\S]*?)\s*-?\}\}/g)].map((m) => m[1]!);

t.test('Go-template structure: balanced blocks, defined includes', async (t) => {
  const helpers = template('_helpers.tpl');
  const defined = new Set([...helpers.matchAll(/\{\{-?\s*define\s+"([^"]+)"/g)].map((m) => m[1]));
  t.same([...defined].sort(), ['gatehouse.chart', 'gatehouse.fullname', 'gatehouse.labels', 'gatehouse.name', 'gatehouse.selectorLabels']);
  for (const name of templates) {
    const text = template(name);
    t.equal(text.split('{{').length, text.split('}}').length, `${name}: {{ and }} pair up`);
    let depth = 0;
    let lowest = 0;
    for (const a of actions(text)) {
      if (/^(if|with|range|define|block)\b/.test(a)) depth++;
      if (/^end\b/.test(a)) depth--;
      lowest = Math.min(lowest, depth);
    }
    t.same([depth, lowest], [0, 0], `${name}: every if/with/range/define has its end`);
    for (const m of text.matchAll(/\b(?:include|template)\s+"([^"]+)"/g)) t.ok(defined.has(m[1]), `${name}: ${m[1]} is defined`);
  }
});

/**
 * The static part of a manifest template: whole-line actions dropped, inline actions
 * replaced by a placeholder. Not a rendering: both branches of an `if` stay, loops
 * appear once, and `toYaml` blocks are missing.
 */
function skeleton(name: string): Obj {
  const lines = template(name)
    .split('\n')
    .filter((l) => !/^\s*\{\{[\s\S]*\}\}\s*$/.test(l))
    .map((l) => l.replace(/\{\{[\s\S]*?\}\}/g, 'TEMPLATE'));
  const doc = parseDocument(lines.join('\n'), { version: '1.1' });
  if (doc.errors.length > 0) throw new Error(`${name}: ${doc.errors.map((e) => e.message).join('; ')}`);
  return doc.toJS() as Obj;
}

/** Reads a dotted path with numeric array indexes. */
function at(obj: Json, path: string): Json | undefined {
  let node: Json | undefined = obj;
  for (const k of path.split('.')) {
    if (Array.isArray(node)) node = node[Number(k)];
    else if (isObj(node)) node = node[k];
    else return undefined;
  }
  return node;
}

/** The first line of an optional object's template must be its guard. */
const firstLine = (name: string): string => template(name).split('\n')[0]!;

t.test('Deployment', async (t) => {
  const text = template('deployment.yaml');
  const d = skeleton('deployment.yaml');
  t.same([d.apiVersion, d.kind], ['apps/v1', 'Deployment']);
  t.match(text, /\{\{- if not \.Values\.autoscaling\.enabled \}\}\n\s+replicas: \{\{ \.Values\.replicaCount \}\}/, 'replicas unless the HPA owns them');
  t.match(
    text,
    /checksum\/config: \{\{ include \(print \$\.Template\.BasePath "\/configmap\.yaml"\) \. \| sha256sum \}\}/,
    'a config change rolls the pods',
  );
  t.ok(Object.hasOwn(at(d, 'spec.template.metadata.annotations') as Obj, 'checksum/config'));
  const pod = at(d, 'spec.template.spec') as Obj;
  t.equal(pod.automountServiceAccountToken, false);
  t.equal(pod.enableServiceLinks, false);
  t.match(text, /terminationGracePeriodSeconds: \{\{ \.Values\.terminationGracePeriodSeconds \}\}/);
  t.match(text, /\{\{- with \.Values\.podSecurityContext \}\}\n\s+securityContext:/, 'pod securityContext from values');
  t.match(text, /\{\{- with \.Values\.securityContext \}\}\n\s+securityContext:/, 'container securityContext from values');
  const c = at(pod, 'containers.0') as Obj;
  t.equal(c.name, 'gatehouse');
  t.same(c.ports, [
    { name: 'http', containerPort: 'TEMPLATE', protocol: 'TCP' },
    { name: 'admin', containerPort: 'TEMPLATE', protocol: 'TCP' },
  ]);
  t.same(at(c, 'livenessProbe.httpGet'), { path: '/healthz', port: 'admin' });
  t.same(at(c, 'readinessProbe.httpGet'), { path: '/readyz', port: 'admin' });
  const env = c.env as Obj[];
  t.same(env[0], { name: 'GATEHOUSE_CONFIG', value: '/etc/gatehouse/gatehouse.yaml' });
  t.same(
    env.slice(1).map((e) => [e.name, Object.keys(at(e, 'valueFrom.secretKeyRef') as Obj)]),
    [
      ['GATEHOUSE_SESSION_SECRET', ['name', 'key']],
      ['REDIS_URL', ['name', 'key']],
      ['TEMPLATE', ['name', 'key']],
    ],
    'secrets only by reference (existingSecret), never by value',
  );
  t.match(text, /\{\{- if \.Values\.secrets\.session\.existingSecret \}\}/);
  t.match(text, /\{\{- range \.Values\.secrets\.oidc \}\}/);
  t.same(c.volumeMounts, [
    { name: 'config', mountPath: '/etc/gatehouse', readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
  ]);
  const volumes = pod.volumes as Obj[];
  t.same(volumes.map((v) => v.name), ['config', 'tmp']);
  t.equal(at(volumes[0]!, 'projected.defaultMode'), 0o440, 'YAML 1.1, as the API server reads it: octal');
  t.same(at(volumes[0]!, 'projected.sources.0'), { configMap: { name: 'TEMPLATE' } });
  t.same(at(volumes[1]!, 'emptyDir'), { medium: 'Memory', sizeLimit: '16Mi' });
});

t.test('Service: proxy and admin ports', async (t) => {
  const s = skeleton('service.yaml');
  t.same([s.apiVersion, s.kind], ['v1', 'Service']);
  t.same(
    (at(s, 'spec.ports') as Obj[]).map((p) => [p.name, p.targetPort]),
    [
      ['http', 'http'],
      ['admin', 'admin'],
    ],
  );
});

t.test('ConfigMap: gatehouse.yaml from values.config', async (t) => {
  const c = skeleton('configmap.yaml');
  t.same([c.apiVersion, c.kind], ['v1', 'ConfigMap']);
  t.ok(Object.hasOwn(c.data as Obj, 'gatehouse.yaml'));
  t.match(template('configmap.yaml'), /gatehouse\.yaml: \|\n\s+\{\{- \.Values\.config \| nindent 4 \}\}/);
});

t.test('optional objects: HPA, PDB, ServiceMonitor, Ingress', async (t) => {
  const hpa = skeleton('hpa.yaml');
  t.equal(firstLine('hpa.yaml'), '{{- if .Values.autoscaling.enabled }}');
  t.same([hpa.apiVersion, hpa.kind], ['autoscaling/v2', 'HorizontalPodAutoscaler']);
  t.same(at(hpa, 'spec.scaleTargetRef'), { apiVersion: 'apps/v1', kind: 'Deployment', name: 'TEMPLATE' });
  t.same((at(hpa, 'spec.metrics') as Obj[]).map((m) => at(m, 'resource.name')), ['cpu', 'memory']);

  const pdb = skeleton('pdb.yaml');
  t.equal(firstLine('pdb.yaml'), '{{- if .Values.podDisruptionBudget.enabled }}');
  t.same([pdb.apiVersion, pdb.kind], ['policy/v1', 'PodDisruptionBudget']);

  const sm = skeleton('servicemonitor.yaml');
  t.equal(firstLine('servicemonitor.yaml'), '{{- if .Values.serviceMonitor.enabled }}');
  t.same([sm.apiVersion, sm.kind], ['monitoring.coreos.com/v1', 'ServiceMonitor']);
  t.same(at(sm, 'spec.endpoints.0'), { port: 'admin', path: '/metrics', interval: 'TEMPLATE', scrapeTimeout: 'TEMPLATE' });

  const ing = skeleton('ingress.yaml');
  t.equal(firstLine('ingress.yaml'), '{{- if .Values.ingress.enabled }}');
  t.same([ing.apiVersion, ing.kind], ['networking.k8s.io/v1', 'Ingress']);
  t.same(at(ing, 'spec.rules.0.http.paths.0.backend.service.port'), { name: 'http' }, 'the proxy, never the admin port');
});

t.test('README: helm is not run here, and every value is documented', async (t) => {
  const readme = read('README.md');
  t.match(readme, /helm lint/);
  t.match(readme, /helm template/);
  t.match(readme, /kubeconform/);
  t.match(readme, /helm. cannot be obtained/);
  const documented = (path: string): boolean => readme.includes('`' + path + '`') || readme.includes('`' + path + '.');
  // A value the templates read key by key is documented key by key; one passed whole to
  // the manifest (toYaml: probes' timings, securityContext, resources...) as a whole.
  const refs = templates.flatMap((name) => valueRefs(template(name)));
  const missing: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    const readByKey = isObj(v) && refs.some((r) => r.startsWith(`${k}.`));
    const paths = readByKey ? Object.keys(v).map((sub) => `${k}.${sub}`) : [k];
    missing.push(...paths.filter((p) => !documented(p)));
  }
  t.same(missing, []);
});
