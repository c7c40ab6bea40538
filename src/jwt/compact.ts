// Strict parsing of a JWS in compact serialization (RFC 7515 §7.1). Everything here is
// about shape: nothing is trusted until verify.ts has checked the signature, so the
// payload is only decoded here and parsed as JSON after that check.
//
// security.md §6 wants every segment to be canonical base64url: Buffer.from(…,
// 'base64url') skips junk, accepts padding and '+/' and ignores non-zero trailing bits,
// so two different texts can carry the same bytes. Only the text that encoding its bytes
// gives back is accepted (RFC 4648 §3.5: pad bits zero), which makes the token text a
// function of its bytes. That is checked on the text itself (alphabet, length, the last
// character's unused bits) rather than by encoding the bytes again.
import { isUtf8 } from 'node:buffer';

/** security.md §6 / §11: larger tokens are refused before any parsing. */
export const MAX_TOKEN_BYTES = 8192;

export interface ParsedJws {
  /** The protected header, a JSON object without duplicate members. */
  readonly header: Readonly<Record<string, unknown>>;
  /** ASCII `BASE64URL(header) '.' BASE64URL(payload)`, what the signature covers. */
  readonly signingInput: string;
  /** Decoded payload bytes; parse them with parseJsonObject once the signature is good. */
  readonly payload: Buffer;
  readonly signature: Buffer;
}

export type CompactParseFailure = 'too-large' | 'jwe' | 'bad-encoding' | 'bad-header' | 'duplicate-header-member';

export type CompactParseResult = { readonly ok: true; readonly jws: ParsedJws } | { readonly ok: false; readonly reason: CompactParseFailure };

const BASE64URL_RE = /^[A-Za-z0-9_-]*$/;
// Three segments of the base64url alphabet: the whole token in one pass.
const COMPACT_RE = /^[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;

/** The 6-bit value of each base64url character (RFC 4648 §5); others are never looked up. */
const SEXTET = new Uint8Array(128);
for (let i = 0; i < 64; i++) SEXTET['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(i)] = i;

/**
 * Whether text[start, end), already known to be of the base64url alphabet, is canonical:
 * no dangling single character (length % 4 === 1 encodes no whole byte) and, in a final
 * group of 2 or 3 characters, the bits beyond the last byte are zero (4 or 2 bits).
 */
function canonicalTail(text: string, start: number, end: number): boolean {
  switch ((end - start) & 3) {
    case 0:
      return true;
    case 1:
      return false;
    case 2:
      return (SEXTET[text.charCodeAt(end - 1)]! & 0x0f) === 0;
    default:
      return (SEXTET[text.charCodeAt(end - 1)]! & 0x03) === 0;
  }
}

/** The bytes of a canonical unpadded base64url text (RFC 7515 §2), else undefined. */
export function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL_RE.test(text) || !canonicalTail(text, 0, text.length)) return undefined;
  return Buffer.from(text, 'base64url');
}

const isJsonSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * Whether the JSON object text (already accepted by JSON.parse) names one member twice
 * at its top level. JSON.parse keeps the last one silently; another parser (an
 * upstream's, with forwardCredentials) may keep the first, so a token must not be
 * readable two ways. Member names are compared after unescaping: "\u0061lg" is "alg".
 */
export function hasDuplicateTopLevelMember(text: string): boolean {
  return countTopLevelMembers(text) !== Object.keys(JSON.parse(text) as object).length;
}

/**
 * How many member names the JSON object text (already accepted by JSON.parse) has at its
 * top level, duplicates included. JSON.parse keeps one property per distinct (unescaped)
 * name, so a count above the parsed object's own keys means a name came twice; this
 * needs no name to be sliced or unescaped.
 */
export function countTopLevelMembers(text: string): number {
  let count = 0;
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // The closing quote is the first one preceded by an even number of backslashes.
      let end = text.indexOf('"', i + 1);
      for (;;) {
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
        if ((backslashes & 1) === 0) break;
        end = text.indexOf('"', end + 1);
      }
      i = end;
      if (depth !== 1) continue;
      let j = end + 1;
      while (isJsonSpace(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) === 0x3a) count++; // a name, not a value
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return count;
}

export type JsonObjectResult =
  | { readonly ok: true; readonly value: Record<string, unknown> }
  | { readonly ok: false; readonly reason: 'bad-json' | 'duplicate-member' };

/** UTF-8 JSON text of an object with unique top-level members (RFC 7515 §4, RFC 7519 §4). */
export function parseJsonObject(bytes: Buffer): JsonObjectResult {
  // toString('utf8') would turn invalid sequences into U+FFFD without a word.
  if (!isUtf8(bytes)) return { ok: false, reason: 'bad-json' };
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'bad-json' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, reason: 'bad-json' };
  if (countTopLevelMembers(text) !== Object.keys(value).length) return { ok: false, reason: 'duplicate-member' };
  return { ok: true, value: value as Record<string, unknown> };
}

/** A compact JWS split and decoded, its header still as sent (see parseJoseHeader). */
export interface SplitJws {
  /** The header segment, canonical base64url (its bytes are not decoded yet). */
  readonly headerText: string;
  readonly signingInput: string;
  readonly payload: Buffer;
  readonly signature: Buffer;
}

export type SplitFailure = 'too-large' | 'jwe' | 'bad-encoding';

export type SplitResult = { readonly ok: true; readonly jws: SplitJws } | { readonly ok: false; readonly reason: SplitFailure };

/**
 * Splits a compact JWS and decodes its payload and signature; every segment must be
 * canonical base64url and the signature non-empty. The header is left to parseJoseHeader,
 * so a caller that has seen the same header text before need not parse it again.
 */
export function splitCompactJws(token: string): SplitResult {
  // Length in UTF-16 units; anything non-ASCII fails the base64url test below anyway.
  if (token.length > MAX_TOKEN_BYTES) return { ok: false, reason: 'too-large' };
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0) return { ok: false, reason: 'bad-encoding' };
  if (token.indexOf('.', second + 1) >= 0) {
    // RFC 7516 §7.1: five segments is the compact JWE form; we verify, never decrypt.
    return { ok: false, reason: token.split('.').length === 5 ? 'jwe' : 'bad-encoding' };
  }
  const end = token.length;
  if (
    end - second < 2 || // an empty signature
    !COMPACT_RE.test(token) ||
    !canonicalTail(token, 0, first) ||
    !canonicalTail(token, first + 1, second) ||
    !canonicalTail(token, second + 1, end)
  ) {
    return { ok: false, reason: 'bad-encoding' };
  }
  return {
    ok: true,
    jws: {
      headerText: token.slice(0, first),
      signingInput: token.slice(0, second),
      payload: Buffer.from(token.slice(first + 1, second), 'base64url'),
      signature: Buffer.from(token.slice(second + 1), 'base64url'),
    },
  };
}

export type HeaderParseResult =
  | { readonly ok: true; readonly header: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly reason: 'bad-encoding' | 'bad-header' | 'duplicate-header-member' };

/** The protected header of a JWS from its base64url segment: a JSON object, no duplicate members. */
export function parseJoseHeader(headerText: string): HeaderParseResult {
  const bytes = decodeBase64url(headerText);
  if (bytes === undefined) return { ok: false, reason: 'bad-encoding' };
  const header = parseJsonObject(bytes);
  if (!header.ok) return { ok: false, reason: header.reason === 'duplicate-member' ? 'duplicate-header-member' : 'bad-header' };
  return { ok: true, header: header.value };
}

/** Splits and decodes a compact JWS. The header is parsed; the payload is not. */
export function parseCompactJws(token: string): CompactParseResult {
  const split = splitCompactJws(token);
  if (!split.ok) return split;
  const { headerText, signingInput, payload, signature } = split.jws;
  const header = parseJoseHeader(headerText);
  if (!header.ok) return header;
  return { ok: true, jws: { header: header.header, signingInput, payload, signature } };
}
