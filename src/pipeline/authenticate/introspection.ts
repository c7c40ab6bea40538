// Opaque bearer tokens checked at an OAuth 2.0 introspection endpoint (RFC 7662).
//
// - The endpoint is ours to call, so its failures are our outage: a connection error, a
//   timeout, a non-200 answer or a body that is not a JSON object is a 503 without an
//   `invalid_token` challenge (security.md §10: fail closed, never blame the client).
// - Only `active: true` (the JSON boolean) admits a token (RFC 7662 §2.2).
// - Answers are cached by sha256(token): active ones for min(cacheTtl, exp - now), so a
//   cached token is never trusted past its exp; rejections for min(cacheTtl, 10 s).
//   Revocation therefore takes effect within cacheTtl (architecture.md, principle 10).
//   Outages are never cached. Concurrent requests with one token share one call.
// - The token, the client secret and the endpoint's body never reach a result, an
//   error or health() (security.md §13).
import { Agent, request, type Dispatcher } from 'undici';
import { isLoopbackHost } from '../../loopback.js';
import type { ErrorCode } from '../../errors.js';
import type { AuthResult, Authenticator, Identity, RequestFacts } from '../types.js';
import { parseBearerToken } from './bearer.js';
import { identityFromClaims, type ClaimsMapping } from './claims-identity.js';
import { createTokenCache, tokenCacheKey } from './token-cache.js';

export interface IntrospectionAuthenticatorOptions {
  name: string;
  realm: string;
  /** https URL; http only towards a loopback address (tests, a local sidecar). */
  endpoint: string;
  clientId: string;
  /** Never logged, never in errors. */
  clientSecret: string;
  /** How long an active answer is reused (never past the token's exp); 0 disables caching. */
  cacheTtlMs: number;
  /** Time the endpoint has to answer completely (connect, headers and body). */
  timeoutMs: number;
  claims: ClaimsMapping;
  cache: { maxEntries: number };
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean };
}

export interface IntrospectionAuthenticatorDeps {
  /** Wall clock in ms since the epoch (compared with `exp`/`nbf`); default Date.now. */
  now?: () => number;
  /** Replaces the authenticator's own undici Agent (which `tls` configures); not closed by close(). */
  dispatcher?: Dispatcher;
}

/** Largest introspection answer read; RFC 7662 answers are a few hundred bytes. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Longest a rejection is remembered, whatever cacheTtl says. */
export const MAX_NEGATIVE_CACHE_MS = 10_000;

type FailResult = Extract<AuthResult, { outcome: 'fail' }>;

/** Thrown inside a call to the endpoint; `code` is short and safe for health(). */
class EndpointError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/** RFC 6749 Appendix B: application/x-www-form-urlencoded, as §2.3.1 asks for Basic client auth. */
function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

function quotedString(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

function checkEndpoint(name: string, endpoint: string): URL {
  // URL errors quote their input: the message must not carry a URL that may hold secrets.
  const url = URL.canParse(endpoint) ? new URL(endpoint) : undefined;
  if (url === undefined) throw new TypeError(`introspection authenticator ${name}: endpoint is not a URL`);
  if (url.username !== '' || url.password !== '') {
    throw new TypeError(`introspection authenticator ${name}: endpoint must not carry credentials`);
  }
  // RFC 7662 §4: the client secret and the tokens travel in this request; plain http is
  // only tolerable when it never leaves the host.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new TypeError(`introspection authenticator ${name}: endpoint must be an https URL (http only on loopback)`);
  }
  return url;
}

/** A code safe to show in health(): a Node/undici error code or a fixed word, never a message. */
function errorCode(err: unknown, signal: AbortSignal): string {
  if (err instanceof EndpointError) return err.code;
  if (signal.aborted) return 'timeout';
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? code : 'request-failed';
}

/** Drops a body we will not read; undici reports the abort as an error nobody needs. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

/** The body as a JSON object, read up to MAX_RESPONSE_BYTES. */
async function readJsonObject(body: Dispatcher.ResponseData['body']): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_RESPONSE_BYTES) {
      discard(body);
      throw new EndpointError('response-too-large');
    }
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
  } catch {
    throw new EndpointError('not-json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new EndpointError('not-object');
  return value as Record<string, unknown>;
}

/** A NumericDate (RFC 7662 §2.2, RFC 7519 §2) in ms; `null` when present but not a finite number. */
function numericDate(answer: Record<string, unknown>, key: 'exp' | 'nbf'): number | undefined | null {
  const v = answer[key];
  if (v === undefined) return undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v * 1000 : null;
}

export function createIntrospectionAuthenticator(
  opts: IntrospectionAuthenticatorOptions,
  deps: IntrospectionAuthenticatorDeps = {},
): Authenticator {
  const { name, realm, clientId, clientSecret, cacheTtlMs, timeoutMs, claims } = opts;
  if (typeof name !== 'string' || name === '') throw new TypeError('introspection authenticator: name must be a non-empty string');
  // Sent in a WWW-Authenticate quoted-string: printable Latin-1 only (see basic.ts).
  if (!/^[\x20-\x7e\xa0-\xff]*$/.test(realm)) {
    throw new RangeError(`introspection authenticator ${name}: realm must be printable Latin-1 text without control characters`);
  }
  const endpoint = checkEndpoint(name, opts.endpoint);
  if (typeof clientId !== 'string' || clientId === '') throw new TypeError(`introspection authenticator ${name}: clientId must be a non-empty string`);
  if (typeof clientSecret !== 'string' || clientSecret === '') {
    throw new TypeError(`introspection authenticator ${name}: clientSecret must be a non-empty string`);
  }
  if (!(cacheTtlMs >= 0) || !Number.isFinite(cacheTtlMs)) throw new RangeError(`introspection authenticator ${name}: cacheTtlMs must be a non-negative number`);
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new RangeError(`introspection authenticator ${name}: timeoutMs must be a positive number`);
  if (typeof claims?.user !== 'string' || claims.user === '') throw new TypeError(`introspection authenticator ${name}: claims.user must be set`);

  const now = deps.now ?? Date.now;
  const cache = createTokenCache<AuthResult>({ maxEntries: opts.cache.maxEntries });
  const ownAgent =
    deps.dispatcher === undefined
      ? new Agent({
          connect: {
            ...(opts.tls?.ca !== undefined ? { ca: opts.tls.ca } : {}),
            ...(opts.tls?.cert !== undefined ? { cert: opts.tls.cert } : {}),
            ...(opts.tls?.key !== undefined ? { key: opts.tls.key } : {}),
            rejectUnauthorized: opts.tls?.rejectUnauthorized ?? true,
          },
        })
      : undefined;
  const dispatcher: Dispatcher = deps.dispatcher ?? ownAgent!;
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined by ':'.
  const authorization = `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`, 'utf8').toString('base64')}`;

  let lastError: string | undefined;
  const inFlight = new Map<string, Promise<AuthResult>>();

  const challenge = `Bearer realm=${quotedString(realm)}`;
  // error_description comes from a fixed set (bearer-design.md): never token or claim data.
  const rejected = (reason: string, code: ErrorCode, description: string): FailResult =>
    Object.freeze({
      outcome: 'fail',
      reason,
      code,
      challenge: `${challenge}, error="invalid_token", error_description=${quotedString(description)}`,
    });
  const SKIP: AuthResult = Object.freeze({ outcome: 'skip' });
  // No invalid_token challenge: the token may be fine; we cannot tell (RFC 6750 §3.1).
  const UNAVAILABLE: FailResult = Object.freeze({ outcome: 'fail', reason: 'endpoint-error', code: 'GATEHOUSE_ERR_AUTH_UNAVAILABLE' });
  const INACTIVE = rejected('inactive', 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS', 'invalid token');
  const MALFORMED = rejected('malformed', 'GATEHOUSE_ERR_AUTH_MALFORMED_CREDENTIALS', 'invalid token');
  const TOO_LARGE = rejected('too-large', 'GATEHOUSE_ERR_AUTH_MALFORMED_CREDENTIALS', 'token too large');
  const EXPIRED = rejected('expired', 'GATEHOUSE_ERR_AUTH_TOKEN_EXPIRED', 'token expired');
  const NOT_YET_VALID = rejected('not-yet-valid', 'GATEHOUSE_ERR_AUTH_TOKEN_NOT_YET_VALID', 'token not yet valid');
  const NO_USER = rejected('missing-user-claim', 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS', 'invalid token');
  const WRONG_TYPE = rejected('unsupported-token-type', 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS', 'unsupported token type');

  /** POSTs the token; the endpoint's answer as a JSON object, or EndpointError. */
  async function introspect(token: string): Promise<Record<string, unknown>> {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const { statusCode, body } = await request(endpoint, {
        method: 'POST',
        dispatcher,
        signal,
        headers: {
          authorization,
          accept: 'application/json',
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      });
      if (statusCode === 400) {
        // RFC 7009 §2.2.1's unsupported_token_type is about the token, not about us: e.g.
        // oidc-provider answers it for any JWT-shaped token. The client's token is bad
        // (401); the endpoint works, and a client must not be able to make it look down.
        const error = await readJsonObject(body).then((o) => o.error, () => undefined);
        if (error === 'unsupported_token_type') return { active: false };
        throw new EndpointError('http-400');
      }
      // Redirects are not followed (undici's default): a 3xx is a broken endpoint too.
      if (statusCode !== 200) {
        discard(body);
        throw new EndpointError(`http-${statusCode}`);
      }
      return await readJsonObject(body);
    } catch (err) {
      throw new EndpointError(errorCode(err, signal));
    }
  }

  /**
   * Turns an answer into a result and says until when (epoch ms) it may be reused, or
   * names what is wrong with an answer no token could have earned.
   */
  function judge(answer: Record<string, unknown>, at: number): { result: AuthResult; until: number } | { broken: string } {
    const negative = (result: FailResult, bound = Infinity) => ({ result, until: Math.min(at + Math.min(cacheTtlMs, MAX_NEGATIVE_CACHE_MS), bound) });
    if (answer.active !== true) return negative(INACTIVE);
    const exp = numericDate(answer, 'exp');
    const nbf = numericDate(answer, 'nbf');
    // A server that vouches for a token with a date we cannot read is broken, not the token.
    if (exp === null) return { broken: 'invalid-exp' };
    if (nbf === null) return { broken: 'invalid-nbf' };
    if (exp !== undefined && exp <= at) return negative(EXPIRED);
    // Rejected only until nbf: from then on the same token may well be good.
    if (nbf !== undefined && nbf > at) return negative(NOT_YET_VALID, nbf);
    // Presented as a Bearer token, it must be one: a DPoP-bound (RFC 9449) or otherwise
    // typed token, or one bound to a key or certificate we cannot check (`cnf`, RFC 7800,
    // RFC 8705), proves nothing without its proof of possession.
    const type = answer.token_type;
    if ((type !== undefined && !(typeof type === 'string' && /^(bearer|access_token)$/i.test(type))) || answer.cnf !== undefined) {
      return negative(WRONG_TYPE);
    }
    const identity: Identity | undefined = identityFromClaims(answer, claims, 'introspection', name);
    if (identity === undefined) return negative(NO_USER);
    return {
      result: Object.freeze({ outcome: 'ok', identity, consumed: 'authorization' }),
      until: Math.min(at + cacheTtlMs, exp ?? Infinity),
    };
  }

  async function check(token: string): Promise<AuthResult> {
    let answer: Record<string, unknown>;
    try {
      answer = await introspect(token);
    } catch (err) {
      lastError = (err as EndpointError).code;
      return UNAVAILABLE;
    }
    const at = now();
    const verdict = judge(answer, at);
    if ('broken' in verdict) {
      lastError = verdict.broken;
      return UNAVAILABLE;
    }
    lastError = undefined;
    if (verdict.until > at) cache.set(token, verdict.result, verdict.until);
    return verdict.result;
  }

  return {
    name,
    type: 'introspection',
    challenge,

    async authenticate(facts: RequestFacts): Promise<AuthResult> {
      // Tokens over 8 KiB are refused before any call (security.md §11, as for JWTs).
      const parsed = parseBearerToken(facts.headers.authorization);
      if (parsed.kind === 'skip') return SKIP;
      if (parsed.kind === 'malformed') return parsed.reason === 'too-large' ? TOO_LARGE : MALFORMED;
      const { token } = parsed;

      const cached = cache.get(token, now());
      if (cached !== undefined) return cached;
      // Keyed by the digest, like the cache: no token sits in the map as a key.
      const key = tokenCacheKey(token);
      const running = inFlight.get(key);
      if (running !== undefined) return running;
      // `finally` runs after `set` even when check() settles at once.
      const call = check(token).finally(() => inFlight.delete(key));
      inFlight.set(key, call);
      return call;
    },

    scopeChallenge(required: readonly string[]): string {
      return `${challenge}, error="insufficient_scope", scope=${quotedString(required.join(' '))}`;
    },

    health(): Record<string, unknown> {
      return lastError === undefined ? { introspection: 'ok' } : { introspection: 'failing', lastError };
    },

    async close(): Promise<void> {
      cache.clear();
      // undici rejects a second close(); ours may be called by a reload and a shutdown both.
      if (ownAgent !== undefined && !ownAgent.closed) await ownAgent.close();
    },
  };
}
