// The session layer between the cookie and the store (security.md §8): who the cookie
// names, whether that session is live, and making a new one at every sign-in.
import { signerFactory } from '@fastify/cookie';
import type { SignIn } from '../login/types.js';
import { clearCookie, readCookie, serializeCookie, type CookieSettings } from './cookie.js';
import { isWellFormedSessionId, newSessionId } from './session-id.js';
import type { SessionData, SessionStore, StoredSession } from './types.js';

export interface SessionSettings {
  readonly store: SessionStore;
  readonly cookie: CookieSettings;
  /** HMAC keys: the first signs, all verify (rotation). */
  readonly secrets: readonly Buffer[];
  readonly maxAgeMs: number;
  readonly idleTimeoutMs: number;
}

export type SessionLookup =
  | { kind: 'none' } // no cookie, unknown, expired, idle
  | { kind: 'invalid'; reason: 'bad-signature' | 'ambiguous' | 'malformed' }
  | { kind: 'live'; id: string; session: StoredSession };

export interface SessionManager {
  readonly settings: SessionSettings;
  /** Rejects when the store is down: the caller answers 503, never "no session" (security.md §10). */
  resolve(rawHeaders: readonly string[], now: number): Promise<SessionLookup>;
  start(provider: string, signIn: SignIn, now: number): Promise<{ id: string; setCookie: string }>;
  end(id: string): Promise<void>;
  /** Slides the idle timeout at most once per min(60 s, idleTimeout / 10). */
  touchIfDue(id: string, session: StoredSession, now: number): Promise<void>;
  clearCookie(): string;
}

/** Touching on every request would cost a store write per request; this bounds the
 * error to a tenth of the idle timeout (and to a minute), which no user can notice. */
const MAX_TOUCH_INTERVAL_MS = 60_000;

const NONE: SessionLookup = Object.freeze({ kind: 'none' });

export function createSessionManager(settings: SessionSettings): SessionManager {
  if (settings.secrets.length === 0) throw new TypeError('sessions need at least one secret');
  if (!Number.isSafeInteger(settings.maxAgeMs) || settings.maxAgeMs < 1000) throw new RangeError('maxAgeMs must be an integer of at least 1000');
  if (!Number.isSafeInteger(settings.idleTimeoutMs) || settings.idleTimeoutMs < 1) throw new RangeError('idleTimeoutMs must be a positive integer');
  const signer = signerFactory([...settings.secrets]);
  const { store, cookie } = settings;
  const maxAgeSec = Math.floor(settings.maxAgeMs / 1000);
  const touchIntervalMs = Math.min(MAX_TOUCH_INTERVAL_MS, settings.idleTimeoutMs / 10);

  return {
    settings,

    async resolve(rawHeaders, now) {
      const read = readCookie(rawHeaders, cookie.name);
      if (read.kind === 'absent') return NONE;
      if (read.kind === 'ambiguous') return { kind: 'invalid', reason: 'ambiguous' };
      const unsigned = signer.unsign(read.value);
      if (!unsigned.valid) return { kind: 'invalid', reason: 'bad-signature' };
      // Only a holder of the secret can sign a value, so a signed non-id means a bug or
      // a leaked secret; it is refused as loudly as a bad signature.
      if (!isWellFormedSessionId(unsigned.value)) return { kind: 'invalid', reason: 'malformed' };
      const session = await store.get(unsigned.value, now, settings.idleTimeoutMs);
      return session === undefined ? NONE : { kind: 'live', id: unsigned.value, session };
    },

    async start(provider, signIn, now) {
      // Always a fresh id, whatever cookie the browser brought (security.md §8: no fixation).
      const id = newSessionId();
      const data: SessionData = {
        user: signIn.user,
        ...(signIn.email !== undefined ? { email: signIn.email } : {}),
        ...(signIn.name !== undefined ? { name: signIn.name } : {}),
        groups: [...signIn.groups],
        claims: signIn.claims,
        provider,
        createdAt: now,
        expiresAt: now + settings.maxAgeMs,
        ...(signIn.oidc !== undefined ? { oidc: signIn.oidc } : {}),
      };
      await store.create(id, data, now, settings.idleTimeoutMs);
      return { id, setCookie: serializeCookie(cookie, cookie.name, signer.sign(id), { maxAgeSec }) };
    },

    async end(id) {
      await store.delete(id);
    },

    async touchIfDue(id, session, now) {
      if (now - session.lastSeenAt < touchIntervalMs) return;
      await store.touch(id, now, settings.idleTimeoutMs);
    },

    clearCookie() {
      return clearCookie(cookie, cookie.name);
    },
  };
}
