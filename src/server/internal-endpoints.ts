// gatehouse's own endpoints under /.gatehouse/, dispatched on the NORMALIZED path by
// us (never by Fastify's raw-URL router) and never forwarded. This landing serves the
// public keys of identity.assertion; sign-in and forward-auth come later.
import type { PublicJwk } from '../pipeline/headers/assertion.js';
import type { RequestFacts } from '../pipeline/types.js';
import { errorAnswer, type HttpAnswer } from '../pipeline/respond/deny.js';
import type { ActiveConfig } from './runtime.js';

export interface InternalAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: unknown;
  /** Label for logs and metrics. */
  readonly endpoint: string;
}

export function internalAnswer(facts: RequestFacts, active: ActiveConfig, retiredKeys: readonly PublicJwk[], requestId: string): InternalAnswer {
  const path = facts.path;
  if (path === '/.gatehouse/jwks.json') {
    const signer = active.config.policy.headers.assertion;
    if (!signer) return notFound(requestId, 'jwks');
    if (facts.method !== 'GET' && facts.method !== 'HEAD') return withEndpoint(errorAnswer('GATEHOUSE_ERR_REQUEST_METHOD_NOT_ALLOWED', requestId, { allow: 'GET, HEAD' }), 'jwks');
    return { status: 200, headers: { 'cache-control': 'public, max-age=60' }, body: signer.publicJwks(retiredKeys), endpoint: 'jwks' };
  }
  return notFound(requestId, 'unknown');
}

function notFound(requestId: string, endpoint: string): InternalAnswer {
  return withEndpoint(errorAnswer('GATEHOUSE_ERR_ROUTE_NOT_FOUND', requestId), endpoint);
}

function withEndpoint(answer: HttpAnswer, endpoint: string): InternalAnswer {
  return { ...answer, endpoint };
}
