// The pipeline: match → authenticate → authorize → headers. Pure: takes facts, returns
// a Decision; the shell (proxy, forward-auth, explain) turns it into HTTP or text.
import type { ErrorCode } from '../errors.js';
import { buildUpstreamHeaders, type UpstreamHeaders } from './headers/upstream-headers.js';
import { isSameOrigin, needsSameOriginCheck } from './authorize/csrf.js';
import type { CompiledRoute, Policy } from './policy.js';
import type { Authenticator, Identity, RequestFacts } from './types.js';

export interface ForwardRequest {
  readonly method: string;
  /** Path and query as the upstream receives them (after rewrite), e.g. /v1/x?q=1. */
  readonly target: string;
  readonly headers: UpstreamHeaders;
}

export interface AuthAttempt {
  readonly authenticator: string;
  readonly outcome: 'skip' | 'ok' | 'fail';
  readonly reason?: string;
  readonly ms: number;
}

export type Decision =
  | { readonly kind: 'no-route' }
  | {
      readonly kind: 'deny';
      readonly route: CompiledRoute;
      readonly code: ErrorCode;
      readonly reasons: readonly string[];
      readonly attempts: readonly AuthAttempt[];
      readonly identity?: Identity;
      /** WWW-Authenticate values: the route's challenges for a 401 (the rejecting
       * authenticator's own when it gave one), or insufficient_scope for a 403. */
      readonly challenges: readonly string[];
      readonly retryAfter?: number;
    }
  | {
      readonly kind: 'allow';
      readonly route: CompiledRoute;
      readonly identity: Identity;
      readonly attempts: readonly AuthAttempt[];
      readonly forward: ForwardRequest;
    };

export interface DecideOptions {
  readonly requestId: string;
  /** A WebSocket handshake: keep Connection/Upgrade for the upstream. */
  readonly upgrade?: boolean;
}

/** gatehouse's own endpoints live under this prefix; it is never forwarded (config.md). */
export const INTERNAL_PREFIX = '/.gatehouse';

/**
 * Whether a path is ours, as any upstream might read it: without case (IIS), without a
 * matrix parameter on the segment (`/.gatehouse;x/login`: Tomcat, Jetty, Spring) and
 * without trailing dots (`/.gatehouse./login`: IIS). Such paths are never forwarded.
 */
export function isInternalPath(path: string): boolean {
  if (path.charCodeAt(1) !== 0x2e) return false; // '.': the fast answer for every other path
  const end = path.indexOf('/', 1);
  const segment = (end < 0 ? path.slice(1) : path.slice(1, end)).split(';', 1)[0]!.replace(/\.+$/, '').toLowerCase();
  return segment === INTERNAL_PREFIX.slice(1);
}

export function matchRoute(policy: Policy, facts: RequestFacts): CompiledRoute | undefined {
  if (isInternalPath(facts.path)) return undefined;
  for (const route of policy.routes) {
    if (route.match.test(facts.method, facts.hostname, facts.path)) return route;
  }
  return undefined;
}

function anonymous(): Identity {
  return { groups: [], scopes: [], claims: {}, method: 'anonymous', authenticator: 'anonymous' };
}

function isPreflight(facts: RequestFacts): boolean {
  return facts.method === 'OPTIONS' && facts.headers.origin !== undefined && facts.headers['access-control-request-method'] !== undefined;
}

/** The path the upstream receives: the matched path, after the route's rewrite (security.md §1). */
export function upstreamPath(route: CompiledRoute, path: string): string {
  let rest = path;
  const prefix = route.stripPrefix;
  if (prefix !== undefined && (path === prefix || path.startsWith(prefix + '/'))) rest = path.slice(prefix.length);
  const base = route.upstream.kind === 'http' ? route.upstream.basePath : '';
  // `/api` with stripPrefix /api reaches the upstream's base itself, `/api/` its base + '/'.
  return rest === '' ? base || '/' : base + rest;
}

function challenges(route: CompiledRoute): string[] {
  if (route.auth.kind !== 'check') return [];
  const out: string[] = [];
  for (const a of route.auth.authenticators) if (a.challenge) out.push(a.challenge);
  return out;
}

export async function decide(policy: Policy, facts: RequestFacts, options: DecideOptions): Promise<Decision> {
  const route = matchRoute(policy, facts);
  if (!route) return { kind: 'no-route' };

  const attempts: AuthAttempt[] = [];
  const deny = (code: ErrorCode, reasons: readonly string[], extra: { identity?: Identity; retryAfter?: number; challenges?: readonly string[] } = {}): Decision => ({
    kind: 'deny',
    route,
    code,
    reasons,
    attempts,
    challenges: challenges(route),
    ...extra,
  });

  let identity: Identity | undefined;
  let consumed: 'authorization' | 'cookie' | 'none' = 'none';
  let checker: Authenticator | undefined;
  const auth = route.auth;
  if (auth.kind === 'deny') return deny('GATEHOUSE_ERR_AUTHZ_ROUTE_DENIED', ['route-denied']);
  if (auth.kind === 'anonymous' || (route.allowPreflight && isPreflight(facts))) {
    identity = anonymous();
  } else {
    for (const authenticator of auth.authenticators) {
      const started = performance.now();
      const result = await authenticator.authenticate(facts);
      const ms = performance.now() - started;
      if (result.outcome === 'skip') {
        attempts.push({ authenticator: authenticator.name, outcome: 'skip', ms });
        continue;
      }
      if (result.outcome === 'fail') {
        attempts.push({ authenticator: authenticator.name, outcome: 'fail', reason: result.reason, ms });
        const failed = result.challenge;
        return deny(result.code, [result.reason], {
          ...(result.retryAfter === undefined ? {} : { retryAfter: result.retryAfter }),
          // The authenticator that rejected the credential says why (RFC 6750 §3.1).
          ...(failed === undefined ? {} : { challenges: auth.authenticators.map((a) => (a === authenticator ? failed : a.challenge)).filter((c): c is string => c !== undefined) }),
        });
      }
      attempts.push({ authenticator: authenticator.name, outcome: 'ok', ms });
      identity = result.identity;
      consumed = result.consumed;
      checker = authenticator;
      break;
    }
    if (!identity) return deny('GATEHOUSE_ERR_AUTH_REQUIRED', ['no-credentials']);
    // security.md §8: the cookie rides along on cross-site requests; the credential alone
    // does not prove the user meant this unsafe request.
    // A WebSocket handshake is a GET, but it opens a two-way channel with the user's
    // cookie: a cross-site page must not get one (cross-site WebSocket hijacking).
    if (consumed === 'cookie' && route.csrf === 'origin' && (needsSameOriginCheck(facts.method) || options.upgrade === true) && !isSameOrigin(facts, policy.publicOrigins)) {
      return deny('GATEHOUSE_ERR_CSRF_REJECTED', ['csrf-cross-site'], { identity });
    }
    const verdict = route.allow(identity);
    if (!verdict.allow) {
      // A token without a required scope gets RFC 6750's insufficient_scope answer.
      if (verdict.reasons.includes('scopes-missing') && checker?.scopeChallenge) {
        return deny('GATEHOUSE_ERR_AUTHZ_INSUFFICIENT_SCOPE', verdict.reasons, { identity, challenges: [checker.scopeChallenge(route.requiredScopes)] });
      }
      return deny('GATEHOUSE_ERR_AUTHZ_FORBIDDEN', verdict.reasons, { identity });
    }
  }

  const path = upstreamPath(route, facts.path);
  const headers = buildUpstreamHeaders({
    facts,
    policy: policy.headers,
    route,
    identity,
    consumed,
    requestId: options.requestId,
    upstreamAuthority: route.upstream.kind === 'http' ? route.upstream.authority : facts.authority,
    upgrade: options.upgrade ?? false,
  });
  return {
    kind: 'allow',
    route,
    identity,
    attempts,
    forward: { method: facts.method, target: facts.query ? `${path}?${facts.query}` : path, headers },
  };
}
