// The decisions of the cluster primary (cluster.ts), as plain functions: when to start a
// crashed worker again, what /readyz answers for the workers, how request/answer pairs
// travel over IPC, and how workers' log output is passed on whole lines at a time.
// cluster.ts only wires them to node:cluster, whose processes tap cannot measure.
import { StringDecoder } from 'node:string_decoder';
import type { Readiness } from '../server/admin-app.js';

// --- messages between the primary and its workers -------------------------------------

/** primary → worker */
export type ToWorker =
  | { type: 'gatehouse:config'; generation: number; text: string }
  | { type: 'gatehouse:readiness'; id: number }
  | { type: 'gatehouse:metrics'; id: number }
  | { type: 'gatehouse:shutdown' };

/** worker → primary */
export type FromWorker =
  | { type: 'gatehouse:hello' }
  | { type: 'gatehouse:ready'; generation: number }
  | { type: 'gatehouse:reloaded'; generation: number; ok: boolean; problems?: string[] }
  | { type: 'gatehouse:answer'; id: number; value: unknown };

const TYPES = new Set(['gatehouse:config', 'gatehouse:readiness', 'gatehouse:metrics', 'gatehouse:shutdown', 'gatehouse:hello', 'gatehouse:ready', 'gatehouse:reloaded', 'gatehouse:answer']);

/** True for our messages; IPC also carries node:cluster's own and prom-client's. */
export function isGatehouseMessage(message: unknown): message is ToWorker | FromWorker {
  return typeof message === 'object' && message !== null && TYPES.has((message as { type?: unknown }).type as string);
}

// --- restarts -------------------------------------------------------------------------

export interface RestartPolicyOptions {
  /** Exits counted over this period. */
  readonly windowMs: number;
  /** More exits than this within the window: a crash loop, give up. */
  readonly maxRestarts: number;
  /** Delay before the second restart within the window (the first is immediate); doubles after. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export type RestartDecision = { readonly action: 'restart'; readonly delayMs: number; readonly recent: number } | { readonly action: 'give-up'; readonly recent: number };

/** Defaults: a lone crash is replaced at once; a loop backs off, then ends the cluster. */
export function restartPolicyFor(workers: number): RestartPolicyOptions {
  return { windowMs: 60_000, maxRestarts: Math.max(10, 2 * workers), baseDelayMs: 250, maxDelayMs: 8000 };
}

export function createRestartPolicy(options: RestartPolicyOptions): { onExit(now: number): RestartDecision } {
  let exits: number[] = [];
  return {
    onExit(now) {
      exits = exits.filter((t) => t > now - options.windowMs);
      exits.push(now);
      const recent = exits.length;
      if (recent > options.maxRestarts) return { action: 'give-up', recent };
      const delayMs = recent === 1 ? 0 : Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (recent - 2));
      return { action: 'restart', delayMs, recent };
    },
  };
}

// --- readiness ------------------------------------------------------------------------

export interface WorkerStatus {
  readonly id: number;
  readonly pid: number | undefined;
  /** Its gateway listens (it said `ready`). */
  readonly listening: boolean;
  /** Its own /readyz answer; undefined when it did not answer in time. */
  readonly readiness: Readiness | undefined;
}

/**
 * Ready when the primary is not shutting down and `expected` workers listen and are each
 * ready: a worker without its JWKS yet would answer 503 on token routes, and one being
 * replaced is capacity missing.
 */
export function clusterReadiness(input: { readonly accepting: boolean; readonly expected: number; readonly configHash: string; readonly workers: readonly WorkerStatus[] }): Readiness {
  const workers = input.workers.map((w) => ({
    worker: w.id,
    pid: w.pid,
    ...(w.readiness ? w.readiness.body : { status: w.listening ? 'no-answer' : 'starting' }),
  }));
  const readyCount = input.workers.filter((w) => w.listening && w.readiness?.ready === true).length;
  const ready = input.accepting && readyCount >= input.expected;
  return {
    ready,
    body: { status: ready ? 'ready' : 'not-ready', config: input.configHash.slice(0, 12), workers: { expected: input.expected, ready: readyCount, list: workers } },
  };
}

// --- request and answer over IPC ------------------------------------------------------

/** Pairs IPC requests with their answers by id; a request not answered in time yields undefined. */
export function createRequestBroker(): {
  ask(send: (id: number) => boolean, timeoutMs: number): Promise<unknown>;
  answer(id: number, value: unknown): void;
  readonly pending: number;
} {
  let next = 1;
  const waiting = new Map<number, { resolve: (value: unknown) => void; timer: NodeJS.Timeout }>();
  const settle = (id: number, value: unknown): void => {
    const entry = waiting.get(id);
    if (!entry) return;
    waiting.delete(id);
    clearTimeout(entry.timer);
    entry.resolve(value);
  };
  return {
    ask(send, timeoutMs) {
      const id = next++;
      return new Promise((resolve) => {
        const timer = setTimeout(() => settle(id, undefined), timeoutMs);
        waiting.set(id, { resolve, timer });
        // A worker that already disconnected cannot answer: do not wait for it.
        if (!send(id)) settle(id, undefined);
      });
    },
    answer: settle,
    get pending() {
      return waiting.size;
    },
  };
}

// --- log lines ------------------------------------------------------------------------

/**
 * Passes a worker's output on in whole lines. Workers write to pipes read by the primary,
 * which alone writes to stdout: a write larger than PIPE_BUF (4 KiB) from two processes
 * sharing one pipe may interleave mid-line, and the log collector would see broken JSON.
 */
export function createLineRelay(write: (text: string) => void): { push(chunk: Buffer | string): void; end(): void } {
  let partial = '';
  // A chunk may end inside a multi-byte character: the decoder keeps it for the next one.
  const decoder = new StringDecoder('utf8');
  return {
    push(chunk) {
      const text = partial + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
      const cut = text.lastIndexOf('\n') + 1;
      partial = text.slice(cut);
      if (cut > 0) write(text.slice(0, cut));
    },
    end() {
      if (partial !== '') write(partial + '\n');
      partial = '';
    },
  };
}
