// The session port (architecture.md principle 8): one interface, a memory twin and a
// Redis store, one contract suite run against both (test/contract/session-store.test.ts).
//
// Session ids are secrets (security.md §8, §13): stores key sessions by sha256(id), so a
// dump of Redis, `gatehouse sessions list` or a log line never holds a usable id.

/** What a sign-in produced; stored server-side, never in the cookie. */
export interface SessionData {
  readonly user: string;
  readonly email?: string;
  readonly name?: string;
  readonly groups: readonly string[];
  /** Claims kept for `allow.claims` and header templates (OIDC: ID token + userinfo). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Name of the login provider that signed the user in (`login.providers.<name>`). */
  readonly provider: string;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms: createdAt + sessions.maxAge; never extended (absolute lifetime). */
  readonly expiresAt: number;
  /** Present for sessions made by an OIDC provider. */
  readonly oidc?: OidcSessionData;
}

export interface OidcSessionData {
  /** `sub` of the ID token: back-channel logout by subject. */
  readonly sub: string;
  /** `sid` of the ID token, when the OP sends one: back-channel logout by session. */
  readonly sid?: string;
  /** For RP-initiated logout's id_token_hint. */
  readonly idToken?: string;
  readonly refreshToken?: string;
  /** Epoch ms when the access token expires; renewal happens before it. */
  readonly accessTokenExpiresAt?: number;
}

export interface StoredSession extends SessionData {
  /** Epoch ms of the last request that slid the idle timeout. */
  readonly lastSeenAt: number;
}

export interface SessionSummary extends StoredSession {
  /** First 12 characters of the storage key (base64url sha256 of the id); never the id. */
  readonly idHash: string;
}

export interface StoreHealth {
  readonly ok: boolean;
  /** e.g. 'memory', 'redis' */
  readonly store: string;
  /** Last error kind (e.g. 'ECONNREFUSED'), never a URL with credentials. */
  readonly lastError?: string;
}

/**
 * Every method may reject when the backing service is down; callers turn that into 503
 * (security.md §10), never into "no session". An expired session is never returned:
 * stores enforce `expiresAt` and the idle timeout server-side, whatever their TTLs say.
 */
export interface SessionStore {
  readonly kind: 'memory' | 'redis';
  /** Stores a new session under id (raw id; the store hashes it). Lives until
   * min(now + idleMs, data.expiresAt) unless touched. */
  create(id: string, data: SessionData, now: number, idleMs: number): Promise<void>;
  /** The live session, or undefined when unknown, deleted, idle too long or past expiresAt. */
  get(id: string, now: number, idleMs: number): Promise<StoredSession | undefined>;
  /** Slides the idle timeout: lastSeenAt = now, lifetime min(now + idleMs, expiresAt).
   * false when the session is gone. */
  touch(id: string, now: number, idleMs: number): Promise<boolean>;
  /** Replaces the data of a live session (OIDC renewal) keeping its lifetime; false when gone. */
  replace(id: string, data: SessionData): Promise<boolean>;
  /** true when a session was deleted. */
  delete(id: string): Promise<boolean>;
  /** Deletes every session of that user; returns how many. */
  deleteByUser(user: string): Promise<number>;
  /** Deletes the sessions a provider made for an OP session (`sid`) or, without sid, for a subject. */
  deleteByOidc(provider: string, match: { readonly sid?: string; readonly sub?: string }): Promise<number>;
  /** Live sessions, optionally of one user (operators' `gatehouse sessions list`). */
  list(filter: { readonly user?: string }): Promise<SessionSummary[]>;
  /** Stores value under key unless the key exists (one-time values: OIDC login
   * transactions, seen logout-token jti). false when it already existed. */
  putOnce(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Reads and deletes in one step (GETDEL): a value can be taken once. */
  take(key: string): Promise<string | undefined>;
  /** SET NX PX with a random token: the token when this caller holds the lock now,
   * undefined when someone else does. */
  acquireLock(key: string, ttlMs: number): Promise<string | undefined>;
  /** Releases the lock only if token still holds it (compare-and-delete). */
  releaseLock(key: string, token: string): Promise<void>;
  health(): StoreHealth;
  close(): Promise<void>;
}
