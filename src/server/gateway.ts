// Starts the proxy and admin listeners for a compiled config, swaps configs on reload,
// and closes everything in order on shutdown: /readyz 503 first, then the listener
// stops accepting, in-flight requests and WebSockets finish (or are cut at the
// deadline), then the admin listener and every config generation (Redis, pools) close.
import type http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { CompiledConfig } from '../config/compile.js';
import type { Logger } from '../logging.js';
import { createUpstreamDispatcher } from '../upstream/dispatcher.js';
import { createAdminApp, type AdminState, type AuthenticatorHealth, type Readiness } from './admin-app.js';
import { createMetrics, setConfigInfo, type Metrics } from './metrics.js';
import { createProxyApp } from './proxy-app.js';
import type { PublicJwk } from '../pipeline/headers/assertion.js';
import type { ActiveConfig, Runtime } from './runtime.js';
import { createUpgradeTracker, type UpgradeTracker } from './upgrade.js';

export interface CloseResult {
  /** Connections (requests and WebSockets) still open at the deadline, and destroyed. */
  readonly cut: number;
  /** Time the shutdown took. */
  readonly ms: number;
}

export interface Gateway {
  readonly runtime: Runtime;
  readonly metrics: Metrics;
  /** http(s)://host:port the proxy listens on. */
  readonly proxyUrl: string;
  readonly adminUrl: string | undefined;
  /** Swap to a new compiled config; requests in flight finish on the old one. */
  reload(next: CompiledConfig): Promise<void>;
  /** What /readyz answers (also asked over IPC by a cluster primary). */
  readiness(): Readiness;
  /** Sets the gauges read at scrape time (session store up). */
  refreshGauges(): void;
  /**
   * Graceful shutdown; a second call returns the first one's promise. `timeoutMs`
   * (default: the running config's shutdownTimeout) bounds the wait for in-flight
   * requests and WebSockets; past it they are destroyed.
   */
  shutdown(options?: { timeoutMs?: number }): Promise<CloseResult>;
  /** shutdown() with the configured grace period. */
  close(): Promise<void>;
}

export interface GatewayOptions {
  readonly config: CompiledConfig;
  readonly log: Logger;
  readonly metrics?: Metrics;
  /** How long a replaced config's pools stay open for requests still using them. */
  readonly retireAfterMs?: number;
  /** false: do not open admin.listen (a cluster worker: the primary serves it). */
  readonly serveAdmin?: boolean;
}

function activate(config: CompiledConfig): ActiveConfig {
  return { config, dispatcher: createUpstreamDispatcher(config.upstreamTls) };
}

/** Closes a generation's pools; `force` aborts the upstream requests still running on them. */
async function retire(active: ActiveConfig, force = false): Promise<void> {
  await Promise.allSettled([force ? active.dispatcher.destroy() : active.dispatcher.close(), active.config.close()]);
}

function urlOf(app: FastifyInstance, scheme: string): string {
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

/**
 * Lets the listener drain: every connection is known (to count and cut them at the
 * deadline), and once closing, a connection whose response has finished is closed.
 * Node's server.close() closes only the connections idle at that moment; one that
 * served a request in flight would otherwise stay open, idle, until its keep-alive
 * timeout (5 s) and hold the shutdown that long.
 *
 * Nothing here runs per request: listeners on every response cost ~25 µs CPU per
 * request in the benchmark (a third of the anonymous route). Connections are tracked
 * (one listener per connection), and only while closing is anything polled.
 */
function trackConnections(server: http.Server): { readonly open: Set<Socket>; closing(): void; stop(): void } {
  const open = new Set<Socket>();
  let poll: NodeJS.Timeout | undefined;
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return {
    open,
    closing() {
      // "Connection: close" on answers not yet begun, so clients do not send another
      // request on a connection about to end (RFC 9112 §9.6). `_httpMessage` is the
      // response a socket is serving (Node has kept this name since 0.x).
      for (const socket of open) {
        const res = (socket as Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage;
        if (res && !res.headersSent) res.shouldKeepAlive = false;
      }
      server.closeIdleConnections();
      poll = setInterval(() => server.closeIdleConnections(), 50);
      poll.unref();
    },
    stop() {
      clearInterval(poll);
    },
  };
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { log } = options;
  const metrics = options.metrics ?? createMetrics();
  let retired: Array<{ jwk: PublicJwk; until: number }> = [];
  const upgrades: UpgradeTracker = createUpgradeTracker();
  const runtime: { current: ActiveConfig; retiredKeys(): readonly PublicJwk[]; upgrades: UpgradeTracker } = {
    current: activate(options.config),
    retiredKeys() {
      const now = Date.now();
      retired = retired.filter((r) => r.until > now);
      return retired.map((r) => r.jwk);
    },
    upgrades,
  };
  const state: AdminState = { ready: false, configHash: options.config.hash };
  /** Replaced generations, closed once requests that started on them are done. */
  const retiring = new Map<NodeJS.Timeout, ActiveConfig>();

  const proxy = await createProxyApp({ runtime, log, metrics });
  const connections = trackConnections(proxy.server);
  const health = (): ReturnType<AuthenticatorHealth> => {
    const detail: Record<string, Record<string, unknown>> = {};
    let ready = true;
    const config = runtime.current.config;
    for (const [name, a] of config.authenticators) {
      // `ready` latches: once an authenticator could decide, later outages are reported, not 503.
      if (a.ready && !a.ready()) ready = false;
      if (a.health) detail[name] = a.health();
    }
    const login: Record<string, Record<string, unknown>> = {};
    for (const [name, p] of config.login?.providers ?? []) {
      if (p.ready && !p.ready()) ready = false;
      login[name] = { type: p.type, ready: p.ready ? p.ready() : true, ...p.health?.() };
    }
    // A store outage is reported, never 503 (config.md): every replica shares Redis, and
    // Basic and JWT routes must keep serving.
    const sessions = config.sessions ? { sessions: { ...config.sessions.shared.store.health() } } : {};
    return { ready, authenticators: detail, ...(config.login ? { login } : {}), ...sessions };
  };
  const readiness = (): Readiness => {
    // Ready once listening and every authenticator can decide. A later outage of a shared
    // dependency shows in the body but does not turn this 503 (config.md: every replica
    // shares it, and Basic routes must keep serving).
    const h = health();
    const ready = state.ready && h.ready;
    return {
      ready,
      body: {
        status: ready ? 'ready' : 'not-ready',
        config: state.configHash.slice(0, 12),
        authenticators: h.authenticators,
        ...(h.login ? { login: h.login } : {}),
        ...(h.sessions ? { sessions: h.sessions } : {}),
      },
    };
  };
  // Read at scrape time: the store's state is a fact of now, not of the last request.
  const refreshGauges = (): void => {
    const sessions = runtime.current.config.sessions;
    if (sessions) metrics.sessionStoreUp.set(sessions.shared.store.health().ok ? 1 : 0);
  };
  setConfigInfo(metrics, options.config.hash);
  const admin =
    options.config.admin && options.serveAdmin !== false
      ? createAdminApp({
          log,
          source: {
            readiness,
            async metrics() {
              refreshGauges();
              return { contentType: metrics.registry.contentType, text: await metrics.registry.metrics() };
            },
          },
        })
      : undefined;
  const scheme = options.config.tls ? 'https' : 'http';
  await proxy.listen({ host: options.config.listen.host, port: options.config.listen.port });
  if (admin && options.config.admin) await admin.listen({ host: options.config.admin.host, port: options.config.admin.port });
  state.ready = true;
  const proxyUrl = urlOf(proxy, scheme);
  const adminUrl = admin ? urlOf(admin, 'http') : undefined;
  log.info({ proxy: proxyUrl, admin: adminUrl, config: options.config.file, routes: options.config.policy.routes.length }, 'gatehouse listening');

  let closing: Promise<CloseResult> | undefined;
  const shutdown = async (timeoutMs: number): Promise<CloseResult> => {
    const started = performance.now();
    // Readiness first: a load balancer polling /readyz stops sending before we stop taking.
    state.ready = false;
    const drained = proxy.close();
    connections.closing();
    upgrades.goAway();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), timeoutMs);
    });
    let cut = 0;
    if ((await Promise.race([drained.then(() => 'drained' as const), deadline])) === 'deadline') {
      cut = connections.open.size;
      upgrades.destroyAll();
      for (const socket of connections.open) socket.destroy();
      await drained;
    }
    clearTimeout(timer);
    connections.stop();
    if (admin) await admin.close();
    const generations = [...retiring.values(), runtime.current];
    for (const t of retiring.keys()) clearTimeout(t);
    retiring.clear();
    // After a cut, upstream requests of the cut clients may still run: abort them, since
    // a graceful close of the pool would wait for them.
    await Promise.all(generations.map((g) => retire(g, cut > 0)));
    return { cut, ms: Math.round(performance.now() - started) };
  };

  return {
    runtime,
    metrics,
    proxyUrl,
    adminUrl,
    readiness,
    refreshGauges,
    async reload(next) {
      const previous = runtime.current;
      runtime.current = activate(next);
      // Keys that stopped being configured stay published until assertions signed with
      // them have expired, so upstreams never see a valid token they cannot verify.
      const before = previous.config.policy.headers.assertion;
      if (before) {
        const kept = new Set((next.policy.headers.assertion?.publicKeys ?? []).map((k) => k.kid));
        const until = Date.now() + before.ttlMs;
        for (const jwk of before.publicKeys) if (!kept.has(jwk.kid)) retired.push({ jwk, until });
      }
      state.configHash = next.hash;
      setConfigInfo(metrics, next.hash);
      // Caches derived from config (password checks, verified tokens, introspection
      // answers) live in the generation's authenticators: they leave with it.
      const timer = setTimeout(() => {
        retiring.delete(timer);
        void retire(previous);
      }, options.retireAfterMs ?? 60_000);
      timer.unref();
      retiring.set(timer, previous);
      log.info({ config: next.file, hash: next.hash.slice(0, 12), routes: next.policy.routes.length }, 'config reloaded');
      // Listeners and their limits are bound at start; say so instead of ignoring silently.
      const bound = { listen: previous.config.listen, admin: previous.config.admin, tls: previous.config.tls, limits: previous.config.limits, logLevel: previous.config.logLevel, workers: previous.config.workers };
      const wanted = { listen: next.listen, admin: next.admin, tls: next.tls, limits: next.limits, logLevel: next.logLevel, workers: next.workers };
      const keys = (Object.keys(bound) as Array<keyof typeof bound>).filter((k) => JSON.stringify(bound[k]) !== JSON.stringify(wanted[k]));
      if (keys.length > 0) log.warn({ keys: keys.map((k) => (k === 'logLevel' ? 'log' : k)) }, 'these keys changed but apply only after a restart');
    },
    shutdown(opts = {}) {
      closing ??= shutdown(opts.timeoutMs ?? runtime.current.config.shutdownTimeoutMs);
      return closing;
    },
    async close() {
      closing ??= shutdown(runtime.current.config.shutdownTimeoutMs);
      await closing;
    },
  };
}
