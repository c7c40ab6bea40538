// `gatehouse [serve] -c FILE`: run until SIGTERM/SIGINT; SIGHUP reloads (an invalid new
// config is logged with its errors and the running one kept).
import type { CompileDeps } from '../config/compile.js';
import { createLogger, type Logger } from '../logging.js';
import { createMemoryAttemptStore } from '../pipeline/authenticate/attempts.js';
import { startGateway } from '../server/gateway.js';
import { createMetrics } from '../server/metrics.js';
import { configPath, type CliIo } from './io.js';
import { loadAndCompile } from './load-compiled.js';

export async function runServe(options: { config?: string }, io: CliIo): Promise<number> {
  const file = configPath(options.config, io.env);
  // One throttle store for the process: a reload must not reset failed-attempt counts.
  let log: Logger | undefined;
  const metrics = createMetrics();
  const deps: CompileDeps = {
    attempts: createMemoryAttemptStore(),
    onJwksEvent: (authenticator, event) => {
      if (event.type === 'error') {
        metrics.jwksFetches.inc({ authenticator, result: 'error' });
        log?.warn({ authenticator, ...event.detail }, 'jwks fetch failed');
        return;
      }
      metrics.jwksFetches.inc({ authenticator, result: event.detail.changed ? 'refreshed' : 'unchanged' });
      if (event.detail.changed || event.detail.skipped.length > 0) log?.info({ authenticator, ...event.detail }, 'jwks refreshed');
    },
    // Error kinds only: a Redis or OP error message can carry a URL with credentials.
    onLoginError: (where, err) => {
      metrics.sessionStoreErrors.inc({ where });
      log?.warn({ where, err: { code: (err as { code?: string }).code, type: (err as Error)?.name } }, 'session or sign-in dependency failed');
    },
  };
  const loaded = await loadAndCompile(file, io.env, deps);
  if (!loaded.ok) {
    for (const line of loaded.messages) io.stderr.write(line + '\n');
    io.stderr.write(`gatehouse: not started, ${file} has ${loaded.messages.length} problem(s)\n`);
    return 1;
  }
  log = createLogger(loaded.config.logLevel as 'info');
  for (const warning of loaded.config.warnings) log.warn({ config: file }, warning);
  const gateway = await startGateway({ config: loaded.config, log, metrics });

  let reloading = Promise.resolve();
  const reload = (): void => {
    reloading = reloading.then(async () => {
      const next = await loadAndCompile(file, io.env, { ...deps, previous: gateway.runtime.current.config });
      if (!next.ok) {
        metrics.reloads.inc({ result: 'failure' });
        log.error({ config: file, problems: next.messages }, 'config reload rejected; keeping the running config');
        return;
      }
      await gateway.reload(next.config);
      metrics.reloads.inc({ result: 'success' });
    });
  };
  process.on('SIGHUP', reload);

  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      process.off('SIGHUP', reload);
      gateway.close().then(
        () => {
          log.flush();
          resolve(0);
        },
        (error: unknown) => {
          log.error({ err: { message: (error as Error).message } }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
