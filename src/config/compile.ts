// Compile at load, execute at request (architecture.md principle 1): the validated input
// becomes frozen matchers, authenticators, header rules and listeners. Every problem is
// collected with its file:line:column so `gatehouse check` reports them all at once;
// `serve`, reload and `check` run this same function.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { createSecureContext } from 'node:tls';
import type { KeySet } from '../jwt/key-set.js';
import type { RemoteJwks, RemoteJwksEvent } from '../jwt/remote-jwks.js';
import { createMemoryAttemptStore, type AttemptStore } from '../pipeline/authenticate/attempts.js';
import { createAssertionSigner, type AssertionSigner } from '../pipeline/headers/assertion.js';
import { compileAllow } from '../pipeline/authorize/allow.js';
import { HEADER_NAME, canonicalHeaderName } from '../pipeline/headers/canonical.js';
import { compileTemplate, type CompiledTemplate } from '../pipeline/headers/template.js';
import { createHeaderPolicy } from '../pipeline/headers/upstream-headers.js';
import { compileMatch } from '../pipeline/match/compile-match.js';
import { findShadowed } from '../pipeline/match/shadow.js';
import { normalizeConfigPath } from '../pipeline/normalize/target.js';
import type { CompiledRoute, Policy, RouteAuth, UpstreamTarget } from '../pipeline/policy.js';
import { compileTrustedProxies, parseCidr, type TrustedPeer } from '../pipeline/trusted-proxies.js';
import type { Authenticator } from '../pipeline/types.js';
import { compileAuthenticator } from './compile-authenticators.js';
import { checkSessions, compileLoginProviders, compileSessions, type CompiledSessions } from './compile-sessions.js';
import { createLoginRouter, type LoginRouter } from '../login/router.js';
import type { LoginProvider } from '../login/types.js';
import { helperCookieName } from '../sessions/cookie.js';
import type { SessionsConfig } from './schema.js';
import { ConfigError, formatDiagnostic, type Diagnostic } from './diagnostics.js';
import type { LoadedConfig } from './load.js';

type KeyPath = readonly (string | number)[];

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface Limits {
  readonly headerBytes: number;
  readonly headerCount: number;
  readonly targetBytes: number;
  readonly headersTimeoutMs: number;
  readonly bodyBytes: number;
}

export interface UpstreamTlsOptions {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized: boolean;
}

export interface CompiledConfig {
  readonly file: string;
  /** sha256 of the effective configuration, for logs and metrics. */
  readonly hash: string;
  readonly listen: ListenAddress;
  readonly admin: ListenAddress | undefined;
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  readonly limits: Limits;
  /** Origins of `publicUrl` (scheme://host[:port]); Locations are rewritten to them. */
  readonly publicOrigins: readonly string[];
  readonly trustedPeer: TrustedPeer;
  readonly policy: Policy;
  readonly authenticators: ReadonlyMap<string, Authenticator>;
  readonly logLevel: string;
  /** Worker processes to run (`auto` resolved to this machine's cores); 1: no cluster. */
  readonly workers: number;
  /** Reload when the config file changes. */
  readonly watch: boolean;
  /** Grace period of a graceful shutdown. */
  readonly shutdownTimeoutMs: number;
  /** TLS settings per upstream origin (https upstreams only). */
  readonly upstreamTls: ReadonlyMap<string, UpstreamTlsOptions>;
  /** Remote JWKS of this generation by URL (owned by their authenticators). */
  readonly remoteJwks: ReadonlyMap<string, RemoteJwks>;
  /** Present when a session authenticator or a sign-in provider is configured. */
  readonly sessions: CompiledSessions | undefined;
  readonly login: CompiledLogin | undefined;
  /** Things that work but deserve a look (e.g. a generated session secret); logged at start. */
  readonly warnings: readonly string[];
  close(): Promise<void>;
}

export interface CompiledLogin {
  readonly providers: ReadonlyMap<string, LoginProvider>;
  readonly allowedRedirectHosts: readonly string[];
  /** /.gatehouse/login, /callback, /logout, /backchannel-logout. */
  readonly router: LoginRouter;
}

/** `sessions` as loaded when the block is absent but sessions are needed (config.md defaults). */
const DEFAULT_SESSIONS: SessionsConfig = {
  store: 'memory',
  cookie: { name: '__Host-gatehouse', secure: true, sameSite: 'lax', domain: null },
  maxAge: 12 * 3_600_000,
  idleTimeout: 3_600_000,
};

export interface CompileDeps {
  /** Shared failure counters; one per process (memory) or shared by instances (Redis). */
  readonly attempts?: AttemptStore;
  /** Remote JWKS refreshes and failures, for logs and metrics. */
  readonly onJwksEvent?: (authenticator: string, event: RemoteJwksEvent) => void;
  /** On reload: the running generation, whose JWKS keys serve until the new fetches succeed
   * and whose session store is adopted when its settings are unchanged. */
  readonly previous?: CompiledConfig;
  /** Session-store and sign-in failures turned into 503, for logs. */
  readonly onLoginError?: (where: string, err: unknown) => void;
}

const RESERVED_TEMPLATE_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'keep-alive', 'authorization', 'cookie', 'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip']);

export function parseListen(value: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  if (m[2] !== undefined && host !== '' && isIP(host) === 0 && !/^[A-Za-z0-9.-]+$/.test(host)) return undefined;
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** Parses PEM material the way the TLS stack will, so a bad file fails `check`, not `serve`. */
function tlsProblem(options: { ca?: string; cert?: string; key?: string }): string | undefined {
  try {
    createSecureContext(options);
    return undefined;
  } catch (error) {
    // OpenSSL's reason ("key values mismatch", "no start line"), never the PEM text.
    const reason = String((error as { reason?: string }).reason ?? (error as Error).message).replace(/-----BEGIN[\s\S]*/, '');
    return `is not usable for TLS (${reason})`;
  }
}

function originOf(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

function describeAllow(allow: Readonly<Record<string, unknown>> | undefined): string[] {
  if (!allow) return [];
  return Object.entries(allow).map(([key, value]) =>
    key === 'claims'
      ? `claims: ${Object.entries(value as Record<string, unknown>).map(([path, v]) => `${path} = ${[v].flat().join(' | ')}`).join(', ')}`
      : `${key}: ${(value as unknown[]).join(' | ')}`,
  );
}

export async function compileConfig(loaded: LoadedConfig, deps: CompileDeps = {}): Promise<CompiledConfig> {
  const input = loaded.input;
  const diagnostics: Diagnostic[] = [];
  const problem = (path: KeyPath, message: string): void => {
    diagnostics.push(loaded.diagnostic(path, message));
  };

  const listen = parseListen(input.listen);
  if (!listen) problem(['listen'], 'must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080');
  let admin: ListenAddress | undefined;
  if (input.admin !== false) {
    admin = parseListen(input.admin.listen);
    if (!admin) problem(['admin', 'listen'], 'must be host:port, e.g. 127.0.0.1:9090');
    else if (listen && admin.port !== 0 && admin.port === listen.port && admin.host === listen.host) problem(['admin', 'listen'], 'must differ from listen');
  }

  const publicUrls = input.publicUrl === undefined ? [] : Array.isArray(input.publicUrl) ? input.publicUrl : [input.publicUrl];
  const publicOrigins: string[] = [];
  publicUrls.forEach((raw, i) => {
    const path = Array.isArray(input.publicUrl) ? ['publicUrl', i] : ['publicUrl'];
    try {
      const url = new URL(raw);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') problem(path, 'must be an http or https URL');
      else if (url.username || url.password || url.search || url.hash) problem(path, 'must not carry credentials, a query or a fragment');
      else publicOrigins.push(originOf(url));
    } catch {
      problem(path, 'must be an absolute URL such as https://app.example.com');
    }
  });

  if (input.tls) {
    const bad = tlsProblem(input.tls);
    if (bad) problem(['tls'], `certificate and key ${bad}`);
  }

  input.trustedProxies.forEach((entry, i) => {
    if (!parseCidr(entry)) problem(['trustedProxies', i], 'must be an IP address or CIDR range such as 10.0.0.0/8');
  });

  const stripPrefixes = input.identity.stripPrefixes;
  stripPrefixes.forEach((p, i) => {
    if (!HEADER_NAME.test(p)) problem(['identity', 'stripPrefixes', i], 'must be the start of a header name (letters, digits, "-")');
  });
  for (const [key, name] of Object.entries(input.identity.headers)) {
    if (!HEADER_NAME.test(name)) problem(['identity', 'headers', key], 'must be a valid header name');
  }

  // Sessions: needed by session authenticators and sign-in providers.
  const warnings: string[] = [];
  const sessionAuthenticators = Object.entries(input.authenticators).filter(([, a]) => a.type === 'session').map(([n]) => n);
  let sessions: CompiledSessions | undefined;
  if (input.sessions || input.login || sessionAuthenticators.length > 0) {
    const spec = input.sessions ?? DEFAULT_SESSIONS;
    const before = diagnostics.length;
    checkSessions(spec, problem);
    if (diagnostics.length === before) {
      sessions = compileSessions(spec, deps.previous?.sessions ? { previous: deps.previous.sessions.shared } : {});
      if (sessions.secretGenerated) {
        const at = input.sessions ? ['sessions'] : ['authenticators', sessionAuthenticators[0] ?? Object.keys(input.authenticators)[0] ?? ''];
        warnings.push(formatDiagnostic(loaded.diagnostic(at, 'sessions.secret is not set; a random secret is used, so sessions end when gatehouse restarts (memory store, one process only)', 'key')));
      }
    }
  }
  for (const name of sessionAuthenticators) {
    if (!input.login) problem(['authenticators', name], 'needs login.providers: sessions are made by signing in');
  }
  // Workers share nothing but Redis: a memory store would split sessions (and sign-ins in
  // progress) between processes. `auto` counts as several whatever this machine has, so
  // that `check` gives the same answer everywhere.
  const workers = input.workers === 'auto' ? availableParallelism() : input.workers;
  const sessionsNeeded = input.sessions !== undefined || input.login !== undefined || sessionAuthenticators.length > 0;
  if (sessionsNeeded && (input.sessions ?? DEFAULT_SESSIONS).store === 'memory' && (input.workers === 'auto' || input.workers > 1)) {
    const what = input.workers === 'auto' ? '"auto" may start several worker processes; that' : 'more than one worker process';
    problem(['workers'], `${what} needs sessions.store: redis (the memory store keeps sessions in one process, where the other workers cannot see them)`);
  }

  // Authenticators
  const attempts = sessions?.shared.attempts ?? deps.attempts ?? createMemoryAttemptStore();
  const authenticators = new Map<string, Authenticator>();
  const remoteJwks = new Map<string, RemoteJwks>();
  const providers = new Map<string, LoginProvider>();
  const previousJwks = (url: string): KeySet | undefined => deps.previous?.remoteJwks.get(url)?.current();
  for (const [name, spec] of Object.entries(input.authenticators)) {
    const compiled = await compileAuthenticator(name, spec, { loaded, problem, attempts, onJwksEvent: deps.onJwksEvent, previousJwks, remoteJwks, sessions, providers, ...(deps.onLoginError ? { onSessionError: deps.onLoginError } : {}) });
    if (compiled) authenticators.set(name, compiled);
  }
  if (sessions) {
    for (const [name, provider] of compileLoginProviders({ loaded, sessions, authenticators, publicOrigins, problem })) providers.set(name, provider);
  }
  const closeAll = async (): Promise<void> => {
    await Promise.all([...authenticators.values()].map((a) => a.close?.()));
    await Promise.all([...providers.values()].map((p) => p.close?.()));
    await sessions?.shared.release();
  };

  // Identity assertion
  let assertion: AssertionSigner | undefined;
  const assertionSpec = input.identity.assertion;
  if (assertionSpec) {
    const keys = Array.isArray(assertionSpec.privateKey) ? assertionSpec.privateKey : [assertionSpec.privateKey];
    const created = await createAssertionSigner({ header: assertionSpec.header, privateKeys: keys, issuer: assertionSpec.issuer, ttlMs: assertionSpec.ttl });
    if (created.ok) assertion = created.signer;
    else {
      for (const e of created.errors) {
        const path = e.field === 'ttl' ? ['identity', 'assertion', 'ttl'] : Array.isArray(assertionSpec.privateKey) && e.index >= 0 ? ['identity', 'assertion', 'privateKey', e.index] : ['identity', 'assertion', 'privateKey'];
        problem(path, e.message);
      }
    }
  }

  // Routes
  const identityNames = new Set([...Object.values(input.identity.headers), ...(assertion ? [assertion.header] : [])].map(canonicalHeaderName));
  const templateHeaders: string[] = [];
  const upstreamTls = new Map<string, { options: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean }; route: number }>();
  const routes: CompiledRoute[] = [];
  const routeNames = new Map<string, number>();
  input.routes.forEach((r, index) => {
    const base: KeyPath = ['routes', index];
    const before = diagnostics.length;
    if (routeNames.has(r.name)) problem([...base, 'name'], `route name "${r.name}" is already used by routes[${routeNames.get(r.name)}]`);
    routeNames.set(r.name, index);

    const compiled = compileMatch(r.match);
    if (!compiled.ok) for (const e of compiled.errors) problem([...base, 'match', ...e.key.split(/[[\]]/).filter(Boolean).map((k) => (/^\d+$/.test(k) ? Number(k) : k))], e.message);

    let upstream: UpstreamTarget | undefined;
    if (r.upstream === 'echo') upstream = { kind: 'echo' };
    else {
      try {
        const url = new URL(r.upstream);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') problem([...base, 'upstream'], 'must be "echo" or an http(s) URL');
        else if (url.username || url.password || url.search || url.hash) problem([...base, 'upstream'], 'must not carry credentials, a query or a fragment');
        else {
          const basePath = url.pathname.replace(/\/+$/, '');
          const normalized = normalizeConfigPath(basePath || '/');
          if (!normalized.ok) problem([...base, 'upstream'], `path is ambiguous (${normalized.reason})`);
          upstream = { kind: 'http', origin: originOf(url), authority: url.host, basePath };
        }
      } catch {
        problem([...base, 'upstream'], 'must be "echo" or an absolute http(s) URL such as http://127.0.0.1:9000');
      }
    }
    if (r.upstreamTls) {
      if (upstream?.kind !== 'http' || !upstream.origin.startsWith('https:')) problem([...base, 'upstreamTls'], 'applies only to https upstreams');
      else {
        const options = { ...r.upstreamTls };
        const bad = tlsProblem(options);
        if (bad) problem([...base, 'upstreamTls'], bad);
        const prior = upstreamTls.get(upstream.origin);
        if (prior && JSON.stringify(prior.options) !== JSON.stringify(options)) problem([...base, 'upstreamTls'], `differs from routes[${prior.route}], which uses the same upstream origin`);
        else upstreamTls.set(upstream.origin, { options, route: index });
      }
    }

    let auth: RouteAuth | undefined;
    const names = Array.isArray(r.auth) ? r.auth : [r.auth];
    const authPath = (i: number): KeyPath => (Array.isArray(r.auth) ? [...base, 'auth', i] : [...base, 'auth']);
    if (names.length === 1 && names[0] === 'anonymous') auth = { kind: 'anonymous' };
    else if (names.length === 1 && names[0] === 'deny') auth = { kind: 'deny' };
    else {
      const list: Authenticator[] = [];
      names.forEach((n, i) => {
        if (n === 'anonymous' || n === 'deny') problem(authPath(i), `"${n}" stands alone; it cannot be combined with other authenticators`);
        else if (!(n in input.authenticators)) {
          const known = Object.keys(input.authenticators);
          problem(authPath(i), `unknown authenticator "${n}"; defined: ${known.length ? known.join(', ') : '(none)'}, or anonymous, deny`);
        } else if (names.indexOf(n) !== i) problem(authPath(i), `authenticator "${n}" is listed twice`);
        else {
          const a = authenticators.get(n);
          if (a) list.push(a);
        }
      });
      auth = { kind: 'check', authenticators: list };
    }
    if (r.allow && auth?.kind !== 'check') problem([...base, 'allow'], 'needs an authenticator: anonymous and deny routes have no identity to check');
    const types = names.map((n) => input.authenticators[n]?.type);
    if (types.filter((type) => type === 'basic').length > 1) {
      // The first Basic authenticator decides on any Basic credential (a wrong one is a
      // failure, never a fall-through), so a second could never let anyone in.
      problem([...base, 'auth'], 'lists more than one basic authenticator; only the first would ever be consulted (merge their users into one)');
    }
    if (types.filter((type) => type === 'jwt' || type === 'introspection').length > 1) {
      // The same for Bearer: the first jwt/introspection authenticator takes every Bearer
      // token as its own (a token it cannot verify is a failure, never a fall-through).
      problem([...base, 'auth'], 'lists more than one Bearer authenticator (jwt, introspection); only the first would ever be consulted (one issuer per route)');
    }
    if (r.allow && types.length > 0 && types.every((type) => type === 'basic')) {
      for (const key of ['emails', 'emailDomains', 'scopes', 'claims'] as const) {
        if (r.allow[key] !== undefined) problem([...base, 'allow', key], `can never hold: basic identities carry no ${key === 'emailDomains' ? 'email' : key}`);
      }
    }

    const templates: Array<{ header: string; render: CompiledTemplate }> = [];
    for (const [header, template] of Object.entries(r.headers ?? {})) {
      const hp = [...base, 'headers', header];
      const canonical = canonicalHeaderName(header);
      if (!HEADER_NAME.test(header)) problem(hp, 'is not a valid header name');
      else if (RESERVED_TEMPLATE_HEADERS.has(canonical) || identityNames.has(canonical)) problem(hp, 'is set by gatehouse itself and cannot be templated');
      const t = compileTemplate(template);
      if (!t.ok) problem(hp, t.message);
      else {
        templates.push({ header, render: t.render });
        templateHeaders.push(header);
      }
    }

    let stripPrefix: string | undefined;
    if (r.rewrite?.stripPrefix !== undefined) {
      const n = normalizeConfigPath(r.rewrite.stripPrefix);
      if (!r.rewrite.stripPrefix.startsWith('/') || !n.ok) problem([...base, 'rewrite', 'stripPrefix'], 'must be a normalized absolute path such as /api');
      else stripPrefix = n.path.replace(/\/+$/, '') || undefined;
    }

    if (diagnostics.length > before || !compiled.ok || !upstream || !auth) return;
    routes.push(
      Object.freeze({
        index,
        name: r.name,
        match: compiled.match,
        upstream,
        auth,
        allow: compileAllow(r.allow),
        requirements: describeAllow(r.allow),
        requiredScopes: r.allow?.scopes ?? [],
        templates,
        forwardCredentials: r.forwardCredentials,
        allowMethodOverride: r.allowMethodOverride,
        preserveHost: r.preserveHost,
        assertionAudience: r.assertionAudience ?? (upstream.kind === 'http' ? upstream.origin : 'echo'),
        stripPrefix,
        timeoutMs: r.timeout,
        allowPreflight: r.allowPreflight,
        csrf: r.csrf,
        signInRedirect: auth.kind === 'check' && auth.authenticators.some((a) => a.type === 'session'),
      }),
    );
  });

  for (const { index, by } of findShadowed(input.routes.map((r) => r.match))) {
    problem(['routes', index, 'match'], `can never match: route "${input.routes[by]!.name}" (routes[${by}]) above it matches every request this one would`);
  }

  if (diagnostics.length > 0) {
    await closeAll();
    throw new ConfigError(diagnostics);
  }

  const limits = input.limits;
  const policy: Policy = Object.freeze({
    routes: Object.freeze(routes),
    headers: createHeaderPolicy(
      input.identity.headers,
      stripPrefixes,
      templateHeaders,
      assertion,
      sessions ? [sessions.manager.settings.cookie.name, helperCookieName(sessions.manager.settings.cookie, 'csrf'), helperCookieName(sessions.manager.settings.cookie, 'tx')] : [],
    ),
    publicOrigins: Object.freeze([...publicOrigins]),
  });
  return Object.freeze({
    file: loaded.file,
    hash: createHash('sha256').update(JSON.stringify(input)).digest('hex'),
    listen: listen!,
    admin,
    tls: input.tls,
    limits: {
      headerBytes: limits.headerBytes,
      headerCount: limits.headerCount,
      targetBytes: limits.targetBytes,
      headersTimeoutMs: limits.headersTimeout,
      bodyBytes: limits.bodyBytes,
    },
    publicOrigins,
    trustedPeer: compileTrustedProxies(input.trustedProxies),
    policy,
    authenticators,
    logLevel: input.log.level,
    workers,
    watch: input.watch,
    shutdownTimeoutMs: input.shutdownTimeout,
    upstreamTls: new Map([...upstreamTls].map(([origin, { options }]) => [origin, options])),
    remoteJwks,
    sessions,
    login:
      input.login && sessions
        ? {
            providers,
            allowedRedirectHosts: input.login.allowedRedirectHosts,
            router: createLoginRouter({ providers, manager: sessions.manager, csrf: sessions.csrf, publicOrigins, allowedRedirectHosts: input.login.allowedRedirectHosts, onError: deps.onLoginError }),
          }
        : undefined,
    warnings,
    close: closeAll,
  });
}
