// What the client receives from an upstream: hop-by-hop fields dropped (RFC 9110 §7.6.1)
// and Locations that name the upstream's internal address rewritten to the public one
// (security.md §12), so internal addresses never leak and redirects stay home.
import type { RequestFacts } from '../pipeline/types.js';

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authenticate'];

export interface ResponseContext {
  readonly upstreamOrigin: string;
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

function rewriteLocation(location: string, ctx: ResponseContext): string {
  let url: URL;
  try {
    url = new URL(location, ctx.upstreamOrigin + '/');
  } catch {
    return location;
  }
  if (url.origin !== ctx.upstreamOrigin) return location;
  // Only absolute Locations name the upstream; relative ones are resolved by the client
  // against the public URL already.
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:|^\/\//.test(location)) return location;
  return publicOriginFor(ctx.facts, ctx.publicOrigins) + url.pathname + url.search + url.hash;
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
