// The one place a refusal becomes HTTP (architecture.md principle 3). Checkers return
// reasons; only this file decides status, challenges and body. Reasons never reach the
// client: they are for logs and `explain`.
import { errorBody, errorStatus, type ErrorBody, type ErrorCode } from '../../errors.js';
import type { Decision } from '../run.js';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: ErrorBody;
}

const NO_STORE = { 'cache-control': 'no-store' } as const;

export function errorAnswer(code: ErrorCode, requestId: string, headers: Record<string, string | readonly string[]> = {}): HttpAnswer {
  return { status: errorStatus(code), headers: { ...NO_STORE, ...headers }, body: errorBody(code, requestId) };
}

export function denyAnswer(decision: Exclude<Decision, { kind: 'allow' }>, requestId: string): HttpAnswer {
  if (decision.kind === 'no-route') return errorAnswer('GATEHOUSE_ERR_ROUTE_NOT_FOUND', requestId);
  const status = errorStatus(decision.code);
  const headers: Record<string, string | readonly string[]> = {};
  // RFC 9110 §15.5.2: a 401 carries at least one challenge; one per header-based
  // authenticator the route accepts (RFC 7235 §4.1 allows several).
  // RFC 6750 §3.1: a token lacking scope gets 403 with an insufficient_scope challenge.
  if ((status === 401 || decision.code === 'GATEHOUSE_ERR_AUTHZ_INSUFFICIENT_SCOPE') && decision.challenges.length > 0) headers['www-authenticate'] = decision.challenges;
  if (status === 429 && decision.retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(decision.retryAfter)));
  return errorAnswer(decision.code, requestId, headers);
}
