// Forward-auth: the ingress asks "may this request pass, and as whom?" about a request it
// holds itself. This rebuilds the RequestFacts of that ORIGINAL request from the check
// request a trusted ingress sent, so that the one pipeline decides on it (architecture.md:
// forward-auth has no logic of its own). Pure: plain data in, plain data out.
//
// Three contracts, told apart by what the check carries:
// - nginx `auth_request` / ingress-nginx: X-Original-URL (full URL) or X-Original-URI
//   (path and query; the host then comes from X-Forwarded-Host), X-Original-Method.
//   A subrequest is always a GET (verified against nginx 1.22), so the method header is
//   required: guessing it would decide a POST as a GET.
// - Traefik ForwardAuth: X-Forwarded-Method, -Proto, -Host, -Uri.
// - Envoy ext_authz (HTTP service): the original path and query appended after
//   /.gatehouse/auth, the original method and Host on the check request itself.
// The ingress passes the client's own headers along, so a client can add another
// contract's headers: two contracts at once are refused, never resolved by preference.
import { isIP } from 'node:net';
import type { ErrorCode } from '../errors.js';
import { REFUSED_METHODS } from '../pipeline/facts.js';
import { normalizeHost } from '../pipeline/normalize/host.js';
import { normalizeTarget } from '../pipeline/normalize/target.js';
import type { RequestFacts } from '../pipeline/types.js';

/** The forward-auth endpoint; Envoy appends the original path to it. */
export const FORWARD_AUTH_PATH = '/.gatehouse/auth';

export type ForwardAuthStyle = 'nginx' | 'traefik' | 'envoy';

export interface CheckRequest {
  /** Facts of the check request itself, as buildFacts made them (peer, trust, client IP). */
  readonly facts: RequestFacts;
  /** Its request target exactly as received: Envoy's original path is part of it. */
  readonly url: string;
}

export interface OriginalLimits {
  readonly targetBytes: number;
}

export type OriginalFactsResult =
  | { readonly ok: true; readonly style: ForwardAuthStyle; readonly facts: RequestFacts }
  | { readonly ok: false; readonly code: ErrorCode; readonly reason: string };

/** Whether a normalized path is the forward-auth endpoint (or, for Envoy, below it). */
export function isForwardAuthPath(path: string): boolean {
  return path === FORWARD_AUTH_PATH || path.startsWith(FORWARD_AUTH_PATH + '/');
}

// Each contract's own headers. Any one of them present counts as the contract being used.
const NGINX_HEADERS = ['x-original-url', 'x-original-uri', 'x-original-method'];
const TRAEFIK_HEADERS = ['x-forwarded-uri', 'x-forwarded-method'];
// Read as single values: a repetition makes the request ambiguous (Node would join them).
const SINGLE_HEADERS = [...NGINX_HEADERS, ...TRAEFIK_HEADERS, 'x-forwarded-host', 'x-real-ip'];

// RFC 9110 §5.6.2 token.
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// An absolute URL as nginx builds X-Original-URL: `$scheme://$http_host$request_uri`.
const ABSOLUTE_URL = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?]*)(.*)$/;
// What the path normalizer keeps as it is: RFC 3986 pchar, '/' and escapes.
const NOT_KEPT = /%[0-9A-Fa-f]{2}|[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/g;

function refuse(code: ErrorCode, reason: string): OriginalFactsResult {
  return { ok: false, code, reason };
}

/** The raw target the way the normalizer spells what it does not change: escapes in upper
 * case, characters outside pchar escaped. Equal to the normalized path unless a dot
 * segment, an empty segment or an escaped unreserved character was resolved. */
function spelledAsNormalized(rawPath: string): string {
  return rawPath.replace(NOT_KEPT, (m) => (m.length === 3 ? m.toUpperCase() : '%' + m.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')));
}

/** Every value of each contract header, from rawHeaders (Node keeps only one in `headers`). */
function countHeaders(rawHeaders: readonly string[]): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (SINGLE_HEADERS.includes(name)) {
      const list = seen.get(name);
      if (list) list.push(rawHeaders[i + 1]!);
      else seen.set(name, [rawHeaders[i + 1]!]);
    }
  }
  return seen;
}

interface Host {
  readonly authority: string;
  readonly hostname: string;
}

interface Original {
  readonly method: string;
  readonly target: string;
  readonly host: Host;
  readonly scheme: 'http' | 'https';
}

interface Failure {
  readonly code: ErrorCode;
  readonly reason: string;
}

type Described = Original | Failure;

function bad(reason: string): Failure {
  return { code: 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', reason };
}

function hostOf(raw: string | undefined, scheme: 'http' | 'https'): Host | Failure {
  if (raw === undefined) return bad('original-host-missing');
  const host = normalizeHost(raw, scheme);
  return host.ok ? { authority: host.authority, hostname: host.hostname } : { code: 'GATEHOUSE_ERR_REQUEST_BAD_HOST', reason: `original-${host.reason}` };
}

function describeNginx(get: (name: string) => string | undefined, check: RequestFacts): Described {
  const method = get('x-original-method');
  if (method === undefined) return bad('original-method-missing');
  const url = get('x-original-url');
  const uri = get('x-original-uri');
  if (url === undefined) {
    if (uri === undefined) return bad('original-uri-missing');
    // X-Original-URI carries no host: the ingress must say it (never the check's Host,
    // which names gatehouse, nor a guess).
    const host = hostOf(get('x-forwarded-host'), check.scheme);
    if ('code' in host) return host;
    return { method, target: uri, host, scheme: check.scheme };
  }
  const m = ABSOLUTE_URL.exec(url);
  if (m === null) return { code: 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', reason: 'original-url-not-absolute' };
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return { code: 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', reason: 'original-url-scheme' };
  // The URL is what the ingress routed on: its host and scheme win over X-Forwarded-Host
  // and -Proto, which ingress-nginx passes through from the client unchanged.
  const host = hostOf(m[2]!, scheme);
  if ('code' in host) return host;
  const rest = m[3]!;
  const target = rest === '' || rest.startsWith('?') ? '/' + rest : rest;
  // ingress-nginx sends both when auth-method is set; they must name the same target.
  if (uri !== undefined && uri !== target) return bad('original-uri-mismatch');
  return { method, target, host, scheme };
}

function describeTraefik(get: (name: string) => string | undefined, check: RequestFacts): Described {
  const method = get('x-forwarded-method');
  if (method === undefined) return bad('original-method-missing');
  const target = get('x-forwarded-uri');
  if (target === undefined) return bad('original-uri-missing');
  const host = hostOf(get('x-forwarded-host'), check.scheme);
  if ('code' in host) return host;
  // The scheme: X-Forwarded-Proto, already read into check.scheme for a trusted peer.
  return { method, target, host, scheme: check.scheme };
}

/** Client address: X-Forwarded-For by the trusted-proxy rule (already applied to the
 * check), else the ingress's X-Real-IP, else the ingress itself. */
function clientIpOf(check: RequestFacts, realIp: string | undefined): string {
  if (check.headers['x-forwarded-for'] !== undefined) return check.clientIp;
  if (realIp !== undefined) {
    const ip = realIp.trim();
    if (isIP(ip)) return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
  }
  return check.peer;
}

/**
 * The facts of the original request a trusted ingress asks about, or why there is no
 * unambiguous original request to decide on.
 */
export function originalFacts(check: CheckRequest, limits: OriginalLimits): OriginalFactsResult {
  const facts = check.facts;
  // The endpoint refuses untrusted peers before calling this; refuse here too, so that
  // no other caller can turn a client's headers into a decision.
  if (!facts.peerTrusted) return refuse('GATEHOUSE_ERR_FORWARD_AUTH_UNTRUSTED', 'untrusted-peer');

  const q = check.url.indexOf('?');
  const checkPath = q === -1 ? check.url : check.url.slice(0, q);
  let suffix: string | undefined;
  if (checkPath !== FORWARD_AUTH_PATH) {
    // Only the literal prefix: `/.gatehouse/./auth/x` or `//.gatehouse/auth/x` normalize
    // to the endpoint too, but then the rest is not the path the ingress forwards.
    if (!check.url.startsWith(FORWARD_AUTH_PATH + '/')) return refuse('GATEHOUSE_ERR_FORWARD_AUTH_NOT_NORMALIZED', 'check-path-not-normalized');
    suffix = check.url.slice(FORWARD_AUTH_PATH.length);
  }

  const headers = countHeaders(facts.rawHeaders);
  for (const [name, values] of headers) if (values.length > 1) return refuse('GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', `duplicate-${name}`);
  const get = (name: string): string | undefined => headers.get(name)?.[0];
  const contracts: ForwardAuthStyle[] = [];
  if (NGINX_HEADERS.some((h) => headers.has(h))) contracts.push('nginx');
  if (TRAEFIK_HEADERS.some((h) => headers.has(h))) contracts.push('traefik');
  if (suffix !== undefined) contracts.push('envoy');
  if (contracts.length === 0) return refuse('GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'contract-missing');
  if (contracts.length > 1) return refuse('GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', `contract-ambiguous-${contracts.join('-')}`);
  const style = contracts[0]!;

  const described: Described =
    style === 'nginx'
      ? describeNginx(get, facts)
      : style === 'traefik'
        ? describeTraefik(get, facts)
        : { method: facts.method, target: suffix!, host: { authority: facts.authority, hostname: facts.hostname }, scheme: facts.scheme };
  if ('code' in described) return refuse(described.code, described.reason);
  const { method, target, scheme } = described;
  const { authority, hostname } = described.host;

  if (!METHOD.test(method)) return refuse('GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'original-method-invalid');
  if (REFUSED_METHODS.has(method.toUpperCase())) return refuse('GATEHOUSE_ERR_REQUEST_METHOD_NOT_ALLOWED', 'method-refused');
  if (Buffer.byteLength(target) > limits.targetBytes) return refuse('GATEHOUSE_ERR_REQUEST_TARGET_TOO_LONG', 'target-length');
  // Origin-form only: an absolute-form target would name a second authority.
  if (!target.startsWith('/')) return refuse('GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'not-origin-form');
  const normalized = normalizeTarget(target, authority, scheme);
  if (!normalized.ok) return refuse('GATEHOUSE_ERR_REQUEST_BAD_TARGET', normalized.reason);
  // security.md §2, forward-auth: the ingress forwards the target as it received it, not
  // our normalized form. Decide only when both name the same path.
  const qi = target.indexOf('?');
  if (spelledAsNormalized(qi === -1 ? target : target.slice(0, qi)) !== normalized.path) return refuse('GATEHOUSE_ERR_FORWARD_AUTH_NOT_NORMALIZED', 'not-normalized');

  const rawHeaders: string[] = [];
  for (let i = 0; i < facts.rawHeaders.length; i += 2) {
    const name = facts.rawHeaders[i]!;
    rawHeaders.push(name, name.toLowerCase() === 'host' ? authority : facts.rawHeaders[i + 1]!);
  }
  return {
    ok: true,
    style,
    facts: {
      method,
      scheme,
      authority,
      hostname,
      path: normalized.path,
      query: normalized.query,
      headers: { ...facts.headers, host: authority },
      rawHeaders,
      peer: facts.peer,
      peerTrusted: true,
      clientIp: clientIpOf(facts, get('x-real-ip')),
    },
  };
}
