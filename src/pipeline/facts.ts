// Builds RequestFacts from what the HTTP server parsed, refusing what must never be
// matched: ambiguous targets (security.md §2), repeated Host/Authorization (§12),
// oversized input (§11). Plain data in, plain data out: proxy mode, forward-auth and
// `explain` share it.
import { isInternalPath } from './run.js';
import type { ErrorCode } from '../errors.js';
import { normalizeHost } from './normalize/host.js';
import { normalizeTarget } from './normalize/target.js';
import type { RequestFacts } from './types.js';

export interface RawRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly rawHeaders: readonly string[];
  readonly peer: string;
  /** Scheme of the listener that received it. */
  readonly scheme: 'http' | 'https';
}

export interface FactsLimits {
  readonly headerCount: number;
  readonly targetBytes: number;
  readonly bodyBytes: number;
}

export type TrustedPeer = (ip: string) => boolean;

export type FactsResult = { readonly ok: true; readonly facts: RequestFacts } | { readonly ok: false; readonly code: ErrorCode; readonly reason: string };

// Headers whose repetition makes the request ambiguous: which Host was routed on, which
// credential was checked? Node keeps only the first of these in req.headers, so count
// them in rawHeaders (security.md §12; toolchain.md "Node's HTTP server specifics").
const SINGLE = ['host', 'authorization', 'content-length'];

// TRACE reflects the request (cookies, Authorization) back (XST); CONNECT opens tunnels.
// Neither has a place behind an auth gateway.
/** Methods never decided on (TRACE/TRACK echo credentials back; CONNECT opens a tunnel). */
export const REFUSED_METHODS: ReadonlySet<string> = new Set(['TRACE', 'CONNECT', 'TRACK']);

function refuse(code: ErrorCode, reason: string): FactsResult {
  return { ok: false, code, reason };
}

function stripMappedPrefix(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** Right-most address of X-Forwarded-For that is not a trusted proxy (the first untrusted hop). */
function clientFromForwardedFor(header: string | string[] | undefined, trusted: TrustedPeer, peer: string): string {
  if (header === undefined) return peer;
  const hops = (Array.isArray(header) ? header.join(',') : header)
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = stripMappedPrefix(hops[i]!);
    if (!trusted(hop)) return hop;
  }
  return hops.length > 0 ? stripMappedPrefix(hops[0]!) : peer;
}

/** The raw target's path begins with /.gatehouse (in any case, dots percent-encoded or not). */
function startsInternal(url: string): boolean {
  const path = url.startsWith('/') ? url : url.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/, '');
  const second = path.charCodeAt(1);
  // Per request: most paths are out after one character ('.' or a '%2e' escape start it).
  if (second !== 0x2e && second !== 0x25) return false;
  return isInternalPath(path.slice(0, 64).replace(/%2e/gi, '.'));
}

export function buildFacts(req: RawRequest, limits: FactsLimits, trusted: TrustedPeer): FactsResult {
  if (req.rawHeaders.length / 2 > limits.headerCount) return refuse('GATEHOUSE_ERR_REQUEST_HEADERS_TOO_LARGE', 'header-count');
  if (Buffer.byteLength(req.url) > limits.targetBytes) return refuse('GATEHOUSE_ERR_REQUEST_TARGET_TOO_LONG', 'target-length');
  if (REFUSED_METHODS.has(req.method.toUpperCase())) return refuse('GATEHOUSE_ERR_REQUEST_METHOD_NOT_ALLOWED', 'method-refused');

  const seen = [0, 0, 0];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const idx = SINGLE.indexOf(req.rawHeaders[i]!.toLowerCase());
    if (idx >= 0 && ++seen[idx]! > 1) return refuse('GATEHOUSE_ERR_REQUEST_AMBIGUOUS', `duplicate-${SINGLE[idx]}`);
  }

  const peer = stripMappedPrefix(req.peer);
  const peerTrusted = trusted(peer);
  let scheme = req.scheme;
  if (peerTrusted) {
    const proto = req.headers['x-forwarded-proto'];
    const first = (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0]?.trim().toLowerCase();
    if (first === 'http' || first === 'https') scheme = first;
  }

  const hostHeader = req.headers.host;
  const host = normalizeHost(typeof hostHeader === 'string' ? hostHeader : undefined, scheme);
  if (!host.ok) return refuse('GATEHOUSE_ERR_REQUEST_BAD_HOST', host.reason);
  const target = normalizeTarget(req.url, host.authority, scheme);
  if (!target.ok) return refuse('GATEHOUSE_ERR_REQUEST_BAD_TARGET', target.reason);
  // A target that starts in our namespace stays there: `/.gatehouse/auth/../../admin`
  // normalizes to `/admin`, and an ext_authz caller that does not normalize would take
  // the upstream's answer to it as our verdict. Refused, never re-read as another path.
  if (startsInternal(req.url) && !isInternalPath(target.path)) return refuse('GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'internal-prefix-left');

  // RFC 9112 §6.1: chunked is the only transfer coding we relay. Node's parser hands over
  // `identity`, `xchunked` and friends before refusing them; refuse here, before any
  // upstream connection is opened for a body that will never be read.
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined && (typeof coding !== 'string' || coding.trim().toLowerCase() !== 'chunked')) return refuse('GATEHOUSE_ERR_REQUEST_MALFORMED', 'transfer-coding');

  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > limits.bodyBytes) return refuse('GATEHOUSE_ERR_REQUEST_BODY_TOO_LARGE', 'content-length');

  return {
    ok: true,
    facts: {
      method: req.method,
      scheme,
      authority: host.authority,
      hostname: host.hostname,
      path: target.path,
      query: target.query,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      peer,
      peerTrusted,
      clientIp: peerTrusted ? clientFromForwardedFor(req.headers['x-forwarded-for'], trusted, peer) : peer,
    },
  };
}
