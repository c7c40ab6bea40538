// Prometheus metrics (gatehouse_*). Labels are bounded sets from config (route and
// authenticator names) or code; never a user, a raw path or a client value.
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry's metrics as plain data (`registry.getMetricsAsJSON()`), as sent over IPC. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'outcome' | 'status'>;
  readonly authDuration: Histogram<'authenticator' | 'outcome'>;
  readonly upstreamDuration: Histogram<'route'>;
  readonly upstreamErrors: Counter<'route' | 'code'>;
  /** JWKS fetches by authenticator and result (refreshed, unchanged, error). */
  readonly jwksFetches: Counter<'authenticator' | 'result'>;
  /** Session-store and sign-in dependency failures turned into 503, by where. */
  readonly sessionStoreErrors: Counter<'where'>;
  /** 1 while the session store answers, 0 during an outage; absent without sessions. */
  readonly sessionStoreUp: Gauge;
  /** Config reloads by result (success, failure). */
  readonly reloads: Counter<'result'>;
  /** 1, labelled with the loaded config's hash (first 12 hex digits). */
  readonly configInfo: Gauge<'hash'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  return {
    registry,
    requests: new Counter({
      name: 'gatehouse_requests_total',
      help: 'Requests by route, outcome (allow, deny, refuse, no-route, error) and status.',
      labelNames: ['route', 'outcome', 'status'],
      registers: [registry],
    }),
    authDuration: new Histogram({
      name: 'gatehouse_auth_duration_seconds',
      help: 'Time spent in one authenticator per request, by outcome (skip, ok, fail).',
      labelNames: ['authenticator', 'outcome'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    upstreamDuration: new Histogram({
      name: 'gatehouse_upstream_duration_seconds',
      help: 'Time from forwarding to the upstream response headers, by route.',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    upstreamErrors: new Counter({
      name: 'gatehouse_upstream_errors_total',
      help: 'Upstream failures by route and error code.',
      labelNames: ['route', 'code'],
      registers: [registry],
    }),
    jwksFetches: new Counter({
      name: 'gatehouse_jwks_fetches_total',
      help: 'Remote JWKS fetches by authenticator and result (refreshed: keys changed, unchanged, error).',
      labelNames: ['authenticator', 'result'],
      registers: [registry],
    }),
    sessionStoreErrors: new Counter({
      name: 'gatehouse_session_store_errors_total',
      help: 'Session-store and sign-in dependency failures answered with 503, by where they happened.',
      labelNames: ['where'],
      registers: [registry],
    }),
    sessionStoreUp: new Gauge({
      name: 'gatehouse_session_store_up',
      help: '1 while the session store answers, 0 during an outage.',
      // With workers, each has its own connection: down in one is down.
      aggregator: 'min',
      registers: [registry],
    }),
    reloads: reloadsCounter(registry),
    configInfo: configInfoGauge(registry),
  };
}

function reloadsCounter(registry: Registry): Counter<'result'> {
  return new Counter({
    name: 'gatehouse_config_reloads_total',
    help: 'Config reloads by result (success, failure: the running config was kept).',
    labelNames: ['result'],
    registers: [registry],
  });
}

function configInfoGauge(registry: Registry): Gauge<'hash'> {
  return new Gauge({
    name: 'gatehouse_config_info',
    help: 'Always 1; the hash label names the loaded config (sha256, first 12 hex digits).',
    labelNames: ['hash'],
    // With workers: one series per config some process runs (two while a reload spreads).
    aggregator: 'max',
    registers: [registry],
  });
}

/** What the cluster primary measures itself; workers' registries are merged into it at scrape time. */
export interface PrimaryMetrics {
  readonly registry: Registry;
  readonly reloads: Counter<'result'>;
  readonly configInfo: Gauge<'hash'>;
  /** Workers running and ready, out of `workers`. */
  readonly workers: Gauge<'state'>;
  /** Workers that exited unexpectedly and were started again. */
  readonly workerRestarts: Counter;
}

export function createPrimaryMetrics(): PrimaryMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  return {
    registry,
    reloads: reloadsCounter(registry),
    configInfo: configInfoGauge(registry),
    workers: new Gauge({
      name: 'gatehouse_workers',
      help: 'Worker processes by state: expected (the workers setting), running (forked and not exited), ready (serving).',
      labelNames: ['state'],
      registers: [registry],
    }),
    workerRestarts: new Counter({
      name: 'gatehouse_worker_restarts_total',
      help: 'Worker processes that exited unexpectedly and were started again.',
      registers: [registry],
    }),
  };
}

/**
 * The primary's metrics merged with every worker's (counters and histograms summed,
 * gauges by their aggregator), as Prometheus text.
 */
export async function mergeMetrics(primary: Registry, workers: readonly MetricsJson[]): Promise<string> {
  return AggregatorRegistry.aggregate([await primary.getMetricsAsJSON(), ...workers]).metrics();
}

/** Points gatehouse_config_info at the config now serving. */
export function setConfigInfo(metrics: Pick<Metrics, 'configInfo'>, hash: string): void {
  metrics.configInfo.reset();
  metrics.configInfo.set({ hash: hash.slice(0, 12) }, 1);
}
