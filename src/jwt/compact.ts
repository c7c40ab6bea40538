// Strict parsing of a JWS in compact serialization (RFC 7515 §7.1). Everything here is
// about shape: nothing is trusted until verify.ts has checked the signature, so the
// payload is only decoded here and parsed as JSON after that check.
//
// security.md §6 wants every segment to be canonical base64url: Buffer.from(…,
// 'base64url') skips junk, accepts padding and '+/' and ignores non-zero trailing bits,
// so two different texts can carry the same bytes. Only a text that re-encodes to itself
// is accepted, which makes the token text a function of its bytes.
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

/** The bytes of a canonical unpadded base64url text (RFC 7515 §2), else undefined. */
export function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL_RE.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  // Rejects non-zero trailing bits and a dangling single character (length % 4 === 1).
  return bytes.toString('base64url') === text ? bytes : undefined;
}

const isJsonSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * Whether the JSON object text (already accepted by JSON.parse) names one member twice
 * at its top level. JSON.parse keeps the last one silently; another parser (an
 * upstream's, with forwardCredentials) may keep the first, so a token must not be
 * readable two ways. Member names are compared after unescaping: "\u0061lg" is "alg".
 */
export function hasDuplicateTopLevelMember(text: string): boolean {
  let seen: Set<string> | undefined;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) {
          escaped = true;
          i++;
        }
      }
      if (depth !== 1) continue;
      let j = i + 1;
      while (isJsonSpace(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) !== 0x3a) continue; // a value, not a member name
      const name = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i);
      seen ??= new Set();
      if (seen.has(name)) return true;
      seen.add(name);
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
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
  if (hasDuplicateTopLevelMember(text)) return { ok: false, reason: 'duplicate-member' };
  return { ok: true, value: value as Record<string, unknown> };
}

/** Splits and decodes a compact JWS. The header is parsed; the payload is not. */
export function parseCompactJws(token: string): CompactParseResult {
  // Length in UTF-16 units; anything non-ASCII fails the base64url test below anyway.
  if (token.length > MAX_TOKEN_BYTES) return { ok: false, reason: 'too-large' };
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0) return { ok: false, reason: 'bad-encoding' };
  if (token.indexOf('.', second + 1) >= 0) {
    // RFC 7516 §7.1: five segments is the compact JWE form; we verify, never decrypt.
    return { ok: false, reason: token.split('.').length === 5 ? 'jwe' : 'bad-encoding' };
  }
  const headerBytes = decodeBase64url(token.slice(0, first));
  const payload = decodeBase64url(token.slice(first + 1, second));
  const signature = decodeBase64url(token.slice(second + 1));
  if (headerBytes === undefined || payload === undefined || signature === undefined || signature.length === 0) {
    return { ok: false, reason: 'bad-encoding' };
  }
  const header = parseJsonObject(headerBytes);
  if (!header.ok) return { ok: false, reason: header.reason === 'duplicate-member' ? 'duplicate-header-member' : 'bad-header' };
  return { ok: true, jws: { header: header.value, signingInput: token.slice(0, second), payload, signature } };
}
