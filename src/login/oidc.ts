// Sign-in with an OpenID Connect provider (OpenID Connect Core 1.0, authorization code
// flow) through openid-client 6: PKCE S256 (RFC 7636), state and nonce on every login,
// even for confidential clients (RFC 9700 §2.1.1, §4.7).
//
// The login transaction (PKCE verifier, nonce, where to go afterwards) is kept in the
// session store, not in a cookie: the browser only carries `state` in the `-tx` helper
// cookie, which binds the callback to the browser that started the login (login CSRF,
// RFC 6749 §10.12), and the store hands the transaction out once (replay).
//
// Failures answer 400 GATEHOUSE_ERR_LOGIN_FAILED with a machine reason for the log, or
// 503 when the OP or the store cannot be reached (security.md §10). Tokens, codes and
// the verifier never reach a log line, an error body or a reason (security.md §13).
import { createHash, timingSafeEqual } from 'node:crypto';
import * as client from 'openid-client';
import { errorBody, errorStatus, type ErrorCode } from '../errors.js';
import { lookupClaim } from '../pipeline/headers/template.js';
import { claimList } from '../pipeline/authenticate/claims-identity.js';
import type { RequestFacts } from '../pipeline/types.js';
import { clearCookie, helperCookieName, readCookie, serializeCookie, type CookieSettings } from '../sessions/cookie.js';
import type { SessionData, SessionStore, StoredSession } from '../sessions/types.js';
import { createBackchannelLogout, type BackchannelLogout } from './backchannel.js';
import { storageKey } from '../sessions/session-id.js';
import type { LoginAnswer, LoginContext, LoginProvider, LoginRequest, RefreshResult, SignIn } from './types.js';

export interface OidcClaimsMapping {
  /** Dotted path of the user name; required. */
  readonly user: string;
  readonly email?: string;
  readonly name?: string;
  /** Array of strings, or one space-separated string. */
  readonly groups?: string;
}

export interface OidcProviderOptions {
  readonly name: string;
  readonly label: string;
  /** Issuer identifier; https, or http on a loopback host (development). */
  readonly issuer: string;
  readonly clientId: string;
  /** Absent: a public client, protected by PKCE alone. */
  readonly clientSecret?: string;
  /** Must include `openid`. */
  readonly scopes: readonly string[];
  readonly claims: OidcClaimsMapping;
  /** Also read the UserInfo endpoint at sign-in (and after a refresh with a new ID token). */
  readonly userinfo: boolean;
  readonly store: SessionStore;
  readonly cookie: CookieSettings;
  /** Renew tokens when the access token expires within this many ms. */
  readonly refreshBeforeMs: number;
  /** Deadline of each request to the OP. */
  readonly timeoutMs: number;
  /** Replaces global fetch for every request to the OP (tests). */
  readonly fetch?: client.CustomFetch;
  /** Background discovery retries: first delay, doubling up to max. Defaults 1 s and 60 s. */
  readonly discoveryRetry?: { readonly minMs: number; readonly maxMs: number };
}

/** The redirect_uri path; registered at the OP under every public origin. */
export const callbackPath = (name: string): string => `/.gatehouse/callback/${encodeURIComponent(name)}`;

/** Lifetime of a login transaction and of its `-tx` cookie. */
export const LOGIN_TRANSACTION_TTL_MS = 10 * 60_000;
/** How long one instance may hold the refresh lock of a refresh token. */
export const REFRESH_LOCK_TTL_MS = 30_000;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
const NO_STORE = 'no-store';
const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

// Claims of the ID token that describe the token itself: userinfo may add to the
// identity but never rewrite these (OpenID Connect Core §5.3.2 says userinfo's sub must
// equal the ID token's; the rest are not userinfo's to state).
const PROTOCOL_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'auth_time', 'nonce', 'acr', 'amr', 'azp', 'sid', 'at_hash', 'c_hash', 'jti'];

// oauth4webapi's error codes, which openid-client passes on in ClientError.code (they
// are exported by oauth4webapi only, a dependency we do not import directly).
const OAUTH = {
  RESPONSE_IS_NOT_CONFORM: 'OAUTH_RESPONSE_IS_NOT_CONFORM',
  RESPONSE_IS_NOT_JSON: 'OAUTH_RESPONSE_IS_NOT_JSON',
  JWT_CLAIM_COMPARISON: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  JWT_TIMESTAMP_CHECK: 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  INVALID_RESPONSE: 'OAUTH_INVALID_RESPONSE',
  JSON_ATTRIBUTE_COMPARISON: 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED',
} as const;


/** Compares two secrets without leaking where they differ (digests have equal lengths). */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

interface Transaction {
  readonly verifier: string;
  readonly nonce: string;
  readonly rd: string;
  readonly createdAt: number;
  /** The exact redirect_uri of the authorization request: the token request repeats it (RFC 6749 §4.1.3). */
  readonly redirectUri: string;
}

function parseTransaction(text: string): Transaction | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const tx = value as Partial<Record<keyof Transaction, unknown>> | null;
  if (
    tx === null ||
    typeof tx !== 'object' ||
    typeof tx.verifier !== 'string' ||
    typeof tx.nonce !== 'string' ||
    typeof tx.rd !== 'string' ||
    typeof tx.createdAt !== 'number' ||
    typeof tx.redirectUri !== 'string'
  ) {
    return undefined;
  }
  return tx as Transaction;
}

/** Identity fields from claims by the configured paths; undefined without a usable user. */
export function mapOidcClaims(
  claims: Readonly<Record<string, unknown>>,
  mapping: OidcClaimsMapping,
): Pick<SignIn, 'user' | 'email' | 'name' | 'groups'> | undefined {
  const text = (path: string | undefined): string | undefined => {
    const v = path === undefined ? undefined : lookupClaim(claims, path);
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const user = text(mapping.user);
  if (user === undefined) return undefined;
  const email = text(mapping.email);
  const name = text(mapping.name);
  return {
    user,
    ...(email === undefined ? {} : { email }),
    ...(name === undefined ? {} : { name }),
    groups: mapping.groups === undefined ? [] : claimList(lookupClaim(claims, mapping.groups)),
  };
}

/** ID token claims with userinfo's on top, except the ID token's own protocol claims. */
function mergeUserinfo(idClaims: Record<string, unknown>, userinfo: Record<string, unknown> | undefined): Record<string, unknown> {
  if (userinfo === undefined) return idClaims;
  const merged: Record<string, unknown> = { ...idClaims };
  for (const [k, v] of Object.entries(userinfo)) {
    if (!PROTOCOL_CLAIMS.includes(k)) merged[k] = v;
  }
  return merged;
}

const STATUS_UNAVAILABLE = (status: unknown): boolean => typeof status === 'number' && (status >= 500 || status === 429);

/** Whether an openid-client failure means "the OP could not be reached or is failing". */
export function isOpUnreachable(err: unknown): boolean {
  if (err instanceof client.ResponseBodyError) return STATUS_UNAVAILABLE(err.status);
  if (err instanceof client.ClientError) {
    if (err.code === 'OAUTH_TIMEOUT' || err.code === 'OAUTH_ABORT') return true;
    if (err.code === OAUTH.RESPONSE_IS_NOT_CONFORM || err.code === OAUTH.RESPONSE_IS_NOT_JSON) {
      return STATUS_UNAVAILABLE((err.cause as { status?: unknown } | undefined)?.status);
    }
    return false;
  }
  // fetch() rejects with a TypeError when the connection fails (ECONNREFUSED, DNS, TLS).
  return err instanceof TypeError;
}

const ERROR_KIND_RE = /^[A-Za-z0-9_]{1,60}$/;

/** A short, fixed description of a failure for health(): an error code, never a URL or a token. */
function describeError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && ERROR_KIND_RE.test(code)) return code;
  const causeCode = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (typeof causeCode === 'string' && ERROR_KIND_RE.test(causeCode)) return causeCode;
  return 'error';
}

/** Reason for a failed authorization code grant (log only). */
function grantFailure(err: unknown): string {
  if (err instanceof client.ResponseBodyError) {
    if (err.error !== 'invalid_grant') return 'token-error';
    // RFC 7636 §4.6: a wrong verifier is invalid_grant; OPs that say why mention PKCE.
    return /pkce|code_verifier/i.test(err.error_description ?? '') ? 'pkce' : 'invalid-grant';
  }
  if (err instanceof client.ClientError) {
    // openid-client wraps oauth4webapi's error, whose cause names the claim.
    const claim = (err.cause as { cause?: { claim?: unknown } } | undefined)?.cause?.claim;
    if (err.code === OAUTH.JWT_CLAIM_COMPARISON && claim === 'nonce') return 'nonce-mismatch';
    if (err.code === OAUTH.JWT_CLAIM_COMPARISON || err.code === OAUTH.JWT_TIMESTAMP_CHECK) return 'id-token-invalid';
    if (err.code === OAUTH.INVALID_RESPONSE) return 'bad-callback';
  }
  return 'token-error';
}

function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname);
}

/** Rejects anything but https, and http on loopback (openid-client's allowInsecureRequests). */
function parseIssuer(issuer: string): { url: URL; insecure: boolean } {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new TypeError('oidc: issuer must be an absolute https URL');
  }
  if (url.protocol === 'https:') return { url, insecure: false };
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return { url, insecure: true };
  throw new TypeError('oidc: issuer must be https (http only on 127.0.0.1, ::1 or localhost)');
}

export function createOidcProvider(options: OidcProviderOptions): LoginProvider {
  const { name, store, cookie, clientId } = options;
  if (!options.scopes.includes('openid')) throw new TypeError('oidc: scopes must include openid');
  const { url: issuerUrl, insecure } = parseIssuer(options.issuer);
  const retryMinMs = options.discoveryRetry?.minMs ?? 1_000;
  const retryMaxMs = options.discoveryRetry?.maxMs ?? 60_000;
  const txCookie = helperCookieName(cookie, 'tx');
  const redirectPath = callbackPath(name);
  const scope = options.scopes.join(' ');

  let config: client.Configuration | undefined;
  let inFlight: Promise<client.Configuration | undefined> | undefined;
  let lastAttemptAt = -Infinity;
  let failures = 0;
  let lastError: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const backchannel: BackchannelLogout = createBackchannelLogout({
    provider: name,
    clientId,
    store,
    metadata() {
      if (config === undefined) return undefined;
      const m = config.serverMetadata();
      if (typeof m.jwks_uri !== 'string') return undefined;
      const algorithms = m.id_token_signing_alg_values_supported;
      return { issuer: m.issuer, jwksUri: m.jwks_uri, ...(algorithms === undefined ? {} : { algorithms }) };
    },
    jwks: { timeoutMs: options.timeoutMs },
  });

  async function discoverOnce(): Promise<client.Configuration> {
    // OpenID Connect Registration §2: client_secret_basic is the default method.
    const auth = options.clientSecret === undefined ? client.None() : client.ClientSecretBasic(options.clientSecret);
    return client.discovery(issuerUrl, clientId, undefined, auth, {
      timeout: options.timeoutMs / 1000,
      ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
      ...(options.fetch === undefined ? {} : { [client.customFetch]: options.fetch }),
    });
  }

  function schedule(): void {
    if (closed) return;
    const delay = Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(failures - 1, 30));
    clearTimeout(timer);
    timer = setTimeout(() => void attempt(), delay);
    // Background upkeep must never keep the process alive on its own.
    timer.unref();
  }

  /** Starts a discovery; callers check that none is under way. */
  function attempt(): Promise<client.Configuration | undefined> {
    // A pending background retry would only repeat this attempt.
    clearTimeout(timer);
    lastAttemptAt = performance.now();
    inFlight = discoverOnce().then(
      (c) => {
        if (closed) return undefined;
        config = c;
        failures = 0;
        lastError = undefined;
        return c;
      },
      (err: unknown) => {
        failures++;
        lastError = describeError(err);
        schedule();
        return undefined;
      },
    );
    void inFlight.finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  /** The configuration, discovering it inline once when needed (at most once per retry floor). */
  async function ensureConfig(): Promise<client.Configuration | undefined> {
    if (config !== undefined || closed) return config;
    if (inFlight !== undefined) return inFlight;
    // A burst of sign-ins while the OP is down must not become a burst of discoveries.
    if (performance.now() - lastAttemptAt < retryMinMs) return undefined;
    return attempt();
  }

  // Discovery starts now and nobody waits for it: ready() tells /readyz when it is done.
  void attempt();

  function redirectUri(facts: RequestFacts, origins: readonly string[]): string {
    // With no publicUrl the request's own Host is used: development only, since a client
    // then chooses the origin the OP sends the code to (config.md: publicUrl).
    if (origins.length === 0) return `${facts.scheme}://${facts.authority}${redirectPath}`;
    const origin = origins.find((o) => new URL(o).host === facts.authority) ?? origins[0]!;
    return `${origin}${redirectPath}`;
  }

  function fail(code: ErrorCode, request: LoginRequest, reason: string, setCookie?: string): LoginAnswer {
    return {
      status: errorStatus(code),
      headers: { 'cache-control': NO_STORE, ...(setCookie === undefined ? {} : { 'set-cookie': setCookie }) },
      body: JSON.stringify(errorBody(code, request.requestId)),
      contentType: JSON_TYPE,
      reason,
    };
  }

  async function login(request: LoginRequest, rd: string, context: LoginContext): Promise<LoginAnswer> {
    const c = await ensureConfig();
    if (c === undefined) return fail('GATEHOUSE_ERR_LOGIN_PROVIDER_UNAVAILABLE', request, 'op-unreachable');
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const uri = redirectUri(request.facts, context.publicOrigins);
    const tx: Transaction = { verifier, nonce, rd, createdAt: request.now, redirectUri: uri };
    try {
      const stored = await store.putOnce(`oidc-tx:${name}:${storageKey(state)}`, JSON.stringify(tx), LOGIN_TRANSACTION_TTL_MS);
      // 256 random bits colliding means the randomness is broken: refuse to go on.
      if (!stored) return fail('GATEHOUSE_ERR_LOGIN_FAILED', request, 'state-collision');
    } catch {
      return fail('GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE', request, 'store-unavailable');
    }
    const location = client.buildAuthorizationUrl(c, {
      redirect_uri: uri,
      scope,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return {
      status: 302,
      headers: {
        location: location.href,
        // SameSite=Lax: the OP's redirect back is a cross-site top-level GET.
        'set-cookie': serializeCookie(cookie, txCookie, state, { maxAgeSec: LOGIN_TRANSACTION_TTL_MS / 1000, sameSite: 'lax' }),
        'cache-control': NO_STORE,
      },
      body: '',
      contentType: TEXT_TYPE,
      reason: 'redirect-to-op',
    };
  }

  async function userinfoClaims(c: client.Configuration, accessToken: string, sub: string): Promise<Record<string, unknown> | undefined> {
    if (!options.userinfo) return undefined;
    // openid-client checks that userinfo's sub equals the ID token's (Core §5.3.2).
    return (await client.fetchUserInfo(c, accessToken, sub)) as Record<string, unknown>;
  }

  async function callback(request: LoginRequest, context: LoginContext): Promise<LoginAnswer> {
    const clearTx = clearCookie(cookie, txCookie);
    const failed = (reason: string): LoginAnswer => fail('GATEHOUSE_ERR_LOGIN_FAILED', request, reason, clearTx);
    const query = new URLSearchParams(request.facts.query);
    const states = query.getAll('state');
    const bound = readCookie(request.facts.rawHeaders, txCookie);
    if (query.has('error') && states.length === 0) return failed('op-error');
    if (states.length !== 1 || states[0] === '') return failed('state-missing');
    if (bound.kind === 'absent') return failed('tx-cookie-missing');
    if (bound.kind === 'ambiguous') return failed('tx-cookie-ambiguous');
    const state = states[0]!;
    if (!sameSecret(bound.value, state)) return failed('state-mismatch');

    let text: string | undefined;
    try {
      // Taken, not read: a transaction serves one callback, whatever happens next.
      text = await store.take(`oidc-tx:${name}:${storageKey(state)}`);
    } catch {
      return fail('GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE', request, 'store-unavailable', clearTx);
    }
    if (text === undefined) return failed('state-unknown');
    const tx = parseTransaction(text);
    if (tx === undefined) return failed('state-unknown');
    if (request.now - tx.createdAt > LOGIN_TRANSACTION_TTL_MS) return failed('state-expired');
    if (query.has('error')) return failed('op-error');

    const c = await ensureConfig();
    if (c === undefined) return fail('GATEHOUSE_ERR_LOGIN_PROVIDER_UNAVAILABLE', request, 'op-unreachable', clearTx);
    // The URL the OP redirected to is ours (publicUrl, kept in the transaction) plus the
    // query it added: never rebuilt from the Host header.
    const currentUrl = new URL(tx.redirectUri);
    currentUrl.search = request.facts.query;

    let claims: Record<string, unknown>;
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(c, currentUrl, {
        expectedState: state,
        expectedNonce: tx.nonce,
        pkceCodeVerifier: tx.verifier,
        idTokenExpected: true,
      });
    } catch (err) {
      if (isOpUnreachable(err)) return fail('GATEHOUSE_ERR_LOGIN_PROVIDER_UNAVAILABLE', request, 'op-unreachable', clearTx);
      return failed(grantFailure(err));
    }
    const idClaims = tokens.claims()! as Record<string, unknown>;
    const sub = idClaims.sub as string;
    try {
      claims = mergeUserinfo(idClaims, await userinfoClaims(c, tokens.access_token, sub));
    } catch (err) {
      if (isOpUnreachable(err)) return fail('GATEHOUSE_ERR_LOGIN_PROVIDER_UNAVAILABLE', request, 'op-unreachable', clearTx);
      const sameSub = err instanceof client.ClientError && err.code === OAUTH.JSON_ATTRIBUTE_COMPARISON;
      return failed(sameSub ? 'userinfo-sub-mismatch' : 'userinfo-error');
    }
    const identity = mapOidcClaims(claims, options.claims);
    if (identity === undefined) return failed('missing-user-claim');
    const expiresIn = tokens.expiresIn();
    const sid = idClaims.sid;
    const signIn: SignIn = {
      ...identity,
      claims,
      oidc: {
        sub,
        ...(typeof sid === 'string' && sid !== '' ? { sid } : {}),
        idToken: tokens.id_token!,
        ...(tokens.refresh_token === undefined ? {} : { refreshToken: tokens.refresh_token }),
        ...(expiresIn === undefined ? {} : { accessTokenExpiresAt: request.now + expiresIn * 1000 }),
      },
    };
    let sessionCookie: string;
    try {
      sessionCookie = await context.startSession(name, signIn, request.now);
    } catch {
      return fail('GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE', request, 'store-unavailable', clearTx);
    }
    return {
      status: 303,
      headers: { location: tx.rd, 'set-cookie': [sessionCookie, clearTx], 'cache-control': NO_STORE },
      body: '',
      contentType: TEXT_TYPE,
      reason: 'signed-in',
      user: identity.user,
    };
  }

  async function renew(c: client.Configuration, session: StoredSession, refreshToken: string, now: number): Promise<RefreshResult> {
    const oidc = session.oidc!;
    const tokens = await client.refreshTokenGrant(c, refreshToken);
    const { lastSeenAt: _lastSeenAt, ...previous } = session;
    let data: SessionData = previous;
    let sid = oidc.sid;
    if (tokens.id_token !== undefined) {
      const idClaims = tokens.claims()! as Record<string, unknown>;
      // Core §12.2: a refreshed ID token must be about the same subject.
      if (idClaims.sub !== oidc.sub) return { outcome: 'ended' };
      if (typeof idClaims.sid === 'string' && idClaims.sid !== '') sid = idClaims.sid;
      const claims = mergeUserinfo(idClaims, await userinfoClaims(c, tokens.access_token, oidc.sub));
      const identity = mapOidcClaims(claims, options.claims);
      // Some OPs send a slimmer ID token on refresh: without the user claim the identity
      // stays as it was; with another user, this session is not that user's.
      if (identity !== undefined) {
        if (identity.user !== session.user) return { outcome: 'ended' };
        const { email: _email, name: _name, ...rest } = previous;
        data = { ...rest, ...identity, claims };
      }
    }
    const expiresIn = tokens.expiresIn();
    return {
      outcome: 'renewed',
      data: {
        ...data,
        oidc: {
          sub: oidc.sub,
          ...(sid === undefined ? {} : { sid }),
          ...(tokens.id_token !== undefined ? { idToken: tokens.id_token } : oidc.idToken === undefined ? {} : { idToken: oidc.idToken }),
          // RFC 6749 §6: the OP may rotate the refresh token or keep the old one valid.
          refreshToken: tokens.refresh_token ?? refreshToken,
          ...(expiresIn === undefined ? {} : { accessTokenExpiresAt: now + expiresIn * 1000 }),
        },
      },
    };
  }

  async function refresh(session: StoredSession, now: number): Promise<RefreshResult> {
    const oidc = session.oidc;
    const refreshToken = oidc?.refreshToken;
    const expiresAt = oidc?.accessTokenExpiresAt;
    // Nothing to renew, or not yet due: the caller keeps the session as it is.
    if (refreshToken === undefined || expiresAt === undefined || expiresAt - now > options.refreshBeforeMs) return { outcome: 'current' };
    const c = await ensureConfig();
    if (c === undefined) return { outcome: 'unavailable' };
    // One renewal per refresh token across all instances: with rotation, a second grant
    // with the same token would be refused and could revoke the grant (RFC 9700 §4.14.2).
    const lockKey = `oidc-refresh:${name}:${storageKey(refreshToken)}`;
    let lock: string | undefined;
    try {
      lock = await store.acquireLock(lockKey, REFRESH_LOCK_TTL_MS);
    } catch {
      return { outcome: 'unavailable' };
    }
    if (lock === undefined) return { outcome: 'unavailable' };
    let result: RefreshResult;
    try {
      result = await renew(c, session, refreshToken, now);
    } catch (err) {
      result = err instanceof client.ResponseBodyError && err.error === 'invalid_grant' ? { outcome: 'ended' } : { outcome: 'unavailable' };
    }
    // After a renewal (or an end) the lock is left to expire: a request that read the
    // session before the caller replaced it still holds the old refresh token, and must
    // not spend it again. After a failure it is released so the next request can retry.
    if (result.outcome === 'unavailable') await store.releaseLock(lockKey, lock).catch(() => undefined);
    return result;
  }

  async function endSessionUrl(session: StoredSession, postLogoutRedirectUri: string): Promise<string | undefined> {
    const c = await ensureConfig();
    if (c?.serverMetadata().end_session_endpoint === undefined) return undefined;
    const idToken = session.oidc?.idToken;
    // RP-Initiated Logout 1.0 §2: id_token_hint is RECOMMENDED; client_id is added by openid-client.
    return client.buildEndSessionUrl(c, {
      post_logout_redirect_uri: postLogoutRedirectUri,
      ...(idToken === undefined ? {} : { id_token_hint: idToken }),
    }).href;
  }

  return {
    name,
    type: 'oidc',
    label: options.label,
    login,
    callback,
    refresh,
    endSessionUrl,
    backchannelLogout: (request) => backchannel.handle(request),
    ready: () => config !== undefined,
    health() {
      const discovery = config !== undefined ? 'ok' : failures === 0 ? 'pending' : 'failing';
      return { discovery, ...(lastError === undefined ? {} : { lastError }), ...backchannel.health() };
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await inFlight;
      await backchannel.close();
    },
  };
}
