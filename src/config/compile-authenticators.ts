// One compiler per authenticator type: config input → a ready Authenticator, or
// diagnostics naming the key. Key material is parsed here, at load, never per request.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isHmacAlgorithm, isSupportedAlgorithm } from '../jwt/algorithms.js';
import { keySetFromText } from '../jwt/key-set.js';
import type { KeySet } from '../jwt/key-set.js';
import { createRemoteJwks, type RemoteJwks, type RemoteJwksEvent } from '../jwt/remote-jwks.js';
import { hashScheme } from '../passwords.js';
import type { AttemptStore } from '../pipeline/authenticate/attempts.js';
import { createBasicAuthenticator } from '../pipeline/authenticate/basic.js';
import { parseHtpasswd } from '../pipeline/authenticate/htpasswd.js';
import { createIntrospectionAuthenticator } from '../pipeline/authenticate/introspection.js';
import { createJwtAuthenticator, type JwtAuthenticatorOptions } from '../pipeline/authenticate/jwt.js';
import { createSessionAuthenticator } from '../pipeline/authenticate/session.js';
import type { Authenticator } from '../pipeline/types.js';
import type { LoginProvider } from '../login/types.js';
import type { CompiledSessions } from './compile-sessions.js';
import type { LoadedConfig } from './load.js';
import type { AuthenticatorConfig, BasicAuthenticatorConfig, IntrospectionAuthenticatorConfig, JwtAuthenticatorConfig } from './schema.js';

type KeyPath = readonly (string | number)[];

export interface AuthenticatorContext {
  readonly loaded: LoadedConfig;
  problem(path: KeyPath, message: string): void;
  readonly attempts: AttemptStore;
  /** Remote JWKS refreshes and failures, for logs and metrics. */
  readonly onJwksEvent?: (authenticator: string, event: RemoteJwksEvent) => void;
  /** Keys the running generation holds for a JWKS URL (reload), served until a fetch succeeds. */
  readonly previousJwks?: (url: string) => KeySet | undefined;
  /** Every remote JWKS created, by URL, so the next reload can carry their keys over. */
  readonly remoteJwks: Map<string, RemoteJwks>;
  /** Sessions, when configured; a session authenticator needs them. */
  readonly sessions?: CompiledSessions | undefined;
  /** Sign-in providers by name, filled once compiled (OIDC renewal of sessions they made). */
  readonly providers?: ReadonlyMap<string, LoginProvider>;
  /** Session-store failures turned into 503, for logs. */
  readonly onSessionError?: (where: string, err: unknown) => void;
}

// RFC 7518 §3.2: an HMAC key at least as long as the hash output.
const HS_MIN_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

async function compileBasic(name: string, spec: BasicAuthenticatorConfig, ctx: AuthenticatorContext): Promise<Authenticator | undefined> {
  const base: KeyPath = ['authenticators', name];
  let ok = true;
  const problem = (path: KeyPath, message: string): void => {
    ok = false;
    ctx.problem(path, message);
  };
  const users = new Map<string, string>();
  if (spec.htpasswd !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(resolve(ctx.loaded.dir, spec.htpasswd), 'utf8');
    } catch {
      problem([...base, 'htpasswd'], `cannot read htpasswd file ${spec.htpasswd}`);
    }
    if (text !== undefined) {
      const parsed = parseHtpasswd(text);
      for (const e of parsed.errors) problem([...base, 'htpasswd'], `${spec.htpasswd}:${e.line}: ${e.message}`);
      for (const [user, hash] of parsed.entries) users.set(user, hash);
    }
  }
  (spec.users ?? []).forEach((u, i) => {
    if (hashScheme(u.hash) === undefined) problem([...base, 'users', i, 'hash'], 'unsupported hash scheme (accepted: bcrypt $2a$/$2b$/$2y$, argon2id); make one with `gatehouse hash-password`');
    else if (users.has(u.name)) problem([...base, 'users', i, 'name'], `user "${u.name}" is defined twice`);
    else users.set(u.name, u.hash);
  });
  if (users.size === 0) problem(base, 'defines no users (set htpasswd or users)');
  if (!ok) return undefined;
  return createBasicAuthenticator(
    {
      name,
      realm: spec.realm,
      users,
      groups: new Map<string, readonly string[]>(Object.entries(spec.groups ?? {})),
      throttle: {
        windowMs: spec.throttle.window,
        maxFailuresPerUserAndIp: spec.throttle.maxFailuresPerUserAndIp,
        maxFailuresPerIp: spec.throttle.maxFailuresPerIp,
        slowdownAfterUserFailures: spec.throttle.slowdownAfterUserFailures,
      },
      cache: { maxEntries: spec.cache.maxEntries, ttlMs: spec.cache.ttl },
    },
    { attempts: ctx.attempts },
  );
}

function compileJwt(name: string, spec: JwtAuthenticatorConfig, ctx: AuthenticatorContext): Authenticator | undefined {
  const base: KeyPath = ['authenticators', name];
  let ok = true;
  const problem = (path: KeyPath, message: string): void => {
    ok = false;
    ctx.problem(path, message);
  };
  const sources = (['jwks', 'keys', 'secret'] as const).filter((k) => spec[k] !== undefined);
  if (sources.length !== 1) problem(base, sources.length === 0 ? 'needs one of jwks, keys or secret' : `sets ${sources.join(' and ')}; use exactly one of jwks, keys or secret`);

  const algorithms = [...new Set(spec.algorithms)];
  const symmetric = algorithms.filter((a) => isHmacAlgorithm(a));
  const asymmetric = algorithms.filter((a) => !isHmacAlgorithm(a));
  algorithms.forEach((alg) => {
    if (!isSupportedAlgorithm(alg)) problem([...base, 'algorithms'], `algorithm ${alg} is not supported`);
  });
  // An HS key and a public key never share an authenticator: no HS/RS confusion (security.md §6).
  if (spec.secret !== undefined && asymmetric.length > 0) problem([...base, 'algorithms'], `${asymmetric.join(', ')} need a public key (jwks or keys), not a secret`);
  if (spec.secret === undefined && symmetric.length > 0) problem([...base, 'algorithms'], `${symmetric.join(', ')} need a shared secret (secret), not public keys`);

  let keys: JwtAuthenticatorOptions['keys'] | undefined;
  if (spec.secret !== undefined) {
    const secret = Buffer.from(spec.secret, 'utf8');
    const need = Math.max(0, ...symmetric.map((a) => HS_MIN_BYTES[a] ?? 0));
    if (secret.length < need) problem([...base, 'secret'], `must be at least ${need} bytes for ${symmetric.join(', ')} (RFC 7518 §3.2)`);
    keys = { kind: 'secret', secret };
  } else if (spec.keys !== undefined) {
    const parsed = keySetFromText(spec.keys);
    if ('error' in parsed) problem([...base, 'keys'], parsed.error);
    else keys = { kind: 'static', keySet: parsed.keySet };
  } else if (spec.jwks !== undefined) {
    const initial = ctx.previousJwks?.(spec.jwks);
    const jwks = createRemoteJwks({
      url: spec.jwks,
      refreshIntervalMs: spec.jwksRefresh.interval,
      cooldownMs: spec.jwksRefresh.cooldown,
      timeoutMs: spec.jwksRefresh.timeout,
      onEvent: (event) => ctx.onJwksEvent?.(name, event),
      ...(initial ? { initial } : {}),
    });
    ctx.remoteJwks.set(spec.jwks, jwks);
    keys = { kind: 'remote', jwks };
  }
  const audience = Array.isArray(spec.audience) ? spec.audience : spec.audience === 'any' ? 'any' : [spec.audience];
  if (!ok || !keys) {
    if (keys?.kind === 'remote') void keys.jwks.close();
    return undefined;
  }
  return createJwtAuthenticator({
    name,
    realm: spec.realm,
    algorithms,
    keys,
    issuer: spec.issuer,
    audience: audience as readonly string[] | 'any',
    clockToleranceMs: spec.clockTolerance,
    claims: spec.claims,
    cache: { maxEntries: spec.cache.maxEntries },
  });
}

function compileIntrospection(name: string, spec: IntrospectionAuthenticatorConfig): Authenticator {
  return createIntrospectionAuthenticator({
    name,
    realm: spec.realm,
    endpoint: spec.endpoint,
    clientId: spec.clientId,
    clientSecret: spec.clientSecret,
    cacheTtlMs: spec.cacheTtl,
    timeoutMs: spec.timeout,
    claims: spec.claims,
    cache: { maxEntries: spec.cache.maxEntries },
    ...(spec.tls ? { tls: spec.tls } : {}),
  });
}

export async function compileAuthenticator(name: string, spec: AuthenticatorConfig, ctx: AuthenticatorContext): Promise<Authenticator | undefined> {
  try {
    switch (spec.type) {
      case 'basic':
        return await compileBasic(name, spec, ctx);
      case 'jwt':
        return compileJwt(name, spec, ctx);
      case 'introspection':
        return compileIntrospection(name, spec);
      case 'session':
        // Without sessions their own problem is reported (sessions or login misconfigured).
        if (!ctx.sessions) return undefined;
        return createSessionAuthenticator({ name, manager: ctx.sessions.manager, providers: ctx.providers ?? new Map(), ...(ctx.onSessionError ? { onError: ctx.onSessionError } : {}) });
    }
  } catch (error) {
    // The factories refuse what the schema cannot express (e.g. introspection over plain
    // http to a non-loopback host); their messages name no secret and no key material.
    ctx.problem(['authenticators', name], (error as Error).message);
    return undefined;
  }
}
