// Plain data the pipeline works on. No Fastify, no sockets: proxy mode, forward-auth
// and `gatehouse explain` all build RequestFacts and get a Decision back.
import type { ErrorCode } from '../errors.js';

export type AuthMethod = 'basic' | 'session' | 'jwt' | 'introspection' | 'anonymous';

/** What a successful check yields; `allow`, header templates and identity headers read it. */
export interface Identity {
  readonly user?: string;
  readonly email?: string;
  readonly name?: string;
  readonly groups: readonly string[];
  readonly scopes: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
  readonly method: AuthMethod;
  /** Name of the authenticator that produced it (`anonymous` for anonymous routes). */
  readonly authenticator: string;
}

/** Everything the pipeline may know about a request, computed once by the shell. */
export interface RequestFacts {
  /** Method as received (HTTP methods are case-sensitive, RFC 9110 §9.1). */
  readonly method: string;
  /** How the client reached us (or, from a trusted proxy, how it reached that proxy). */
  readonly scheme: 'http' | 'https';
  /** Normalized authority: lower case, no trailing dot, default port removed. */
  readonly authority: string;
  /** `authority` without the port; what `match.host` compares. */
  readonly hostname: string;
  /** Normalized path (security.md §2); what routes match and what is forwarded. */
  readonly path: string;
  /** Raw query string without `?`, '' when absent. Never used for matching. */
  readonly query: string;
  /** Node's lower-cased header object (duplicates folded by Node's rules). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Header name/value pairs exactly as received, flat [name, value, name, value...]. */
  readonly rawHeaders: readonly string[];
  /** Address of the TCP peer. */
  readonly peer: string;
  /** Whether the peer is in `trustedProxies`. */
  readonly peerTrusted: boolean;
  /** Client address: the peer, or the right-most untrusted X-Forwarded-For hop of a trusted peer. */
  readonly clientIp: string;
}

export type AuthResult =
  /** The request carries no credential of this kind: the next authenticator may act. */
  | { readonly outcome: 'skip' }
  | {
      readonly outcome: 'ok';
      readonly identity: Identity;
      /** Which credential was checked and is removed before forwarding (security.md §12). */
      readonly consumed: 'authorization' | 'cookie' | 'none';
    }
  /** A credential of this kind was presented and is bad: stop, never fall through. */
  | {
      readonly outcome: 'fail';
      /** Short machine reason for logs, e.g. 'bad-password', 'malformed-header'. Never secret. */
      readonly reason: string;
      readonly code: ErrorCode;
      /** Seconds, for 429 answers. */
      readonly retryAfter?: number;
      /** Replaces this authenticator's generic challenge in the 401, e.g. RFC 6750
       * `Bearer realm="x", error="invalid_token", error_description="token expired"`. */
      readonly challenge?: string;
    };

export interface Authenticator {
  readonly name: string;
  readonly type: 'basic' | 'jwt' | 'introspection' | 'session';
  /** RFC 7235 challenge sent with 401 answers, for header-based schemes. */
  readonly challenge?: string;
  authenticate(facts: RequestFacts): Promise<AuthResult>;
  /** Challenge for a 403 caused by missing scopes (RFC 6750 §3.1 insufficient_scope). */
  scopeChallenge?(required: readonly string[]): string;
  /** False until it can decide (e.g. a remote JWKS fetched once); feeds /readyz. */
  ready?(): boolean;
  /** Detail for /readyz's body, e.g. { jwks: 'stale', lastError: 'timeout' }. Never secrets. */
  health?(): Record<string, unknown>;
  /** Release timers, connections and caches. */
  close?(): Promise<void>;
}
