// Step 4 of the pipeline: strip every header a client could use to speak for gatehouse,
// then set the identity headers from the verified identity (security.md §5, §12).
// The policy (which names are spoofable) is compiled once per config; building the
// header set per request is one pass over rawHeaders.
import { removeCookies } from '../../sessions/cookie.js';
import type { Identity, RequestFacts } from '../types.js';
import { canonicalHeaderName } from './canonical.js';
import { encodeIdentityList, encodeIdentityValue } from './encode.js';
import type { AssertionSigner } from './assertion.js';
import type { CompiledTemplate } from './template.js';

export interface IdentityHeaderNames {
  readonly user: string;
  readonly email: string;
  readonly name: string;
  readonly groups: string;
  readonly method: string;
  readonly route: string;
}

export interface HeaderPolicy {
  readonly identity: IdentityHeaderNames;
  /** Canonical names (see canonicalHeaderName) a client may never send. */
  readonly spoofable: ReadonlySet<string>;
  /** Canonical prefixes a client may never send. */
  readonly spoofablePrefixes: readonly string[];
  /** Signs `identity.assertion` for every authenticated forward. */
  readonly assertion?: AssertionSigner;
  /** gatehouse's own cookies (session, CSRF, login transaction): removed from Cookie on
   * every route unless it sets forwardCredentials (security.md §12). */
  readonly ownCookies?: ReadonlySet<string>;
}

/** What one route adds to the policy. */
export interface RouteHeaderRules {
  readonly name: string;
  readonly templates: ReadonlyArray<{ readonly header: string; readonly render: CompiledTemplate }>;
  readonly forwardCredentials: boolean;
  readonly allowMethodOverride: boolean;
  readonly preserveHost: boolean;
  /** `aud` of this route's assertion: assertionAudience, else the upstream origin. */
  readonly assertionAudience: string;
}

export type UpstreamHeaders = Record<string, string | string[]>;

// RFC 9110 §7.6.1 hop-by-hop fields, plus proxy-only ones and what we always set ourselves.
const ALWAYS_DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'http2-settings',
  'host',
  // We decide on the body ourselves: a 100 Continue is never promised on the client's
  // behalf (security.md §11), and undici refuses `expect` anyway.
  'expect',
  'x-request-id',
]);

const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-server', 'forwarded', 'x-real-ip']);

// Method override lets a client turn an allowed GET into a DELETE upstream.
const METHOD_OVERRIDE = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

export function createHeaderPolicy(
  identity: IdentityHeaderNames,
  stripPrefixes: readonly string[],
  templateHeaders: readonly string[],
  assertion?: AssertionSigner,
  ownCookies?: readonly string[],
): HeaderPolicy {
  const spoofable = new Set<string>();
  for (const name of Object.values(identity)) spoofable.add(canonicalHeaderName(name));
  for (const name of templateHeaders) spoofable.add(canonicalHeaderName(name));
  if (assertion) spoofable.add(canonicalHeaderName(assertion.header));
  return {
    identity,
    spoofable,
    spoofablePrefixes: stripPrefixes.map(canonicalHeaderName),
    ...(assertion ? { assertion } : {}),
    ...(ownCookies && ownCookies.length > 0 ? { ownCookies: new Set(ownCookies) } : {}),
  };
}

function connectionTokens(facts: RequestFacts): Set<string> | undefined {
  const raw = facts.headers.connection;
  if (raw === undefined) return undefined;
  const tokens = new Set<string>();
  for (const value of Array.isArray(raw) ? raw : [raw]) {
    for (const token of value.split(',')) {
      const t = token.trim().toLowerCase();
      if (t) tokens.add(t);
    }
  }
  return tokens;
}

function add(out: UpstreamHeaders, name: string, value: string): void {
  const existing = out[name];
  if (existing === undefined) out[name] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else out[name] = [existing, value];
}

function forwardedFor(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

export interface BuildHeadersInput {
  readonly facts: RequestFacts;
  readonly policy: HeaderPolicy;
  readonly route: RouteHeaderRules;
  readonly identity: Identity;
  readonly consumed: 'authorization' | 'cookie' | 'none';
  readonly requestId: string;
  /** Authority of the upstream, used as Host unless the route preserves the client's. */
  readonly upstreamAuthority: string;
  /** Keep Connection/Upgrade for a WebSocket handshake. */
  readonly upgrade?: boolean;
}

export function buildUpstreamHeaders(input: BuildHeadersInput): UpstreamHeaders {
  const { facts, policy, route, identity } = input;
  const out: UpstreamHeaders = {};
  const nominated = connectionTokens(facts);
  const trusted = facts.peerTrusted;
  const kept: Record<string, string[]> = {};
  const raw = facts.rawHeaders;

  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (ALWAYS_DROPPED.has(lower)) continue;
    if (nominated?.has(lower)) continue;
    const canonical = canonicalHeaderName(lower);
    if (policy.spoofable.has(canonical)) continue;
    if (policy.spoofablePrefixes.some((p) => canonical.startsWith(p))) continue;
    // Every X-Forwarded-* is a claim about the client (oauth2-proxy's X-Forwarded-User,
    // X-Forwarded-Uri of forward-auth, X-Forwarded-Ssl...): only trusted peers make them.
    if (FORWARDED.has(canonical) || canonical.startsWith('x-forwarded-')) {
      // Only a trusted proxy's values survive, and only in their canonical spelling; the
      // ones we set ourselves are rebuilt below, the others pass as sent.
      if (trusted && canonical === lower) {
        if (FORWARDED.has(lower)) (kept[lower] ??= []).push(value);
        else add(out, lower, value);
      }
      continue;
    }
    if (!route.allowMethodOverride && METHOD_OVERRIDE.has(canonical)) continue;
    if (lower === 'authorization' && input.consumed === 'authorization' && !route.forwardCredentials) continue;
    if (lower === 'cookie' && policy.ownCookies && !route.forwardCredentials) {
      const rest = removeCookies(value, policy.ownCookies);
      if (rest !== undefined) add(out, lower, rest);
      continue;
    }
    add(out, lower, value);
  }

  out.host = route.preserveHost ? facts.authority : input.upstreamAuthority;
  if (input.upgrade) {
    out.connection = 'Upgrade';
    const upgrade = facts.headers.upgrade;
    if (typeof upgrade === 'string') out.upgrade = upgrade;
  }

  // X-Forwarded-* and Forwarded: replaced for untrusted peers, appended for trusted ones.
  const priorFor = kept['x-forwarded-for'];
  out['x-forwarded-for'] = priorFor ? `${priorFor.join(', ')}, ${facts.peer}` : facts.peer;
  out['x-forwarded-proto'] = kept['x-forwarded-proto']?.[0] ?? facts.scheme;
  out['x-forwarded-host'] = kept['x-forwarded-host']?.[0] ?? facts.authority;
  if (kept['x-forwarded-port']) out['x-forwarded-port'] = kept['x-forwarded-port'][0]!;
  if (kept['x-forwarded-prefix']) out['x-forwarded-prefix'] = kept['x-forwarded-prefix'][0]!;
  out['x-real-ip'] = kept['x-real-ip']?.[0] ?? facts.clientIp;
  const element = `for=${forwardedFor(facts.peer)};host="${facts.authority}";proto=${facts.scheme}`;
  out.forwarded = kept.forwarded ? `${kept.forwarded.join(', ')}, ${element}` : element;
  out['x-request-id'] = input.requestId;

  // Set AFTER stripping, so nothing a client sends (not even a Connection: nomination)
  // can remove or replace them.
  const names = policy.identity;
  out[names.method.toLowerCase()] = identity.method;
  out[names.route.toLowerCase()] = encodeIdentityValue(route.name);
  if (identity.method !== 'anonymous') {
    if (identity.user !== undefined && identity.user !== '') out[names.user.toLowerCase()] = encodeIdentityValue(identity.user);
    if (identity.email) out[names.email.toLowerCase()] = encodeIdentityValue(identity.email);
    if (identity.name) out[names.name.toLowerCase()] = encodeIdentityValue(identity.name);
    if (identity.groups.length > 0) out[names.groups.toLowerCase()] = encodeIdentityList(identity.groups);
    for (const { header, render } of route.templates) {
      const value = render({ identity, route: route.name });
      if (value !== undefined) out[header.toLowerCase()] = value;
    }
    if (policy.assertion) out[policy.assertion.header.toLowerCase()] = policy.assertion.sign({ identity, route: route.name, audience: route.assertionAudience });
  }
  return out;
}
