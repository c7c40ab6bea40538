// Request-target normalization (security.md §1-§3). The path this returns is what
// routes match AND what is forwarded, so it must be a fixed point of every parser
// downstream: WHATWG `new URL` (reply-from) must leave it unchanged, and no upstream
// decoding it once (or, for dots and slashes, twice) may see a different path.
import { normalizeHost } from './host.js';

export type TargetRefusal =
  | 'empty'
  | 'asterisk-form'
  | 'not-origin-form'
  | 'bad-absolute-form'
  | 'authority-mismatch'
  | 'fragment'
  | 'backslash'
  | 'control-char'
  | 'non-ascii'
  | 'bad-percent-encoding'
  | 'invalid-utf8'
  | 'encoded-slash'
  | 'encoded-backslash'
  | 'encoded-control'
  | 'double-encoded'
  | 'dot-segment-params'
  | 'above-root';

export type TargetResult =
  | { ok: true; path: string; query: string }
  | { ok: false; reason: TargetRefusal };

export type ConfigPathResult = { ok: true; path: string } | { ok: false; reason: TargetRefusal | 'query' };

// Per-character class of a raw (not percent-encoded) ASCII character inside a path segment.
const KEEP = 0; // RFC 3986 pchar: unreserved, sub-delims, ':' and '@'
const ENCODE = 1; // legal in a request line but not pchar: percent-encode it
const BACKSLASH = 2;
const PERCENT = 3;

const RAW_CLASS = new Uint8Array(128).fill(ENCODE);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@") {
  RAW_CLASS[ch.charCodeAt(0)] = KEEP;
}
RAW_CLASS[0x5c] = BACKSLASH;
RAW_CLASS[0x25] = PERCENT;

// RFC 3986 §2.3: escapes of unreserved characters are equivalent to the character and
// are decoded; every other escape keeps its (reserved or opaque) meaning.
const UNRESERVED = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') {
  UNRESERVED[ch.charCodeAt(0)] = 1;
}

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

function pct(b: number): string {
  return '%' + HEX[b >> 4]! + HEX[b & 15]!;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function validUtf8(bytes: number[]): boolean {
  try {
    utf8.decode(Uint8Array.from(bytes));
    return true;
  } catch {
    return false;
  }
}

/** First refused character anywhere in the target (path and query alike), or undefined. */
function scanChars(s: string): TargetRefusal | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Space is refused too: Node's parser would not deliver one, and a path with a
    // space means the request line was split differently by someone along the way.
    if (c <= 0x20 || c === 0x7f) return 'control-char';
    if (c > 0x7f) return 'non-ascii';
    if (c === 0x23) return 'fragment';
  }
  return undefined;
}

interface Refused {
  readonly refused: TargetRefusal;
}

function refuse(reason: TargetRefusal): Refused {
  return { refused: reason };
}

/**
 * Normalize one segment (the text of `s` between `start` and `end`, no '/' inside).
 * `s` has already passed scanChars.
 */
function normalizeSegment(s: string, start: number, end: number): string | Refused {
  let out = '';
  let run = start; // start of the pending run of characters copied verbatim
  // Escaped bytes >= 0x80 since the last other character. ASCII can never sit inside
  // a multi-byte UTF-8 sequence, so validating each such run validates the segment.
  let high: number[] | undefined;
  let sawPct25 = false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const cls = RAW_CLASS[c];
    let b = -1;
    if (cls === PERCENT) {
      // RFC 3986 §2.1: pct-encoded = "%" HEXDIG HEXDIG
      const h1 = i + 1 < end ? hexValue(s.charCodeAt(i + 1)) : -1;
      const h2 = i + 2 < end ? hexValue(s.charCodeAt(i + 2)) : -1;
      if (h1 < 0 || h2 < 0) return refuse('bad-percent-encoding');
      b = (h1 << 4) | h2;
    }
    if (b >= 0x80) {
      (high ??= []).push(b);
    } else if (high !== undefined) {
      if (!validUtf8(high)) return refuse('invalid-utf8');
      high = undefined;
    }
    if (cls === KEEP) continue;
    if (cls === BACKSLASH) return refuse('backslash');
    out += s.slice(run, i);
    if (cls === ENCODE) {
      out += pct(c);
      run = i + 1;
      continue;
    }
    i += 2;
    run = i + 1;
    if (b === 0x2f) return refuse('encoded-slash');
    if (b === 0x5c) return refuse('encoded-backslash');
    if (b < 0x20 || b === 0x7f) return refuse('encoded-control');
    if (b < 0x80 && UNRESERVED[b] === 1) {
      out += String.fromCharCode(b);
    } else {
      if (b === 0x25) sawPct25 = true;
      out += pct(b);
    }
  }
  if (high !== undefined && !validUtf8(high)) return refuse('invalid-utf8');
  out += s.slice(run, end);
  // Checked on the output, after unreserved escapes were decoded, so `%25%32%65`
  // (which becomes `%252e`) is caught as well as a literal `%252e`.
  if (sawPct25 && hasDoubleEncoding(out)) return refuse('double-encoded');
  return out;
}

/** `%25` followed by `2e`, `2f` or `5c` in any case: a second decoding yields '.', '/' or '\'. */
function hasDoubleEncoding(seg: string): boolean {
  let i = seg.indexOf('%25');
  while (i !== -1) {
    const a = seg.charCodeAt(i + 3);
    const b = seg.charCodeAt(i + 4) | 0x20;
    if ((a === 0x32 && (b === 0x65 || b === 0x66)) || (a === 0x35 && b === 0x63)) return true;
    i = seg.indexOf('%25', i + 3);
  }
  return false;
}

/**
 * Normalize an absolute path (`p` starts with '/', contains no '?' and passed scanChars):
 * decode unreserved escapes, encode non-pchar characters, merge '//' and resolve dot
 * segments (RFC 3986 §5.2.4), refusing what cannot be made unambiguous.
 */
function normalizePath(p: string): string | TargetRefusal {
  const stack: string[] = [];
  let trailingSlash = false;
  const n = p.length;
  let start = 1;
  for (;;) {
    let end = p.indexOf('/', start);
    const last = end === -1;
    if (last) end = n;
    const seg = normalizeSegment(p, start, end);
    if (typeof seg !== 'string') return seg.refused;
    // `..;x` and `.;x`: matrix parameters on a dot segment. Matched literally here, but
    // Tomcat/Jetty strip the parameters and resolve the dots (CVE-2020-1938 family,
    // "..;/" bypasses of Spring/Nginx setups): refuse rather than forward.
    if (seg.charCodeAt(0) === 0x2e && /^\.\.?;/.test(seg)) return 'dot-segment-params';
    if (seg === '' || seg === '.') {
      // Empty segments merge ('//' → '/'); a final one, or a final '.', keeps the
      // trailing slash (`/a/b/.` → `/a/b/`).
      if (last) trailingSlash = true;
    } else if (seg === '..') {
      if (stack.length === 0) return 'above-root';
      stack.pop();
      if (last) trailingSlash = true;
    } else {
      stack.push(seg);
      if (last) trailingSlash = false;
    }
    if (last) break;
    start = end + 1;
  }
  if (stack.length === 0) return '/';
  return '/' + stack.join('/') + (trailingSlash ? '/' : '');
}

// RFC 3986 §3.1 scheme, followed by '//' (an authority): the shape of an absolute-form
// target (RFC 9112 §3.2.2). Authority-form (`host:port`, CONNECT only) has no '//'.
const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/**
 * Normalize a request target as received in the request line.
 * `authority` is the normalized Host (normalizeHost(...).authority) and `scheme` the
 * one the client used; an absolute-form target must name that same authority.
 */
export function normalizeTarget(rawTarget: string, authority: string, scheme: 'http' | 'https'): TargetResult {
  if (rawTarget.length === 0) return { ok: false, reason: 'empty' };
  const bad = scanChars(rawTarget);
  if (bad !== undefined) return { ok: false, reason: bad };

  let rest = rawTarget;
  if (rawTarget.charCodeAt(0) !== 0x2f) {
    if (rawTarget === '*') return { ok: false, reason: 'asterisk-form' };
    const m = ABSOLUTE_FORM.exec(rawTarget);
    if (m === null) return { ok: false, reason: 'not-origin-form' };
    const targetScheme = m[1]!.toLowerCase();
    if (targetScheme !== 'http' && targetScheme !== 'https') return { ok: false, reason: 'bad-absolute-form' };
    const afterScheme = m[0].length;
    let authEnd = afterScheme;
    while (authEnd < rawTarget.length) {
      const c = rawTarget.charCodeAt(authEnd);
      if (c === 0x2f || c === 0x3f) break;
      authEnd++;
    }
    // The authority is normalized under the connection's scheme, like the Host header
    // it is compared with, so `http://h:80/` equals Host `h` on a plain-http connection.
    const host = normalizeHost(rawTarget.slice(afterScheme, authEnd), scheme);
    if (!host.ok) return { ok: false, reason: 'bad-absolute-form' };
    if (host.authority !== authority) return { ok: false, reason: 'authority-mismatch' };
    rest = rawTarget.slice(authEnd);
    if (rest.length === 0 || rest.charCodeAt(0) === 0x3f) rest = '/' + rest;
  }

  const q = rest.indexOf('?');
  const rawPath = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q + 1);
  const path = normalizePath(rawPath);
  // A normalized path starts with '/'; a refusal never does.
  if (path.charCodeAt(0) !== 0x2f) return { ok: false, reason: path as TargetRefusal };
  return { ok: true, path, query };
}

/** Normalize a path written in config (route patterns, stripPrefix): same rules, no query allowed. */
export function normalizeConfigPath(path: string): ConfigPathResult {
  if (path.length === 0) return { ok: false, reason: 'empty' };
  const bad = scanChars(path);
  if (bad !== undefined) return { ok: false, reason: bad };
  if (path.includes('?')) return { ok: false, reason: 'query' };
  if (path.charCodeAt(0) !== 0x2f) return { ok: false, reason: 'not-origin-form' };
  const out = normalizePath(path);
  if (out.charCodeAt(0) !== 0x2f) return { ok: false, reason: out as TargetRefusal };
  return { ok: true, path: out };
}
