// The one place a refusal becomes HTTP (architecture.md principle 3). Checkers return
// reasons; only this file decides status, challenges and body. Reasons never reach the
// client: they are for logs and `explain`.
import { errorBody, errorStatus, type ErrorBody, type ErrorCode } from '../../errors.js';
import type { Decision } from '../run.js';
import type { RequestFacts } from '../types.js';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: ErrorBody;
}

const NO_STORE = { 'cache-control': 'no-store' } as const;

export function errorAnswer(code: ErrorCode, requestId: string, headers: Record<string, string | readonly string[]> = {}): HttpAnswer {
  return { status: errorStatus(code), headers: { ...NO_STORE, ...headers }, body: errorBody(code, requestId) };
}

/** Where a browser without a (valid) session is sent: the sign-in page, back here after. */
export const SIGN_IN_PATH = '/.gatehouse/login';

/** A top-level page load: GET/HEAD that accepts HTML (fetch/XHR ask for JSON or any). */
export function isBrowserNavigation(facts: RequestFacts): boolean {
  if (facts.method !== 'GET' && facts.method !== 'HEAD') return false;
  const accept = facts.headers.accept;
  return typeof accept === 'string' && /(^|[\s,])text\/html(\s*[;,]|\s*$)/i.test(accept);
}

const SIGN_IN_CODES = new Set<string>(['GATEHOUSE_ERR_AUTH_REQUIRED', 'GATEHOUSE_ERR_SESSION_INVALID']);

export function denyAnswer(decision: Exclude<Decision, { kind: 'allow' }>, requestId: string, facts?: RequestFacts): HttpAnswer {
  if (decision.kind === 'no-route') return errorAnswer('GATEHOUSE_ERR_ROUTE_NOT_FOUND', requestId);
  // architecture.md principle 3: a browser on a session route goes to sign in (relative
  // Location: built from the normalized path the route matched, never from Host).
  if (facts && decision.route.signInRedirect && SIGN_IN_CODES.has(decision.code) && isBrowserNavigation(facts)) {
    const rd = facts.query ? `${facts.path}?${facts.query}` : facts.path;
    return { status: 302, headers: { ...NO_STORE, location: `${SIGN_IN_PATH}?rd=${encodeURIComponent(rd)}` }, body: errorBody(decision.code, requestId) };
  }
  const status = errorStatus(decision.code);
  const headers: Record<string, string | readonly string[]> = {};
  // RFC 9110 §15.5.2: a 401 carries at least one challenge; one per header-based
  // authenticator the route accepts (RFC 7235 §4.1 allows several). A route checked only
  // by the session cookie has none to offer (no HTTP scheme names a cookie): its 401
  // goes to API clients, which sign in through /.gatehouse/login like a browser would.
  // RFC 6750 §3.1: a token lacking scope gets 403 with an insufficient_scope challenge.
  if ((status === 401 || decision.code === 'GATEHOUSE_ERR_AUTHZ_INSUFFICIENT_SCOPE') && decision.challenges.length > 0) headers['www-authenticate'] = decision.challenges;
  if (status === 429 && decision.retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(decision.retryAfter)));
  return errorAnswer(decision.code, requestId, headers);
}
