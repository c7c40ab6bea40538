// What the client receives from an upstream: hop-by-hop fields dropped (RFC 9110 §7.6.1)
// and Locations that name the upstream's internal address rewritten to the public one
// (security.md §12), so internal addresses never leak and redirects stay home.
import type { RequestFacts } from '../pipeline/types.js';

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authenticate'];

export interface ResponseContext {
  readonly upstreamOrigin: string;
  /** The route's rewrite, undone on Locations: upstream base path → stripped public prefix. */
  readonly basePath: string;
  readonly stripPrefix: string | undefined;
  readonly facts: RequestFacts;
  readonly publicOrigins: readonly string[];
  readonly requestId: string;
}

/** The origin this client used, preferring a configured publicUrl with the same host. */
export function publicOriginFor(facts: RequestFacts, publicOrigins: readonly string[]): string {
  const own = `${facts.scheme}://${facts.authority}`;
  if (publicOrigins.length === 0) return own;
  for (const origin of publicOrigins) if (new URL(origin).host === facts.authority) return origin;
  return publicOrigins[0]!;
}

/** The public path for an upstream path, or undefined when it lies outside the route's base. */
function publicPath(path: string, ctx: ResponseContext): string | undefined {
  const base = ctx.basePath;
  if (base && path !== base && !path.startsWith(base + '/')) return undefined;
  return (ctx.stripPrefix ?? '') + path.slice(base.length) || '/';
}

// Like nginx's default proxy_redirect: a Location naming the upstream's own address (or,
// path-absolute, its base path) is mapped back to the public origin and prefix.
function rewriteLocation(location: string, ctx: ResponseContext): string {
  const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:|^\/\//.test(location);
  if (!absolute && !location.startsWith('/')) return location;
  let url: URL;
  try {
    url = new URL(location, ctx.upstreamOrigin + '/');
  } catch {
    return location;
  }
  if (url.origin !== ctx.upstreamOrigin) return location;
  const path = publicPath(url.pathname, ctx);
  if (!absolute) return path === undefined || (ctx.basePath === '' && ctx.stripPrefix === undefined) ? location : path + url.search + url.hash;
  return publicOriginFor(ctx.facts, ctx.publicOrigins) + (path ?? url.pathname) + url.search + url.hash;
}

export function rewriteResponseHeaders(headers: Record<string, unknown>, ctx: ResponseContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.includes(name)) continue;
    out[name] = value;
  }
  const connection = headers.connection;
  if (typeof connection === 'string') for (const token of connection.split(',')) delete out[token.trim().toLowerCase()];
  if (typeof out.location === 'string') out.location = rewriteLocation(out.location, ctx);
  out['x-request-id'] = ctx.requestId;
  return out;
}
