// Prometheus metrics (gatehouse_*). Labels are bounded sets from config (route and
// authenticator names) or code; never a user, a raw path or a client value.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'outcome' | 'status'>;
  readonly authDuration: Histogram<'authenticator' | 'outcome'>;
  readonly upstreamDuration: Histogram<'route'>;
  readonly upstreamErrors: Counter<'route' | 'code'>;
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
  };
}
