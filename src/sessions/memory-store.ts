// The in-memory twin of the Redis store (architecture.md principle 8): one process only,
// lost on restart, bounded. It mirrors Redis's behaviour where the contract suite can
// see it: a session's lifetime is a TTL of min(lastSeenAt + idle, expiresAt), checked
// on every read, and deleted (with its index entries) once past it.
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { storageKey } from './session-id.js';
import type { SessionData, SessionStore, SessionSummary, StoredSession, StoreHealth } from './types.js';

export interface MemorySessionStoreOptions {
  /** Most sessions kept (and, separately, most one-time values and locks); the least
   * recently used goes first. Default 100 000. */
  maxSessions?: number;
  /** Epoch-ms clock for the methods that take no `now` (list, deleteBy*, replace, putOnce,
   * take, locks). Default Date.now. */
  now?: () => number;
}

export const DEFAULT_MAX_SESSIONS = 100_000;

interface Entry {
  data: SessionData;
  lastSeenAt: number;
  /** Idle timeout given at the last create/touch: the "TTL" of this entry. */
  idleMs: number;
}

interface Expiring {
  readonly value: string;
  readonly expiresAt: number;
}

const HEALTH: StoreHealth = Object.freeze({ ok: true, store: 'memory' });

/** Only the SessionData fields, deep-copied: nothing the caller keeps a reference to can
 * change a stored session, and extra fields (lastSeenAt, idHash) are not stored. */
export function copySessionData(data: SessionData): SessionData {
  return structuredClone({
    user: data.user,
    ...(data.email !== undefined ? { email: data.email } : {}),
    ...(data.name !== undefined ? { name: data.name } : {}),
    groups: data.groups,
    claims: data.claims,
    provider: data.provider,
    createdAt: data.createdAt,
    expiresAt: data.expiresAt,
    ...(data.oidc !== undefined ? { oidc: data.oidc } : {}),
  });
}

/** Index names of a session: by user, and for OIDC by (provider, sid) and (provider, sub). */
function indexKeys(data: SessionData): string[] {
  const keys = [`u\0${data.user}`];
  if (data.oidc !== undefined) {
    keys.push(`sub\0${data.provider}\0${data.oidc.sub}`);
    if (data.oidc.sid !== undefined) keys.push(`sid\0${data.provider}\0${data.oidc.sid}`);
  }
  return keys;
}

function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new RangeError('ttlMs must be a positive integer');
}

export function createMemorySessionStore(opts: MemorySessionStoreOptions = {}): SessionStore {
  const maxSessions = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
  if (!Number.isSafeInteger(maxSessions) || maxSessions < 1) throw new RangeError('maxSessions must be a positive integer');
  const clock = opts.now ?? Date.now;

  const indexes = new Map<string, Set<string>>();
  const unindex = (h: string, data: SessionData): void => {
    for (const k of indexKeys(data)) {
      const set = indexes.get(k);
      set?.delete(h);
      if (set?.size === 0) indexes.delete(k);
    }
  };
  const index = (h: string, data: SessionData): void => {
    for (const k of indexKeys(data)) {
      const set = indexes.get(k);
      if (set === undefined) indexes.set(k, new Set([h]));
      else set.add(h);
    }
  };

  // Every way out of the cache (eviction, delete, overwrite) drops the index entries.
  const sessions = new LRUCache<string, Entry>({ max: maxSessions, dispose: (entry, h) => unindex(h, entry.data) });
  const onces = new LRUCache<string, Expiring>({ max: maxSessions });
  const locks = new LRUCache<string, Expiring>({ max: maxSessions });

  const alive = (e: Entry, t: number): boolean => t < e.data.expiresAt && t - e.lastSeenAt < e.idleMs;

  /** The entry if still within its lifetime; deletes it otherwise (Redis's TTL expiry). */
  const lookup = (h: string, t: number, refresh: boolean): Entry | undefined => {
    const e = refresh ? sessions.get(h) : sessions.peek(h);
    if (e === undefined) return undefined;
    if (alive(e, t)) return e;
    sessions.delete(h);
    return undefined;
  };

  const snapshot = (e: Entry): StoredSession => ({ ...copySessionData(e.data), lastSeenAt: e.lastSeenAt });

  const deleteAll = (hs: Iterable<string> | undefined): number => {
    const t = clock();
    let count = 0;
    for (const h of [...(hs ?? [])]) {
      const e = sessions.peek(h);
      if (e !== undefined && alive(e, t)) count++;
      sessions.delete(h);
    }
    return count;
  };

  const takeExpiring = (cache: LRUCache<string, Expiring>, key: string): Expiring | undefined => {
    const e = cache.peek(key);
    if (e === undefined) return undefined;
    if (clock() < e.expiresAt) return e;
    cache.delete(key);
    return undefined;
  };

  return {
    kind: 'memory',

    async create(id, data, now, idleMs) {
      const h = storageKey(id);
      const copy = copySessionData(data);
      sessions.set(h, { data: copy, lastSeenAt: now, idleMs });
      index(h, copy);
    },

    async get(id, now, idleMs) {
      const e = lookup(storageKey(id), now, true);
      if (e === undefined || now - e.lastSeenAt >= idleMs) return undefined;
      return snapshot(e);
    },

    async touch(id, now, idleMs) {
      const e = lookup(storageKey(id), now, true);
      if (e === undefined || now - e.lastSeenAt >= idleMs) return false;
      // Never backwards: instances' clocks differ a little (Redis does the same).
      e.lastSeenAt = Math.max(e.lastSeenAt, now);
      e.idleMs = idleMs;
      return true;
    },

    async replace(id, data) {
      const h = storageKey(id);
      const e = lookup(h, clock(), false);
      if (e === undefined) return false;
      unindex(h, e.data);
      // The lifetime stays: expiresAt and the idle clock are the session's, not the data's.
      e.data = { ...copySessionData(data), expiresAt: e.data.expiresAt };
      index(h, e.data);
      return true;
    },

    async delete(id) {
      return deleteAll([storageKey(id)]) === 1;
    },

    async deleteByUser(user) {
      return deleteAll(indexes.get(`u\0${user}`));
    },

    async deleteByOidc(provider, match) {
      // OIDC Back-Channel Logout 1.0 §2.6: a sid names one OP session; only without it
      // does the subject stand for all of the user's sessions at this provider.
      if (match.sid !== undefined) return deleteAll(indexes.get(`sid\0${provider}\0${match.sid}`));
      if (match.sub !== undefined) return deleteAll(indexes.get(`sub\0${provider}\0${match.sub}`));
      return 0;
    },

    async list(filter) {
      const t = clock();
      const hs = filter.user !== undefined ? [...(indexes.get(`u\0${filter.user}`) ?? [])] : [...sessions.keys()];
      const out: SessionSummary[] = [];
      for (const h of hs) {
        const e = lookup(h, t, false);
        if (e !== undefined) out.push({ ...snapshot(e), idHash: h.slice(0, 12) });
      }
      return out.sort(bySummary);
    },

    async putOnce(key, value, ttlMs) {
      checkTtl(ttlMs);
      if (takeExpiring(onces, key) !== undefined) return false;
      onces.set(key, { value, expiresAt: clock() + ttlMs });
      return true;
    },

    async take(key) {
      const e = takeExpiring(onces, key);
      onces.delete(key);
      return e?.value;
    },

    async acquireLock(key, ttlMs) {
      checkTtl(ttlMs);
      if (takeExpiring(locks, key) !== undefined) return undefined;
      const token = randomBytes(16).toString('base64url');
      locks.set(key, { value: token, expiresAt: clock() + ttlMs });
      return token;
    },

    async releaseLock(key, token) {
      if (locks.peek(key)?.value === token) locks.delete(key);
    },

    health() {
      return HEALTH;
    },

    async close() {
      sessions.clear();
      onces.clear();
      locks.clear();
    },
  };
}

/** Oldest first, then by idHash (distinct for distinct sessions): a stable order for
 * operators and for the contract suite. */
export function bySummary(a: SessionSummary, b: SessionSummary): number {
  return a.createdAt - b.createdAt || (a.idHash < b.idHash ? -1 : 1);
}
