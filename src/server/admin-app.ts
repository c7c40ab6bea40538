// The admin listener (admin.listen): liveness, readiness and Prometheus metrics on a
// port of their own, never on the proxy port.
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../logging.js';
import type { Metrics } from './metrics.js';

export interface AdminState {
  /** True once config is loaded and listeners are up; false again while shutting down. */
  ready: boolean;
  configHash: string;
}

/** Per-authenticator readiness of the running config (remote JWKS fetched once, …). */
export type AuthenticatorHealth = () => {
  ready: boolean;
  authenticators: Record<string, Record<string, unknown>>;
  /** Sign-in providers (OIDC discovery done once, …). */
  login?: Record<string, Record<string, unknown>>;
  /** The session store: { ok, store, lastError }. */
  sessions?: Record<string, unknown>;
};

export function createAdminApp(deps: { log: Logger; metrics: Metrics; state: AdminState; health: AuthenticatorHealth; beforeScrape?: () => void }): FastifyInstance {
  const log: FastifyBaseLogger = deps.log.child({ component: 'admin' }, { level: 'error' });
  const app = fastify({ loggerInstance: log, logController: new LogController({ disableRequestLogging: true }) });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    // Ready once listening and every authenticator can decide. A later outage of a shared
    // dependency shows in the body but does not turn this 503 (config.md: every replica
    // shares it, and Basic routes must keep serving).
    const health = deps.health();
    const ready = deps.state.ready && health.ready;
    const body = {
      status: ready ? 'ready' : 'not-ready',
      config: deps.state.configHash.slice(0, 12),
      authenticators: health.authenticators,
      ...(health.login ? { login: health.login } : {}),
      ...(health.sessions ? { sessions: health.sessions } : {}),
    };
    return reply.code(ready ? 200 : 503).send(body);
  });
  app.get('/metrics', async (_request, reply) => {
    deps.beforeScrape?.();
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return app;
}
