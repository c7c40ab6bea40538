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

export function createAdminApp(deps: { log: Logger; metrics: Metrics; state: AdminState }): FastifyInstance {
  const log: FastifyBaseLogger = deps.log.child({ component: 'admin' }, { level: 'error' });
  const app = fastify({ loggerInstance: log, logController: new LogController({ disableRequestLogging: true }) });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const body = { status: deps.state.ready ? 'ready' : 'not-ready', config: deps.state.configHash.slice(0, 12) };
    return reply.code(deps.state.ready ? 200 : 503).send(body);
  });
  app.get('/metrics', async (_request, reply) => {
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return app;
}
