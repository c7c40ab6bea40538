// HTTP Basic authentication (RFC 7617) against a compiled user table, under the rules of
// security.md §7 ("Basic: no oracle") and §13 ("Secrets stay secret"):
// - an unknown user is verified against a dummy hash of the same cost and gets the very
//   same answer as a wrong password;
// - failures are throttled per (user, client IP) and per client IP (429 + Retry-After),
//   checked before any hash is computed, with verifications still running counted as
//   failures so a burst of parallel guesses cannot slip past the limits;
// - failures against one user from many IPs only slow that user name down (for known
//   and unknown names alike); they never lock the real user out from a clean IP;
// - no result, error or exception carries the password, the hash or the header.
import { createHash, randomBytes } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { setTimeout as delay } from 'node:timers/promises';
import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { ErrorCode } from '../../errors.js';
import { dummyHashLike, hashFamily, hashPassword, hashScheme, verifyPassword } from '../../passwords.js';
import type { PasswordChecker } from '../../login/types.js';
import type { AuthResult, Authenticator, Identity, RequestFacts } from '../types.js';
import type { AttemptStore } from './attempts.js';
import { createCredentialCache, createCredentialDigest } from './credential-cache.js';

export interface BasicAuthenticatorOptions {
  name: string;
  realm: string;
  users: ReadonlyMap<string, string>; // user → hash (already validated by the caller)
  groups: ReadonlyMap<string, readonly string[]>;
  throttle: { windowMs: number; maxFailuresPerUserAndIp: number; maxFailuresPerIp: number; slowdownAfterUserFailures: number };
  cache: { maxEntries: number; ttlMs: number };
}

export interface BasicAuthenticatorDeps {
  attempts: AttemptStore;
  sleep?: (ms: number) => Promise<void>;
  /** Replaces verifyPassword; for tests that count verifications. */
  verify?: (hash: string, password: Buffer) => Promise<boolean>;
  /**
   * Told about errors the authenticator survived or turned into a 500: a failing attempt
   * store (the throttle then fails open, security.md §10: Basic keeps working while
   * Redis is down) or a verification that threw. Must not throw. Never given secrets.
   */
  onError?: (where: 'attempt-store' | 'verify', err: unknown) => void;
}

/** Longest base64 token accepted after `Basic ` (security.md §11: bounded input). */
export const MAX_BASIC_TOKEN_LENGTH = 4096;
export const SLOWDOWN_BASE_MS = 250;
export const SLOWDOWN_MAX_MS = 2000;

/**
 * Delay before answering for a user name with `userFailures` failures (from all IPs) in
 * the current window: none below `threshold`, then 250 ms, doubling with each further
 * `threshold` failures, capped at 2 s.
 */
export function slowdownDelayMs(userFailures: number, threshold: number): number {
  if (userFailures < threshold) return 0;
  const steps = Math.floor(userFailures / threshold) - 1;
  return Math.min(SLOWDOWN_MAX_MS, SLOWDOWN_BASE_MS * 2 ** Math.min(steps, 16));
}

/**
 * The throttle's per-client key: an IPv4 address (IPv4-mapped IPv6 folded into it), or
 * an IPv6 /64. One subscriber usually holds a whole /64, so counting single IPv6
 * addresses would hand an attacker 2^64 fresh counters.
 */
export function clientKey(ip: string): string {
  if (isIPv4(ip)) return ip;
  if (!ipaddr.isValid(ip)) return ip;
  const addr = ipaddr.process(ip);
  if (addr.kind() === 'ipv4') return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}

export type ParsedBasicCredentials =
  | { readonly kind: 'skip' }
  | { readonly kind: 'malformed'; readonly reason: string }
  | { readonly kind: 'credentials'; readonly user: string; readonly password: Buffer };

const SKIP: ParsedBasicCredentials = { kind: 'skip' };
const malformed = (reason: string): ParsedBasicCredentials => ({ kind: 'malformed', reason });

// RFC 7235 §2.1: auth-scheme = token.
const AUTH_SCHEME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/** RFC 7617 §2 forbids CTLs (RFC 5234: 0x00-0x1F, 0x7F); C1 controls (U+0080-U+009F) too. */
function hasControlChar(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x20 || b === 0x7f) return true;
    // In valid UTF-8, U+0080-U+009F is exactly C2 80 … C2 9F, and C2 is always a lead byte.
    if (b === 0xc2 && bytes[i + 1]! <= 0x9f) return true;
  }
  return false;
}

/**
 * Reads an Authorization value: `skip` unless its scheme is Basic (any case), otherwise
 * exactly `Basic <token68>` with canonical base64 of valid UTF-8 `user:password`.
 */
export function parseBasicCredentials(value: string | readonly string[] | undefined): ParsedBasicCredentials {
  if (value === undefined || value === '') return SKIP;
  // Node folds Authorization to one string; an array means something upstream of us
  // changed that, and guessing which one is meant is what §12 forbids.
  if (typeof value !== 'string') return malformed('malformed-header');
  const scheme = AUTH_SCHEME_RE.exec(value)?.[0];
  if (scheme === undefined || scheme.toLowerCase() !== 'basic') return SKIP;
  const rest = value.slice(scheme.length);
  // RFC 7617 §2: credentials = "Basic" SP token68 — one space, then the token.
  if (!rest.startsWith(' ')) return malformed('malformed-header');
  const token = rest.slice(1);
  if (token.length > MAX_BASIC_TOKEN_LENGTH) return malformed('malformed-too-long');
  // Buffer.from(…, 'base64') skips whitespace and junk, accepts base64url and missing
  // padding; only a token that re-encodes to itself is the canonical encoding of its bytes.
  if (!BASE64_RE.test(token)) return malformed('malformed-base64');
  const bytes = Buffer.from(token, 'base64');
  if (bytes.toString('base64') !== token) return malformed('malformed-base64');
  // The same check as TextDecoder's fatal mode, without materializing the password as a string.
  if (!isUtf8(bytes)) return malformed('malformed-utf8');
  // 0x3A never occurs inside a multi-byte UTF-8 sequence: the first ':' byte is the first
  // ':' character. The user-id cannot contain one (RFC 7617 §2); the password can.
  const colon = bytes.indexOf(0x3a);
  if (colon < 0) return malformed('malformed-no-colon');
  if (colon === 0) return malformed('malformed-empty-user');
  if (hasControlChar(bytes)) return malformed('malformed-control-char');
  return { kind: 'credentials', user: bytes.toString('utf8', 0, colon), password: bytes.subarray(colon + 1) };
}

function quotedString(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

function checkPositiveInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`basic authenticator: ${what} must be a positive integer`);
}

function createPendingCounter() {
  const counts = new Map<string, number>();
  return {
    count: (key: string): number => counts.get(key) ?? 0,
    hold(...keys: string[]): void {
      for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    },
    release(...keys: string[]): void {
      for (const k of keys) {
        const n = counts.get(k)! - 1;
        if (n > 0) counts.set(k, n);
        else counts.delete(k);
      }
    },
  };
}

/** The dummy an unknown user is verified against: like the most common family's hashes. */
async function buildDummy(users: ReadonlyMap<string, string>): Promise<string> {
  const byFamily = new Map<string, { count: number; sample: string }>();
  for (const hash of users.values()) {
    const family = hashFamily(hash);
    const seen = byFamily.get(family);
    if (seen === undefined) byFamily.set(family, { count: 1, sample: hash });
    else seen.count += 1;
  }
  let best: { count: number; sample: string } | undefined;
  for (const f of byFamily.values()) if (best === undefined || f.count > best.count) best = f;
  // No users: every name is unknown, so there is nothing to hide, but a check still costs
  // what a default bcrypt check costs rather than inviting a flood of cheap requests.
  return best === undefined ? hashPassword(randomBytes(32), 'bcrypt') : dummyHashLike(best.sample);
}

export async function createBasicAuthenticator(opts: BasicAuthenticatorOptions, deps: BasicAuthenticatorDeps): Promise<Authenticator & PasswordChecker> {
  const { name, realm, users, groups, throttle } = opts;
  if (typeof name !== 'string' || name === '') throw new TypeError('basic authenticator: name must be a non-empty string');
  // Sent in a WWW-Authenticate quoted-string (RFC 9110 §5.6.4): printable ASCII or
  // obs-text (U+00A0-U+00FF, sent by Node as one byte each). Control characters would
  // split or break the header; anything above U+00FF makes Node throw when answering.
  if (!/^[\x20-\x7e\xa0-\xff]*$/.test(realm)) {
    throw new RangeError(`basic authenticator ${name}: realm must be printable Latin-1 text without control characters`);
  }
  if (!(throttle.windowMs > 0) || !Number.isFinite(throttle.windowMs)) {
    throw new RangeError(`basic authenticator: throttle.windowMs must be a positive number`);
  }
  checkPositiveInteger(throttle.maxFailuresPerUserAndIp, 'throttle.maxFailuresPerUserAndIp');
  checkPositiveInteger(throttle.maxFailuresPerIp, 'throttle.maxFailuresPerIp');
  checkPositiveInteger(throttle.slowdownAfterUserFailures, 'throttle.slowdownAfterUserFailures');
  for (const [user, hash] of users) {
    // The name is not secret; the hash is, and is never quoted.
    if (hashScheme(hash) === undefined) throw new Error(`basic authenticator ${name}: user ${JSON.stringify(user)} has an unsupported hash scheme`);
  }

  const cache = createCredentialCache(opts.cache);
  const dummy = await buildDummy(users);
  const sleep = deps.sleep ?? ((ms: number) => delay(ms));
  const verify = deps.verify ?? verifyPassword;
  const { attempts } = deps;
  const reportError = (where: 'attempt-store' | 'verify', err: unknown): void => {
    try {
      deps.onError?.(where, err);
    } catch {
      // A broken reporter must not turn a decision into a crash.
    }
  };

  const prefix = `basic:${encodeURIComponent(name)}`;
  // Names can be long or odd and would sit in Redis in clear; a digest is short and fixed.
  const digestOf = (user: string): string => createHash('sha256').update(user, 'utf8').digest('base64url');
  const knownDigests = new Map([...users.keys()].map((u) => [u, digestOf(u)]));
  const userDigest = (user: string): string => knownDigests.get(user) ?? digestOf(user);

  const NONE = { failures: 0, resetInMs: 0 };
  const peek = async (key: string): Promise<{ failures: number; resetInMs: number }> => {
    try {
      return await attempts.peek(key);
    } catch (err) {
      reportError('attempt-store', err);
      return NONE;
    }
  };
  const record = async (key: string): Promise<void> => {
    try {
      await attempts.recordFailure(key, throttle.windowMs);
    } catch (err) {
      reportError('attempt-store', err);
    }
  };
  const clear = async (key: string): Promise<void> => {
    try {
      await attempts.clear(key);
    } catch (err) {
      reportError('attempt-store', err);
    }
  };

  // Verifications under way, per throttle key. Without them, N guesses sent at once all
  // peek before any failure is recorded and all get verified: the limits would only bind
  // an attacker polite enough to wait for each answer. A pending verification counts as a
  // failure until its outcome is known. Per process: instances sharing a store can still
  // overlap by what each has in flight.
  const pending = createPendingCounter();
  const inFlight = new Map<string, Promise<AuthResult>>();
  const credentialId = createCredentialDigest();

  // Built once per user: the identity of a warm request costs a map lookup.
  const identities = new Map<string, Identity>(
    [...users.keys()].map((user) => [
      user,
      Object.freeze({
        user,
        groups: Object.freeze([...(groups.get(user) ?? [])]),
        scopes: Object.freeze([]),
        claims: Object.freeze({}),
        method: 'basic' as const,
        authenticator: name,
      }),
    ]),
  );
  const identityOf = (user: string): Identity => identities.get(user)!;

  const fail = (reason: string, code: ErrorCode, retryAfter?: number): AuthResult =>
    retryAfter === undefined ? { outcome: 'fail', reason, code } : { outcome: 'fail', reason, code, retryAfter };
  // One frozen object for both wrong password and unknown user: nothing can differ.
  const INVALID: AuthResult = Object.freeze({
    outcome: 'fail',
    reason: 'invalid-credentials',
    code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS',
  });

  async function check(user: string, password: Buffer, clientIp: string): Promise<AuthResult> {
    const ud = userDigest(user);
    const ip = clientKey(clientIp);
    const userIpKey = `${prefix}:user-ip:${ud}:${ip}`;
    const ipKey = `${prefix}:ip:${ip}`;
    const userKey = `${prefix}:user:${ud}`;

    // Throttle first: a blocked client gets no verification, not even a cached one,
    // so a guess made while blocked is never confirmed.
    const [userIp, byIp] = await Promise.all([peek(userIpKey), peek(ipKey)]);
    // No await from here to pending.hold(): checking and admitting are one step.
    const blocked = (extraUserIp: number, extraIp: number): AuthResult | undefined => {
      const resets: number[] = [];
      if (userIp.failures + extraUserIp >= throttle.maxFailuresPerUserAndIp) resets.push(userIp.resetInMs);
      if (byIp.failures + extraIp >= throttle.maxFailuresPerIp) resets.push(byIp.resetInMs);
      if (resets.length === 0) return undefined;
      return fail('throttled', 'GATEHOUSE_ERR_AUTH_THROTTLED', Math.max(1, Math.ceil(Math.max(...resets) / 1000)));
    };
    const inForce = blocked(0, 0);
    if (inForce !== undefined) return inForce;

    const stored = users.get(user);
    const hash = stored ?? dummy;
    // Computed for unknown users too (the dummy is never cached), to keep both paths alike.
    if (cache.has(user, password, hash) && stored !== undefined) {
      if (userIp.failures > 0) await clear(userIpKey);
      return { outcome: 'ok', identity: identityOf(user), consumed: 'authorization' };
    }

    // The same credential already being verified (a browser's parallel first requests,
    // or an attacker repeating one guess): share that answer; it is one guess, not many.
    const id = credentialId(user, password, hash);
    const running = inFlight.get(id);
    if (running !== undefined) return running;

    const overLimit = blocked(pending.count(userIpKey), pending.count(ipKey));
    if (overLimit !== undefined) return overLimit;
    pending.hold(userIpKey, ipKey);
    const attempt = async (): Promise<AuthResult> => {
      // The slowdown depends on the name only, never on whether it exists (no oracle).
      // Looked up here, off the warm (cached) path.
      const byUser = await peek(userKey);
      const wait = slowdownDelayMs(byUser.failures, throttle.slowdownAfterUserFailures);
      if (wait > 0) await sleep(wait);
      let valid: boolean;
      try {
        valid = await verify(hash, password);
      } catch (err) {
        reportError('verify', err);
        return fail('verify-error', 'GATEHOUSE_ERR_INTERNAL');
      }
      if (valid && stored !== undefined) {
        cache.add(user, password, stored);
        await clear(userIpKey);
        return { outcome: 'ok', identity: identityOf(user), consumed: 'authorization' };
      }
      await Promise.all([record(userIpKey), record(ipKey), record(userKey)]);
      return INVALID;
    };
    // `finally` runs asynchronously even for a settled promise, so the entry is always
    // set before it is deleted. Released only after any failure is in the store: a
    // guess is always counted by the store or by `pending`, never by neither.
    const run = attempt().finally(() => {
      pending.release(userIpKey, ipKey);
      inFlight.delete(id);
    });
    inFlight.set(id, run);
    return run;
  }

  const authenticator: Authenticator & PasswordChecker = {
    name,
    type: 'basic',
    challenge: `Basic realm=${quotedString(realm)}, charset="UTF-8"`,

    async authenticate(facts: RequestFacts): Promise<AuthResult> {
      const parsed = parseBasicCredentials(facts.headers.authorization);
      if (parsed.kind === 'skip') return { outcome: 'skip' };
      if (parsed.kind === 'malformed') return fail(parsed.reason, 'GATEHOUSE_ERR_AUTH_MALFORMED_CREDENTIALS');
      return check(parsed.user, parsed.password, facts.clientIp);
    },

    // The sign-in form's way in: the same throttle, dummy hash and cache as the header.
    async checkPassword(user: string, password: string, clientIp: string): Promise<AuthResult> {
      if (user === '' || user.includes(':') || /[\x00-\x1f\x7f]/.test(user) || /[\x00-\x1f\x7f]/.test(password)) return INVALID;
      const result = await check(user, Buffer.from(password, 'utf8'), clientIp);
      return result.outcome === 'ok' ? { ...result, consumed: 'none' } : result;
    },

    async close() {
      cache.clear();
    },
  };
  return authenticator;
}
