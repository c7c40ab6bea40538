// `gatehouse [serve] -c FILE`: run until SIGTERM/SIGINT (graceful: /readyz 503, drain,
// exit 0 within shutdownTimeout); SIGHUP, and with `watch: true` a changed file, reloads
// (an invalid new config is logged with its errors and the running one kept). With
// `workers` above 1 this process becomes a cluster primary (cluster.ts).
import cluster from 'node:cluster';
import type { DestinationStream } from 'pino';
import type { CompileDeps } from '../config/compile.js';
import { createLogger, type Logger } from '../logging.js';
import { startGateway } from '../server/gateway.js';
import { createMetrics, type Metrics } from '../server/metrics.js';
import { runPrimary, runWorker } from './cluster.js';
import { configPath, type CliIo } from './io.js';
import { createReloader, loadSnapshot, serveDeps, type ReloadReason } from './reload.js';

/** Where signals come from: the process, or an EventEmitter in tests. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown;
}

export interface ServeOptions {
  readonly config?: string;
  /** Tests: signals from here instead of the process, and no exit safety net. */
  readonly signals?: SignalSource;
  /** Tests: log lines go here instead of stdout. */
  readonly logDestination?: DestinationStream;
  /** Tests: how long a replaced config generation stays open. */
  readonly retireAfterMs?: number;
  /** Called once listening, with the proxy and admin URLs. */
  readonly onListening?: (urls: { proxy: string; admin: string | undefined }) => void;
}

export async function runServe(options: ServeOptions, io: CliIo): Promise<number> {
  const file = configPath(options.config, io.env);
  if (cluster.isWorker) {
    // A worker lives for its primary only: once stopped, nothing else may keep it running.
    const code = await runWorker({ file, env: io.env });
    process.exit(code);
  }
  let log: Logger | undefined;
  const metrics = createMetrics();
  const deps = serveDeps(metrics, () => log);
  const loaded = await loadSnapshot(file, io.env, deps);
  if (!loaded.ok) {
    for (const line of loaded.messages) io.stderr.write(line + '\n');
    io.stderr.write(`gatehouse: not started, ${file} has ${loaded.messages.length} problem(s)\n`);
    return 1;
  }
  const signals = options.signals ?? process;
  const primary = loaded.config.workers > 1;
  // A primary writes its workers' lines to stdout too: all of them synchronously, whole
  // lines at a time, so that they never interleave.
  log = createLogger(loaded.config.logLevel as 'info', options.logDestination ?? (primary ? process.stdout : undefined));
  for (const warning of loaded.config.warnings) log.warn({ config: file }, warning);
  let code: number;
  if (primary) {
    // This process only validates; every worker compiles the same text for itself.
    await loaded.config.close();
    code = await runPrimary({ file, env: io.env, snapshot: loaded.snapshot, config: loaded.config, log, signals });
  } else {
    code = await runSingle({ file, env: io.env, loaded, log, metrics, deps, signals, options });
  }
  // Whatever handle a dependency forgot to close, the process ends now that we are done.
  if (options.signals === undefined) setTimeout(() => process.exit(code), 1000).unref();
  return code;
}

interface SingleInput {
  readonly file: string;
  readonly env: NodeJS.ProcessEnv;
  readonly loaded: Extract<Awaited<ReturnType<typeof loadSnapshot>>, { ok: true }>;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly deps: CompileDeps;
  readonly signals: SignalSource;
  readonly options: ServeOptions;
}

/** One process: the gateway itself, its reloads and its graceful shutdown. */
async function runSingle(input: SingleInput): Promise<number> {
  const { file, env, log, metrics, deps, signals } = input;
  const gateway = await startGateway({ config: input.loaded.config, log, metrics, retireAfterMs: input.options.retireAfterMs });
  input.options.onListening?.({ proxy: gateway.proxyUrl, admin: gateway.adminUrl });
  let stopping = false;

  const reloader = createReloader({
    file,
    digest: input.loaded.snapshot.digest,
    log,
    async run(reason: ReloadReason) {
      // Compiled off the hot path: requests keep running on the current generation meanwhile.
      const next = await loadSnapshot(file, env, { ...deps, previous: gateway.runtime.current.config });
      if (!next.ok) {
        metrics.reloads.inc({ result: 'failure' });
        log.error({ config: file, reason, problems: next.messages }, 'config reload rejected; keeping the running config');
        return next.digest;
      }
      if (stopping) {
        await next.config.close();
        return next.snapshot.digest;
      }
      await gateway.reload(next.config);
      metrics.reloads.inc({ result: 'success' });
      reloader.setWatch(next.config.watch);
      return next.snapshot.digest;
    },
  });
  reloader.setWatch(input.loaded.config.watch);
  const onHup = (): void => void reloader.request('signal');
  signals.on('SIGHUP', onHup);

  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      // Every handler stays: a second SIGTERM, or a SIGHUP, must not kill the process
      // mid-drain with its default action (the grace period bounds the wait anyway); the
      // closed reloader ignores SIGHUP from now on.
      const timeoutMs = gateway.runtime.current.config.shutdownTimeoutMs;
      log.info({ signal, timeoutMs }, 'shutting down');
      void reloader.close();
      gateway.shutdown({ timeoutMs }).then(
        ({ cut, ms }) => {
          if (cut > 0) log.warn({ cut, timeoutMs }, 'shutdown grace period over; open connections were cut');
          log.info({ ms }, 'shutdown complete');
          log.flush();
          resolve(0);
        },
        (error: unknown) => {
          log.error({ err: { message: (error as Error).message } }, 'shutdown failed');
          log.flush();
          resolve(1);
        },
      );
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    signals.on('SIGTERM', onTerm);
    signals.on('SIGINT', onInt);
  });
}
