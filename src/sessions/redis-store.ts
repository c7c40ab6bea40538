// Sessions in Redis, shared by every gatehouse instance: a deleted or expired session is
// rejected everywhere at once (security.md §8). Redis down means 503 quickly, never a
// request hanging and never "no session" (security.md §10), and the client reconnects
// by itself when Redis comes back.
//
// Layout (P = keyPrefix):
//   P s:<h>                         hash {d: JSON SessionData, l: lastSeenAt, e: expiresAt,
//                                   i: idle ms}, PEXPIRE min(l + i, e) - now; h = sha256(id)
//   P u:<sha256(user)>              set of h
//   P o:<provider>:sid:<sha256(sid)> / P o:<provider>:sub:<sha256(sub)>   sets of h
//   P once:<key>, P lock:<key>      strings with PX
// A hash, not one JSON string, so touch (l) and replace (d) change different fields in
// one atomic script each: a touch can never write back data a concurrent OIDC renewal
// just replaced (a lost rotated refresh token would end the session).
// Every command and script touches ONE key: in a Cluster the keys live in different slots,
// so there is no multi-key MULTI. Index sets are written before the session (a crash
// leaves a dangling index entry, never an unindexed session) and pruned lazily.
import { randomBytes } from 'node:crypto';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { bySummary, copySessionData } from './memory-store.js';
import { storageKey } from './session-id.js';
import type { OidcSessionData, SessionData, SessionStore, SessionSummary, StoredSession, StoreHealth } from './types.js';

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** Exactly one of url, sentinels (+ name) or cluster. */
export interface RedisSessionStoreOptions {
  /** redis:// or rediss:// URL (credentials and db may be in it). */
  readonly url?: string;
  readonly sentinels?: readonly RedisNode[];
  /** Sentinel master group name. */
  readonly name?: string;
  /** Password of the Redis servers (sentinel and cluster modes; overrides one in the URL). */
  readonly password?: string;
  /** Password of the sentinels themselves, when they have one. */
  readonly sentinelPassword?: string;
  readonly cluster?: readonly RedisNode[];
  /** Default 'gatehouse:'. */
  readonly keyPrefix?: string;
  /** Epoch-ms clock for the methods that take no `now`. Default Date.now. */
  readonly now?: () => number;
  /** A command without an answer in this time fails. Default 1000. */
  readonly commandTimeoutMs?: number;
  /** Called when health().ok flips, for one log line per outage instead of one per retry. */
  readonly onStateChange?: (health: StoreHealth) => void;
}

export type RedisClient = Redis | Cluster;

/** What a store call rejects with; `kind` is an error code (never a message, URL or secret). */
export class SessionStoreUnavailableError extends Error {
  readonly kind: string;
  constructor(kind: string, options?: { cause?: unknown }) {
    super(`session store unavailable (${kind})`, options);
    this.name = 'SessionStoreUnavailableError';
    this.kind = kind;
  }
}

export const DEFAULT_KEY_PREFIX = 'gatehouse:';
const DEFAULT_COMMAND_TIMEOUT_MS = 1000;
const MAX_RECONNECT_DELAY_MS = 2000;

/** Reconnect backoff: 100, 200, 400, 800, 1600, then 2000 ms, each up to 20 % shorter so
 * instances that lost Redis together do not knock on it in step. Never gives up. */
export function reconnectDelay(times: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_RECONNECT_DELAY_MS, 50 * 2 ** Math.min(Math.max(times, 1), 6));
  return Math.round(base * (0.8 + 0.2 * random()));
}

const KNOWN_MESSAGES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^Command timed out/, 'COMMAND_TIMEOUT'],
  [/^Stream isn't writeable/, 'NOT_CONNECTED'],
  [/^Connection is closed/, 'CONNECTION_CLOSED'],
  [/^All sentinels are unreachable/, 'SENTINELS_UNREACHABLE'],
  [/^Cluster isn't ready|^None of startup nodes is available|^Cluster is disconnect/, 'CLUSTER_DOWN'],
];

/** A short, safe name for an error: a system code (ECONNREFUSED), a Redis error code
 * (WRONGPASS, LOADING), a known ioredis condition, else the error's class name. */
export function errorKind(err: unknown): string {
  if (typeof err !== 'object' || err === null) return 'UNKNOWN';
  const { code, message, name } = err as { code?: unknown; message?: unknown; name?: unknown };
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code;
  if (typeof message === 'string') {
    for (const [re, kind] of KNOWN_MESSAGES) if (re.test(message)) return kind;
    if (name === 'ReplyError') {
      const first = /^([A-Z][A-Z0-9_]{1,40})(?: |$)/.exec(message);
      if (first !== null) return first[1] as string;
    }
  }
  return typeof name === 'string' && /^[A-Za-z][A-Za-z0-9_]{0,60}$/.test(name) ? name : 'UNKNOWN';
}

// ---- scripts (one key each) ----

const SCRIPTS = {
  gatehouseSessionCreate: `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'l', ARGV[2], 'e', ARGV[3], 'i', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`,
  // lastSeenAt never moves backwards (instances' clocks differ a little).
  gatehouseSessionTouch: `
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 0 end
local v = redis.call('HMGET', KEYS[1], 'l', 'e')
local l = tonumber(v[1])
local e = tonumber(v[2])
if l == nil or e == nil then return 0 end
local now = tonumber(ARGV[1])
local idle = tonumber(ARGV[2])
if now >= e or now - l >= idle then return 0 end
if now > l then
  redis.call('HSET', KEYS[1], 'l', ARGV[1])
  l = now
end
redis.call('HSET', KEYS[1], 'i', ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.min(l + idle, e) - now)
return 1`,
  // Returns the old data so the caller can move index entries if user/sid/sub changed.
  gatehouseSessionReplace: `
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return false end
local v = redis.call('HMGET', KEYS[1], 'd', 'l', 'e', 'i')
local l = tonumber(v[2])
local e = tonumber(v[3])
local i = tonumber(v[4])
if l == nil or e == nil or i == nil then return false end
local now = tonumber(ARGV[2])
if now >= e or now - l >= i then return false end
redis.call('HSET', KEYS[1], 'd', ARGV[1])
return v[1] or ''`,
  gatehouseSessionDelete: `
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return false end
local v = false
if t == 'hash' then v = redis.call('HMGET', KEYS[1], 'd', 'l', 'e', 'i') end
redis.call('DEL', KEYS[1])
return v`,
  // An index set lives as long as its longest-lived member can.
  gatehouseIndexAdd: `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`,
  gatehouseLockRelease: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptCall = (...args: string[]) => Promise<unknown>;

// ---- validation of what Redis hands back ----

type Fields = readonly (string | null | undefined)[];

interface SessionRecord {
  readonly data: SessionData;
  readonly lastSeenAt: number;
  readonly expiresAt: number;
  readonly idleMs: number;
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const optStr = (v: unknown): boolean => v === undefined || typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseInteger(v: string | null | undefined): number | undefined {
  if (typeof v !== 'string' || !/^-?\d{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

function validOidc(v: unknown): v is OidcSessionData {
  return (
    isObj(v) &&
    isStr(v.sub) &&
    optStr(v.sid) &&
    optStr(v.idToken) &&
    optStr(v.refreshToken) &&
    (v.accessTokenExpiresAt === undefined || isNum(v.accessTokenExpiresAt))
  );
}

/** A stored JSON value checked field by field: corrupt or foreign data is "no session". */
export function parseSessionData(json: string | null | undefined): SessionData | undefined {
  if (typeof json !== 'string') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (
    !isObj(v) ||
    !isStr(v.user) ||
    !optStr(v.email) ||
    !optStr(v.name) ||
    !Array.isArray(v.groups) ||
    !v.groups.every(isStr) ||
    !isObj(v.claims) ||
    !isStr(v.provider) ||
    !isNum(v.createdAt) ||
    !isNum(v.expiresAt) ||
    (v.oidc !== undefined && !validOidc(v.oidc))
  ) {
    return undefined;
  }
  return v as unknown as SessionData;
}

function parseRecord(fields: Fields | null): SessionRecord | undefined {
  if (fields === null) return undefined;
  const data = parseSessionData(fields[0]);
  const lastSeenAt = parseInteger(fields[1]);
  const expiresAt = parseInteger(fields[2]);
  const idleMs = parseInteger(fields[3]);
  if (data === undefined || lastSeenAt === undefined || expiresAt === undefined || idleMs === undefined) return undefined;
  return { data, lastSeenAt, expiresAt, idleMs };
}

const live = (r: SessionRecord, t: number): boolean => t < r.expiresAt && t - r.lastSeenAt < r.idleMs;

const stored = (r: SessionRecord): StoredSession => ({ ...r.data, expiresAt: r.expiresAt, lastSeenAt: r.lastSeenAt });

const int = (n: number): string => String(Math.floor(n));

function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new RangeError('ttlMs must be a positive integer');
}

function isWrongType(err: unknown): boolean {
  return errorKind(err) === 'WRONGTYPE';
}

function connect(options: RedisSessionStoreOptions, commandTimeout: number): RedisClient {
  const modes = [options.url, options.sentinels, options.cluster].filter((m) => m !== undefined).length;
  if (modes !== 1) throw new TypeError('redis: give exactly one of url, sentinels or cluster');
  // Fail fast (security.md §10): no offline queue (a command while disconnected fails at
  // once instead of waiting), a timeout on every command, no retry of a command that was
  // in flight when the connection dropped (it may have been applied: GETDEL, INCR).
  const common = {
    enableOfflineQueue: false,
    commandTimeout,
    connectTimeout: 2 * commandTimeout,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    ...(options.password !== undefined ? { password: options.password } : {}),
  } satisfies RedisOptions;
  if (options.cluster !== undefined) {
    if (options.cluster.length === 0) throw new TypeError('redis: cluster needs at least one node');
    // The cluster client owns its nodes' offline queue and reconnects; it takes the rest.
    const { enableOfflineQueue, ...nodeOptions } = common;
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue,
      clusterRetryStrategy: (times) => reconnectDelay(times),
      slotsRefreshTimeout: commandTimeout,
      redisOptions: nodeOptions,
    };
    return new Cluster(options.cluster.map((n) => ({ host: n.host, port: n.port })), clusterOptions);
  }
  const retryStrategy = (times: number): number => reconnectDelay(times);
  if (options.sentinels !== undefined) {
    if (options.sentinels.length === 0 || options.name === undefined || options.name === '') {
      throw new TypeError('redis: sentinels need at least one address and the master name');
    }
    return new Redis({
      ...common,
      retryStrategy,
      sentinels: options.sentinels.map((n) => ({ host: n.host, port: n.port })),
      name: options.name,
      sentinelRetryStrategy: (times: number) => reconnectDelay(times),
      ...(options.sentinelPassword !== undefined ? { sentinelPassword: options.sentinelPassword } : {}),
    });
  }
  return new Redis(options.url as string, { ...common, retryStrategy });
}

export function createRedisSessionStore(options: RedisSessionStoreOptions): { store: SessionStore; client: RedisClient } {
  const commandTimeout = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  if (!Number.isSafeInteger(commandTimeout) || commandTimeout < 1) throw new RangeError('commandTimeoutMs must be a positive integer');
  const P = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  const clock = options.now ?? Date.now;
  const client = connect(options, commandTimeout);

  let everReady = false;
  let closed = false;
  let lastError: string | undefined;
  let reportedOk = false;
  /** The last command failed (e.g. a hung server answers nothing while the socket stays
   * open): not ok until a command succeeds again. */
  let failing = false;

  const health = (): StoreHealth => ({
    ok: !closed && client.status === 'ready' && !failing,
    store: 'redis',
    ...(lastError !== undefined ? { lastError } : {}),
  });
  const report = (): void => {
    const h = health();
    if (h.ok === reportedOk) return;
    reportedOk = h.ok;
    try {
      options.onStateChange?.(h);
    } catch {
      // A broken reporter must not break the connection handling.
    }
  };
  // Without an 'error' listener ioredis prints every failed reconnect attempt.
  client.on('error', (err: unknown) => {
    lastError = errorKind(err);
    report();
  });
  client.on('node error', (err: unknown) => {
    lastError = errorKind(err);
  });
  client.on('ready', () => {
    everReady = true;
    failing = false;
    report();
  });
  client.on('close', report);
  client.on('end', report);

  for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { numberOfKeys: 1, lua });
  const script = (name: ScriptName, key: string, ...args: string[]): Promise<unknown> =>
    (client as unknown as Record<ScriptName, ScriptCall>)[name](key, ...args);

  // Until the first connection is up (just after start) a call waits for it, up to the
  // command timeout; once it has been up, a call while down fails at once.
  let firstReady: Promise<void> | undefined;
  const ensureReady = async (): Promise<void> => {
    if (client.status === 'ready' && !closed) return;
    if (!everReady && !closed) {
      firstReady ??= new Promise<void>((resolve) => client.once('ready', () => resolve()));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, commandTimeout);
      });
      await Promise.race([firstReady, timeout]);
      clearTimeout(timer);
      if (client.status === 'ready') return;
    }
    throw new SessionStoreUnavailableError(closed ? 'CLOSED' : (lastError ?? 'NOT_CONNECTED'));
  };

  /** Runs Redis work; any failure becomes a SessionStoreUnavailableError (→ 503). */
  const run = async <T>(work: () => Promise<T>): Promise<T> => {
    await ensureReady();
    try {
      const result = await work();
      if (failing) {
        failing = false;
        report();
      }
      return result;
    } catch (err) {
      const kind = errorKind(err);
      lastError = kind;
      failing = true;
      report();
      // A server that stopped answering keeps its socket open: drop it and reconnect, so
      // the calls that follow fail at once instead of each waiting out the timeout.
      if (kind === 'COMMAND_TIMEOUT' && !closed) client.disconnect(true);
      throw new SessionStoreUnavailableError(kind, { cause: err });
    }
  };

  const sKey = (h: string): string => `${P}s:${h}`;
  const userKey = (user: string): string => `${P}u:${storageKey(user)}`;
  const oidcKey = (provider: string, kind: 'sid' | 'sub', value: string): string =>
    `${P}o:${encodeURIComponent(provider)}:${kind}:${storageKey(value)}`;
  const indexKeys = (data: SessionData): string[] => {
    const keys = [userKey(data.user)];
    if (data.oidc !== undefined) {
      keys.push(oidcKey(data.provider, 'sub', data.oidc.sub));
      if (data.oidc.sid !== undefined) keys.push(oidcKey(data.provider, 'sid', data.oidc.sid));
    }
    return keys;
  };

  const addToIndexes = (keys: readonly string[], h: string, ttlMs: number): Promise<unknown> =>
    Promise.all(keys.map((k) => script('gatehouseIndexAdd', k, h, int(ttlMs))));
  const removeFromIndexes = (keys: readonly string[], h: string): Promise<unknown> =>
    Promise.all(keys.map((k) => client.srem(k, h)));

  const read = async (h: string): Promise<SessionRecord | undefined> => {
    try {
      return parseRecord(await client.hmget(sKey(h), 'd', 'l', 'e', 'i'));
    } catch (err) {
      if (isWrongType(err)) return undefined; // a foreign value under our key: no session
      throw err;
    }
  };

  /** Deletes one session and its index entries; true when it was live. */
  const remove = async (h: string, t: number): Promise<boolean> => {
    const record = parseRecord((await script('gatehouseSessionDelete', sKey(h))) as Fields | null);
    if (record === undefined) return false;
    await removeFromIndexes(indexKeys(record.data), h);
    return live(record, t);
  };

  /** Deletes every session an index set names, pruning members already gone. */
  const removeIndexed = async (setKey: string): Promise<number> => {
    const t = clock();
    const members = await client.smembers(setKey);
    const results = await Promise.all(members.map((h) => remove(h, t)));
    if (members.length > 0) await client.srem(setKey, ...members);
    return results.filter(Boolean).length;
  };

  const scanSessionKeys = async (): Promise<string[]> => {
    const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
    const pattern = `${P.replace(/[*?[\]\\]/g, '\\$&')}s:*`;
    const keys: string[] = [];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
    }
    return keys.map((k) => k.slice(P.length + 2));
  };

  const store: SessionStore = {
    kind: 'redis',

    create: (id, data, now, idleMs) =>
      run(async () => {
        const copy = copySessionData(data);
        const ttl = Math.min(now + idleMs, copy.expiresAt) - now;
        if (!(ttl >= 1)) return; // born dead: nothing to keep
        const h = storageKey(id);
        await addToIndexes(indexKeys(copy), h, copy.expiresAt - now);
        await script('gatehouseSessionCreate', sKey(h), JSON.stringify(copy), int(now), int(copy.expiresAt), int(idleMs), int(Math.ceil(ttl)));
      }),

    get: (id, now, idleMs) =>
      run(async () => {
        const r = await read(storageKey(id));
        if (r === undefined || now >= r.expiresAt || now - r.lastSeenAt >= idleMs) return undefined;
        return stored(r);
      }),

    touch: (id, now, idleMs) =>
      run(async () => (await script('gatehouseSessionTouch', sKey(storageKey(id)), int(now), int(idleMs))) === 1),

    replace: (id, data) =>
      run(async () => {
        const h = storageKey(id);
        const copy = copySessionData(data);
        const t = clock();
        const old = (await script('gatehouseSessionReplace', sKey(h), JSON.stringify(copy), int(t))) as string | null;
        if (old === null) return false;
        // Unreadable old data: index the new data fully, remove nothing (pruned lazily).
        const oldData = parseSessionData(old);
        const before = new Set(oldData === undefined ? [] : indexKeys(oldData));
        const after = indexKeys(copy);
        const added = after.filter((k) => !before.delete(k));
        if (added.length > 0) {
          // The stored lifetime is the session's; the new data's expiresAt is ignored.
          const r = await read(h);
          if (r !== undefined) await addToIndexes(added, h, r.expiresAt - t);
        }
        if (before.size > 0) await removeFromIndexes([...before], h);
        return true;
      }),

    delete: (id) => run(() => remove(storageKey(id), clock())),

    deleteByUser: (user) => run(() => removeIndexed(userKey(user))),

    deleteByOidc: (provider, match) =>
      run(async () => {
        // OIDC Back-Channel Logout 1.0 §2.6: a sid names one OP session; only without it
        // does the subject stand for all of the user's sessions at this provider.
        if (match.sid !== undefined) return removeIndexed(oidcKey(provider, 'sid', match.sid));
        if (match.sub !== undefined) return removeIndexed(oidcKey(provider, 'sub', match.sub));
        return 0;
      }),

    list: (filter) =>
      run(async () => {
        const t = clock();
        const setKey = filter.user !== undefined ? userKey(filter.user) : undefined;
        const hs = setKey !== undefined ? await client.smembers(setKey) : await scanSessionKeys();
        const out: SessionSummary[] = [];
        const gone: string[] = [];
        for (let i = 0; i < hs.length; i += 500) {
          const batch = hs.slice(i, i + 500);
          const records = await Promise.all(batch.map(read));
          records.forEach((r, j) => {
            const h = batch[j] as string;
            if (r !== undefined && live(r, t)) out.push({ ...stored(r), idHash: h.slice(0, 12) });
            else if (r === undefined) gone.push(h);
          });
        }
        if (setKey !== undefined && gone.length > 0) await client.srem(setKey, ...gone);
        return out.sort(bySummary);
      }),

    putOnce: async (key, value, ttlMs) => {
      checkTtl(ttlMs);
      return run(async () => (await client.set(`${P}once:${key}`, value, 'PX', ttlMs, 'NX')) === 'OK');
    },

    take: (key) => run(async () => (await client.getdel(`${P}once:${key}`)) ?? undefined),

    acquireLock: async (key, ttlMs) => {
      checkTtl(ttlMs);
      const token = randomBytes(16).toString('base64url');
      return run(async () => ((await client.set(`${P}lock:${key}`, token, 'PX', ttlMs, 'NX')) === 'OK' ? token : undefined));
    },

    releaseLock: (key, token) =>
      run(async () => {
        await script('gatehouseLockRelease', `${P}lock:${key}`, token);
      }),

    health,

    async close() {
      if (closed) return;
      closed = true;
      try {
        if (client.status === 'ready') {
          await client.quit();
          return;
        }
      } catch {
        // fall through: drop the socket
      }
      client.disconnect();
    },
  };
  return { store, client };
}
