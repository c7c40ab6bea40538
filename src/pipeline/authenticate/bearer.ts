// `Authorization: Bearer <token>` (RFC 6750 §2.1), shared by the jwt and introspection
// authenticators. Another scheme, or no header, is not ours (skip); a Bearer header that
// does not follow the grammar is a bad credential (fail), never a reason to fall through.

/** Longest token accepted (security.md §6 / §11: JWTs over 8 KiB are refused unparsed). */
export const MAX_BEARER_TOKEN_LENGTH = 8192;

export type ParsedBearer =
  | { readonly kind: 'skip' }
  | { readonly kind: 'malformed'; readonly reason: 'malformed-header' | 'malformed-token' | 'too-large' }
  | { readonly kind: 'token'; readonly token: string };

const SKIP: ParsedBearer = Object.freeze({ kind: 'skip' });

// RFC 7235 §2.1: auth-scheme = token.
const AUTH_SCHEME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;
// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token;
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
const CREDENTIALS_RE = /^ +([A-Za-z0-9\-._~+/]+=*)$/;

/**
 * The bearer token of an Authorization value: `skip` unless its scheme is Bearer (any
 * case, RFC 7235 §2.1), `malformed` unless the rest is spaces then one b64token.
 */
export function parseBearerToken(value: string | readonly string[] | undefined, maxLength: number = MAX_BEARER_TOKEN_LENGTH): ParsedBearer {
  if (value === undefined || value === '') return SKIP;
  // Node folds Authorization to one string; an array means two were sent (security.md §12).
  if (typeof value !== 'string') return { kind: 'malformed', reason: 'malformed-header' };
  const scheme = AUTH_SCHEME_RE.exec(value)?.[0];
  if (scheme === undefined || scheme.toLowerCase() !== 'bearer') return SKIP;
  const rest = value.slice(scheme.length);
  const m = CREDENTIALS_RE.exec(rest);
  if (m === null) return { kind: 'malformed', reason: rest.trim() === '' ? 'malformed-header' : 'malformed-token' };
  const token = m[1]!;
  if (token.length > maxLength) return { kind: 'malformed', reason: 'too-large' };
  return { kind: 'token', token };
}
