// The introspection authenticator against a real OAuth 2.0 authorization server on
// loopback: oidc-provider 9 issuing opaque access tokens by the client_credentials grant,
// introspecting them (RFC 7662) for a resource-server client that authenticates with
// client_secret_basic, and revoking them (RFC 7009).
//
// Claims mapping: a client_credentials token stands for the client itself; there is no
// end user, and oidc-provider's introspection answer has no `sub` for it (it sets `sub`
// only for tokens with an account). Its answer does carry `client_id`, so the identity
// of such a token is the client: `claims: { user: client_id, scopes: scope }`. A route
// that serves end users' tokens (authorization code grant) would map `user: sub`; the
// last tests show that mapping refusing this token rather than inventing a user.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import t from 'tap';
import { request } from 'undici';
import { createIntrospectionAuthenticator, type IntrospectionAuthenticatorOptions } from '../../src/pipeline/authenticate/introspection.js';
import type { AuthResult, Authenticator, RequestFacts } from '../../src/pipeline/types.js';

// The resource server's (gatehouse's) credentials at the provider. The secret holds
// characters client_secret_basic must form-encode (RFC 6749 §2.3.1): oidc-provider
// form-decodes both parts, so a wrong encoding would be refused with 400 → our 503.
const RS_ID = 'gatehouse';
const RS_SECRET = 'rs secret: 100%+&=/~ok';
// The API client that obtains tokens.
const APP_ID = 'orders-app';
const APP_SECRET = 'orders-app-secret-0123456789';
const CACHE_TTL_MS = 300;

let issuer = '';
let introspections = 0;
let provider: Provider;
const server = http.createServer((req, res) => {
  if (req.url?.startsWith('/token/introspection') === true) introspections += 1;
  void provider.callback()(req, res);
});

t.before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  provider = new Provider(issuer, {
    clients: [
      {
        client_id: APP_ID,
        client_secret: APP_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'orders:read orders:write',
      },
      {
        client_id: RS_ID,
        client_secret: RS_SECRET,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    scopes: ['orders:read', 'orders:write'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Only the resource server, or a token's own client, learns about a token.
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => client.clientId === RS_ID || client.clientId === token.clientId },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => client.clientId === token.clientId },
    },
    // Defined so the provider does not print a notice for each default it falls back to.
    ttl: { ClientCredentials: () => 600, AccessToken: () => 600 },
  });
});

t.teardown(async () => {
  if (server.listening) await stopProvider();
});

function stopProvider(): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function mintToken(scope: string): Promise<{ access_token: string; scope: string; token_type: string; expires_in: number }> {
  const res = await request(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(APP_ID, APP_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  });
  const body = (await res.body.json()) as { access_token: string; scope: string; token_type: string; expires_in: number };
  if (res.statusCode !== 200) throw new Error(`token endpoint answered ${res.statusCode}: ${JSON.stringify(body)}`);
  return body;
}

async function revoke(token: string): Promise<number> {
  const res = await request(`${issuer}/token/revocation`, {
    method: 'POST',
    headers: { authorization: basic(APP_ID, APP_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
  });
  await res.body.dump();
  return res.statusCode;
}

function facts(authorization: string): RequestFacts {
  return {
    method: 'GET',
    scheme: 'https',
    authority: 'api.example.com',
    hostname: 'api.example.com',
    path: '/orders',
    query: '',
    headers: { authorization },
    rawHeaders: ['Authorization', authorization],
    peer: '127.0.0.1',
    peerTrusted: false,
    clientIp: '127.0.0.1',
  };
}

function authenticator(t: { teardown(fn: () => unknown): void }, overrides: Partial<IntrospectionAuthenticatorOptions> = {}): Authenticator {
  const auth = createIntrospectionAuthenticator({
    name: 'orders-api',
    realm: 'orders',
    endpoint: `${issuer}/token/introspection`,
    clientId: RS_ID,
    clientSecret: RS_SECRET,
    cacheTtlMs: CACHE_TTL_MS,
    timeoutMs: 2_000,
    claims: { user: 'client_id', scopes: 'scope' },
    cache: { maxEntries: 100 },
    ...overrides,
  });
  t.teardown(() => auth.close?.());
  return auth;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const INVALID_TOKEN = {
  outcome: 'fail',
  reason: 'inactive',
  code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS',
  challenge: 'Bearer realm="orders", error="invalid_token", error_description="invalid token"',
};

t.test('a client_credentials access token: the client\'s identity with the granted scope', async (t) => {
  const minted = await mintToken('orders:read');
  t.equal(minted.token_type, 'Bearer');
  t.equal(minted.scope, 'orders:read');
  const auth = authenticator(t);
  const before = introspections;
  const r: AuthResult = await auth.authenticate(facts(`Bearer ${minted.access_token}`));
  if (r.outcome !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  t.equal(r.consumed, 'authorization');
  t.equal(r.identity.user, APP_ID);
  t.same(r.identity.scopes, ['orders:read']);
  t.same(r.identity.groups, []);
  t.equal(r.identity.method, 'introspection');
  t.equal(r.identity.authenticator, 'orders-api');
  t.equal(r.identity.claims.iss, issuer);
  t.equal(r.identity.claims.token_type, 'Bearer');
  t.equal(r.identity.claims.sub, undefined, 'no end user behind a client_credentials token');
  const exp = r.identity.claims.exp as number;
  t.ok(Math.abs(exp - (Math.floor(Date.now() / 1000) + 600)) <= 5, 'exp as the provider set it');
  t.equal(introspections - before, 1);
  t.same(auth.health!(), { introspection: 'ok' });

  // The second request within cacheTtl is answered from the cache.
  t.equal(await auth.authenticate(facts(`Bearer ${minted.access_token}`)), r);
  t.equal(introspections - before, 1);
});

t.test('two scopes come through as two', async (t) => {
  const minted = await mintToken('orders:read orders:write');
  const r = await authenticator(t).authenticate(facts(`Bearer ${minted.access_token}`));
  t.match(r, { outcome: 'ok', identity: { user: APP_ID, scopes: ['orders:read', 'orders:write'] } });
});

t.test('a garbage token: 401 invalid_token', async (t) => {
  const auth = authenticator(t);
  t.same(await auth.authenticate(facts('Bearer not-a-token-this-provider-ever-issued')), INVALID_TOKEN);
  t.same(auth.health!(), { introspection: 'ok' });
});

t.test('a JWT-shaped garbage token (the provider answers 400 unsupported_token_type): 401, not 503', async (t) => {
  const auth = authenticator(t);
  t.same(await auth.authenticate(facts('Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl')), INVALID_TOKEN);
  t.same(auth.health!(), { introspection: 'ok' }, 'a client cannot make the endpoint look down');
});

t.test('a wrong resource-server secret is our outage: 503, no invalid_token', async (t) => {
  const auth = authenticator(t, { clientSecret: 'not the secret' });
  const minted = await mintToken('orders:read');
  t.same(await auth.authenticate(facts(`Bearer ${minted.access_token}`)), {
    outcome: 'fail',
    reason: 'endpoint-error',
    code: 'GATEHOUSE_ERR_AUTH_UNAVAILABLE',
  });
  t.same(auth.health!(), { introspection: 'failing', lastError: 'http-401' });
});

t.test('a revoked token: still served from the cache within cacheTtl, inactive after it', async (t) => {
  const minted = await mintToken('orders:read');
  const auth = authenticator(t);
  const bearer = facts(`Bearer ${minted.access_token}`);
  t.match(await auth.authenticate(bearer), { outcome: 'ok', identity: { user: APP_ID } });
  t.equal(await revoke(minted.access_token), 200);
  // architecture.md principle 10: revocation takes effect within cacheTtl, not at once.
  t.match(await auth.authenticate(bearer), { outcome: 'ok' }, 'cached answer, within cacheTtl');
  await sleep(CACHE_TTL_MS + 50);
  const before = introspections;
  t.same(await auth.authenticate(bearer), INVALID_TOKEN);
  t.equal(introspections - before, 1, 'asked the provider again once the entry expired');
});

t.test('mapping user to sub: a client_credentials token has none, so it is refused', async (t) => {
  const minted = await mintToken('orders:read');
  const auth = authenticator(t, { claims: { user: 'sub', scopes: 'scope' } });
  t.same(await auth.authenticate(facts(`Bearer ${minted.access_token}`)), {
    outcome: 'fail',
    reason: 'missing-user-claim',
    code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS',
    challenge: 'Bearer realm="orders", error="invalid_token", error_description="invalid token"',
  });
});

t.test('provider stopped: 503 without invalid_token, health failing', async (t) => {
  const minted = await mintToken('orders:read');
  const auth = authenticator(t);
  await stopProvider();
  t.same(await auth.authenticate(facts(`Bearer ${minted.access_token}`)), {
    outcome: 'fail',
    reason: 'endpoint-error',
    code: 'GATEHOUSE_ERR_AUTH_UNAVAILABLE',
  });
  t.same(auth.health!(), { introspection: 'failing', lastError: 'ECONNREFUSED' });
});
