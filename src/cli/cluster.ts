// Multi-core (`workers` above 1) with node:cluster. The primary serves no proxy traffic:
// it validates the config, forks the workers, hands each the config text it validated,
// replaces a worker that dies, reloads and stops them all, serves the admin listener
// (readiness and metrics gathered from the workers over IPC), and writes their log
// lines. The workers each run a whole gateway on the shared proxy listener (node:cluster
// distributes connections round-robin) and share nothing but Redis.
//
// The decisions live in cluster-policy.ts, as plain functions tests can reach; this file
// runs in processes tap cannot measure, so it only wires them up.
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { CompiledConfig } from '../config/compile.js';
import { createLogger, type Logger } from '../logging.js';
import { createAdminApp, type Readiness } from '../server/admin-app.js';
import { startGateway, type Gateway } from '../server/gateway.js';
import { createMetrics, createPrimaryMetrics, mergeMetrics, setConfigInfo, type MetricsJson } from '../server/metrics.js';
import {
  clusterReadiness,
  createLineRelay,
  createRequestBroker,
  createRestartPolicy,
  isGatehouseMessage,
  restartPolicyFor,
  type FromWorker,
  type ToWorker,
} from './cluster-policy.js';
import { createReloader, loadSnapshot, serveDeps, type ConfigSnapshot, type ReloadReason } from './reload.js';
import type { SignalSource } from './serve.js';

/** A worker answering neither readiness nor metrics in this time counts as not ready. */
const ASK_TIMEOUT_MS = 2000;
/** Compiling a config can wait on nothing remote, but give a busy machine room. */
const RELOAD_TIMEOUT_MS = 60_000;
/** Past the workers' own grace period, the primary kills what is left. */
const KILL_MARGIN_MS = 5000;

interface Slot {
  readonly worker: Worker;
  readonly pid: number | undefined;
  /** Generation last sent (0: it has not asked for its config yet). */
  sent: number;
  listening: boolean;
  reloaded?: (result: { ok: boolean; problems?: string[] }) => void;
}

export interface PrimaryInput {
  readonly file: string;
  readonly env: NodeJS.ProcessEnv;
  readonly snapshot: ConfigSnapshot;
  /** The validated config (closed already): its settings only. */
  readonly config: CompiledConfig;
  readonly log: Logger;
  readonly signals: SignalSource;
}

function urlOf(address: AddressInfo): string {
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

function pipeLines(from: Readable | null, to: NodeJS.WriteStream): void {
  if (!from) return;
  const relay = createLineRelay((text) => to.write(text));
  from.on('data', (chunk: Buffer) => relay.push(chunk));
  from.on('end', () => relay.end());
}

export async function runPrimary(input: PrimaryInput): Promise<number> {
  const { file, env, log, signals } = input;
  const expected = input.config.workers;
  const metrics = createPrimaryMetrics();
  let accepted = { generation: 1, text: input.snapshot.text, hash: input.config.hash };
  let shutdownTimeoutMs = input.config.shutdownTimeoutMs;
  setConfigInfo(metrics, accepted.hash);
  const slots = new Map<number, Slot>();
  const broker = createRequestBroker();
  const policy = createRestartPolicy(restartPolicyFor(expected));
  let started = false;
  let stopping = false;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let exitCode = 0;

  const gauges = (): void => {
    metrics.workers.set({ state: 'expected' }, expected);
    metrics.workers.set({ state: 'running' }, slots.size);
    metrics.workers.set({ state: 'ready' }, [...slots.values()].filter((s) => s.listening).length);
  };
  const send = (slot: Slot, message: ToWorker): boolean => {
    if (!slot.worker.isConnected()) return false;
    try {
      return slot.worker.send(message);
    } catch {
      return false;
    }
  };
  const ask = (slot: Slot, type: 'gatehouse:readiness' | 'gatehouse:metrics'): Promise<unknown> => broker.ask((id) => send(slot, { type, id }), ASK_TIMEOUT_MS);

  const fork = (): void => {
    if (stopping) return;
    const worker = cluster.fork();
    const slot: Slot = { worker, pid: worker.process.pid, sent: 0, listening: false };
    slots.set(worker.id, slot);
    pipeLines(worker.process.stdout, process.stdout);
    pipeLines(worker.process.stderr, process.stderr);
    // Sending to a worker that just died fails with EPIPE; its 'exit' tells the rest.
    worker.on('error', () => undefined);
    worker.on('message', (message: unknown) => onMessage(slot, message));
    worker.on('exit', (code, signal) => onExit(slot, code, signal));
    gauges();
  };

  const onMessage = (slot: Slot, message: unknown): void => {
    if (!isGatehouseMessage(message)) return;
    const m = message as FromWorker;
    switch (m.type) {
      case 'gatehouse:hello':
        slot.sent = accepted.generation;
        send(slot, { type: 'gatehouse:config', generation: accepted.generation, text: accepted.text });
        return;
      case 'gatehouse:ready':
        slot.listening = true;
        gauges();
        if (!started && [...slots.values()].filter((s) => s.listening).length >= expected) {
          started = true;
          log.info({ workers: expected, pids: [...slots.values()].map((s) => s.pid) }, 'workers ready');
        } else if (started) log.info({ worker: slot.worker.id, pid: slot.pid }, 'worker started');
        return;
      case 'gatehouse:reloaded':
        slot.reloaded?.(m);
        return;
      case 'gatehouse:answer':
        broker.answer(m.id, m.value);
        return;
    }
  };

  const onExit = (slot: Slot, code: number | null, signal: string | null): void => {
    slots.delete(slot.worker.id);
    slot.reloaded?.({ ok: false, problems: ['the worker exited'] });
    gauges();
    if (stopping) {
      if (slots.size === 0) void done();
      return;
    }
    if (!started) {
      log.fatal({ worker: slot.worker.id, pid: slot.pid, code, signal }, 'a worker exited during start-up; stopping');
      exitCode = 1;
      stop('start-up failed');
      return;
    }
    const decision = policy.onExit(Date.now());
    if (decision.action === 'give-up') {
      log.fatal({ worker: slot.worker.id, pid: slot.pid, code, signal, exitsInLastMinute: decision.recent }, 'workers keep crashing; giving up and stopping');
      exitCode = 1;
      stop('crash loop');
      return;
    }
    metrics.workerRestarts.inc();
    log.error({ worker: slot.worker.id, pid: slot.pid, code, signal, restartInMs: decision.delayMs }, 'worker exited unexpectedly; starting another');
    setTimeout(fork, decision.delayMs);
  };

  const readiness = async (): Promise<Readiness> => {
    const workers = await Promise.all(
      [...slots.values()].map(async (slot) => ({
        id: slot.worker.id,
        pid: slot.pid,
        listening: slot.listening,
        readiness: slot.listening ? ((await ask(slot, 'gatehouse:readiness')) as Readiness | undefined) : undefined,
      })),
    );
    return clusterReadiness({ accepting: !stopping, expected, configHash: accepted.hash, workers });
  };
  const admin = input.config.admin
    ? createAdminApp({
        log,
        source: {
          readiness,
          async metrics() {
            const answers = await Promise.all([...slots.values()].filter((s) => s.listening).map((s) => ask(s, 'gatehouse:metrics')));
            const text = await mergeMetrics(metrics.registry, answers.filter((a): a is MetricsJson => Array.isArray(a)));
            return { contentType: metrics.registry.contentType, text };
          },
        },
      })
    : undefined;
  if (admin && input.config.admin) await admin.listen({ host: input.config.admin.host, port: input.config.admin.port });

  const reloadWorker = (slot: Slot, generation: number, text: string): Promise<{ ok: boolean; problems?: string[] }> => {
    // Not yet asked for its config: it will get this generation when it does.
    if (slot.sent === 0) return Promise.resolve({ ok: true });
    slot.sent = generation;
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle({ ok: false, problems: ['no answer'] }), RELOAD_TIMEOUT_MS);
      function settle(result: { ok: boolean; problems?: string[] }): void {
        clearTimeout(timer);
        delete slot.reloaded;
        resolve(result);
      }
      slot.reloaded = settle;
      if (!send(slot, { type: 'gatehouse:config', generation, text })) settle({ ok: false, problems: ['not connected'] });
    });
  };

  const reloader = createReloader({
    file,
    digest: input.snapshot.digest,
    log,
    async run(reason: ReloadReason) {
      // Validated once, here: an invalid file is reported once and no worker swaps.
      const next = await loadSnapshot(file, env, {});
      if (!next.ok) {
        metrics.reloads.inc({ result: 'failure' });
        log.error({ config: file, reason, problems: next.messages }, 'config reload rejected; keeping the running config');
        return next.digest;
      }
      await next.config.close();
      if (stopping) return next.snapshot.digest;
      accepted = { generation: accepted.generation + 1, text: next.snapshot.text, hash: next.config.hash };
      shutdownTimeoutMs = next.config.shutdownTimeoutMs;
      setConfigInfo(metrics, accepted.hash);
      const results = await Promise.all([...slots.values()].map(async (slot) => ({ worker: slot.worker.id, ...(await reloadWorker(slot, accepted.generation, accepted.text)) })));
      const failed = results.filter((r) => !r.ok);
      if (failed.length === 0) {
        metrics.reloads.inc({ result: 'success' });
        log.info({ config: file, reason, hash: accepted.hash.slice(0, 12), workers: results.length }, 'workers reloaded');
      } else {
        metrics.reloads.inc({ result: 'failure' });
        log.error({ config: file, reason, failed }, 'config reload failed in some workers; they keep their running config');
      }
      if (next.config.workers !== expected) log.warn({ keys: ['workers'] }, 'these keys changed but apply only after a restart');
      reloader.setWatch(next.config.watch);
      return next.snapshot.digest;
    },
  });
  const onHup = (): void => void reloader.request('signal');
  signals.on('SIGHUP', onHup);

  let killTimer: NodeJS.Timeout | undefined;
  const done = async (): Promise<void> => {
    clearTimeout(killTimer);
    if (admin) await admin.close();
    log.info({ code: exitCode }, 'shutdown complete');
    finish(exitCode);
  };
  function stop(reason: string): void {
    if (stopping) return;
    stopping = true;
    // onHup stays: without a handler, SIGHUP's default action would kill the primary.
    void reloader.close();
    log.info({ reason, timeoutMs: shutdownTimeoutMs, workers: slots.size }, 'shutting down');
    for (const slot of slots.values()) send(slot, { type: 'gatehouse:shutdown' });
    killTimer = setTimeout(() => {
      for (const slot of slots.values()) {
        log.warn({ worker: slot.worker.id, pid: slot.pid }, 'worker still running past the grace period; killing it');
        slot.worker.process.kill('SIGKILL');
      }
    }, shutdownTimeoutMs + KILL_MARGIN_MS);
    if (slots.size === 0) void done();
  }
  signals.on('SIGTERM', () => stop('SIGTERM'));
  signals.on('SIGINT', () => stop('SIGINT'));

  // Workers write to pipes read here, so that only this process writes to stdout.
  cluster.setupPrimary({ silent: true });
  log.info({ workers: expected, admin: admin ? urlOf(admin.server.address() as AddressInfo) : undefined, config: file }, 'gatehouse primary starting workers');
  reloader.setWatch(input.config.watch);
  for (let i = 0; i < expected; i++) fork();
  return finished;
}

export interface WorkerInput {
  readonly file: string;
  readonly env: NodeJS.ProcessEnv;
}

/** A cluster worker: one gateway without the admin listener, driven by the primary. */
export function runWorker(input: WorkerInput): Promise<number> {
  const id = cluster.worker?.id ?? 0;
  const metrics = createMetrics();
  let log: Logger | undefined;
  const deps = serveDeps(metrics, () => log);
  let gateway: Gateway | undefined;
  let stopping = false;
  let queue: Promise<void> = Promise.resolve();
  const send = (message: FromWorker): void => {
    try {
      process.send?.(message);
    } catch {
      // The primary is gone; 'disconnect' stops this worker.
    }
  };

  return new Promise<number>((resolve) => {
    const stop = async (): Promise<void> => {
      if (stopping) return;
      stopping = true;
      await queue;
      if (!gateway || !log) return resolve(0);
      const timeoutMs = gateway.runtime.current.config.shutdownTimeoutMs;
      log.info({ timeoutMs }, 'shutting down');
      const { cut, ms } = await gateway.shutdown({ timeoutMs });
      if (cut > 0) log.warn({ cut, timeoutMs }, 'shutdown grace period over; open connections were cut');
      log.info({ ms }, 'shutdown complete');
      log.flush();
      resolve(0);
    };
    const fail = (lines: readonly string[]): void => {
      for (const line of lines) process.stderr.write(line + '\n');
      stopping = true;
      resolve(1);
    };

    const apply = async (generation: number, text: string): Promise<void> => {
      if (stopping) return;
      const loaded = await loadSnapshot(input.file, input.env, { ...deps, ...(gateway ? { previous: gateway.runtime.current.config } : {}) }, text);
      if (!gateway) {
        if (!loaded.ok) return fail([...loaded.messages, `gatehouse: worker ${id} not started`]);
        log = createLogger(loaded.config.logLevel as 'info').child({ worker: id, pid: process.pid });
        try {
          gateway = await startGateway({ config: loaded.config, log, metrics, serveAdmin: false });
        } catch (error) {
          await loaded.config.close();
          return fail([`gatehouse: worker ${id} not started: ${(error as Error).message}`]);
        }
        send({ type: 'gatehouse:ready', generation });
        return;
      }
      // gatehouse_config_reloads_total is the primary's: summed with the workers' it would count N+1 times.
      if (!loaded.ok) {
        log!.error({ config: input.file, problems: loaded.messages }, 'config reload rejected; keeping the running config');
        send({ type: 'gatehouse:reloaded', generation, ok: false, problems: loaded.messages });
        return;
      }
      if (stopping) return void (await loaded.config.close());
      await gateway.reload(loaded.config);
      send({ type: 'gatehouse:reloaded', generation, ok: true });
    };

    process.on('message', (message: unknown) => {
      if (!isGatehouseMessage(message)) return;
      const m = message as ToWorker;
      switch (m.type) {
        case 'gatehouse:config':
          queue = queue.then(() => apply(m.generation, m.text)).catch((error: unknown) => fail([`gatehouse: worker ${id}: ${(error as Error).message}`]));
          return;
        case 'gatehouse:readiness':
          send({ type: 'gatehouse:answer', id: m.id, value: gateway?.readiness() });
          return;
        case 'gatehouse:metrics':
          gateway?.refreshGauges();
          void metrics.registry.getMetricsAsJSON().then((value) => send({ type: 'gatehouse:answer', id: m.id, value }));
          return;
        case 'gatehouse:shutdown':
          void stop();
          return;
      }
    });
    // Ctrl-C reaches the whole process group; SIGTERM may come from a supervisor that
    // signals every process. Either way: the same graceful stop, once.
    process.on('SIGTERM', () => void stop());
    process.on('SIGINT', () => void stop());
    // Reloads are the primary's: it validates once, then tells every worker.
    process.on('SIGHUP', () => log?.info('SIGHUP ignored by a worker; send it to the primary'));
    // The primary died: nobody distributes connections any more.
    process.on('disconnect', () => void stop());
    send({ type: 'gatehouse:hello' });
  });
}
