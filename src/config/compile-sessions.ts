// `sessions` and `login` → a session manager, its store, and the sign-in providers.
// The store outlives a reload when its settings did not change (sessions are never lost
// to a SIGHUP): a new generation adopts the running one's store instead of opening another.
import { randomBytes } from 'node:crypto';
import { isLoopbackHost } from '../loopback.js';
import { createCsrfTokens } from '../login/csrf.js';
import { createFormProvider } from '../login/form.js';
import { createOidcProvider } from '../login/oidc.js';
import type { CsrfTokens, LoginProvider, PasswordChecker } from '../login/types.js';
import { createFallbackAttemptStore, createMemoryAttemptStore, type AttemptStore } from '../pipeline/authenticate/attempts.js';
import type { Authenticator } from '../pipeline/types.js';
import type { CookieSettings } from '../sessions/cookie.js';
import { createSessionManager, type SessionManager } from '../sessions/manager.js';
import { createMemorySessionStore } from '../sessions/memory-store.js';
import { createRedisAttemptStore } from '../sessions/redis-attempts.js';
import { createRedisSessionStore, type RedisSessionStoreOptions } from '../sessions/redis-store.js';
import type { SessionStore } from '../sessions/types.js';
import type { LoadedConfig } from './load.js';
import type { SessionsConfig } from './schema.js';

type KeyPath = readonly (string | number)[];

/** A store shared by the config generations that adopted it; closed with the last one. */
export interface SharedStore {
  readonly key: string;
  readonly store: SessionStore;
  /** Throttle counters shared by instances (Redis only). */
  readonly attempts: AttemptStore | undefined;
  /** The random secret of a config without `sessions.secret`, kept across reloads. */
  readonly generatedSecret: Buffer | undefined;
  adopt(): void;
  release(): Promise<void>;
}

export interface CompiledSessions {
  readonly manager: SessionManager;
  readonly shared: SharedStore;
  readonly csrf: CsrfTokens;
  /** True when no `sessions.secret` was configured (a random one per start). */
  readonly secretGenerated: boolean;
}

function hostPort(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':');
  const host = value.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(value.slice(i + 1)) };
}

function redisOptions(spec: NonNullable<SessionsConfig['redis']>): RedisSessionStoreOptions {
  const base = { keyPrefix: spec.keyPrefix, ...(spec.password === undefined ? {} : { password: spec.password }) };
  if (spec.url !== undefined) return { ...base, url: spec.url };
  if (spec.sentinels !== undefined) return { ...base, sentinels: spec.sentinels.map(hostPort), name: spec.name! };
  return { ...base, cluster: spec.cluster!.map(hostPort) };
}

function shareStore(key: string, store: SessionStore, attempts: AttemptStore | undefined, generatedSecret: Buffer | undefined): SharedStore {
  let refs = 1;
  return {
    key,
    store,
    attempts,
    generatedSecret,
    adopt() {
      refs += 1;
    },
    async release() {
      refs -= 1;
      if (refs === 0) await store.close();
    },
  };
}

/** Checks `sessions` for what the schema cannot express; problems go to `problem`. */
export function checkSessions(spec: SessionsConfig, problem: (path: KeyPath, message: string) => void): void {
  const cookie = spec.cookie;
  if (cookie.name.startsWith('__Host-')) {
    // RFC 6265bis §4.1.3.2: __Host- cookies are Secure, Path=/ and carry no Domain.
    if (!cookie.secure) problem(['sessions', 'cookie', 'secure'], 'must be true for a cookie named __Host-… (browsers refuse it otherwise); rename the cookie for plain-HTTP testing');
    if (cookie.domain !== null) problem(['sessions', 'cookie', 'domain'], 'must be null for a cookie named __Host-…; rename the cookie to share it with sub-domains');
  }
  if (cookie.name.startsWith('__Secure-') && !cookie.secure) problem(['sessions', 'cookie', 'secure'], 'must be true for a cookie named __Secure-…');
  if (cookie.sameSite === 'none' && !cookie.secure) problem(['sessions', 'cookie', 'sameSite'], 'none requires secure: true (browsers refuse it otherwise)');
  if (spec.maxAge < 1000) problem(['sessions', 'maxAge'], 'must be at least 1s (cookies count lifetimes in whole seconds)');
  if (spec.idleTimeout > spec.maxAge) problem(['sessions', 'idleTimeout'], 'must not exceed maxAge');
  if (spec.store === 'redis') {
    const redis = spec.redis;
    if (!redis) problem(['sessions', 'redis'], 'is required when store is redis');
    else {
      const kinds = [redis.url, redis.sentinels, redis.cluster].filter((v) => v !== undefined).length;
      if (kinds !== 1) problem(['sessions', 'redis'], 'needs exactly one of url, sentinels (with name) or cluster');
      if (redis.sentinels !== undefined && redis.name === undefined) problem(['sessions', 'redis', 'name'], 'is required with sentinels (the master name)');
      if (redis.name !== undefined && redis.sentinels === undefined) problem(['sessions', 'redis', 'name'], 'is only used with sentinels');
    }
    if (spec.secret === undefined) problem(['sessions', 'secret'], 'is required with the redis store: every instance must verify the cookies the others sign (use ${env:GATEHOUSE_SESSION_SECRET})');
  } else if (spec.redis !== undefined) problem(['sessions', 'redis'], 'is only used when store is redis');
}

export interface SessionsDeps {
  /** The running generation's store (reload): adopted when its settings are unchanged. */
  readonly previous?: SharedStore;
}

export function compileSessions(spec: SessionsConfig, deps: SessionsDeps): CompiledSessions {
  const storeSettings = spec.store === 'redis' ? { store: 'redis', redis: spec.redis } : { store: 'memory' };
  const key = JSON.stringify({ ...storeSettings, secretGenerated: spec.secret === undefined });
  let shared: SharedStore;
  if (deps.previous && deps.previous.key === key) {
    deps.previous.adopt();
    shared = deps.previous;
  } else if (spec.store === 'redis') {
    const { store, client } = createRedisSessionStore(redisOptions(spec.redis!));
    const attempts = createFallbackAttemptStore(createRedisAttemptStore(client, `${spec.redis!.keyPrefix}throttle:`), createMemoryAttemptStore());
    shared = shareStore(key, store, attempts, undefined);
  } else {
    shared = shareStore(key, createMemorySessionStore(), undefined, spec.secret === undefined ? randomBytes(32) : undefined);
  }
  const secrets = spec.secret === undefined ? [shared.generatedSecret!] : (Array.isArray(spec.secret) ? spec.secret : [spec.secret]).map((s: string) => Buffer.from(s, 'utf8'));
  const cookie: CookieSettings = {
    name: spec.cookie.name,
    secure: spec.cookie.secure,
    sameSite: spec.cookie.sameSite,
    ...(spec.cookie.domain === null ? {} : { domain: spec.cookie.domain }),
  };
  const manager = createSessionManager({ store: shared.store, cookie, secrets, maxAgeMs: spec.maxAge, idleTimeoutMs: spec.idleTimeout });
  return { manager, shared, csrf: createCsrfTokens(secrets), secretGenerated: spec.secret === undefined };
}

export interface ProvidersInput {
  readonly loaded: LoadedConfig;
  readonly sessions: CompiledSessions;
  readonly authenticators: ReadonlyMap<string, Authenticator>;
  readonly publicOrigins: readonly string[];
  problem(path: KeyPath, message: string): void;
}

/** `login.providers` → providers by name; problems name the provider's key. */
export function compileLoginProviders(input: ProvidersInput): Map<string, LoginProvider> {
  const login = input.loaded.input.login;
  const providers = new Map<string, LoginProvider>();
  if (!login) return providers;
  const cookie = input.sessions.manager.settings.cookie;
  for (const [name, spec] of Object.entries(login.providers)) {
    const base: KeyPath = ['login', 'providers', name];
    if (spec.type === 'form') {
      const target = input.loaded.input.authenticators[spec.authenticator];
      const checker = input.authenticators.get(spec.authenticator) as (Authenticator & Partial<PasswordChecker>) | undefined;
      if (target?.type !== 'basic') {
        input.problem([...base, 'authenticator'], `must name a basic authenticator (${target ? `"${spec.authenticator}" is ${target.type}` : `no authenticator "${spec.authenticator}"`})`);
        continue;
      }
      if (!checker?.checkPassword) continue; // its own problems are reported already
      providers.set(name, createFormProvider({ name, label: spec.label ?? 'Sign in with a password', checker: checker as PasswordChecker, cookie }));
      continue;
    }
    let ok = true;
    const problem = (path: KeyPath, message: string): void => {
      ok = false;
      input.problem(path, message);
    };
    if (!spec.scopes.includes('openid')) problem([...base, 'scopes'], 'must include openid');
    if (input.publicOrigins.length === 0) problem(['publicUrl'], `is required by the oidc provider "${name}": its redirect_uri is built from publicUrl, never from a client's Host header`);
    if (new URL(spec.issuer).protocol === 'http:' && !isLoopbackHost(new URL(spec.issuer).hostname)) problem([...base, 'issuer'], 'must be https (plain http only for a loopback issuer in local tests)');
    if (!ok) continue;
    try {
      providers.set(
        name,
        createOidcProvider({
          name,
          label: spec.label ?? `Sign in with ${name}`,
          issuer: spec.issuer,
          clientId: spec.clientId,
          ...(spec.clientSecret === undefined ? {} : { clientSecret: spec.clientSecret }),
          scopes: spec.scopes,
          claims: {
            user: spec.claims.user,
            ...(spec.claims.email === undefined ? {} : { email: spec.claims.email }),
            ...(spec.claims.name === undefined ? {} : { name: spec.claims.name }),
            ...(spec.claims.groups === undefined ? {} : { groups: spec.claims.groups }),
          },
          userinfo: spec.userinfo,
          store: input.sessions.shared.store,
          cookie,
          refreshBeforeMs: spec.refreshBefore,
          timeoutMs: spec.timeout,
        }),
      );
    } catch (error) {
      input.problem(base, (error as Error).message);
    }
  }
  return providers;
}
