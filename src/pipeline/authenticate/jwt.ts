// Bearer JWTs (RFC 7519 over RFC 7515 compact JWS), under security.md §6: the
// authenticator's configuration picks the algorithms and the keys, never the token.
// Order of checks: shape → header → key → signature → claims. Claims are read only
// once the signature holds, so a forged token is always "invalid", never "expired".
//
// Answers (RFC 6750 §3): no Bearer header → skip; a presented token that fails → 401
// with an `invalid_token` challenge whose error_description is one of five fixed texts
// (never a claim or the token); no key set at all → 503 (our outage, not the client's).
import { createSecretKey, type KeyObject } from 'node:crypto';
import type { ErrorCode } from '../../errors.js';
import { algorithmSpec, isSupportedAlgorithm } from '../../jwt/algorithms.js';
import { MAX_TOKEN_BYTES, parseJsonObject, splitCompactJws, type CompactParseFailure } from '../../jwt/compact.js';
import type { KeySet } from '../../jwt/key-set.js';
import type { RemoteJwks } from '../../jwt/remote-jwks.js';
import { createClaimsValidator, createHeaderChecker, verifyJws } from '../../jwt/verify.js';
import type { AuthResult, Authenticator, RequestFacts } from '../types.js';
import { parseBearerToken } from './bearer.js';
import { createIdentityBuilder, type ClaimsMapping } from './claims-identity.js';
import { createTokenCache } from './token-cache.js';

export interface JwtAuthenticatorOptions {
  name: string;
  /** For `Bearer realm="…"`. */
  realm: string;
  /** Allow-list; each must be in SUPPORTED_ALGORITHMS (`none` never is). */
  algorithms: readonly string[];
  /**
   * `secret` verifies HS* only, key sets verify everything else only. A remote JWKS is
   * owned by the authenticator from here on: close() closes it.
   */
  keys: { kind: 'secret'; secret: Buffer } | { kind: 'static'; keySet: KeySet } | { kind: 'remote'; jwks: RemoteJwks };
  issuer?: string;
  audience: readonly string[] | 'any';
  clockToleranceMs: number;
  claims: ClaimsMapping;
  cache: { maxEntries: number };
}

export interface JwtAuthenticatorDeps {
  /** Wall clock in ms since the epoch (token dates are epoch seconds). */
  now?: () => number;
}

/** The only texts ever sent as error_description (bearer-design.md). */
export const ERROR_DESCRIPTIONS = Object.freeze({
  expired: 'token expired',
  notYetValid: 'token not yet valid',
  invalid: 'invalid token',
  tooLarge: 'token too large',
  unsupported: 'unsupported token type',
});

type Description = (typeof ERROR_DESCRIPTIONS)[keyof typeof ERROR_DESCRIPTIONS];

const COMPACT_FAILURE_DESCRIPTIONS: Readonly<Record<CompactParseFailure, Description>> = {
  'too-large': ERROR_DESCRIPTIONS.tooLarge,
  jwe: ERROR_DESCRIPTIONS.unsupported,
  'bad-encoding': ERROR_DESCRIPTIONS.invalid,
  'bad-header': ERROR_DESCRIPTIONS.invalid,
  'duplicate-header-member': ERROR_DESCRIPTIONS.invalid,
};

/** RFC 9110 §5.6.4 quoted-string. */
function quotedString(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

interface Cached {
  readonly result: AuthResult;
  /** What vouched for the token: a refreshed JWKS invalidates what the old one vouched for. */
  readonly source: object;
}

export function createJwtAuthenticator(opts: JwtAuthenticatorOptions, deps: JwtAuthenticatorDeps = {}): Authenticator {
  const { name, realm, keys, issuer, audience, clockToleranceMs, claims: mapping } = opts;
  if (typeof name !== 'string' || name === '') throw new TypeError('jwt authenticator: name must be a non-empty string');
  const what = `jwt authenticator ${name}`;
  // Sent in a WWW-Authenticate quoted-string: printable Latin-1 only (see basic.ts).
  if (!/^[\x20-\x7e\xa0-\xff]*$/.test(realm)) throw new RangeError(`${what}: realm must be printable Latin-1 text without control characters`);
  if (opts.algorithms.length === 0) throw new RangeError(`${what}: algorithms must not be empty`);
  for (const alg of opts.algorithms) {
    if (!isSupportedAlgorithm(alg)) throw new RangeError(`${what}: unsupported algorithm ${JSON.stringify(alg)}`);
    const hmac = algorithmSpec(alg)!.family === 'hmac';
    // security.md §6: the HS secret can never be confused with a public key, so each
    // kind of key verifies its own family and nothing else.
    if (hmac && keys.kind !== 'secret') throw new RangeError(`${what}: ${alg} needs \`secret\`; key sets verify asymmetric algorithms only`);
    if (!hmac && keys.kind === 'secret') throw new RangeError(`${what}: ${alg} needs public keys; \`secret\` verifies HS256/HS384/HS512 only`);
    const min = algorithmSpec(alg)!.minSecretBytes;
    if (keys.kind === 'secret' && min !== undefined && keys.secret.length < min) {
      // RFC 7518 §3.2: the key must be at least as long as the hash output.
      throw new RangeError(`${what}: the secret must be at least ${min} bytes for ${alg}`);
    }
  }
  if (audience !== 'any' && (audience.length === 0 || audience.some((a) => typeof a !== 'string' || a === ''))) {
    throw new RangeError(`${what}: audience must be 'any' or a non-empty list of non-empty strings`);
  }
  if (!(clockToleranceMs >= 0) || !Number.isFinite(clockToleranceMs)) throw new RangeError(`${what}: clockToleranceMs must be a non-negative number`);
  if (typeof mapping.user !== 'string' || mapping.user === '') throw new RangeError(`${what}: claims.user must be a claim path`);

  const allowed: ReadonlySet<string> = new Set(opts.algorithms);
  const now = deps.now ?? Date.now;
  // Second sight: a token presented once (most of them, at a busy issuer) never takes a
  // long-lived LRU entry; one presented again is cached from then on (token-cache.ts).
  const cache = createTokenCache<Cached>({ maxEntries: opts.cache.maxEntries, admission: 'second-sight' });
  const checkHeaderText = createHeaderChecker(allowed);
  const validateClaims = createClaimsValidator({ ...(issuer === undefined ? {} : { issuer }), audience, clockToleranceMs });
  const identityOf = createIdentityBuilder(mapping, 'jwt', name);
  const secretKeys: readonly KeyObject[] = keys.kind === 'secret' ? [createSecretKey(keys.secret)] : [];
  // What a cache entry is bound to when keys never change (a secret, a static key set).
  const STATIC_SOURCE = keys.kind === 'static' ? keys.keySet : {};
  const jwks = keys.kind === 'remote' ? keys.jwks : undefined;

  const challenge = `Bearer realm=${quotedString(realm)}`;
  const fail = (reason: string, code: ErrorCode, description: Description): AuthResult => ({
    outcome: 'fail',
    reason,
    code,
    challenge: `${challenge}, error="invalid_token", error_description="${description}"`,
  });
  const invalid = (reason: string): AuthResult => fail(reason, 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS', ERROR_DESCRIPTIONS.invalid);
  const malformed = (reason: string, description: Description = ERROR_DESCRIPTIONS.invalid): AuthResult =>
    fail(reason, 'GATEHOUSE_ERR_AUTH_MALFORMED_CREDENTIALS', description);
  // No invalid_token challenge: the token may be fine; we cannot tell (RFC 6750 §3.1).
  const NO_KEYS: AuthResult = Object.freeze({ outcome: 'fail', reason: 'no-keys', code: 'GATEHOUSE_ERR_AUTH_UNAVAILABLE' });
  const SKIP: AuthResult = Object.freeze({ outcome: 'skip' });

  const currentSource = (): object | undefined => (jwks === undefined ? STATIC_SOURCE : jwks.current());

  async function authenticate(facts: RequestFacts): Promise<AuthResult> {
    // The same limit as the JWS parser's, applied before anything else is looked at.
    const bearer = parseBearerToken(facts.headers.authorization, MAX_TOKEN_BYTES);
    if (bearer.kind === 'skip') return SKIP;
    if (bearer.kind === 'malformed') {
      return malformed(bearer.reason, bearer.reason === 'too-large' ? ERROR_DESCRIPTIONS.tooLarge : ERROR_DESCRIPTIONS.invalid);
    }
    const { token } = bearer;
    const nowMs = now();
    const hit = cache.get(token, nowMs);
    if (hit !== undefined && hit.source === currentSource()) return hit.result;

    const parsed = splitCompactJws(token);
    if (!parsed.ok) {
      // Not a JWS at all (an opaque token, a JWE): this route's Bearer belongs to us, so
      // it is a malformed credential, not a reason to let another authenticator try.
      return malformed(parsed.reason, COMPACT_FAILURE_DESCRIPTIONS[parsed.reason]);
    }
    const { jws } = parsed;
    const header = checkHeaderText(jws.headerText);
    if (!header.ok) {
      if (header.reason === 'jwe') return malformed('jwe', ERROR_DESCRIPTIONS.unsupported);
      if (header.reason === 'bad-typ') return fail('bad-typ', 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS', ERROR_DESCRIPTIONS.unsupported);
      // Not a JSON object, or a duplicate member: the shape is wrong, as in parseCompactJws.
      if (Object.hasOwn(COMPACT_FAILURE_DESCRIPTIONS, header.reason)) {
        return malformed(header.reason, COMPACT_FAILURE_DESCRIPTIONS[header.reason as CompactParseFailure]);
      }
      return invalid(header.reason);
    }
    const { alg, kid } = header;

    let source: object;
    let candidates: readonly KeyObject[];
    if (jwks === undefined) {
      source = STATIC_SOURCE;
      candidates = keys.kind === 'static' ? keys.keySet.select(alg, kid) : secretKeys;
    } else {
      // Requests that arrive before the first fetch finishes join it rather than fail.
      const keySet = jwks.current() ?? (await jwks.refetch());
      if (keySet === undefined) return NO_KEYS;
      source = keySet;
      candidates = keySet.select(alg, kid);
      if (candidates.length === 0) {
        // Maybe the issuer rotated keys since the last fetch: one refetch per cooldown.
        const fresh = await jwks.refetch();
        if (fresh !== undefined && fresh !== keySet) {
          source = fresh;
          candidates = fresh.select(alg, kid);
        }
      }
    }
    if (candidates.length === 0) {
      const known = kid === undefined || (source as KeySet).hasKid(kid);
      return invalid(known ? 'no-matching-key' : 'unknown-kid');
    }
    if (!candidates.some((key) => verifyJws(jws, key, alg))) return invalid('bad-signature');

    const payload = parseJsonObject(jws.payload);
    if (!payload.ok) return invalid('bad-claims');
    const checked = validateClaims(payload.value, nowMs);
    if (!checked.ok) {
      switch (checked.reason) {
        case 'expired':
          return fail('expired', 'GATEHOUSE_ERR_AUTH_TOKEN_EXPIRED', ERROR_DESCRIPTIONS.expired);
        case 'not-yet-valid':
        case 'iat-in-future':
          return fail(checked.reason, 'GATEHOUSE_ERR_AUTH_TOKEN_NOT_YET_VALID', ERROR_DESCRIPTIONS.notYetValid);
        default:
          return invalid(checked.reason);
      }
    }
    const identity = identityOf(payload.value);
    if (identity === undefined) return invalid('missing-user-claim');
    const result: AuthResult = Object.freeze({ outcome: 'ok', identity, consumed: 'authorization' });
    // Until the exact exp, without the clock tolerance: a cached token never outlives it
    // (one accepted only thanks to the tolerance is not cached at all).
    if (checked.expMs > nowMs) cache.set(token, { result, source }, checked.expMs);
    return result;
  }

  const authenticator: Authenticator = {
    name,
    type: 'jwt',
    challenge,
    authenticate,
    scopeChallenge(required) {
      return `${challenge}, error="insufficient_scope", scope=${quotedString(required.join(' '))}`;
    },
    async close() {
      cache.clear();
      await jwks?.close();
    },
  };
  if (jwks === undefined) return authenticator;
  return { ...authenticator, ready: () => jwks.ready(), health: () => jwks.health() };
}
