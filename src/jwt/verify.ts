// JWS header rules, signature check and JWT claim rules (security.md §6). The signature is
// checked with node:crypto's one-shot functions (bearer-design.md: a fraction of jose's
// per-call cost); the rules are ours and each has a test, so no library default decides.
import { createHmac, timingSafeEqual, verify as cryptoVerify, constants, type KeyObject } from 'node:crypto';
import { algorithmSpec, type JwsAlgorithm } from './algorithms.js';
import { parseJoseHeader, type ParsedJws } from './compact.js';

/**
 * Header members that would let the token choose its own key (RFC 7515 §4.1.2-4.1.8),
 * change what the signature covers (`b64`, RFC 7797) or compress (`zip`, a JWE member,
 * RFC 7516 §4.1.3). Keys come from the configuration only.
 */
export const FORBIDDEN_HEADER_MEMBERS = ['jku', 'x5u', 'jwk', 'x5c', 'x5t', 'x5t#S256', 'b64', 'zip'] as const;

// RFC 7515 §4.1.9: the media type may omit "application/" and compares case-insensitively.
// "JWT" (RFC 7519 §5.1) or "at+jwt" (RFC 9068 §2.1).
const TYP_RE = /^(?:application\/)?(?:jwt|at\+jwt)$/i;

export type HeaderCheck =
  | { readonly ok: true; readonly alg: JwsAlgorithm; readonly kid: string | undefined }
  | { readonly ok: false; readonly reason: string };

/** The header's alg and kid, if the header follows every rule. */
export function checkHeader(header: Readonly<Record<string, unknown>>, allowed: ReadonlySet<string>): HeaderCheck {
  // RFC 7516 §9: a header with "enc" belongs to a JWE.
  if (Object.hasOwn(header, 'enc')) return { ok: false, reason: 'jwe' };
  const { alg, kid, typ } = header;
  // `none` is never in `allowed` (the caller builds it from SUPPORTED_ALGORITHMS only).
  if (typeof alg !== 'string' || !allowed.has(alg)) return { ok: false, reason: 'alg-not-allowed' };
  // RFC 7515 §4.1.11: an extension we do not understand MUST make the JWS invalid, and
  // we understand none.
  if (Object.hasOwn(header, 'crit')) return { ok: false, reason: 'crit' };
  for (const name of FORBIDDEN_HEADER_MEMBERS) {
    if (Object.hasOwn(header, name)) return { ok: false, reason: `forbidden-header:${name}` };
  }
  if (typ !== undefined && (typeof typ !== 'string' || !TYP_RE.test(typ))) return { ok: false, reason: 'bad-typ' };
  if (kid !== undefined && typeof kid !== 'string') return { ok: false, reason: 'bad-kid' };
  return { ok: true, alg: alg as JwsAlgorithm, kid };
}

export type HeaderTextCheck = HeaderCheck | { readonly ok: false; readonly reason: 'bad-encoding' | 'bad-header' | 'duplicate-header-member' };

/** Distinct header texts remembered by a header checker; more, and it starts over. */
export const MAX_MEMO_HEADERS = 64;

/**
 * checkHeader over the header's base64url text, remembering the texts that passed. The
 * answer is a function of the exact text and `allowed` alone, and the tokens of one issuer
 * mostly share one header text (one per kid), so it is decoded and checked once instead of
 * once per token. Failures are not remembered (each is checked again). Bounded: once full,
 * the memo is emptied, so texts chosen to churn it cost their senders, not the memory.
 */
export function createHeaderChecker(allowed: ReadonlySet<string>, maxEntries: number = MAX_MEMO_HEADERS): (headerText: string) => HeaderTextCheck {
  const memo = new Map<string, HeaderCheck>();
  return (headerText) => {
    const known = memo.get(headerText);
    if (known !== undefined) return known;
    const parsed = parseJoseHeader(headerText);
    if (!parsed.ok) return parsed;
    const checked = checkHeader(parsed.header, allowed);
    if (checked.ok) {
      if (memo.size >= maxEntries) memo.clear();
      memo.set(headerText, Object.freeze(checked));
    }
    return checked;
  };
}

/** Whether `jws.signature` is a valid `alg` signature of its signing input under `key`. */
export function verifyJws(jws: Pick<ParsedJws, 'signingInput' | 'signature'>, key: KeyObject, alg: JwsAlgorithm): boolean {
  const spec = algorithmSpec(alg)!;
  const { signature } = jws;
  try {
    switch (spec.family) {
      case 'hmac': {
        const mac = createHmac(spec.hash!, key).update(jws.signingInput, 'latin1').digest();
        // The length of an HMAC is public; the comparison of its bytes must not leak timing.
        return mac.length === signature.length && timingSafeEqual(mac, signature);
      }
      case 'rsa':
        return cryptoVerify(spec.hash!, Buffer.from(jws.signingInput, 'latin1'), key, signature);
      case 'rsa-pss':
        // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
        return cryptoVerify(
          spec.hash!,
          Buffer.from(jws.signingInput, 'latin1'),
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
          signature,
        );
      case 'ecdsa':
        // RFC 7518 §3.4: R || S, each exactly as long as the curve order; DER is not JOSE.
        if (signature.length !== spec.signatureLength) return false;
        return cryptoVerify(spec.hash!, Buffer.from(jws.signingInput, 'latin1'), { key, dsaEncoding: 'ieee-p1363' }, signature);
      default:
        return cryptoVerify(null, Buffer.from(jws.signingInput, 'latin1'), key, signature);
    }
  } catch {
    // A key/alg pair the caller should have excluded, or input OpenSSL refuses: not valid.
    return false;
  }
}

export interface ClaimRules {
  /** Required `iss`, compared as a string (RFC 7519 §4.1.1). */
  readonly issuer?: string;
  /** Accepted audiences, or 'any' (the explicit opt-out of the check). */
  readonly audience: readonly string[] | 'any';
  readonly clockToleranceMs: number;
  readonly nowMs: number;
}

/** ClaimRules without the clock: fixed for an authenticator's lifetime. */
export type StaticClaimRules = Omit<ClaimRules, 'nowMs'>;

export type ClaimsFailure =
  | 'expired'
  | 'not-yet-valid'
  | 'iat-in-future'
  | 'missing-exp'
  | 'bad-exp'
  | 'bad-nbf'
  | 'bad-iat'
  | 'bad-issuer'
  | 'bad-audience';

export type ClaimsCheck = { readonly ok: true; readonly expMs: number } | { readonly ok: false; readonly reason: ClaimsFailure };

/** security.md §6: dates must be "within sane bounds"; 10 years either side of now. */
export const MAX_DATE_DISTANCE_MS = 10 * 365.25 * 24 * 3600 * 1000;

const isNumericDate = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * RFC 7519 §4.1 with security.md §6's stricter reading: `exp` required; `nbf` and `iat`
 * optional but, when present, finite numbers; `iss`/`aud` as configured. Call only after
 * the signature checked out: an expired forgery is a forgery, not an expired token.
 */
export function validateClaims(claims: Readonly<Record<string, unknown>>, rules: ClaimRules): ClaimsCheck {
  return checkClaims(claims, rules.issuer, rules.audience, rules.clockToleranceMs, rules.nowMs);
}

/**
 * validateClaims with the rules fixed once (per authenticator) and the clock per call,
 * so a request builds no rules object.
 */
export function createClaimsValidator(rules: StaticClaimRules): (claims: Readonly<Record<string, unknown>>, nowMs: number) => ClaimsCheck {
  const { issuer, audience, clockToleranceMs } = rules;
  return (claims, nowMs) => checkClaims(claims, issuer, audience, clockToleranceMs, nowMs);
}

const isString = (v: unknown): v is string => typeof v === 'string';

function checkClaims(
  claims: Readonly<Record<string, unknown>>,
  issuer: string | undefined,
  audience: readonly string[] | 'any',
  tol: number,
  nowMs: number,
): ClaimsCheck {
  const { exp, nbf, iat } = claims;
  if (exp === undefined) return { ok: false, reason: 'missing-exp' };
  // JSON.parse turns 1e400 into Infinity: "a number" is not enough.
  if (!isNumericDate(exp)) return { ok: false, reason: 'bad-exp' };
  const expMs = exp * 1000;
  // Written so that a NaN clock fails too: every comparison with NaN is false.
  if (!(Math.abs(expMs - nowMs) <= MAX_DATE_DISTANCE_MS)) return { ok: false, reason: 'bad-exp' };
  // RFC 7519 §4.1.4: valid only while now is before exp.
  if (nowMs >= expMs + tol) return { ok: false, reason: 'expired' };
  if (nbf !== undefined) {
    if (!isNumericDate(nbf)) return { ok: false, reason: 'bad-nbf' };
    // RFC 7519 §4.1.5: valid from nbf on.
    if (nbf * 1000 > nowMs + tol) return { ok: false, reason: 'not-yet-valid' };
  }
  if (iat !== undefined) {
    if (!isNumericDate(iat)) return { ok: false, reason: 'bad-iat' };
    if (iat * 1000 > nowMs + tol) return { ok: false, reason: 'iat-in-future' };
  }
  if (issuer !== undefined && claims.iss !== issuer) return { ok: false, reason: 'bad-issuer' };
  const aud = claims.aud;
  // RFC 7519 §4.1.3: a string or an array of strings; anything else is malformed even
  // when every audience is accepted.
  if (typeof aud === 'string') {
    if (audience !== 'any' && !audience.includes(aud)) return { ok: false, reason: 'bad-audience' };
  } else if (Array.isArray(aud) && aud.every(isString)) {
    if (audience !== 'any' && !aud.some((a) => audience.includes(a))) return { ok: false, reason: 'bad-audience' };
  } else if (aud !== undefined || audience !== 'any') {
    return { ok: false, reason: 'bad-audience' };
  }
  return { ok: true, expMs };
}
