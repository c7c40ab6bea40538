// Starts the proxy and admin listeners for a compiled config, swaps configs on reload,
// and closes everything in order on shutdown.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { CompiledConfig } from '../config/compile.js';
import type { Logger } from '../logging.js';
import { createUpstreamDispatcher } from '../upstream/dispatcher.js';
import { createAdminApp, type AdminState, type AuthenticatorHealth } from './admin-app.js';
import { createMetrics, setConfigInfo, type Metrics } from './metrics.js';
import { createProxyApp } from './proxy-app.js';
import type { PublicJwk } from '../pipeline/headers/assertion.js';
import type { ActiveConfig, Runtime } from './runtime.js';

export interface Gateway {
  readonly runtime: Runtime;
  readonly metrics: Metrics;
  /** http(s)://host:port the proxy listens on. */
  readonly proxyUrl: string;
  readonly adminUrl: string | undefined;
  /** Swap to a new compiled config; requests in flight finish on the old one. */
  reload(next: CompiledConfig): Promise<void>;
  close(): Promise<void>;
}

export interface GatewayOptions {
  readonly config: CompiledConfig;
  readonly log: Logger;
  readonly metrics?: Metrics;
  /** How long a replaced config's pools stay open for requests still using them. */
  readonly retireAfterMs?: number;
}

function activate(config: CompiledConfig): ActiveConfig {
  return { config, dispatcher: createUpstreamDispatcher(config.upstreamTls) };
}

async function retire(active: ActiveConfig): Promise<void> {
  await Promise.allSettled([active.dispatcher.close(), active.config.close()]);
}

function urlOf(app: FastifyInstance, scheme: string): string {
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { log } = options;
  const metrics = options.metrics ?? createMetrics();
  let retired: Array<{ jwk: PublicJwk; until: number }> = [];
  const runtime: { current: ActiveConfig; retiredKeys(): readonly PublicJwk[] } = {
    current: activate(options.config),
    retiredKeys() {
      const now = Date.now();
      retired = retired.filter((r) => r.until > now);
      return retired.map((r) => r.jwk);
    },
  };
  const state: AdminState = { ready: false, configHash: options.config.hash };
  const retiring = new Set<NodeJS.Timeout>();

  const proxy = await createProxyApp({ runtime, log, metrics });
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
  // Read at scrape time: the store's state is a fact of now, not of the last request.
  const beforeScrape = (): void => {
    const sessions = runtime.current.config.sessions;
    if (sessions) metrics.sessionStoreUp.set(sessions.shared.store.health().ok ? 1 : 0);
  };
  setConfigInfo(metrics, options.config.hash);
  const admin = options.config.admin ? createAdminApp({ log, metrics, state, health, beforeScrape }) : undefined;
  const scheme = options.config.tls ? 'https' : 'http';
  await proxy.listen({ host: options.config.listen.host, port: options.config.listen.port });
  if (admin && options.config.admin) await admin.listen({ host: options.config.admin.host, port: options.config.admin.port });
  state.ready = true;
  const proxyUrl = urlOf(proxy, scheme);
  const adminUrl = admin ? urlOf(admin, 'http') : undefined;
  log.info({ proxy: proxyUrl, admin: adminUrl, config: options.config.file, routes: options.config.policy.routes.length }, 'gatehouse listening');

  return {
    runtime,
    metrics,
    proxyUrl,
    adminUrl,
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
      const timer = setTimeout(() => {
        retiring.delete(timer);
        void retire(previous);
      }, options.retireAfterMs ?? 60_000);
      timer.unref();
      retiring.add(timer);
      log.info({ config: next.file, hash: next.hash.slice(0, 12), routes: next.policy.routes.length }, 'config reloaded');
      // Listeners and their limits are bound at start; say so instead of ignoring silently.
      const bound = { listen: previous.config.listen, admin: previous.config.admin, tls: previous.config.tls, limits: previous.config.limits, logLevel: previous.config.logLevel };
      const wanted = { listen: next.listen, admin: next.admin, tls: next.tls, limits: next.limits, logLevel: next.logLevel };
      const keys = (Object.keys(bound) as Array<keyof typeof bound>).filter((k) => JSON.stringify(bound[k]) !== JSON.stringify(wanted[k]));
      if (keys.length > 0) log.warn({ keys: keys.map((k) => (k === 'logLevel' ? 'log' : k)) }, 'these keys changed but apply only after a restart');
    },
    async close() {
      state.ready = false;
      await proxy.close();
      if (admin) await admin.close();
      for (const t of retiring) clearTimeout(t);
      await retire(runtime.current);
    },
  };
}
