// Reading, removing and writing our cookies. Reading works on the raw header list, not on
// a parsed object: a parser keeps one value per name, and the one it keeps decides whose
// session is used. Two cookies of our name (e.g. one planted for a parent domain, one ours)
// are refused, not guessed (security.md §12).
//
// @fastify/cookie's serialize() needs its plugin registered first (it loads `cookie`
// lazily on plugin start), so Set-Cookie strings are built here: the grammar we need is
// small, and every part is checked so no value can add an attribute.

export interface CookieSettings {
  readonly name: string;
  readonly secure: boolean;
  readonly sameSite: 'lax' | 'strict' | 'none';
  readonly domain?: string;
}

export type CookieRead = { kind: 'absent' } | { kind: 'one'; value: string } | { kind: 'ambiguous' };

// RFC 6265 §4.1.1: cookie-name is an RFC 2616 token; cookie-value is *cookie-octet.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
// RFC 6265 §4.1.2.3 / RFC 1034 labels; a leading dot is allowed and ignored by user agents.
const DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const;

interface Pair {
  readonly name: string | undefined;
  readonly text: string;
}

/** Splits one Cookie header value (RFC 6265 §5.4 / §4.2.1) into trimmed pairs; `name` is
 * undefined for a piece without '=' (a nameless cookie, never ours). */
function pairs(header: string): Pair[] {
  const out: Pair[] = [];
  for (const piece of header.split(';')) {
    const text = piece.replace(/^[ \t]+|[ \t]+$/g, '');
    if (text === '') continue;
    const eq = text.indexOf('=');
    out.push({ name: eq === -1 ? undefined : text.slice(0, eq).replace(/[ \t]+$/, ''), text });
  }
  return out;
}

/**
 * Our cookie's value from every `Cookie` header in rawHeaders (HTTP/2 sends one header
 * per cookie, RFC 9113 §8.2.3), header names in any case. The cookie name matches
 * case-sensitively (RFC 6265 §5.4). The value is returned as sent: not percent-decoded,
 * not unquoted; our values never need either, so anything else fails the signature check.
 */
export function readCookie(rawHeaders: readonly string[], name: string): CookieRead {
  let found: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() !== 'cookie') continue;
    for (const p of pairs(rawHeaders[i + 1] as string)) {
      if (p.name !== name) continue;
      if (found !== undefined) return { kind: 'ambiguous' };
      found = p.text.slice(p.text.indexOf('=') + 1).replace(/^[ \t]+/, '');
    }
  }
  return found === undefined ? { kind: 'absent' } : { kind: 'one', value: found };
}

/** The Cookie header without the named cookies (security.md §12: the session cookie stays
 * at the gate); undefined when nothing is left, so the header can be dropped. */
export function removeCookies(cookieHeader: string, names: ReadonlySet<string>): string | undefined {
  const kept = pairs(cookieHeader)
    .filter((p) => p.name === undefined || !names.has(p.name))
    .map((p) => p.text);
  return kept.length === 0 ? undefined : kept.join('; ');
}

function attributes(settings: CookieSettings, sameSite: 'lax' | 'strict' | 'none'): string {
  let out = '; Path=/';
  if (settings.domain !== undefined) {
    if (!DOMAIN.test(settings.domain)) throw new TypeError('cookie domain is not a valid host name');
    out += `; Domain=${settings.domain}`;
  }
  out += '; HttpOnly';
  if (settings.secure) out += '; Secure';
  return `${out}; SameSite=${SAME_SITE[sameSite]}`;
}

function checkName(name: string): void {
  if (!TOKEN.test(name)) throw new TypeError('cookie name is not an RFC 6265 token');
}

/** A Set-Cookie value: Path=/, HttpOnly, Secure unless settings.secure is false, SameSite
 * (options.sameSite, else the settings'), Max-Age, Domain when set. */
export function serializeCookie(
  settings: CookieSettings,
  name: string,
  value: string,
  options: { maxAgeSec: number; sameSite?: 'lax' | 'strict' | 'none' },
): string {
  checkName(name);
  if (!COOKIE_OCTETS.test(value)) throw new TypeError('cookie value has characters RFC 6265 does not allow');
  if (!Number.isSafeInteger(options.maxAgeSec) || options.maxAgeSec < 0) throw new RangeError('maxAgeSec must be a non-negative integer');
  return `${name}=${value}; Max-Age=${options.maxAgeSec}${attributes(settings, options.sameSite ?? settings.sameSite)}`;
}

/** A Set-Cookie value that deletes the cookie: same Path and Domain as when it was set
 * (else the browser keeps it), empty value, Max-Age=0 and an Expires in the past for
 * user agents that predate Max-Age. */
export function clearCookie(settings: CookieSettings, name: string): string {
  checkName(name);
  return `${name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT${attributes(settings, settings.sameSite)}`;
}

/** `<name>-csrf` (pre-session CSRF binding of the sign-in form) and `<name>-tx` (OIDC login transaction). */
export function helperCookieName(settings: CookieSettings, kind: 'csrf' | 'tx'): string {
  return `${settings.name}-${kind}`;
}
