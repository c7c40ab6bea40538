// The frozen runtime form of the routes that the pipeline executes. Built by
// src/config/compile.ts once per load; nothing here is computed per request.
import type { CompiledAllow } from './authorize/allow.js';
import type { HeaderPolicy, RouteHeaderRules } from './headers/upstream-headers.js';
import type { CompiledMatch } from './match/compile-match.js';
import type { Authenticator } from './types.js';

export type UpstreamTarget =
  /** Built-in: answers with the request it would have forwarded, as JSON. */
  | { readonly kind: 'echo' }
  | {
      readonly kind: 'http';
      /** scheme://host:port, what undici connects to. */
      readonly origin: string;
      /** host[:port] as the upstream expects it in Host. */
      readonly authority: string;
      /** Path prefix of the upstream URL without a trailing slash ('' for none). */
      readonly basePath: string;
    };

export type RouteAuth =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'deny' }
  | { readonly kind: 'check'; readonly authenticators: readonly Authenticator[] };

export interface CompiledRoute extends RouteHeaderRules {
  readonly index: number;
  readonly match: CompiledMatch;
  readonly upstream: UpstreamTarget;
  readonly auth: RouteAuth;
  readonly allow: CompiledAllow;
  /** `allow.scopes`, for RFC 6750 insufficient_scope answers. */
  readonly requiredScopes: readonly string[];
  /** `allow` in words ("groups: admin"), for `explain`. */
  readonly requirements: readonly string[];
  /** Normalized, without a trailing slash. */
  readonly stripPrefix: string | undefined;
  readonly timeoutMs: number;
  readonly allowPreflight: boolean;
  /** `origin`: unsafe methods authenticated by the session cookie must be same-origin. */
  readonly csrf: 'origin' | 'off';
  /** The route lists a session authenticator: browsers without a session are sent to sign in. */
  readonly signInRedirect: boolean;
}

export interface Policy {
  readonly routes: readonly CompiledRoute[];
  readonly headers: HeaderPolicy;
  /** Origins of publicUrl; the same-origin check of session-cookie requests compares with them. */
  readonly publicOrigins: readonly string[];
}
