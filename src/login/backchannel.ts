// OpenID Connect Back-Channel Logout 1.0: the OP POSTs a signed logout token and we
// delete the sessions it names. Validation follows §2.6 with our own strict JWS code
// (src/jwt/*, security.md §6), not openid-client's: the algorithms come from the OP's
// metadata (id_token_signing_alg_values_supported, `none` and HS* never), the keys from
// its jwks_uri, and every claim rule below has a test.
//
// Answers (§2.8): 200 with Cache-Control: no-store when the token was good (even when no
// session matched: the OP must not retry), 400 `invalid_request` with a fixed, safe
// description for a bad token, 503 when we cannot act on a good one (store or keys down),
// so the OP may retry.
import { errorBody, errorStatus, type ErrorCode } from '../errors.js';
import { isHmacAlgorithm, isSupportedAlgorithm } from '../jwt/algorithms.js';
import { parseCompactJws, parseJsonObject, type CompactParseFailure } from '../jwt/compact.js';
import type { KeySet } from '../jwt/key-set.js';
import { createRemoteJwks, type RemoteJwks, type RemoteJwksOptions } from '../jwt/remote-jwks.js';
import { checkHeader, validateClaims, verifyJws, type ClaimsFailure } from '../jwt/verify.js';
import { storageKey } from '../sessions/session-id.js';
import type { SessionStore } from '../sessions/types.js';
import type { LoginAnswer, LoginRequest } from './types.js';

/** §2.4: the member of `events` that makes a JWT a logout token. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Clock skew accepted on `iat` (and `exp`) between the OP and us. */
export const LOGOUT_TOKEN_CLOCK_TOLERANCE_MS = 60_000;

// §2.4 recommends explicit typing (RFC 8725 §3.11). RFC 7515 §4.1.9: the media type may
// omit "application/" and compares case-insensitively.
const LOGOUT_TYP_RE = /^(?:application\/)?logout\+jwt$/i;

export type LogoutTokenFailure =
  | CompactParseFailure
  | 'jwe'
  | 'alg-not-allowed'
  | 'crit'
  | 'forbidden-header'
  | 'bad-typ'
  | 'bad-kid'
  | 'unknown-kid'
  | 'no-matching-key'
  | 'bad-signature'
  | 'bad-claims'
  | ClaimsFailure
  | 'missing-iat'
  | 'missing-jti'
  | 'bad-events'
  | 'missing-sub-and-sid'
  | 'bad-sub'
  | 'bad-sid'
  | 'nonce-present';

export interface LogoutClaims {
  readonly jti: string;
  /** Epoch ms of `exp`. */
  readonly expMs: number;
  readonly sub?: string;
  readonly sid?: string;
}

export type LogoutTokenCheck =
  | { readonly ok: true; readonly claims: LogoutClaims }
  | { readonly ok: false; readonly reason: LogoutTokenFailure }
  /** No key set at all (the JWKS was never fetched): our outage, not a bad token. */
  | { readonly ok: false; readonly reason: 'no-keys' };

export interface LogoutTokenRules {
  /** The OP's `issuer`, compared as a string. */
  readonly issuer: string;
  /** Our client_id: must be one of `aud`. */
  readonly clientId: string;
  /** Accepted JWS algorithms (never `none`). */
  readonly algorithms: ReadonlySet<string>;
  readonly nowMs: number;
}

/** Where keys come from: a RemoteJwks, or a fixed set in tests. */
export interface LogoutTokenKeys {
  current(): KeySet | undefined;
  /** Fetch again (rate-limited by the source); the key set after it. */
  refetch(): Promise<KeySet | undefined>;
}

const nonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Validates a logout token (§2.6): shape, header, signature, then the claims. Claims are
 * read only once the signature holds, so a forgery is always a bad signature. The jti
 * replay check needs the store and is the caller's.
 */
export async function verifyLogoutToken(token: string, keys: LogoutTokenKeys, rules: LogoutTokenRules): Promise<LogoutTokenCheck> {
  const parsed = parseCompactJws(token);
  if (!parsed.ok) return parsed;
  const { jws } = parsed;
  // checkHeader knows the typ values of access and ID tokens; a logout token has its own.
  const { typ, ...rest } = jws.header;
  const header = checkHeader(rest, rules.algorithms);
  if (!header.ok) {
    const reason = header.reason.startsWith('forbidden-header:') ? 'forbidden-header' : (header.reason as LogoutTokenFailure);
    return { ok: false, reason };
  }
  if (typ !== undefined && (typeof typ !== 'string' || !LOGOUT_TYP_RE.test(typ))) return { ok: false, reason: 'bad-typ' };
  const { alg, kid } = header;

  const keySet = keys.current() ?? (await keys.refetch());
  if (keySet === undefined) return { ok: false, reason: 'no-keys' };
  let source = keySet;
  let candidates = keySet.select(alg, kid);
  if (candidates.length === 0) {
    // The OP may have rotated its keys since the last fetch (refetch is rate-limited).
    const fresh = await keys.refetch();
    if (fresh !== undefined && fresh !== keySet) {
      source = fresh;
      candidates = fresh.select(alg, kid);
    }
  }
  if (candidates.length === 0) {
    return { ok: false, reason: kid === undefined || source.hasKid(kid) ? 'no-matching-key' : 'unknown-kid' };
  }
  if (!candidates.some((key) => verifyJws(jws, key, alg))) return { ok: false, reason: 'bad-signature' };

  const payload = parseJsonObject(jws.payload);
  if (!payload.ok) return { ok: false, reason: 'bad-claims' };
  const claims = payload.value;
  // §2.4: iat is REQUIRED; validateClaims only checks it when present.
  if (claims.iat === undefined) return { ok: false, reason: 'missing-iat' };
  const checked = validateClaims(claims, {
    issuer: rules.issuer,
    audience: [rules.clientId],
    clockToleranceMs: LOGOUT_TOKEN_CLOCK_TOLERANCE_MS,
    nowMs: rules.nowMs,
  });
  if (!checked.ok) return checked;
  // §2.4: jti is REQUIRED (replay protection, §2.6 step 6 / §2.7).
  if (!nonEmptyString(claims.jti)) return { ok: false, reason: 'missing-jti' };
  // §2.6 step 3: `events` is a JSON object whose backchannel-logout member is a JSON object.
  if (!isObject(claims.events) || !Object.hasOwn(claims.events, BACKCHANNEL_LOGOUT_EVENT) || !isObject(claims.events[BACKCHANNEL_LOGOUT_EVENT])) {
    return { ok: false, reason: 'bad-events' };
  }
  const { sub, sid } = claims;
  if (sub === undefined && sid === undefined) return { ok: false, reason: 'missing-sub-and-sid' };
  if (sub !== undefined && !nonEmptyString(sub)) return { ok: false, reason: 'bad-sub' };
  if (sid !== undefined && !nonEmptyString(sid)) return { ok: false, reason: 'bad-sid' };
  // §2.4: a nonce is forbidden, so an ID token can never pass for a logout token.
  if (Object.hasOwn(claims, 'nonce')) return { ok: false, reason: 'nonce-present' };
  return {
    ok: true,
    claims: { jti: claims.jti, expMs: checked.expMs, ...(sub === undefined ? {} : { sub }), ...(sid === undefined ? {} : { sid }) },
  };
}

/** The OP's metadata that logout-token validation needs, once discovery succeeded. */
export interface OpSigningMetadata {
  readonly issuer: string;
  readonly jwksUri: string;
  /** id_token_signing_alg_values_supported, as published (undefined when absent). */
  readonly algorithms?: readonly string[];
}

export interface BackchannelLogoutOptions {
  /** Login provider name (`login.providers.<name>`): the store's session index. */
  readonly provider: string;
  readonly clientId: string;
  readonly store: SessionStore;
  /** undefined until the OP's discovery succeeded. */
  readonly metadata: () => OpSigningMetadata | undefined;
  /** Tuning of the OP's JWKS fetcher (timeouts, cooldown); the url comes from metadata. */
  readonly jwks?: Omit<RemoteJwksOptions, 'url'>;
}

export interface BackchannelLogout {
  /** POST /.gatehouse/backchannel-logout/<provider> */
  handle(request: LoginRequest): Promise<LoginAnswer>;
  health(): Record<string, unknown>;
  close(): Promise<void>;
}

/** Algorithms a logout token may use: the OP's ID token algorithms we verify with public keys. */
export function logoutTokenAlgorithms(published: readonly string[] | undefined): ReadonlySet<string> {
  // OIDC Discovery §3: the list is REQUIRED and must include RS256; assume that when absent.
  // HS* would need the client secret as the key, and `none` is no signature: neither can
  // stand for a logout.
  return new Set((published ?? ['RS256']).filter((alg) => isSupportedAlgorithm(alg) && !isHmacAlgorithm(alg)));
}

// Fixed texts for error_description: they tell the OP's operator what was wrong without
// echoing anything from the request.
const DESCRIPTIONS: Readonly<Record<string, string>> = {
  'missing-token': 'logout_token is missing',
  'ambiguous-token': 'logout_token appears more than once',
  'bad-signature': 'logout token signature is invalid',
  'unknown-kid': 'logout token signature is invalid',
  'no-matching-key': 'logout token signature is invalid',
  expired: 'logout token has expired',
  'missing-exp': 'logout token has no exp',
  'bad-issuer': 'logout token issuer is not accepted',
  'bad-audience': 'logout token audience is not accepted',
  'missing-iat': 'logout token has no iat',
  'iat-in-future': 'logout token iat is in the future',
  'not-yet-valid': 'logout token is not valid yet',
  'missing-jti': 'logout token has no jti',
  replayed: 'logout token was already used',
  'bad-events': 'logout token has no backchannel-logout event',
  'missing-sub-and-sid': 'logout token has neither sub nor sid',
  'nonce-present': 'logout token must not contain a nonce',
  'bad-typ': 'logout token typ is not logout+jwt',
  'alg-not-allowed': 'logout token algorithm is not accepted',
};


const NO_STORE = 'no-store';

function invalidToken(reason: string): LoginAnswer {
  return {
    status: 400,
    headers: { 'cache-control': NO_STORE },
    body: JSON.stringify({ error: 'invalid_request', error_description: DESCRIPTIONS[reason] ?? 'logout token is invalid' }),
    contentType: 'application/json; charset=utf-8',
    reason: `GATEHOUSE_ERR_LOGOUT_TOKEN_INVALID:${reason}`,
  };
}

function gatehouseError(code: ErrorCode, requestId: string, reason: string, extra: Record<string, string> = {}): LoginAnswer {
  return {
    status: errorStatus(code),
    headers: { 'cache-control': NO_STORE, ...extra },
    body: JSON.stringify(errorBody(code, requestId)),
    contentType: 'application/json; charset=utf-8',
    reason,
  };
}

export function createBackchannelLogout(options: BackchannelLogoutOptions): BackchannelLogout {
  const { provider, clientId, store } = options;
  let jwks: RemoteJwks | undefined;
  let closed = false;

  // Created on the first logout token, not at startup: most OPs never send one.
  const keysFor = (jwksUri: string): RemoteJwks => {
    jwks ??= createRemoteJwks({ ...options.jwks, url: jwksUri });
    return jwks;
  };

  return {
    async handle(request) {
      const { requestId, now } = request;
      if (request.facts.method !== 'POST') {
        return gatehouseError('GATEHOUSE_ERR_REQUEST_METHOD_NOT_ALLOWED', requestId, 'method-not-allowed', { allow: 'POST' });
      }
      const tokens = request.form?.getAll('logout_token') ?? [];
      if (tokens.length === 0 || tokens[0] === '') return invalidToken('missing-token');
      if (tokens.length > 1) return invalidToken('ambiguous-token');
      const metadata = closed ? undefined : options.metadata();
      if (metadata === undefined) return gatehouseError('GATEHOUSE_ERR_LOGIN_PROVIDER_UNAVAILABLE', requestId, 'provider-not-discovered');

      const checked = await verifyLogoutToken(tokens[0]!, keysFor(metadata.jwksUri), {
        issuer: metadata.issuer,
        clientId,
        algorithms: logoutTokenAlgorithms(metadata.algorithms),
        nowMs: now,
      });
      if (!checked.ok) {
        if (checked.reason === 'no-keys') return gatehouseError('GATEHOUSE_ERR_LOGIN_PROVIDER_UNAVAILABLE', requestId, 'jwks-unavailable');
        return invalidToken(checked.reason);
      }
      const { jti, expMs, sub, sid } = checked.claims;
      // §2.6 step 6 / §2.7: a jti is accepted once, remembered for as long as the token
      // itself would be accepted (exp plus the clock tolerance).
      const jtiKey = `bcl-jti:${provider}:${storageKey(jti)}`;
      let fresh: boolean;
      try {
        fresh = await store.putOnce(jtiKey, '1', Math.max(1, expMs + LOGOUT_TOKEN_CLOCK_TOLERANCE_MS - now));
      } catch {
        return gatehouseError('GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE', requestId, 'store-unavailable');
      }
      if (!fresh) return invalidToken('replayed');
      let deleted: number;
      try {
        // sid names one OP session; without it, every session of the subject ends (§2.4).
        deleted = await store.deleteByOidc(provider, sid === undefined ? { sub } : { sid });
      } catch {
        // Forget the jti again so that the OP's retry of this same token is not refused
        // as a replay; if the store is down for that too, the retry will say so.
        await store.take(jtiKey).catch(() => undefined);
        return gatehouseError('GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE', requestId, 'store-unavailable');
      }
      return {
        status: 200,
        headers: { 'cache-control': NO_STORE },
        body: '',
        contentType: 'text/plain; charset=utf-8',
        reason: `backchannel-logout:${deleted}`,
      };
    },
    health() {
      return jwks === undefined ? {} : { logoutJwks: jwks.health().jwks };
    },
    async close() {
      closed = true;
      await jwks?.close();
    },
  };
}
