// The shape of gatehouse.yaml (/work/shared/design/config.md is the contract). Every
// public key carries a description: they feed `gatehouse schema` and the docs, so the
// two cannot drift. Every object is closed (`additionalProperties: false`): an unknown
// key is an error, never silently ignored (security.md §4).
//
// The schema is built twice from one factory: the FILE form (what users write and what
// is validated: durations as `30s` or seconds, keys with defaults optional) and the
// LOADED form (what loadConfigFile returns: durations in milliseconds, defaults filled
// in, so those keys are required). Only the types and tests use the loaded form.
import { isIP } from 'node:net';
import {
  CloneType,
  Kind,
  Type,
  type SchemaOptions,
  type Static,
  type TNumber,
  type TOptional,
  type TSchema,
  type TString,
  type TUnion,
  type TUnsafe,
} from '@sinclair/typebox';
import { DURATION_PATTERN, parseDuration } from './duration.js';

/**
 * Words completing "must be …" for a value failing its type, `pattern`, `format` or
 * `anyOf`. A symbol, so it never reaches the printed JSON Schema.
 */
export const Expect: unique symbol = Symbol.for('gatehouse.config.expect');
/** Per-keyword messages for a key-name schema (`propertyNames`), e.g. `{ not: 'is reserved' }`. */
export const Messages: unique symbol = Symbol.for('gatehouse.config.messages');
/** For a discriminated union: what its tag names, as in "unknown authenticator type". */
export const Noun: unique symbol = Symbol.for('gatehouse.config.noun');
/** Marks a duration schema: the loader converts its value to milliseconds. */
export const DurationTag: unique symbol = Symbol.for('gatehouse.config.duration');

/** Longest duration accepted: Node timers overflow past 2^31-1 ms and would fire at once. */
export const MAX_DURATION_MS = 24 * 86_400_000;

export const AUTHENTICATOR_TYPES = ['basic', 'jwt', 'introspection', 'session'] as const;
export const SESSION_STORES = ['memory', 'redis'] as const;
export const SAME_SITE_VALUES = ['lax', 'strict', 'none'] as const;
/** JWS algorithms a `jwt` authenticator may allow (RFC 7518; `none` never). */
export const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
/** Names `auth:` gives a built-in meaning; no authenticator may take them. */
export const RESERVED_AUTHENTICATOR_NAMES = ['anonymous', 'deny'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// --- formats (registered with Ajv by load.ts) ---------------------------------------

function isHostPort(s: string): boolean {
  const m = /^(?:\[([^\]]+)\]|([A-Za-z0-9_.-]+)):([0-9]{1,5})$/.exec(s);
  if (m === null || Number(m[3]) > 65_535) return false;
  if (m[1] !== undefined) return isIP(m[1]) === 6;
  const host = m[2] as string;
  // Something made of digits and dots is meant as an IPv4 address: hold it to that.
  if (/^[0-9.]+$/.test(host)) return isIP(host) === 4;
  return /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/.test(host);
}

function isIpOrCidr(s: string): boolean {
  const slash = s.indexOf('/');
  const ip = slash < 0 ? s : s.slice(0, slash);
  const version = isIP(ip);
  // Zone ids (fe80::1%eth0) name an interface of this host, never a peer.
  if (version === 0 || ip.includes('%')) return false;
  if (slash < 0) return true;
  const bits = s.slice(slash + 1);
  return /^(0|[1-9][0-9]{0,2})$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128);
}

function isHttpUrl(s: string): boolean {
  // The WHATWG parser forgives what a config must not contain: surrounding blanks,
  // backslashes, an empty `?` or `#`.
  if (!/^https?:\/\/[^\s\\?#]+$/i.test(s)) return false;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return false;
  }
  // Credentials in a URL end up in logs and error messages (security.md §13).
  return url.hostname !== '' && url.username === '' && url.password === '';
}

function isDurationMs(ms: number | undefined): boolean {
  return ms !== undefined && ms >= 1 && ms <= MAX_DURATION_MS;
}

/** Custom Ajv formats the schema uses, by name. */
export const CONFIG_FORMATS = {
  'host-port': { type: 'string', validate: isHostPort },
  'ip-or-cidr': { type: 'string', validate: isIpOrCidr },
  'http-url': { type: 'string', validate: isHttpUrl },
  upstream: { type: 'string', validate: (s: string) => s === 'echo' || isHttpUrl(s) },
  duration: { type: 'string', validate: (s: string) => isDurationMs(parseDuration(s)) },
  'redis-url': { type: 'string', validate: (s: string) => /^rediss?:\/\/[^\s]+$/.test(s) && URL.canParse(s) },
  'duration-seconds': { type: 'number', validate: (n: number) => isDurationMs(parseDuration(n)) },
  'whole-number': { type: 'number', validate: (n: number) => Number.isSafeInteger(n) },
} as const;

// --- helpers ------------------------------------------------------------------------

function withExpect(phrase: string, options: SchemaOptions): SchemaOptions {
  return { ...options, [Expect]: phrase };
}

function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });
}

const TOKEN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
const HEADER_NAME = 'a header name (letters, digits and !#$%&\'*+.^_`|~-, RFC 9110 §5.1)';
const NAME = '^[A-Za-z][A-Za-z0-9_-]*$';
const PEM = '-----BEGIN [A-Z0-9 ]+-----[\\s\\S]*-----END [A-Z0-9 ]+-----';
const PEM_EXPECT = 'PEM text (-----BEGIN …-----); to read it from a file write ${file:./name.pem}';
const PATH = '^/[^?#\\s]*$';
const DURATION_EXPECT =
  'a duration from 1ms to 24d, such as 30s, 5m, 12h, 7d or 250ms, or a number of seconds';

/**
 * `oneOf` + `discriminator` on `type` (Ajv's `discriminator` option): Ajv validates only
 * the variant the tag names, and an unknown tag is ONE error. Typed as TypeBox's union
 * (whose Static is the same) because TypeBox has no discriminated-union kind.
 */
function discriminatedUnion<T extends TSchema[]>(variants: [...T], options: SchemaOptions): TUnion<T> {
  return {
    ...options,
    [Kind]: 'Union',
    type: 'object',
    oneOf: variants,
    discriminator: { propertyName: 'type' },
  } as unknown as TUnion<T>;
}

type Form = 'file' | 'loaded';
/** A key with a default: optional in the file, always present once loaded. */
type Defaulted<F extends Form, T extends TSchema> = F extends 'file' ? TOptional<T> : T;
type Duration<F extends Form> = F extends 'file' ? TUnion<[TString, TNumber]> : TNumber;

function build<F extends Form>(form: F) {
  const fileForm = form === 'file';

  function withDefault<T extends TSchema>(schema: T, value: unknown): Defaulted<F, T> {
    const annotated = CloneType(schema, { default: value });
    return (fileForm ? Type.Optional(annotated) : annotated) as unknown as Defaulted<F, T>;
  }

  function duration(description: string): Duration<F> {
    if (!fileForm) return Type.Number({ description: `${description} Milliseconds.` }) as Duration<F>;
    return Type.Union(
      [
        Type.String(withExpect(DURATION_EXPECT, { pattern: DURATION_PATTERN, format: 'duration' })),
        Type.Number(withExpect(DURATION_EXPECT, { format: 'duration-seconds' })),
      ],
      { description, [Expect]: DURATION_EXPECT, [DurationTag]: true },
    ) as unknown as Duration<F>;
  }

  const pem = (description: string) => Type.String(withExpect(PEM_EXPECT, { description, pattern: PEM }));
  const positiveInt = (description: string) => Type.Integer({ description, minimum: 1 });
  const headerName = (description: string) =>
    Type.String(withExpect(HEADER_NAME, { description, pattern: TOKEN }));
  const nonEmpty = (description: string) => Type.String({ description, minLength: 1 });
  const stringList = (description: string, item: string) =>
    Type.Array(nonEmpty(item), { description });
  const closed = { additionalProperties: false } as const;

  // --- top-level blocks -------------------------------------------------------------

  const Tls = Type.Object(
    {
      cert: pem('Server certificate chain, PEM. Usually `${file:./tls.crt}`.'),
      key: pem('Private key of the certificate, PEM. Usually `${file:./tls.key}`.'),
    },
    { ...closed, description: 'Serve HTTPS on `listen` with this certificate. Omit for plain HTTP (e.g. behind a TLS-terminating load balancer).' },
  );

  const Limits = Type.Object(
    {
      headerBytes: withDefault(positiveInt('Largest total size of the request headers, in bytes; above it: 431.'), 16384),
      headerCount: withDefault(positiveInt('Most request headers accepted; above it: 431.'), 100),
      targetBytes: withDefault(positiveInt('Longest request target (path and query), in bytes; above it: 414.'), 4096),
      headersTimeout: withDefault(
        duration('Time a client has to send the complete request headers (slowloris protection); then: 408.'),
        '20s',
      ),
      bodyBytes: withDefault(positiveInt('Largest request body forwarded, in bytes; above it: 413.'), 10485760),
    },
    { ...closed, description: 'Bounds on request size and timing (security.md §11). Exceeding one is a 4xx answer.' },
  );

  const Admin = Type.Union(
    [
      Type.Literal(false, { description: '`false` disables the admin listener.' }),
      Type.Object(
        {
          listen: withDefault(
            Type.String(withExpect('host:port, such as 127.0.0.1:9090 or [::1]:9090', {
              description: 'host:port of the admin listener (/metrics, /healthz, /readyz).',
              format: 'host-port',
            })),
            '127.0.0.1:9090',
          ),
        },
        { ...closed, description: 'Admin listener settings.' },
      ),
    ],
    {
      description: 'Admin listener serving /metrics, /healthz and /readyz on its own port, never on the proxy port; `false` disables it.',
      [Expect]: 'false or a mapping with `listen`',
    },
  );

  const Log = Type.Object(
    {
      level: withDefault(StringEnum(LOG_LEVELS, { description: 'Least severe level written; `silent` writes nothing.' }), 'info'),
    },
    { ...closed, description: 'Logging (JSON lines on stdout).' },
  );

  const IdentityHeaders = Type.Object(
    {
      user: withDefault(headerName('Header carrying the user name.'), 'X-Auth-User'),
      email: withDefault(headerName('Header carrying the e-mail address.'), 'X-Auth-Email'),
      name: withDefault(headerName('Header carrying the display name.'), 'X-Auth-Name'),
      groups: withDefault(headerName('Header carrying the groups, comma-separated (each group percent-encoded).'), 'X-Auth-Groups'),
      method: withDefault(headerName('Header carrying how the caller was authenticated: basic, session, jwt, introspection or anonymous.'), 'X-Auth-Method'),
      route: withDefault(headerName('Header carrying the name of the matched route.'), 'X-Auth-Route'),
    },
    { ...closed, description: 'Names of the identity headers sent upstream. Absent fields are omitted, never sent empty.' },
  );

  const Assertion = Type.Object(
    {
      header: withDefault(headerName('Header carrying the assertion.'), 'X-Auth-Assertion'),
      privateKey: Type.Union([pem('Signing key.'), Type.Array(pem('A signing key.'), { minItems: 1 })], {
        description: 'Private key(s), PEM: EC P-256 (ES256), Ed25519 (EdDSA) or RSA ≥ 2048 bits (RS256). A list rotates: the first signs, all are published at /.gatehouse/jwks.json.',
        [Expect]: PEM_EXPECT + ', or a list of them',
      }),
      issuer: withDefault(nonEmpty('`iss` of the assertion.'), 'gatehouse'),
      ttl: withDefault(duration('Lifetime of each assertion.'), '60s'),
    },
    { ...closed, description: 'A short-lived JWT signed by gatehouse on every authenticated request, for upstreams that verify rather than trust headers.' },
  );

  const Identity = Type.Object(
    {
      headers: withDefault(IdentityHeaders, {
        user: 'X-Auth-User',
        email: 'X-Auth-Email',
        name: 'X-Auth-Name',
        groups: 'X-Auth-Groups',
        method: 'X-Auth-Method',
        route: 'X-Auth-Route',
      }),
      assertion: Type.Optional(Assertion),
      stripPrefixes: withDefault(
        Type.Array(headerName('A header-name prefix.'), {
          description:
            "Every client-sent header starting with one of these prefixes is removed before forwarding (any case; '_' and '.' count as '-'), as is every identity header name.",
        }),
        ['X-Auth-'],
      ),
    },
    { ...closed, description: 'What upstreams receive about the caller.' },
  );

  // --- authenticators ---------------------------------------------------------------

  const Throttle = Type.Object(
    {
      window: withDefault(duration('Period over which failed attempts are counted.'), '15m'),
      maxFailuresPerUserAndIp: withDefault(
        positiveInt('Failures allowed for one user name from one client IP within `window`; then 429 with Retry-After.'),
        5,
      ),
      maxFailuresPerIp: withDefault(positiveInt('Failures allowed from one client IP within `window`, any user; then 429.'), 50),
      slowdownAfterUserFailures: withDefault(
        positiveInt('Failures against one user name, from any IP, after which that user\'s checks are slowed down (never locked out).'),
        20,
      ),
    },
    { ...closed, description: 'Rate limiting of failed attempts (security.md §7).' },
  );

  const AuthCache = Type.Object(
    {
      maxEntries: withDefault(positiveInt('Most successful checks remembered.'), 10000),
      ttl: withDefault(duration('How long a successful check is remembered.'), '5m'),
    },
    { ...closed, description: 'Cache of successful password checks, so that a client sending the same credentials on every request does not pay a hash verification each time.' },
  );

  const BasicUser = Type.Object(
    {
      name: Type.String(withExpect('a user name without ":" or control characters (RFC 7617 §2)', {
        description: 'User name, as sent in the Basic credentials.',
        pattern: '^[^:\\x00-\\x1f\\x7f]+$',
      })),
      hash: Type.String(withExpect('a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$) hash; `gatehouse hash-password` prints one', {
        description: 'Password hash: bcrypt ($2a$/$2b$/$2y$) or argon2id. Make one with `gatehouse hash-password`.',
        pattern: '^\\$(2[aby]\\$[0-9]{2}\\$|argon2id\\$)',
      })),
    },
    { ...closed, description: 'An inline user.' },
  );

  const BasicAuthenticator = Type.Object(
    {
      type: Type.Literal('basic', { description: 'HTTP Basic authentication (RFC 7617) against htpasswd and inline users.' }),
      realm: withDefault(
        Type.String(withExpect('printable ASCII text without " or \\', {
          description: 'Realm announced in the WWW-Authenticate challenge.',
          pattern: '^[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]+$',
        })),
        'gatehouse',
      ),
      htpasswd: Type.Optional(
        nonEmpty('Path of an htpasswd file (lines user:hash; bcrypt or argon2id), relative to this file\'s folder.'),
      ),
      users: Type.Optional(Type.Array(BasicUser, { description: 'Inline users, in addition to the htpasswd file.' })),
      groups: Type.Optional(
        Type.Record(Type.String(), Type.Array(nonEmpty('A group name.'), { description: 'Groups of this user.' }), {
          description: 'Groups of each user, by user name.',
          propertyNames: { minLength: 1 },
        }),
      ),
      throttle: withDefault(Throttle, {
        window: '15m',
        maxFailuresPerUserAndIp: 5,
        maxFailuresPerIp: 50,
        slowdownAfterUserFailures: 20,
      }),
      cache: withDefault(AuthCache, { maxEntries: 10000, ttl: '5m' }),
    },
    { ...closed, description: 'Basic authenticator.' },
  );

  const UpstreamTls = Type.Object(
    {
      ca: Type.Optional(pem('CA certificate(s) the upstream\'s certificate must chain to, PEM.')),
      cert: Type.Optional(pem('Client certificate for mutual TLS, PEM.')),
      key: Type.Optional(pem('Private key of the client certificate, PEM.')),
      rejectUnauthorized: withDefault(
        Type.Boolean({ description: '`false` accepts any upstream certificate. For tests only.' }),
        true,
      ),
    },
    { ...closed, description: 'TLS towards an https upstream: trusted CA and client certificate for mTLS.' },
  );

  const realm = () =>
    withDefault(
      Type.String(withExpect('printable ASCII text without " or \\', {
        description: 'Realm announced in the WWW-Authenticate challenge.',
        pattern: '^[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]+$',
      })),
      'gatehouse',
    );

  const claimPath = (description: string) =>
    Type.String(withExpect('a dotted claim path such as sub or realm_access.roles', {
      description,
      pattern: '^[A-Za-z0-9_$:@-]+(\\.[A-Za-z0-9_$:@-]+)*$',
    }));

  const TokenClaims = Type.Object(
    {
      user: withDefault(claimPath('Claim holding the user name (required in every token).'), 'sub'),
      email: Type.Optional(claimPath('Claim holding the e-mail address.')),
      name: Type.Optional(claimPath('Claim holding the display name.')),
      groups: Type.Optional(claimPath('Claim holding the groups: an array of strings or a space-separated string (e.g. realm_access.roles for Keycloak).')),
      scopes: withDefault(claimPath('Claim holding the scopes: a space-separated string (RFC 6749 §3.3) or an array.'), 'scope'),
    },
    { ...closed, description: 'Where the identity comes from in the token\'s claims (dotted paths).' },
  );
  const tokenClaims = () => withDefault(TokenClaims, { user: 'sub', scopes: 'scope' });

  const TokenCache = Type.Object(
    { maxEntries: withDefault(positiveInt('Most verified tokens remembered; an entry never outlives its token\'s exp.'), 10000) },
    { ...closed, description: 'Cache of verified tokens (keyed by a hash of the token).' },
  );

  const JwksRefresh = Type.Object(
    {
      interval: withDefault(duration('How often the remote JWKS is fetched again (sooner when its Cache-Control max-age says so).'), '10m'),
      cooldown: withDefault(duration('Least time between two fetches triggered by an unknown kid.'), '30s'),
      timeout: withDefault(duration('Time a JWKS fetch may take.'), '5s'),
    },
    { ...closed, description: 'Fetching of a remote JWKS.' },
  );

  const JwtAuthenticator = Type.Object(
    {
      type: Type.Literal('jwt', { description: 'Bearer JWT (RFC 7519) verified against a JWKS, a public key or a shared secret.' }),
      realm: realm(),
      jwks: Type.Optional(
        Type.String(withExpect('an http(s) URL without credentials, query or fragment', {
          description: 'URL of the issuer\'s JWKS (fetched at start, cached, refreshed; stale keys keep serving while it is down).',
          format: 'http-url',
        })),
      ),
      keys: Type.Optional(nonEmpty('Local verification keys: JWKS JSON text or a PEM public key / certificate. Usually `${file:./keys.jwks.json}`.')),
      secret: Type.Optional(nonEmpty('Shared secret for HS256/384/512, at least as long as the hash (32/48/64 bytes). Usually `${env:NAME}`.')),
      issuer: Type.Optional(nonEmpty('Required `iss` value.')),
      audience: Type.Union([nonEmpty('An accepted audience, or `any` to accept every audience.'), Type.Array(nonEmpty('An accepted audience.'), { minItems: 1 })], {
        description: 'Required. Accepted `aud` value(s): the token must name one; `any` disables the check (explicitly).',
        [Expect]: 'an audience, a non-empty list of audiences, or any',
      }),
      algorithms: Type.Array(StringEnum(JWT_ALGORITHMS, { description: 'A JWS algorithm.' }), {
        description: 'Required. Algorithms accepted; the token\'s `alg` must be one of them (`none` never is).',
        minItems: 1,
      }),
      clockTolerance: withDefault(duration('Allowed clock skew for exp, nbf and iat.'), '30s'),
      claims: tokenClaims(),
      jwksRefresh: withDefault(JwksRefresh, { interval: '10m', cooldown: '30s', timeout: '5s' }),
      cache: withDefault(TokenCache, { maxEntries: 10000 }),
    },
    { ...closed, description: 'JWT authenticator. Exactly one of jwks, keys or secret.' },
  );

  const IntrospectionAuthenticator = Type.Object(
    {
      type: Type.Literal('introspection', { description: 'Opaque bearer tokens checked at an RFC 7662 introspection endpoint.' }),
      realm: realm(),
      endpoint: Type.String(withExpect('an http(s) URL without credentials, query or fragment', {
        description: 'The introspection endpoint.',
        format: 'http-url',
      })),
      clientId: nonEmpty('Client id gatehouse authenticates with (client_secret_basic).'),
      clientSecret: nonEmpty('Client secret. Usually `${env:NAME}`; never logged.'),
      cacheTtl: withDefault(duration('How long an answer is reused (never past the token\'s exp). Revocation takes effect within this time.'), '60s'),
      timeout: withDefault(duration('Time the endpoint has to answer; then 503.'), '5s'),
      claims: tokenClaims(),
      cache: withDefault(TokenCache, { maxEntries: 10000 }),
      tls: Type.Optional(UpstreamTls),
    },
    { ...closed, description: 'Introspection authenticator (RFC 7662).' },
  );

  const SessionAuthenticator = Type.Object(
    {
      type: Type.Literal('session', { description: 'The session cookie made by a sign-in under `login.providers` (needs `sessions`).' }),
    },
    { ...closed, description: 'Session-cookie authenticator. A browser without a session is sent to /.gatehouse/login; other clients get 401.' },
  );

  // A discriminated union (Ajv `discriminator`): an unknown `type` is ONE error on that
  // key instead of one error per variant. Add variants to `oneOf` as they land.
  const Authenticator = discriminatedUnion([BasicAuthenticator, JwtAuthenticator, IntrospectionAuthenticator, SessionAuthenticator], {
    description: 'A named credential checker; `type` selects the kind.',
    [Noun]: 'authenticator type',
  });

  const Authenticators = Type.Record(Type.String(), Authenticator, {
    description: 'Named credential checkers; routes refer to them by name in `auth`.',
    propertyNames: {
      pattern: NAME,
      not: { enum: [...RESERVED_AUTHENTICATOR_NAMES] },
      [Expect]: 'a letter followed by letters, digits, "_" or "-"',
      [Messages]: { not: 'is reserved: anonymous and deny are built into `auth`' },
    },
  });

  // --- routes -----------------------------------------------------------------------


  // --- sessions and sign-in (security.md §8-§10) ---------------------------------------

  const HOST_PORT_EXPECT = 'host:port, such as redis-0.redis:26379';
  const hostPortList = (description: string) =>
    Type.Array(Type.String(withExpect(HOST_PORT_EXPECT, { description: 'host:port', format: 'host-port' })), { description, minItems: 1 });
  // A pattern, not minLength: the loader words minLength as "must not be empty".
  const secretString = Type.String(withExpect('a secret of at least 32 characters', { pattern: '^[\\s\\S]{32,}$' }));

  const Redis = Type.Object(
    {
      url: Type.Optional(
        Type.String(withExpect('a redis:// or rediss:// URL', {
          description: 'redis://[:password@]host:port/db or rediss:// for TLS. Usually `${env:REDIS_URL}`; never logged.',
          format: 'redis-url',
        })),
      ),
      sentinels: Type.Optional(hostPortList('Sentinel addresses (host:port); with `name`.')),
      name: Type.Optional(nonEmpty('Name of the master the Sentinels watch.')),
      cluster: Type.Optional(hostPortList('Redis Cluster seed nodes (host:port).')),
      password: Type.Optional(nonEmpty('Password of the Redis servers (Sentinel and Cluster; with `url` put it in the URL). Never logged.')),
      keyPrefix: withDefault(Type.String({ description: 'Prefix of every key gatehouse writes.' }), 'gatehouse:'),
    },
    { ...closed, description: 'Redis connection: exactly one of `url`, `sentinels` (+ `name`) or `cluster`.' },
  );

  const Cookie = Type.Object(
    {
      name: withDefault(
        Type.String(withExpect('a cookie name (RFC 6265 token)', { description: 'Name of the session cookie.', pattern: TOKEN })),
        '__Host-gatehouse',
      ),
      secure: withDefault(Type.Boolean({ description: '`false` only for local plain-HTTP testing: browsers then send the cookie over HTTP.' }), true),
      sameSite: withDefault(StringEnum(SAME_SITE_VALUES, { description: 'SameSite attribute of the session cookie.' }), 'lax'),
      domain: withDefault(
        Type.Union([Type.Null(), Type.String(withExpect('a domain name', { pattern: '^[A-Za-z0-9.-]+$' }))], {
          description: 'Domain attribute, to share the session with sub-domains; then the name must not start with `__Host-`.',
          [Expect]: 'a domain name or null',
        }),
        null,
      ),
    },
    { ...closed, description: 'The session cookie.' },
  );

  const Sessions = Type.Object(
    {
      store: withDefault(StringEnum(SESSION_STORES, { description: '`memory` (one process only) or `redis` (shared by every instance).' }), 'memory'),
      redis: Type.Optional(Redis),
      cookie: withDefault(Cookie, { name: '__Host-gatehouse', secure: true, sameSite: 'lax', domain: null }),
      secret: Type.Optional(
        Type.Union([secretString, Type.Array(secretString, { minItems: 1 })], {
          description:
            'Signs session cookies and CSRF tokens; at least 32 characters. A list rotates: the first signs, all verify. Omitted: a random one per start (memory store only).',
          [Expect]: 'a secret of at least 32 characters, or a non-empty list of them',
        }),
      ),
      maxAge: withDefault(duration('Absolute lifetime of a session.'), '12h'),
      idleTimeout: withDefault(duration('A session unused for this long ends (sliding).'), '1h'),
    },
    { ...closed, description: 'Server-side sessions created by sign-in (`login`) and checked by `type: session` authenticators.' },
  );

  const FormProvider = Type.Object(
    {
      type: Type.Literal('form', { description: 'The built-in sign-in page, checking the users of a `basic` authenticator.' }),
      authenticator: Type.String(withExpect('the name of a basic authenticator', { description: 'The `basic` authenticator whose users may sign in.', pattern: NAME })),
      label: Type.Optional(nonEmpty('Text of this provider on the sign-in page.')),
    },
    { ...closed, description: 'Sign-in form provider.' },
  );

  const OidcClaims = Type.Object(
    {
      user: withDefault(claimPath('Claim holding the user name.'), 'sub'),
      email: Type.Optional(claimPath('Claim holding the e-mail address.')),
      name: Type.Optional(claimPath('Claim holding the display name.')),
      groups: Type.Optional(claimPath('Claim holding the groups (array or space-separated string).')),
    },
    { ...closed, description: 'Dotted paths into the ID token (and userinfo) claims.' },
  );

  const OidcProvider = Type.Object(
    {
      type: Type.Literal('oidc', { description: 'OpenID Connect: authorization code + PKCE with discovery.' }),
      issuer: Type.String(withExpect('an http(s) URL without credentials, query or fragment', {
        description: 'Issuer URL; discovery reads `<issuer>/.well-known/openid-configuration`. https, except loopback hosts for local testing.',
        format: 'http-url',
      })),
      clientId: nonEmpty('Client id registered at the provider.'),
      clientSecret: Type.Optional(nonEmpty('Client secret (client_secret_basic). Omit for a public client (PKCE only). Usually `${env:NAME}`; never logged.')),
      scopes: withDefault(Type.Array(nonEmpty('A scope.'), { description: 'Scopes requested; must include openid.', minItems: 1 }), ['openid', 'email', 'profile']),
      claims: withDefault(OidcClaims, { user: 'sub' }),
      userinfo: withDefault(Type.Boolean({ description: 'Also read the userinfo endpoint and merge its claims.' }), false),
      label: Type.Optional(nonEmpty('Text of this provider on the sign-in page.')),
      refreshBefore: withDefault(duration('Renew tokens this long before the access token expires (needs a refresh token).'), '60s'),
      timeout: withDefault(duration('Time the provider has to answer a request.'), '5s'),
    },
    { ...closed, description: 'OpenID Connect sign-in provider.' },
  );

  const LoginProvider = discriminatedUnion([FormProvider, OidcProvider], {
    description: 'A way to sign in; `type` selects the kind.',
    [Noun]: 'login provider type',
  });

  const Login = Type.Object(
    {
      providers: Type.Record(Type.String(), LoginProvider, {
        description: 'Sign-in providers by name; /.gatehouse/login lets the user choose.',
        propertyNames: { pattern: NAME, [Expect]: 'a provider name (a letter followed by letters, digits, "_" or "-")' },
      }),
      allowedRedirectHosts: withDefault(
        Type.Array(nonEmpty('host or host:port'), { description: 'Hosts an absolute https `rd` may send a user to after sign-in; relative paths are always allowed.' }),
        [],
      ),
    },
    { ...closed, description: 'Browser sign-in that creates sessions.' },
  );

  const Match = Type.Object(
    {
      host: Type.Optional(
        Type.String(withExpect('a host name such as app.example.com or *.example.com, without a port', {
          description: 'Host to match: exact, or `*.example.com` for any subdomain. Compared in lower case; the port is ignored.',
          pattern:
            '^((\\*\\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*|\\[[0-9A-Fa-f:.]+\\])$',
        })),
      ),
      path: Type.Optional(
        Type.String(withExpect('a path starting with "/", without query or fragment', {
          description:
            'Path pattern on the normalized path: `/a/b` exact, `*` one segment, `**` as the last segment zero or more segments (`/admin/**` matches /admin and /admin/x, never /administrator).',
          pattern: PATH,
        })),
      ),
      regex: Type.Optional(nonEmpty('Regular expression matched against the whole normalized path (anchored). For the rare case `path` cannot express.')),
      methods: Type.Optional(
        Type.Array(Type.String(withExpect('an HTTP method such as GET', { description: 'An HTTP method, case-sensitive (RFC 9110 §9.1).', pattern: TOKEN })), {
          description: 'Methods to match; default: all. HEAD is not implied by GET.',
          minItems: 1,
        }),
      ),
      caseSensitive: withDefault(
        Type.Boolean({ description: '`false` matches the path ignoring letter case, for upstreams that treat case as equal (IIS and friends).' }),
        true,
      ),
    },
    { ...closed, description: 'What requests this route takes. All given conditions must hold.' },
  );

  const ClaimScalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()], {
    description: 'A claim value.',
    [Expect]: 'a string, number or boolean',
  });
  const ClaimValue = Type.Union(
    [
      Type.String(),
      Type.Number(),
      Type.Boolean(),
      Type.Array(ClaimScalar, { minItems: 1 }),
    ],
    {
      description: 'Required value of the claim, or a list of accepted values.',
      [Expect]: 'a string, number, boolean, or a non-empty list of them',
    },
  );

  const Allow = Type.Object(
    {
      users: Type.Optional(stringList('Accepted user names (any one suffices).', 'A user name.')),
      groups: Type.Optional(stringList('Accepted groups (any one suffices).', 'A group name.')),
      emails: Type.Optional(stringList('Accepted e-mail addresses (any one suffices).', 'An e-mail address.')),
      emailDomains: Type.Optional(stringList('Accepted e-mail domains (any one suffices).', 'A domain, such as example.com.')),
      scopes: Type.Optional(stringList('Accepted scopes (any one suffices).', 'A scope.')),
      claims: Type.Optional(
        Type.Record(Type.String(), ClaimValue, {
          description: 'Required claim values by dotted claim path (e.g. `realm_access.roles`).',
          propertyNames: { minLength: 1 },
        }),
      ),
    },
    { ...closed, description: 'Authorization: every listed condition must hold (AND); within one list any value suffices (OR). Authenticated but not allowed: 403.' },
  );

  const Rewrite = Type.Object(
    {
      stripPrefix: Type.Optional(
        Type.String(withExpect('a path starting with "/", without query or fragment', {
          description: 'Path prefix removed before forwarding (after matching).',
          pattern: PATH,
        })),
      ),
    },
    { ...closed, description: 'Changes to the forwarded path.' },
  );

  const AuthName = Type.String(withExpect('an authenticator name (a letter followed by letters, digits, "_" or "-")', {
    description: 'An authenticator name, `anonymous` or `deny`.',
    pattern: NAME,
  }));

  const Route = Type.Object(
    {
      name: Type.String(withExpect('a route name (a letter or digit followed by letters, digits, "_", "." or "-")', {
        description: 'Name of the route, in logs, metrics and the identity `route` header.',
        pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
      })),
      match: Match,
      upstream: Type.String(withExpect('"echo" or an http(s) URL without credentials, query or fragment', {
        description: 'Where matching requests go: an http(s) URL, or `echo` (built in: replies with the request it got as JSON).',
        format: 'upstream',
      })),
      auth: Type.Union([AuthName, Type.Array(AuthName, { minItems: 1 })], {
        description: 'Required. An authenticator name, a list of names tried in order (any one suffices), `anonymous`, or `deny`.',
        [Expect]: 'an authenticator name, anonymous, deny, or a non-empty list of names',
      }),
      allow: Type.Optional(Allow),
      headers: Type.Optional(
        Type.Record(
          Type.String(),
          Type.String(withExpect('a template without control characters', {
            description: 'Header value template, e.g. `{claims.tenant}`.',
            pattern: '^[^\\x00-\\x08\\x0a-\\x1f\\x7f]*$',
          })),
          {
            description: 'Extra headers sent upstream, computed from the identity. Client-sent headers of these names are removed.',
            propertyNames: { pattern: TOKEN, [Expect]: HEADER_NAME },
          },
        ),
      ),
      forwardCredentials: withDefault(
        Type.Boolean({ description: '`true` passes the checked Authorization header or session cookie upstream; by default it is removed.' }),
        false,
      ),
      rewrite: Type.Optional(Rewrite),
      csrf: withDefault(
        StringEnum(['origin', 'off'] as const, {
          description:
            '`origin` (default): an unsafe method authenticated by the session cookie must come from this site (Sec-Fetch-Site, else Origin against publicUrl); `off` disables.',
        }),
        'origin',
      ),
      timeout: withDefault(duration('Time the upstream has to answer; then 504.'), '30s'),
      preserveHost: withDefault(
        Type.Boolean({ description: '`true` forwards the client\'s Host header; by default Host becomes the upstream\'s.' }),
        false,
      ),
      upstreamTls: Type.Optional(UpstreamTls),
      allowPreflight: withDefault(
        Type.Boolean({ description: '`true` lets CORS preflight requests (OPTIONS with Origin and Access-Control-Request-Method) through unauthenticated.' }),
        false,
      ),
      assertionAudience: Type.Optional(nonEmpty('`aud` of this route\'s identity assertion; default: the upstream origin (scheme://host:port).')),
      allowMethodOverride: withDefault(
        Type.Boolean({ description: '`true` forwards method-override headers (X-HTTP-Method-Override etc.); by default they are removed (security.md §5).' }),
        false,
      ),
    },
    { ...closed, description: 'A route: which requests, which upstream, which credentials, who is allowed.' },
  );

  const Config = Type.Object(
    {
      listen: withDefault(
        Type.String(withExpect('host:port, such as 0.0.0.0:8080 or [::]:8080', {
          description: 'host:port the proxy listens on.',
          format: 'host-port',
        })),
        '127.0.0.1:8080',
      ),
      publicUrl: Type.Optional(
        Type.Union(
          [
            Type.String(withExpect('an http(s) URL without credentials, query or fragment', { format: 'http-url' })),
            Type.Array(
              Type.String(withExpect('an http(s) URL without credentials, query or fragment', {
                description: 'An external origin.',
                format: 'http-url',
              })),
              { minItems: 1 },
            ),
          ],
          {
            description:
              'External origin(s) of the gateway. Sign-in redirects and rewritten Locations are built from it, never from a client\'s Host header.',
            [Expect]: 'an http(s) URL or a non-empty list of them',
          },
        ),
      ),
      tls: Type.Optional(Tls),
      limits: withDefault(Limits, {
        headerBytes: 16384,
        headerCount: 100,
        targetBytes: 4096,
        headersTimeout: '20s',
        bodyBytes: 10485760,
      }),
      workers: withDefault(
        Type.Union(
          [
            // A number with an integer format, not an integer: the loader picks a union's
            // branch by the value's JSON type, and JSON has no integer type.
            Type.Number({ minimum: 1, format: 'whole-number', [Expect]: 'a whole number of at least 1, or "auto"' }),
            Type.Literal('auto'),
          ],
          {
            description:
              'Worker processes serving the proxy listener (node:cluster; they share nothing but Redis). `auto`: one per CPU core the process may use. Above 1, sessions need `store: redis`.',
            [Expect]: 'a whole number of at least 1, or "auto"',
          },
        ),
        1,
      ),
      watch: withDefault(
        Type.Boolean({ description: '`true` reloads the configuration when this file changes (SIGHUP always reloads).' }),
        false,
      ),
      shutdownTimeout: withDefault(
        duration('On SIGTERM or SIGINT, time in-flight requests and WebSockets have to finish; then the remaining connections are cut and the process exits.'),
        '25s',
      ),
      trustedProxies: withDefault(
        Type.Array(
          Type.String(withExpect('an IP address or CIDR range, such as 10.0.0.0/8', {
            description: 'An IP address or CIDR range.',
            format: 'ip-or-cidr',
          })),
          { description: 'Peers allowed to set X-Forwarded-* (client IP, proto, forward-auth target). Default: nobody.' },
        ),
        [],
      ),
      admin: withDefault(Admin, { listen: '127.0.0.1:9090' }),
      log: withDefault(Log, { level: 'info' }),
      identity: withDefault(Identity, {
        headers: {
          user: 'X-Auth-User',
          email: 'X-Auth-Email',
          name: 'X-Auth-Name',
          groups: 'X-Auth-Groups',
          method: 'X-Auth-Method',
          route: 'X-Auth-Route',
        },
        stripPrefixes: ['X-Auth-'],
      }),
      sessions: Type.Optional(Sessions),
      login: Type.Optional(Login),
      authenticators: withDefault(Authenticators, {}),
      routes: Type.Array(Route, {
        description: 'Routes, tried top to bottom; the first match wins. No match: 404, never forwarded.',
        minItems: 1,
      }),
    },
    { ...closed, title: 'gatehouse configuration', description: 'gatehouse.yaml: the configuration of the gatehouse authentication gateway.' },
  );

  return {
    Config,
    Tls,
    Limits,
    Admin,
    Log,
    Identity,
    IdentityHeaders,
    Throttle,
    AuthCache,
    BasicUser,
    BasicAuthenticator,
    JwtAuthenticator,
    IntrospectionAuthenticator,
    Assertion,
    SessionAuthenticator,
    Sessions,
    Redis,
    Cookie,
    Login,
    FormProvider,
    OidcProvider,
    Authenticator,
    Match,
    Allow,
    ClaimValue,
    Rewrite,
    UpstreamTls,
    Route,
  };
}

const file = build('file');
const loaded = build('loaded');

/** The schema of gatehouse.yaml as written (validated by the loader, printed by `gatehouse schema`). */
export const GatehouseConfigSchema = file.Config;
/** The schema of the loaded form (durations in ms, defaults present); for tests and tooling. */
export const GatehouseLoadedConfigSchema = loaded.Config;

// File form: what a user writes. Keys with defaults are optional; durations are
// `string | number` (e.g. '30s' or 30).
export type GatehouseConfigInput = Static<typeof file.Config>;
export type TlsInput = Static<typeof file.Tls>;
export type LimitsInput = Static<typeof file.Limits>;
export type AdminInput = Static<typeof file.Admin>;
export type LogInput = Static<typeof file.Log>;
export type IdentityInput = Static<typeof file.Identity>;
export type IdentityHeadersInput = Static<typeof file.IdentityHeaders>;
export type ThrottleInput = Static<typeof file.Throttle>;
export type AuthCacheInput = Static<typeof file.AuthCache>;
export type BasicUserInput = Static<typeof file.BasicUser>;
export type BasicAuthenticatorInput = Static<typeof file.BasicAuthenticator>;
export type JwtAuthenticatorInput = Static<typeof file.JwtAuthenticator>;
export type IntrospectionAuthenticatorInput = Static<typeof file.IntrospectionAuthenticator>;
export type AuthenticatorInput = Static<typeof file.Authenticator>;
export type RouteMatchInput = Static<typeof file.Match>;
export type RouteAllowInput = Static<typeof file.Allow>;
export type ClaimValueInput = Static<typeof file.ClaimValue>;
export type RewriteInput = Static<typeof file.Rewrite>;
export type UpstreamTlsInput = Static<typeof file.UpstreamTls>;
export type RouteInput = Static<typeof file.Route>;

export type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

// Loaded form (LoadedConfig.input): deep-readonly, every default filled in, every
// duration a number of milliseconds, `${env:}`/`${file:}` replaced. Otherwise the same
// shape as the file (e.g. `auth` stays a string or a list).
export type GatehouseConfig = DeepReadonly<Static<typeof loaded.Config>>;
export type TlsConfig = DeepReadonly<Static<typeof loaded.Tls>>;
export type LimitsConfig = DeepReadonly<Static<typeof loaded.Limits>>;
export type AdminConfig = DeepReadonly<Static<typeof loaded.Admin>>;
export type LogConfig = DeepReadonly<Static<typeof loaded.Log>>;
export type IdentityConfig = DeepReadonly<Static<typeof loaded.Identity>>;
export type IdentityHeadersConfig = DeepReadonly<Static<typeof loaded.IdentityHeaders>>;
export type ThrottleConfig = DeepReadonly<Static<typeof loaded.Throttle>>;
export type AuthCacheConfig = DeepReadonly<Static<typeof loaded.AuthCache>>;
export type BasicUserConfig = DeepReadonly<Static<typeof loaded.BasicUser>>;
export type BasicAuthenticatorConfig = DeepReadonly<Static<typeof loaded.BasicAuthenticator>>;
export type JwtAuthenticatorConfig = DeepReadonly<Static<typeof loaded.JwtAuthenticator>>;
export type IntrospectionAuthenticatorConfig = DeepReadonly<Static<typeof loaded.IntrospectionAuthenticator>>;
export type AssertionConfig = DeepReadonly<Static<typeof loaded.Assertion>>;
export type AuthenticatorConfig = DeepReadonly<Static<typeof loaded.Authenticator>>;
export type RouteMatchConfig = DeepReadonly<Static<typeof loaded.Match>>;
export type RouteAllowConfig = DeepReadonly<Static<typeof loaded.Allow>>;
export type ClaimValueConfig = DeepReadonly<Static<typeof loaded.ClaimValue>>;
export type RewriteConfig = DeepReadonly<Static<typeof loaded.Rewrite>>;
export type UpstreamTlsConfig = DeepReadonly<Static<typeof loaded.UpstreamTls>>;
export type RouteConfig = DeepReadonly<Static<typeof loaded.Route>>;
export type SessionsConfig = DeepReadonly<Static<typeof loaded.Sessions>>;
export type RedisConfig = DeepReadonly<Static<typeof loaded.Redis>>;
export type LoginConfig = DeepReadonly<Static<typeof loaded.Login>>;
export type FormProviderConfig = DeepReadonly<Static<typeof loaded.FormProvider>>;
export type OidcProviderConfig = DeepReadonly<Static<typeof loaded.OidcProvider>>;
