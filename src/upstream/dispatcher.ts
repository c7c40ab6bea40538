// One undici Agent for every upstream of a config, with per-origin TLS settings
// (`upstreamTls`: CA, client certificate for mTLS). Built per compiled config, so a
// reload gets fresh pools and old ones close with the old config.
import { Agent, Pool, type Dispatcher } from 'undici';
import type { UpstreamTlsOptions } from '../config/compile.js';

export function createUpstreamDispatcher(tlsByOrigin: ReadonlyMap<string, UpstreamTlsOptions>): Dispatcher {
  return new Agent({
    keepAliveTimeout: 4_000,
    connections: 128,
    factory(origin, opts) {
      const key = typeof origin === 'string' ? origin : origin.origin;
      const tls = tlsByOrigin.get(key);
      return new Pool(origin, tls ? { ...opts, connect: { ...tls } } : opts);
    },
  });
}
