// docs/grafana/gatehouse-dashboard.json cannot be imported into a Grafana here, so it is
// checked against what gatehouse really exports: every PromQL expression (panels and
// variables) may name only metrics that exist in the registries createMetrics() and
// createPrimaryMetrics() build (default process metrics included), and may use only
// labels those metrics carry (plus job/instance, which Prometheus adds, and le on a
// histogram's _bucket series). PromQL is not parsed in full: the checker below handles
// the constructs the dashboard uses and reports any other one (on, ignoring, group_left,
// label_replace, selectors without a metric name) instead of letting it through.
// Its failure paths are exercised at the end on deliberately broken queries.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import t from 'tap';
import { createMetrics, createPrimaryMetrics } from '../../../src/server/metrics.js';

const root = new URL('../../../', import.meta.url).pathname;
const dashboardPath = join(root, 'docs/grafana/gatehouse-dashboard.json');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);
const objs = (v: Json | undefined): Obj[] => arr(v).filter(isObj);

const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as Obj;

// ---------------------------------------------------------------- metric catalogue

interface MetricInfo {
  readonly type: string;
  readonly labels: ReadonlySet<string>;
}

/** Every metric of a registry, with its declared label names (not only those observed). */
function metricsOf(registry: Registry): Map<string, MetricInfo> {
  const out = new Map<string, MetricInfo>();
  for (const { name, type } of registry.getMetricsAsArray()) {
    // labelNames is not in prom-client's public types; refuse anything but a string array
    // so that a prom-client change fails this test instead of emptying every label set.
    const labelNames = (registry.getSingleMetric(name) as unknown as { labelNames?: unknown }).labelNames;
    if (!Array.isArray(labelNames) || !labelNames.every((l) => typeof l === 'string')) {
      throw new Error(`${name}: no labelNames array on the prom-client metric`);
    }
    out.set(name, { type: String(type), labels: new Set(labelNames as string[]) });
  }
  return out;
}

const catalogue = new Map([...metricsOf(createMetrics().registry), ...metricsOf(createPrimaryMetrics().registry)]);
const defaultRegistry = new Registry();
collectDefaultMetrics({ register: defaultRegistry, prefix: 'gatehouse_' });
const defaultMetricNames = new Set(metricsOf(defaultRegistry).keys());
/** gatehouse's own metrics, which the dashboard must all show. */
const ownMetricNames = [...catalogue.keys()].filter((n) => !defaultMetricNames.has(n)).sort();

/** Labels every scraped series carries besides its own. */
const TARGET_LABELS = new Set(['job', 'instance']);

// ---------------------------------------------------------------- PromQL checks

interface Series {
  /** As written in the query, e.g. gatehouse_auth_duration_seconds_bucket. */
  readonly name: string;
  readonly start: number;
  readonly end: number;
  /** Labels the series has: the metric's, plus le on a _bucket series. */
  readonly labels: ReadonlySet<string>;
}

interface Matcher {
  readonly label: string;
  readonly op: string;
  readonly value: string;
}

interface Selector {
  readonly series: Series;
  readonly matchers: readonly Matcher[];
}

interface Analysis {
  readonly problems: string[];
  readonly selectors: Selector[];
  /** Label lists of every by (...) clause. */
  readonly byClauses: string[][];
  readonly series: Series[];
}

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;
const UNCHECKED = /\b(on|ignoring|group_left|group_right|label_replace|label_join)\s*\(/;
const AGGREGATION = /\b(sum|min|max|avg|count|count_values|topk|bottomk|quantile|stddev|stdvar|group)\s*(\(|by\b|without\b)/;

/** The query with string literals' contents blanked (same length), so that their text is never read as PromQL. */
function blankStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, (s) => s[0] + ' '.repeat(s.length - 2) + s[0]);
}

/** Resolves a metric name as written in a query to the series it selects, or a problem. */
function resolve(name: string): { labels: ReadonlySet<string> } | string {
  const direct = catalogue.get(name);
  if (direct && direct.type !== 'histogram') return { labels: direct.labels };
  if (direct) return `${name} is a histogram: query its _bucket, _sum or _count series`;
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (!name.endsWith(suffix)) continue;
    const base = catalogue.get(name.slice(0, -suffix.length));
    if (base?.type === 'histogram') {
      return { labels: suffix === '_bucket' ? new Set([...base.labels, 'le']) : base.labels };
    }
  }
  return `unknown metric ${name}`;
}

/** The index of the parenthesis matching the one at `open`, scanning in direction `step`. */
function matching(text: string, open: number, step: 1 | -1): number {
  let depth = 0;
  for (let i = open; i >= 0 && i < text.length; i += step) {
    if (text[i] === '(' || text[i] === ')') depth += (text[i] === '(') === (step === 1) ? 1 : -1;
    if (depth === 0) return i;
  }
  return -1;
}

function analyse(expr: string): Analysis {
  const problems: string[] = [];
  const blank = blankStrings(expr);
  const unchecked = UNCHECKED.exec(blank);
  if (unchecked) problems.push(`${unchecked[1]}(...) is not checked by this test: extend it first`);

  const series: Series[] = [];
  /** Where unknown metrics end, so that their selectors are not reported a second time. */
  const unknownEnds: number[] = [];
  for (const m of blank.matchAll(/gatehouse_[A-Za-z0-9_:]*/g)) {
    const resolved = resolve(m[0]);
    if (typeof resolved === 'string') {
      problems.push(resolved);
      unknownEnds.push(m.index + m[0].length);
    } else series.push({ name: m[0], start: m.index, end: m.index + m[0].length, labels: resolved.labels });
  }

  if (series.some((s) => s.name.endsWith('_bucket')) && !/\bhistogram_quantile\s*\(/.test(blank)) {
    problems.push('a _bucket series outside histogram_quantile(...)');
  }

  const selectors: Selector[] = [];
  for (const m of blank.matchAll(/\{/g)) {
    const close = blank.indexOf('}', m.index);
    const follows = (end: number): boolean => end <= m.index && /^\s*$/.test(blank.slice(end, m.index));
    const owner = series.find((s) => follows(s.end));
    if (!owner && unknownEnds.some(follows)) continue;
    if (!owner) {
      problems.push(`selector at ${m.index} has no gatehouse_ metric name before it`);
      continue;
    }
    if (close < 0) {
      problems.push(`${owner.name}: unclosed selector`);
      continue;
    }
    const body = expr.slice(m.index + 1, close);
    const matchers: Matcher[] = [];
    const rest = body.replace(/\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/g, (_, label: string, op: string, value: string) => {
      matchers.push({ label, op, value });
      return '';
    });
    if (rest.trim() !== '') problems.push(`${owner.name}: cannot read matchers ${JSON.stringify(rest)}`);
    for (const { label } of matchers) {
      if (!owner.labels.has(label) && !TARGET_LABELS.has(label)) problems.push(`${owner.name} has no label ${label}`);
    }
    selectors.push({ series: owner, matchers });
  }

  const byClauses: string[][] = [];
  for (const m of blank.matchAll(/\b(by|without)\s*\(([^()]*)\)/g)) {
    const labels = m[2]!.split(',').map((l) => l.trim()).filter((l) => l !== '');
    if (m[1] === 'by') byClauses.push(labels);
    // The aggregation's argument: `sum by (x) (arg)` or `sum (arg) by (x)`.
    const after = m.index + m[0].length;
    const next = after + (/^\s*/.exec(blank.slice(after))?.[0].length ?? 0);
    const before = m.index - 1 - (/\s*$/.exec(blank.slice(0, m.index))?.[0].length ?? 0);
    const [from, to] =
      blank[next] === '(' ? [next, matching(blank, next, 1)] : blank[before] === ')' ? [matching(blank, before, -1), before] : [0, -1];
    const inside = series.filter((s) => s.start > from && s.end <= to);
    if (inside.length === 0) {
      problems.push(`${m[1]} (${labels.join(', ')}) aggregates no gatehouse_ metric`);
      continue;
    }
    const buckets = inside.filter((s) => s.name.endsWith('_bucket'));
    if (m[1] === 'by' && buckets.length > 0 && !labels.includes('le')) {
      problems.push(`by (${labels.join(', ')}) drops le, which histogram_quantile needs for ${buckets[0]!.name}`);
    }
    for (const label of labels) {
      if (TARGET_LABELS.has(label)) continue;
      for (const s of inside) if (!s.labels.has(label)) problems.push(`${m[1]} (${label}): ${s.name} has no label ${label}`);
    }
  }
  return { problems, selectors, byClauses, series };
}

/** Labels a legend may show: those kept by every by (...) clause, or the series' own when nothing aggregates. */
function legendProblems(expr: string, legend: string): string[] {
  const { byClauses, series } = analyse(expr);
  const names = [...legend.matchAll(/\{\{\s*([^}\s]+)\s*\}\}/g)].map((m) => m[1]!);
  const aggregated = AGGREGATION.test(blankStrings(expr));
  return names
    .filter((name) =>
      byClauses.length > 0
        ? !byClauses.every((labels) => labels.includes(name))
        : aggregated || !series.every((s) => s.labels.has(name) || TARGET_LABELS.has(name)),
    )
    .map((name) => `legend {{${name}}}: the query's result has no label ${name}`);
}

/** Template variables a query uses that the dashboard does not define. */
const BUILTIN_VARIABLES = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s', '__range_ms']);
function undefinedVariables(expr: string, defined: ReadonlySet<string>): string[] {
  return [...expr.matchAll(/\$(?:\{(\w+)[^}]*\}|(\w+))/g)]
    .map((m) => (m[1] ?? m[2])!)
    .filter((v) => !defined.has(v) && !BUILTIN_VARIABLES.has(v));
}

/** label_values(metric{...}, label): the metric and label must exist. */
function variableQueryProblems(query: string): string[] {
  const m = /^label_values\(\s*(gatehouse_[A-Za-z0-9_:]*(?:\{[^}]*\})?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(query);
  if (!m) return [`not a label_values(metric, label) query: ${query}`];
  const { problems, series } = analyse(m[1]!);
  const label = m[2]!;
  if (!series.every((s) => s.labels.has(label) || TARGET_LABELS.has(label))) problems.push(`${m[1]} has no label ${label}`);
  return problems;
}

// ---------------------------------------------------------------- dashboard walking

/** All panels, those nested in collapsed rows included. */
function allPanels(panels: Json | undefined): Obj[] {
  return objs(panels).flatMap((p) => [p, ...allPanels(p.panels)]);
}

function duplicateIds(panels: readonly Obj[]): Json[] {
  const seen = new Set<Json>();
  return panels.map((p) => p.id ?? null).filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
}

interface Query {
  readonly where: string;
  readonly expr: string;
  readonly legend: string;
}

const panels = allPanels(dashboard.panels);
const dataPanels = panels.filter((p) => p.type !== 'row');
const queries: Query[] = dataPanels.flatMap((p) =>
  objs(p.targets).map((target) => ({
    where: `panel ${String(p.id)} "${String(p.title)}" ${String(target.refId)}`,
    expr: String(target.expr),
    legend: typeof target.legendFormat === 'string' ? target.legendFormat : '',
  })),
);
const variables = objs(isObj(dashboard.templating) ? dashboard.templating.list : []);
const variableNames = new Set(variables.map((v) => String(v.name)));
const variableQuery = (v: Obj): string => (isObj(v.query) ? String(v.query.query) : String(v.query));
const DATASOURCE = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };

// ---------------------------------------------------------------- tests

t.test('the metric catalogue is what metrics.ts declares', async (t) => {
  t.same(ownMetricNames, [
    'gatehouse_auth_duration_seconds',
    'gatehouse_config_info',
    'gatehouse_config_reloads_total',
    'gatehouse_jwks_fetches_total',
    'gatehouse_requests_total',
    'gatehouse_session_store_errors_total',
    'gatehouse_session_store_up',
    'gatehouse_upstream_duration_seconds',
    'gatehouse_upstream_errors_total',
    'gatehouse_worker_restarts_total',
    'gatehouse_workers',
  ]);
  t.same([...catalogue.get('gatehouse_requests_total')!.labels].sort(), ['outcome', 'route', 'status']);
  t.same(catalogue.get('gatehouse_auth_duration_seconds')?.type, 'histogram');
  t.ok(defaultMetricNames.has('gatehouse_process_cpu_seconds_total'), 'default metrics carry the prefix');
  t.ok(defaultMetricNames.has('gatehouse_nodejs_eventloop_lag_p99_seconds'));
});

t.test('importable dashboard with a ${DS_PROMETHEUS} input', async (t) => {
  t.equal(dashboard.schemaVersion, 39);
  t.equal(dashboard.uid, 'gatehouse');
  t.equal(dashboard.id, null, 'no instance id: Grafana assigns one on import');
  t.same(dashboard.__inputs, [
    {
      name: 'DS_PROMETHEUS',
      label: 'Prometheus',
      description: "Prometheus that scrapes gatehouse's admin /metrics",
      type: 'datasource',
      pluginId: 'prometheus',
      pluginName: 'Prometheus',
    },
  ]);
  const required = objs(dashboard.__requires).map((r) => `${String(r.type)}:${String(r.id)}`);
  const used = [...new Set(dataPanels.map((p) => `panel:${String(p.type)}`))];
  t.same(required.filter((r) => r.startsWith('panel:')).sort(), used.sort(), '__requires lists exactly the panel types used');
  t.ok(required.includes('datasource:prometheus'));
  for (const p of dataPanels) {
    t.same(p.datasource, DATASOURCE, `panel ${String(p.id)} datasource`);
    t.not(arr(p.targets).length, 0, `panel ${String(p.id)} has queries`);
    for (const target of objs(p.targets)) t.same(target.datasource, DATASOURCE, `panel ${String(p.id)} target datasource`);
  }
  for (const v of variables) t.same(v.datasource, DATASOURCE, `variable ${String(v.name)} datasource`);
});

t.test('panel ids are unique and panels do not overlap', async (t) => {
  t.same(duplicateIds(panels), []);
  t.ok(panels.every((p) => Number.isInteger(p.id) && (p.id as number) > 0), 'positive integer ids');
  const cells = new Map<string, Json>();
  for (const p of panels) {
    const g = p.gridPos as { x: number; y: number; w: number; h: number };
    t.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0, `panel ${String(p.id)} fits the 24-column grid`);
    for (let x = g.x; x < g.x + g.w; x++) {
      for (let y = g.y; y < g.y + g.h; y++) {
        const other = cells.get(`${x},${y}`);
        if (other !== undefined) t.fail(`panel ${String(p.id)} overlaps panel ${String(other)} at ${x},${y}`);
        cells.set(`${x},${y}`, p.id ?? null);
      }
    }
  }
});

t.test('template variables job, instance and route', async (t) => {
  t.same(
    variables.map((v) => [v.name, v.type, variableQuery(v)]),
    [
      ['job', 'query', 'label_values(gatehouse_config_info, job)'],
      ['instance', 'query', 'label_values(gatehouse_config_info{job=~"$job"}, instance)'],
      ['route', 'query', 'label_values(gatehouse_requests_total{job=~"$job", instance=~"$instance"}, route)'],
    ],
  );
  for (const v of variables) {
    t.same(variableQueryProblems(variableQuery(v)), [], `variable ${String(v.name)}`);
    t.same(undefinedVariables(variableQuery(v), variableNames), [], `variable ${String(v.name)} uses defined variables`);
    // Requests refused before route matching have route="": only ".*" (not Grafana's
    // default alternation of the listed values) keeps them under "All".
    t.equal(v.allValue, '.*', `variable ${String(v.name)} All matches every value`);
  }
});

t.test('every query names existing metrics and labels', async (t) => {
  t.ok(queries.length >= 20, `${queries.length} queries`);
  for (const q of queries) {
    const { problems, selectors } = analyse(q.expr);
    t.same(problems, [], q.where);
    t.same(legendProblems(q.expr, q.legend), [], `${q.where} legend`);
    t.same(undefinedVariables(q.expr, variableNames), [], `${q.where} variables`);
    t.not(selectors.length, 0, `${q.where} selects something`);
    // Every selector follows the variables, so that the dashboard shows what they select.
    for (const { series, matchers } of selectors) {
      const has = (label: string, value: string): boolean => matchers.some((m) => m.label === label && m.op === '=~' && m.value === value);
      t.ok(has('job', '$job') && has('instance', '$instance'), `${q.where}: ${series.name} filtered by $job and $instance`);
      if (series.labels.has('route')) t.ok(has('route', '$route'), `${q.where}: ${series.name} filtered by $route`);
    }
  }
});

t.test('every gatehouse metric is on the dashboard, and the process metrics the brief names', async (t) => {
  const used = new Set(queries.flatMap((q) => analyse(q.expr).series.map((s) => s.name.replace(/_(bucket|sum|count)$/, ''))));
  t.same(ownMetricNames.filter((n) => !used.has(n)), []);
  for (const n of ['gatehouse_process_cpu_seconds_total', 'gatehouse_process_resident_memory_bytes', 'gatehouse_nodejs_eventloop_lag_p99_seconds']) {
    t.ok(used.has(n), n);
  }
  const quantiles = queries
    .filter((q) => q.expr.includes('gatehouse_auth_duration_seconds_bucket'))
    .map((q) => /^histogram_quantile\(([0-9.]+), sum by \(le, authenticator\)/.exec(q.expr)?.[1]);
  t.same(quantiles, ['0.5', '0.95', '0.99'], 'authenticator latency p50, p95, p99 by authenticator');
});

t.test('the checks fail on broken queries', async (t) => {
  const f = '{job=~"$job", instance=~"$instance"}';
  t.same(analyse(`sum(rate(gatehouse_request_total${f}[5m]))`).problems, ['unknown metric gatehouse_request_total']);
  t.same(analyse(`sum(rate(gatehouse_Requests_total${f}[5m]))`).problems, ['unknown metric gatehouse_Requests_total']);
  t.same(analyse('rate(gatehouse_requests_total{path="/x"}[5m])').problems, ['gatehouse_requests_total has no label path']);
  t.same(analyse('sum by (user) (rate(gatehouse_requests_total[5m]))').problems, [
    'by (user): gatehouse_requests_total has no label user',
  ]);
  t.same(analyse('sum(rate(gatehouse_requests_total[5m])) by (authenticator)').problems, [
    'by (authenticator): gatehouse_requests_total has no label authenticator',
  ]);
  t.same(analyse('histogram_quantile(0.9, sum by (le) (rate(gatehouse_upstream_duration_seconds_sum[5m])))').problems, [
    'by (le): gatehouse_upstream_duration_seconds_sum has no label le',
  ]);
  t.same(analyse('histogram_quantile(0.9, sum by (route) (rate(gatehouse_upstream_duration_seconds_bucket[5m])))').problems, [
    'by (route) drops le, which histogram_quantile needs for gatehouse_upstream_duration_seconds_bucket',
  ]);
  t.same(analyse('sum(rate(gatehouse_upstream_duration_seconds_bucket[5m])) by (le)').problems, [
    'a _bucket series outside histogram_quantile(...)',
  ]);
  t.same(analyse('rate(gatehouse_upstream_duration_seconds[5m])').problems, [
    'gatehouse_upstream_duration_seconds is a histogram: query its _bucket, _sum or _count series',
  ]);
  t.same(analyse('rate(gatehouse_requests_total_count[5m])').problems, ['unknown metric gatehouse_requests_total_count']);
  t.same(analyse('sum without (hash) (gatehouse_workers)').problems, ['without (hash): gatehouse_workers has no label hash']);
  t.same(analyse('sum by (route) (vector(1))').problems, ['by (route) aggregates no gatehouse_ metric']);
  t.same(analyse('sum by (route) vector(1)').problems, ['by (route) aggregates no gatehouse_ metric']);
  t.same(analyse('{__name__="gatehouse_requests_total"}').problems, ['selector at 0 has no gatehouse_ metric name before it']);
  t.same(analyse('gatehouse_workers{state=~"ready"} + on(instance) gatehouse_workers').problems, [
    'on(...) is not checked by this test: extend it first',
  ]);
  t.same(analyse("gatehouse_workers{state='ready'}").problems, [`gatehouse_workers: cannot read matchers "state='ready'"`]);
  t.same(analyse('gatehouse_workers{state="ready"').problems, ['gatehouse_workers: unclosed selector']);
  // A metric name inside a string is not a query of that metric.
  t.same(analyse('gatehouse_workers{state="gatehouse_nothing"}').problems, []);

  t.same(legendProblems('sum by (code) (rate(gatehouse_upstream_errors_total[5m]))', '{{route}}'), [
    'legend {{route}}: the query\'s result has no label route',
  ]);
  t.same(legendProblems('sum(rate(gatehouse_upstream_errors_total[5m]))', '{{ code }}'), [
    'legend {{code}}: the query\'s result has no label code',
  ]);
  t.same(legendProblems('gatehouse_workers', '{{state}} {{instance}}'), []);
  t.same(legendProblems('gatehouse_workers', '{{route}}'), ['legend {{route}}: the query\'s result has no label route']);

  t.same(undefinedVariables('rate(x{route=~"$rout"}[$__rate_interval]) ${job:regex}', new Set(['job'])), ['rout']);
  t.same(variableQueryProblems('label_values(gatehouse_config_info, route)'), ['gatehouse_config_info has no label route']);
  t.same(variableQueryProblems('label_values(gatehouse_confg_info, job)'), ['unknown metric gatehouse_confg_info']);
  t.same(variableQueryProblems('query_result(up)'), ['not a label_values(metric, label) query: query_result(up)']);
  t.same(duplicateIds(allPanels([{ id: 1, panels: [{ id: 2 }] }, { id: 2 }])), [2]);
});
