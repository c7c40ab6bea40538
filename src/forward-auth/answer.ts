// Decision → HTTP for forward-auth callers. The ingress forwards the request itself, so an
// allow carries only what gatehouse would have set for the upstream about the caller, and
// a refusal is the proxy-mode refusal (respond/deny.ts decides status and challenges),
// except for the sign-in redirect, which each ingress needs in its own shape. Pure.
import type { ErrorBody, ErrorCode } from '../errors.js';
import type { HeaderPolicy } from '../pipeline/headers/upstream-headers.js';
import { denyAnswer, errorAnswer, SIGN_IN_PATH } from '../pipeline/respond/deny.js';
import type { Decision } from '../pipeline/run.js';
import type { RequestFacts } from '../pipeline/types.js';
import type { ForwardAuthStyle } from './facts.js';

export interface ForwardAuthAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  /** Our JSON error body; absent on 200 (no ingress reads it). */
  readonly body?: ErrorBody;
}

export interface AnswerContext {
  readonly style: ForwardAuthStyle;
  /** Facts of the ORIGINAL request (originalFacts). */
  readonly facts: RequestFacts;
  readonly requestId: string;
  /** The compiled identity header names and assertion signer (policy.headers). */
  readonly headerPolicy: HeaderPolicy;
  /** Origins of publicUrl; the sign-in URL is built from them, never from Host. */
  readonly publicOrigins: readonly string[];
}

/** Response header carrying the sign-in URL to nginx-style callers, for
 * `auth_request_set $signin $upstream_http_x_auth_redirect;` and an error_page 401. */
export const SIGN_IN_HINT_HEADER = 'x-auth-redirect';

const NO_STORE = { 'cache-control': 'no-store' } as const;

/** A refusal made before any decision (untrusted caller, no unambiguous original request). */
export function refusalAnswer(code: ErrorCode, requestId: string): ForwardAuthAnswer {
  return errorAnswer(code, requestId);
}

/** Names (lower case) of every header gatehouse sets about the caller for this route. */
function identityHeaderNames(policy: HeaderPolicy, templates: ReadonlyArray<{ readonly header: string }>): string[] {
  const names = Object.values(policy.identity).map((n) => n.toLowerCase());
  for (const { header } of templates) names.push(header.toLowerCase());
  if (policy.assertion) names.push(policy.assertion.header.toLowerCase());
  return names;
}

/** The sign-in page's origin for this request: the publicUrl naming its host, else the
 * first publicUrl; '' (a relative Location) when there is no publicUrl. */
function signInOrigin(facts: RequestFacts, publicOrigins: readonly string[]): string {
  for (const origin of publicOrigins) if (new URL(origin).host === facts.authority) return origin;
  return publicOrigins[0] ?? '';
}

/**
 * Where a browser signs in, and comes back to after: the original URL as `rd`, relative
 * when the sign-in page is on the same origin (so it passes safeRedirect without
 * configuration), else absolute (its host must be in login.allowedRedirectHosts, and
 * https, for the sign-in to send the user back there; security.md §9).
 */
export function signInUrl(facts: RequestFacts, publicOrigins: readonly string[]): string {
  const origin = signInOrigin(facts, publicOrigins);
  const own = `${facts.scheme}://${facts.authority}`;
  const target = facts.query ? `${facts.path}?${facts.query}` : facts.path;
  const rd = origin === '' || origin === own ? target : own + target;
  return `${origin}${SIGN_IN_PATH}?rd=${encodeURIComponent(rd)}`;
}

export function forwardAuthAnswer(decision: Decision, ctx: AnswerContext): ForwardAuthAnswer {
  if (decision.kind === 'allow') {
    const headers: Record<string, string> = { ...NO_STORE };
    const set = decision.forward.headers;
    for (const name of identityHeaderNames(ctx.headerPolicy, decision.route.templates)) {
      const value = set[name];
      if (typeof value === 'string') headers[name] = value;
    }
    return { status: 200, headers };
  }
  const answer = denyAnswer(decision, ctx.requestId, ctx.facts);
  // 302 is deny.ts's verdict "a browser on a session route goes to sign in". Its relative
  // Location names a path on the ingress's host; build one from publicUrl instead.
  if (answer.status !== 302) return answer;
  const url = signInUrl(ctx.facts, ctx.publicOrigins);
  // nginx's auth_request treats any status but 2xx, 401 and 403 as an error (500): it gets
  // the 401 with the URL in a header its error_page can redirect to. Traefik and Envoy
  // hand the check's answer to the client as it is: they get the redirect itself.
  if (ctx.style === 'nginx') {
    const unauthorized = denyAnswer(decision, ctx.requestId);
    return { ...unauthorized, headers: { ...unauthorized.headers, [SIGN_IN_HINT_HEADER]: url } };
  }
  return { status: 302, headers: { ...NO_STORE, location: url }, body: answer.body };
}
