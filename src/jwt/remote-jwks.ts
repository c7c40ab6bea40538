// A remote JWK Set, fetched with undici, kept fresh in the background, and refetched at
// most once per cooldown when a token names a key we do not have (security.md §6). It
// fails closed but keeps serving (security.md §10): a failed refresh keeps the last good
// key set; with no key set at all the authenticator answers 503, never 401.
import { createHash } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { keySetFromJwks, MAX_JWKS_KEYS, type KeySet } from './key-set.js';

export const JWKS_DEFAULTS = Object.freeze({
  refreshIntervalMs: 10 * 60_000,
  cooldownMs: 30_000,
  timeoutMs: 5_000,
  minRefetchIntervalMs: 1_000,
  maxBodyBytes: 1024 * 1024,
  maxKeys: MAX_JWKS_KEYS,
});

export interface RemoteJwksOptions {
  /** http(s) URL of the JWK Set. */
  url: string;
  /** Background refresh period; a shorter Cache-Control max-age brings it forward. */
  refreshIntervalMs?: number;
  /** Least time between a fetch and a fetch asked for by refetch() (unknown kid, no keys). */
  cooldownMs?: number;
  /** Whole-fetch deadline: connect, headers and body. */
  timeoutMs?: number;
  /**
   * Floor for background fetches: the shortest max-age honoured and the first retry after
   * a failed fetch (retries then double, up to min(cooldown, refresh interval)).
   */
  minRefetchIntervalMs?: number;
  maxBodyBytes?: number;
  maxKeys?: number;
  /** For a custom CA or proxy; undici's global dispatcher otherwise. */
  dispatcher?: Dispatcher;
  /** Told about refreshes and errors, for logs. Must not throw. Never given key material. */
  onEvent?: (event: RemoteJwksEvent) => void;
  /** Monotonic clock in ms (tests). */
  now?: () => number;
  /**
   * Keys to serve until the first fetch succeeds: a reload passes the previous
   * generation's keys for the same URL, so an issuer outage during a reload does not
   * take JWT routes down (stale-if-error across generations).
   */
  initial?: KeySet;
}

export type RemoteJwksEvent =
  | {
      readonly type: 'refresh';
      /** `skipped` lists unusable keys not reported before (each is reported once). */
      readonly detail: { readonly keys: number; readonly changed: boolean; readonly skipped: readonly string[] };
    }
  | { readonly type: 'error'; readonly detail: { readonly error: string; readonly stale: boolean; readonly consecutiveFailures: number } };

export type RemoteJwksHealth = {
  /** ok: last fetch succeeded; stale: it failed but keys from before still serve; missing: no keys. */
  readonly jwks: 'ok' | 'stale' | 'missing';
  readonly keys: number;
  readonly lastError?: string;
};

export interface RemoteJwks {
  /** The last good key set, if any fetch ever succeeded. */
  current(): KeySet | undefined;
  /**
   * Fetch again unless a fetch started less than `cooldownMs` ago; joins a fetch under
   * way. Resolves to the key set after it (the same one when nothing was fetched).
   */
  refetch(): Promise<KeySet | undefined>;
  /** Fetch now, ignoring the cooldown (joins a fetch under way). */
  refresh(): Promise<KeySet | undefined>;
  /** True once one fetch has succeeded. */
  ready(): boolean;
  health(): RemoteJwksHealth;
  /** Stops the timer and aborts a fetch under way. */
  close(): Promise<void>;
}

class JwksFetchError extends Error {}

function checkDuration(value: number, what: string): void {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`remote JWKS: ${what} must be a positive number`);
}

const MAX_AGE_RE = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)/i;

function maxAgeMs(cacheControl: string | string[] | undefined): number | undefined {
  const value = Array.isArray(cacheControl) ? cacheControl.join(',') : cacheControl;
  const m = value === undefined ? null : MAX_AGE_RE.exec(value);
  return m === null ? undefined : Number(m[1]) * 1000;
}

/** A short, fixed description of a failed fetch: no URL, no address, no body. */
function describeError(err: unknown, timedOut: boolean): string {
  if (timedOut) return 'timeout';
  if (err instanceof JwksFetchError) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? code : 'fetch failed';
}

export function createRemoteJwks(opts: RemoteJwksOptions): RemoteJwks {
  const o = {
    refreshIntervalMs: opts.refreshIntervalMs ?? JWKS_DEFAULTS.refreshIntervalMs,
    cooldownMs: opts.cooldownMs ?? JWKS_DEFAULTS.cooldownMs,
    timeoutMs: opts.timeoutMs ?? JWKS_DEFAULTS.timeoutMs,
    minRefetchIntervalMs: opts.minRefetchIntervalMs ?? JWKS_DEFAULTS.minRefetchIntervalMs,
    maxBodyBytes: opts.maxBodyBytes ?? JWKS_DEFAULTS.maxBodyBytes,
    maxKeys: opts.maxKeys ?? JWKS_DEFAULTS.maxKeys,
  };
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new TypeError('remote JWKS: url must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('remote JWKS: url must be an absolute http(s) URL');
  for (const [what, value] of Object.entries(o)) checkDuration(value, what);
  const now = opts.now ?? (() => performance.now());

  let keySet: KeySet | undefined = opts.initial;
  let bodyDigest: string | undefined;
  let lastError: string | undefined;
  let failures = 0;
  let lastFetchStartedAt: number | undefined;
  let inFlight: Promise<KeySet | undefined> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const closer = new AbortController();
  const reportedSkips = new Set<string>();

  const emit = (event: RemoteJwksEvent): void => {
    try {
      opts.onEvent?.(event);
    } catch {
      // A broken reporter must not stop the refresh cycle.
    }
  };

  const schedule = (delayMs: number): void => {
    clearTimeout(timer);
    if (closed) return;
    timer = setTimeout(() => void run(), delayMs);
    // Background upkeep must never keep the process alive on its own.
    timer.unref();
  };

  async function download(signal: AbortSignal): Promise<{ text: string; maxAge: number | undefined }> {
    const res = await request(url, {
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json;q=0.9', 'user-agent': 'gatehouse' },
      signal,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      ...(opts.dispatcher === undefined ? {} : { dispatcher: opts.dispatcher }),
    });
    // Redirects are not followed: the configured URL is the one trusted for keys.
    // Destroying a body undici is still reading emits an abort error: expected, so heard.
    const discard = (): void => {
      res.body.on('error', () => {});
      res.body.destroy();
    };
    if (res.statusCode !== 200) {
      discard();
      throw new JwksFetchError(`http status ${res.statusCode}`);
    }
    const declared = Number(res.headers['content-length']);
    if (declared > o.maxBodyBytes) {
      discard();
      throw new JwksFetchError('body too large');
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      total += (chunk as Buffer).length;
      if (total > o.maxBodyBytes) {
        discard();
        throw new JwksFetchError('body too large');
      }
      chunks.push(chunk as Buffer);
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
    } catch {
      throw new JwksFetchError('body is not UTF-8');
    }
    return { text, maxAge: maxAgeMs(res.headers['cache-control']) };
  }

  async function fetchOnce(): Promise<KeySet | undefined> {
    lastFetchStartedAt = now();
    const timeout = AbortSignal.timeout(o.timeoutMs);
    try {
      const { text, maxAge } = await download(AbortSignal.any([closer.signal, timeout]));
      const digest = createHash('sha256').update(text).digest('hex');
      // The same document keeps the same KeySet object, so verified-token caches that
      // remember which key set vouched for a token stay warm across refreshes.
      if (digest !== bodyDigest) {
        const loaded = keySetFromJwks(text, { maxKeys: o.maxKeys });
        if ('error' in loaded) throw new JwksFetchError(loaded.error);
        const fresh = loaded.skipped.filter((s) => !reportedSkips.has(s));
        for (const s of fresh) reportedSkips.add(s);
        keySet = loaded.keySet;
        bodyDigest = digest;
        emit({ type: 'refresh', detail: { keys: keySet.size, changed: true, skipped: fresh } });
      } else {
        emit({ type: 'refresh', detail: { keys: keySet!.size, changed: false, skipped: [] } });
      }
      lastError = undefined;
      failures = 0;
      const next = maxAge === undefined ? o.refreshIntervalMs : Math.min(o.refreshIntervalMs, Math.max(o.minRefetchIntervalMs, maxAge));
      schedule(next);
    } catch (err) {
      if (closed) return keySet;
      lastError = describeError(err, timeout.aborted);
      failures++;
      emit({ type: 'error', detail: { error: lastError, stale: keySet !== undefined, consecutiveFailures: failures } });
      const backoff = o.minRefetchIntervalMs * 2 ** Math.min(failures - 1, 30);
      schedule(Math.max(o.minRefetchIntervalMs, Math.min(o.refreshIntervalMs, o.cooldownMs, backoff)));
    }
    return keySet;
  }

  function run(): Promise<KeySet | undefined> {
    if (inFlight !== undefined) return inFlight;
    if (closed) return Promise.resolve(keySet);
    const p = fetchOnce().finally(() => {
      inFlight = undefined;
    });
    inFlight = p;
    return p;
  }

  // The first fetch starts now and nobody waits for it: /readyz reports when it is done.
  void run();

  return {
    current: () => keySet,
    refetch() {
      if (inFlight !== undefined) return inFlight;
      if (closed || (lastFetchStartedAt !== undefined && now() - lastFetchStartedAt < o.cooldownMs)) return Promise.resolve(keySet);
      return run();
    },
    refresh: () => run(),
    ready: () => keySet !== undefined,
    health(): RemoteJwksHealth {
      const state = keySet === undefined ? 'missing' : lastError === undefined ? 'ok' : 'stale';
      return { jwks: state, keys: keySet?.size ?? 0, ...(lastError === undefined ? {} : { lastError }) };
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      closer.abort();
      await inFlight;
    },
  };
}
