// The config generation requests run on. `current` is swapped atomically on reload; a
// request pins the generation it started with for its whole life.
import type http from 'node:http';
import type { Dispatcher } from 'undici';
import type { CompiledConfig } from '../config/compile.js';
import type { RawRequest } from '../pipeline/facts.js';
import type { PublicJwk } from '../pipeline/headers/assertion.js';
import type { UpgradeTracker } from './upgrade.js';

export interface ActiveConfig {
  readonly config: CompiledConfig;
  /** undici dispatcher for this generation's upstreams (per-origin TLS). */
  readonly dispatcher: Dispatcher;
}

export interface Runtime {
  readonly current: ActiveConfig;
  /** Assertion public keys a reload removed, still published until their tokens expire. */
  retiredKeys(): readonly PublicJwk[];
  /** Open WebSockets of the listener, closed with a Going Away on shutdown. */
  readonly upgrades?: UpgradeTracker;
}

export function rawRequestOf(req: http.IncomingMessage, scheme: 'http' | 'https'): RawRequest {
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '',
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    peer: req.socket.remoteAddress ?? '',
    scheme,
  };
}
