// The admin listener (admin.listen): liveness, readiness and Prometheus metrics on a
// port of their own, never on the proxy port. One process serves it: the gateway itself,
// or with `workers` the cluster primary, which asks its workers over IPC.
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../logging.js';

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

/** What /readyz answers: 200 with `body` when ready, else 503 with it. */
export interface Readiness {
  readonly ready: boolean;
  readonly body: Record<string, unknown>;
}

export interface AdminSource {
  readiness(): Readiness | Promise<Readiness>;
  /** Prometheus exposition text and its content type, read at scrape time. */
  metrics(): Promise<{ contentType: string; text: string }>;
}

export function createAdminApp(deps: { log: Logger; source: AdminSource }): FastifyInstance {
  const log: FastifyBaseLogger = deps.log.child({ component: 'admin' }, { level: 'error' });
  const app = fastify({ loggerInstance: log, logController: new LogController({ disableRequestLogging: true }) });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const { ready, body } = await deps.source.readiness();
    return reply.code(ready ? 200 : 503).send(body);
  });
  app.get('/metrics', async (_request, reply) => {
    const { contentType, text } = await deps.source.metrics();
    return reply.type(contentType).send(text);
  });
  return app;
}
