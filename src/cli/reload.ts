// Reading the config for a start or a reload, and deciding when to reload: on SIGHUP
// always, and with `watch: true` when the file's bytes changed. Reloads run one at a time.
//
// The file is read once per attempt: the digest that later tells the watcher "unchanged"
// and the text that cluster workers compile are the very bytes that were validated.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { compileConfig, type CompileDeps, type CompiledConfig } from '../config/compile.js';
import { ConfigError } from '../config/diagnostics.js';
import { loadConfigFile, loadConfigText } from '../config/load.js';
import type { Logger } from '../logging.js';
import { createMemoryAttemptStore } from '../pipeline/authenticate/attempts.js';
import type { Metrics } from '../server/metrics.js';

/** As loadConfigFile allows; a larger file is left to it to refuse. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** Editors save in bursts (write a temporary file, rename it, touch the folder). */
export const WATCH_DEBOUNCE_MS = 250;

export interface ConfigSnapshot {
  readonly text: string;
  /** sha256 of the file's bytes. */
  readonly digest: string;
}

export function digestOf(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The file's text, or undefined when it is not a readable UTF-8 file (loadConfigFile says why). */
export function readSnapshot(file: string): ConfigSnapshot | undefined {
  try {
    const path = resolve(file);
    const stat = statSync(path);
    if (!stat.isFile() || stat.size > MAX_CONFIG_BYTES) return undefined;
    const bytes = readFileSync(path);
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), digest: digestOf(bytes) };
  } catch {
    return undefined;
  }
}

export type SnapshotLoad = { ok: true; config: CompiledConfig; snapshot: ConfigSnapshot } | { ok: false; messages: string[]; digest: string | undefined };

/**
 * Reads (unless `text` is given: a cluster worker compiles what its primary validated),
 * loads and compiles the config. Problems come back as `file:line:col key: message` lines.
 */
export async function loadSnapshot(file: string, env: NodeJS.ProcessEnv, deps: CompileDeps, text?: string): Promise<SnapshotLoad> {
  const snapshot = text === undefined ? readSnapshot(file) : { text, digest: digestOf(text) };
  try {
    if (snapshot === undefined) {
      // Let the loader word why the file cannot be read.
      loadConfigFile(file, env);
      /* c8 ignore next 2: only when the file became readable between the two reads */
      return { ok: false, messages: [`${file}:1:1 changed while it was being read; try again`], digest: undefined };
    }
    return { ok: true, config: await compileConfig(loadConfigText(snapshot.text, file, env), deps), snapshot };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, messages: error.message.split('\n'), digest: snapshot?.digest };
    throw error;
  }
}

/**
 * Compile dependencies that outlive a reload: one throttle store per process (a reload must
 * not reset failed-attempt counts), and JWKS and sign-in events turned into logs and metrics.
 */
export function serveDeps(metrics: Metrics, log: () => Logger | undefined): CompileDeps {
  return {
    attempts: createMemoryAttemptStore(),
    onJwksEvent: (authenticator, event) => {
      if (event.type === 'error') {
        metrics.jwksFetches.inc({ authenticator, result: 'error' });
        log()?.warn({ authenticator, ...event.detail }, 'jwks fetch failed');
        return;
      }
      metrics.jwksFetches.inc({ authenticator, result: event.detail.changed ? 'refreshed' : 'unchanged' });
      if (event.detail.changed || event.detail.skipped.length > 0) log()?.info({ authenticator, ...event.detail }, 'jwks refreshed');
    },
    // Error kinds only: a Redis or OP error message can carry a URL with credentials.
    onLoginError: (where, err) => {
      metrics.sessionStoreErrors.inc({ where });
      log()?.warn({ where, err: { code: (err as { code?: string }).code, type: (err as Error)?.name } }, 'session or sign-in dependency failed');
    },
  };
}

export type ReloadReason = 'signal' | 'watch';

export interface ReloaderOptions {
  readonly file: string;
  /** Loads and applies the file (or rejects it); returns the digest of what it read. */
  run(reason: ReloadReason): Promise<string | undefined>;
  /** Digest of the running config's file. */
  readonly digest: string;
  readonly log: Logger;
  readonly debounceMs?: number;
}

export interface Reloader {
  /** Queues a reload (SIGHUP); resolves when it is done. */
  request(reason: ReloadReason): Promise<void>;
  /** Starts or stops watching the file (`watch`, which a reload may change). */
  setWatch(on: boolean): void;
  readonly watching: boolean;
  /** Stops watching; waits for a reload in progress. Later requests do nothing. */
  close(): Promise<void>;
}

export function createReloader(options: ReloaderOptions): Reloader {
  const { file, log } = options;
  const debounceMs = options.debounceMs ?? WATCH_DEBOUNCE_MS;
  let last: string | undefined = options.digest;
  let queue: Promise<void> = Promise.resolve();
  let closed = false;
  let watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;

  const enqueue = (job: () => Promise<void>): Promise<void> => {
    queue = queue.then(async () => {
      if (closed) return;
      try {
        await job();
      } catch (error) {
        log.error({ config: file, err: { type: (error as Error).name, message: (error as Error).message } }, 'config reload failed');
      }
    });
    return queue;
  };
  const run = async (reason: ReloadReason): Promise<void> => {
    last = await options.run(reason);
  };

  // The folder, not the file: an editor or a Kubernetes ConfigMap replaces the file by a
  // rename, after which a watch on the file itself would follow the old inode. When the
  // file is a symlink, the folder of its target too, for edits made there in place.
  const folders = (): Set<string> => {
    const out = new Set([dirname(resolve(file))]);
    try {
      out.add(dirname(realpathSync(file)));
    } catch {
      // Missing for a moment (being replaced): the next event looks again.
    }
    return out;
  };
  const watchFailed = (folder: string, error: unknown): void => {
    // Node closes a watcher that failed before it reports the error.
    log.warn({ folder, err: { code: (error as NodeJS.ErrnoException).code } }, 'config watch failed; SIGHUP still reloads');
    watchers.delete(folder);
  };
  const rewatch = (): void => {
    const wanted = folders();
    for (const [folder, watcher] of watchers) {
      if (!wanted.has(folder)) {
        watcher.close();
        watchers.delete(folder);
      }
    }
    for (const folder of wanted) {
      if (watchers.has(folder)) continue;
      try {
        const watcher = watch(folder, { persistent: false }, onEvent);
        /* c8 ignore next: inotify running out of watches, say; nothing a test can cause */
        watcher.on('error', (error) => watchFailed(folder, error));
        watchers.set(folder, watcher);
      } catch (error) {
        watchFailed(folder, error);
      }
    }
  };
  const onChange = (): Promise<void> =>
    enqueue(async () => {
      rewatch();
      const now = readSnapshot(file);
      // Other files of the folder changed, or this one was saved unchanged.
      if (now?.digest === last) return;
      // Gone for the moment of a rename: its return is an event too.
      if (now === undefined && !existsSync(file)) return;
      await run('watch');
    });
  // After close() no event arrives (the watchers are closed) and a queued one does nothing.
  function onEvent(): void {
    clearTimeout(timer);
    timer = setTimeout(() => void onChange(), debounceMs);
  }
  const unwatch = (): void => {
    clearTimeout(timer);
    for (const watcher of watchers.values()) watcher.close();
    watchers = new Map();
  };

  return {
    request: (reason) => enqueue(() => run(reason)),
    setWatch(on) {
      if (closed) return;
      if (!on) return unwatch();
      const was = watchers.size > 0;
      rewatch();
      // A change made between the load and the start of the watch is not missed.
      if (!was && readSnapshot(file)?.digest !== last) onEvent();
    },
    get watching() {
      return watchers.size > 0;
    },
    async close() {
      closed = true;
      unwatch();
      await queue;
    },
  };
}
