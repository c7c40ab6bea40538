// Where a browser may be sent after sign-in (security.md §9): a same-origin path, or an
// https URL on a host the operator listed. Everything else becomes '/'. The value comes
// from the query string, so every trick that makes a browser (or an upstream that decodes
// and redirects again) read it as another origin is refused, in every decoded form.

export const MAX_REDIRECT_LENGTH = 2048;
const FALLBACK = '/';
// Enough for `%252F` and a couple more layers; a value still changing after that is
// built to confuse, not to navigate.
const MAX_DECODE_ROUNDS = 4;

// Printable ASCII only. Browsers strip tab and newline anywhere in a URL and leading
// C0/space (WHATWG URL parsing), so `/\t/evil` becomes `//evil`; non-ASCII could be
// mapped by IDNA/NFKC to `/` or `.` and cannot be written into a Location header anyway.
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
// Control characters, including DEL, in a decoded form.
const CONTROL = /[\x00-\x1f\x7f]/;
// RFC 3986 §3.1 scheme followed by ':'.
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;
// host[:port] with a reg-name of DNS characters or a bracketed IPv6 literal: no userinfo,
// no percent-encoding (WHATWG would decode `%2e` in a host), no backslash.
const AUTHORITY = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/i;
const HTTPS_PREFIX = /^https:\/\//i;
const PERCENT_BYTE = /%([0-9a-f]{2})/gi;
const RESOLVE_BASE = 'https://gatehouse.invalid';

/** The redirect target to use after sign-in: `rd` when it is safe, else '/'. */
export function safeRedirect(rd: string | undefined, allowedHosts: readonly string[]): string {
  if (rd === undefined || rd.length === 0 || rd.length > MAX_REDIRECT_LENGTH) return FALLBACK;
  if (!PRINTABLE_ASCII.test(rd)) return FALLBACK;
  if (rd.startsWith('/')) return safeRest(rd) ? rd : FALLBACK;
  return safeAbsolute(rd, allowedHosts) ?? FALLBACK;
}

function safeAbsolute(rd: string, allowedHosts: readonly string[]): string | undefined {
  if (!HTTPS_PREFIX.test(rd)) return undefined;
  const afterScheme = rd.slice('https://'.length);
  const end = afterScheme.search(/[/?#]/);
  const authority = end === -1 ? afterScheme : afterScheme.slice(0, end);
  const rest = end === -1 ? '' : afterScheme.slice(end);
  if (!AUTHORITY.test(authority)) return undefined;
  let url: URL;
  try {
    url = new URL(rd);
  } catch {
    return undefined;
  }
  // url.host is lower case with the default port (443) removed; the list is normalized
  // the same way, so `app.example.com:443` and `APP.example.com` name one host.
  if (!allowedHosts.some((entry) => normalizeAllowedHost(entry) === url.host)) return undefined;
  if (rest !== '' && !safeRest(rest)) return undefined;
  return url.href;
}

function normalizeAllowedHost(entry: string): string {
  const lower = entry.toLowerCase();
  return lower.endsWith(':443') ? lower.slice(0, -4) : lower;
}

/** Checks a path-absolute reference (`/…`) or the part of an absolute URL after its
 * authority (`/…`, `?…`, `#…`), as written and in every percent-decoded form. */
function safeRest(rest: string): boolean {
  const forms = decodedForms(rest);
  if (forms === undefined) return false;
  for (const form of forms) if (!safeForm(form)) return false;
  return true;
}

function safeForm(form: string): boolean {
  if (form.includes('\\') || CONTROL.test(form)) return false;
  // `//host` and `/\host` are network-path references: another origin.
  if (form.startsWith('//')) return false;
  // A first segment that reads as a scheme (`/javascript:…`, `/https:evil`) becomes a
  // URL of its own for anything that trims the leading slash.
  const path = form.replace(/^\/+/, '');
  if (SCHEME.test(path)) return false;
  // Browsers resolve dot segments (`%2e` counts as '.'): `/a/..//evil` is `//evil`.
  // (Cannot throw: the input is path-absolute and `//` was refused above.)
  const resolved = new URL(form.startsWith('/') ? form : `/${form}`, RESOLVE_BASE).pathname;
  if (resolved.startsWith('//')) return false;
  // Our own endpoints: sending a user back to sign-in after signing in loops.
  const lower = resolved.toLowerCase();
  if (lower === '/.gatehouse' || lower.startsWith('/.gatehouse/')) return false;
  return true;
}

/** The value and each decoding of it, byte by byte, plus the NFKC reading of each
 * UTF-8 decoding (fullwidth `／` is `/` after NFKC); undefined when still changing after
 * the bound. */
function decodedForms(value: string): string[] | undefined {
  const forms = [value];
  let current = value;
  for (let round = 0; ; round++) {
    const next = current.replace(PERCENT_BYTE, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (next === current) break;
    if (round === MAX_DECODE_ROUNDS) return undefined;
    forms.push(next, Buffer.from(next, 'latin1').toString('utf8').normalize('NFKC'));
    current = next;
  }
  return forms;
}
