// Contracts between the sign-in endpoints (/.gatehouse/login, /callback, /logout,
// /backchannel-logout), the providers behind them and the session layer. No Fastify:
// the proxy shell turns a LoginAnswer into HTTP, tests call providers directly.
import type { RequestFacts } from '../pipeline/types.js';
import type { SessionData, StoredSession } from '../sessions/types.js';

export interface LoginRequest {
  readonly facts: RequestFacts;
  /** Parsed application/x-www-form-urlencoded body of a POST (read and bounded by the
   * shell); undefined for other methods or other content types. */
  readonly form?: URLSearchParams;
  readonly requestId: string;
  /** Epoch ms, injected so tests can move the clock. */
  readonly now: number;
}

export interface LoginAnswer {
  readonly status: number;
  /** Lower-case names; `set-cookie` may hold several values. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  /** HTML or JSON text. */
  readonly body: string;
  readonly contentType: string;
  /** Outcome for the request log, e.g. 'signed-in', 'bad-password', 'state-mismatch'. Never secret. */
  readonly reason?: string;
  /** Who signed in or out, for the request log. */
  readonly user?: string;
}

/** What a provider hands over after a successful sign-in. */
export interface SignIn {
  readonly user: string;
  readonly email?: string;
  readonly name?: string;
  readonly groups: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
  readonly oidc?: SessionData['oidc'];
}

/** Services every provider gets from the login router. */
export interface LoginContext {
  /** Origins of publicUrl (scheme://host[:port]); the redirect_uri and absolute links are
   * built from the first one matching the request's authority, else the first one. */
  readonly publicOrigins: readonly string[];
  readonly allowedRedirectHosts: readonly string[];
  /** Creates a session with a NEW id (security.md §8: no fixation) and returns the
   * Set-Cookie header value carrying it. */
  startSession(provider: string, signIn: SignIn, now: number): Promise<string>;
  /** Signed anti-CSRF tokens bound to a value (a pre-session cookie or a session). */
  readonly csrf: CsrfTokens;
}

export interface CsrfTokens {
  issue(binding: string): string;
  verify(token: string | undefined, binding: string): boolean;
}

/** Result of renewing an OIDC session's tokens before the access token expires. */
export type RefreshResult =
  /** Not due (the access token is not about to expire) or nothing to renew with. */
  | { readonly outcome: 'current' }
  | { readonly outcome: 'renewed'; readonly data: SessionData }
  /** The OP refused the refresh token (invalid_grant): the session must end. */
  | { readonly outcome: 'ended' }
  /** The OP could not be reached: keep the session as it is and try again later. */
  | { readonly outcome: 'unavailable' };

export interface LoginProvider {
  readonly name: string;
  readonly type: 'form' | 'oidc';
  /** Shown on the chooser page. */
  readonly label: string;
  /** GET (and, for forms, POST) /.gatehouse/login/<name>?rd=… ; rd is already made safe. */
  login(request: LoginRequest, rd: string, context: LoginContext): Promise<LoginAnswer>;
  /** GET /.gatehouse/callback/<name> (OIDC). */
  callback?(request: LoginRequest, context: LoginContext): Promise<LoginAnswer>;
  /** POST /.gatehouse/backchannel-logout/<name> (OIDC Back-Channel Logout 1.0). */
  backchannelLogout?(request: LoginRequest): Promise<LoginAnswer>;
  /** Where to send the browser after its gateway session was deleted (RP-initiated
   * logout), or undefined to go back to sign-in. */
  endSessionUrl?(session: StoredSession, postLogoutRedirectUri: string): Promise<string | undefined>;
  /** Renews tokens of a session whose access token is about to expire. */
  refresh?(session: StoredSession, now: number): Promise<RefreshResult>;
  /** False until it can serve (e.g. OIDC discovery done once); feeds /readyz. */
  ready?(): boolean;
  health?(): Record<string, unknown>;
  close?(): Promise<void>;
}

/** A `basic` authenticator's users, throttle and dummy-hash timing, for the form
 * provider (the same brute-force protection as Basic, security.md §7). */
export interface PasswordChecker {
  /** ok (with the identity), fail invalid-credentials (same for unknown user and wrong
   * password) or fail throttled (retryAfter seconds). Never throws for bad input. */
  checkPassword(user: string, password: string, clientIp: string): Promise<import('../pipeline/types.js').AuthResult>;
}
