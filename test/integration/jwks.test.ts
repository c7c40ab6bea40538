// The jwt authenticator against a real JWKS endpoint on loopback (security.md §6, §10):
// key rotation, the endpoint going down, and a cold start without keys.
import t from 'tap';
import { createRemoteJwks, type RemoteJwks, type RemoteJwksOptions } from '../../src/jwt/remote-jwks.js';
import { createJwtAuthenticator } from '../../src/pipeline/authenticate/jwt.js';
import type { AuthResult, Authenticator } from '../../src/pipeline/types.js';
import { startJwksServer, type JwksServer } from '../unit/jwt/jwks-server.js';
import { freePort, sleep, waitFor } from '../helpers/wait.js';
import { bearer, joseToken, makeKey, type TestKey } from '../unit/jwt/tokens.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const CLAIMS = { sub: 'alice', aud: 'api', iss: 'https://idp.example.com/' };
const k1 = await makeKey('ES256', 'k1');
const k2 = await makeKey('RS256', 'k2');
const k3 = await makeKey('ES256', 'k3');
const jwksBody = (...keys: TestKey[]) => JSON.stringify({ keys: keys.map((k) => k.jwk) });
const token = (key: TestKey, claims: Record<string, unknown> = {}) =>
  joseToken({ alg: key.alg, privateKey: key.privateKey, kid: key.jwk.kid as string }, { ...CLAIMS, ...claims });

function authenticatorFor(url: string, jwksOpts: Partial<RemoteJwksOptions>): Authenticator & { jwks: RemoteJwks } {
  const jwks = createRemoteJwks({ url, timeoutMs: 1000, ...jwksOpts });
  const auth = createJwtAuthenticator({
    name: 'idp',
    realm: 'api',
    algorithms: ['ES256', 'RS256'],
    keys: { kind: 'remote', jwks },
    issuer: 'https://idp.example.com/',
    audience: ['api'],
    clockToleranceMs: 0,
    claims: { user: 'sub' },
    cache: { maxEntries: 100 },
  });
  return Object.assign(auth, { jwks });
}

const user = (r: AuthResult) => (r.outcome === 'ok' ? r.identity.user : `${r.outcome}:${r.outcome === 'fail' ? `${r.code}:${r.reason}` : ''}`);
const UNKNOWN_KID = 'fail:GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS:unknown-kid';

async function serve(t: TapTest, body: string): Promise<JwksServer> {
  const server = await startJwksServer({ body });
  t.teardown(() => server.close());
  return server;
}

t.test('key rotation', async (t) => {
  const server = await serve(t, jwksBody(k1));
  const auth = authenticatorFor(server.url, { refreshIntervalMs: 1000, cooldownMs: 100, minRefetchIntervalMs: 50 });
  t.teardown(() => auth.close!());
  t.ok(await waitFor(() => auth.ready!()));

  const old = await token(k1);
  t.equal(user(await auth.authenticate(bearer(old))), 'alice');

  t.test('a new kid is accepted without a restart', async (t) => {
    server.state.body = jwksBody(k1, k2);
    await sleep(120); // past the cooldown of the last fetch
    const hits = server.state.hits;
    t.equal(user(await auth.authenticate(bearer(await token(k2)))), 'alice');
    t.equal(server.state.hits, hits + 1, 'one refetch brought the new key');
  });

  t.test('a removed key is rejected after the next refresh, cached tokens included', async (t) => {
    const fresh = await token(k1);
    t.equal(user(await auth.authenticate(bearer(fresh))), 'alice');
    server.state.body = jwksBody(k2, k3);
    const hits = server.state.hits;
    t.ok(await waitFor(() => auth.jwks.current()?.hasKid('k1') === false), 'the background refresh ran');
    t.ok(server.state.hits > hits);
    t.equal(user(await auth.authenticate(bearer(old))), UNKNOWN_KID);
    t.equal(user(await auth.authenticate(bearer(fresh))), UNKNOWN_KID, 'the cached success of a removed key is not used');
    t.equal(user(await auth.authenticate(bearer(await token(k3)))), 'alice');
  });
});

t.test('JWKS endpoint down', async (t) => {
  const server = await serve(t, jwksBody(k1));
  // No background activity during the test: only unknown kids make fetches.
  const auth = authenticatorFor(server.url, { refreshIntervalMs: 60_000, cooldownMs: 300, minRefetchIntervalMs: 60_000 });
  t.teardown(() => auth.close!());
  t.ok(await waitFor(() => auth.ready!()));
  const good = await token(k1);
  const unknown = await token(k3);
  t.equal(user(await auth.authenticate(bearer(good))), 'alice');
  await sleep(350); // past the cooldown of the start-up fetch

  t.test('answering 500: cached keys keep working, an unknown kid is 401, one refetch per cooldown', async (t) => {
    server.state.status = 500;
    const before = server.state.hits;
    const results = await Promise.all(Array.from({ length: 10 }, () => auth.authenticate(bearer(unknown))));
    t.same(results.map(user), Array(10).fill(UNKNOWN_KID), '401, not 500 or 503');
    for (let i = 0; i < 10; i++) t.equal(user(await auth.authenticate(bearer(unknown))), UNKNOWN_KID);
    t.equal(server.state.hits, before + 1, 'one fetch for 20 requests');
    t.equal(user(await auth.authenticate(bearer(good))), 'alice', 'the cached token');
    t.equal(user(await auth.authenticate(bearer(await token(k1, { jti: 'new' })))), 'alice', 'a new token signed by a cached key');
    t.same(auth.health!(), { jwks: 'stale', keys: 1, lastError: 'http status 500' });
    t.equal(auth.ready!(), true, 'stale keys still serve');
    await sleep(350);
    t.equal(user(await auth.authenticate(bearer(unknown))), UNKNOWN_KID);
    t.equal(server.state.hits, before + 2, 'the next cooldown allows one more');
  });

  t.test('not listening at all: same answers', async (t) => {
    await server.close();
    await sleep(350);
    t.equal(user(await auth.authenticate(bearer(unknown))), UNKNOWN_KID);
    t.equal(user(await auth.authenticate(bearer(good))), 'alice');
    t.equal(user(await auth.authenticate(bearer(await token(k1, { jti: 'newer' })))), 'alice');
    t.same(auth.health!(), { jwks: 'stale', keys: 1, lastError: 'ECONNREFUSED' });
    await server.reopen();
  });
});

t.test('cold start without keys: 503 and not ready, then ready once the endpoint is up', async (t) => {
  const port = await freePort();
  const auth = authenticatorFor(`http://127.0.0.1:${port}/jwks.json`, { refreshIntervalMs: 60_000, cooldownMs: 100, minRefetchIntervalMs: 50 });
  t.teardown(() => auth.close!());
  await sleep(50);
  const tok = await token(k1);
  t.same(await auth.authenticate(bearer(tok)), { outcome: 'fail', reason: 'no-keys', code: 'GATEHOUSE_ERR_AUTH_UNAVAILABLE' });
  t.equal(auth.ready!(), false);
  t.same(auth.health!(), { jwks: 'missing', keys: 0, lastError: 'ECONNREFUSED' });

  const server = await startJwksServer({ body: jwksBody(k1) }, port);
  t.teardown(() => server.close());
  t.ok(await waitFor(() => auth.ready!(), 5000), 'a retry found the endpoint');
  t.equal(auth.ready!(), true);
  t.same(auth.health!(), { jwks: 'ok', keys: 1 });
  t.equal(user(await auth.authenticate(bearer(tok))), 'alice');
});

t.test('cold start: requests made during the first fetch wait for it', async (t) => {
  const server = await startJwksServer({ body: jwksBody(k1), delayMs: 150 });
  t.teardown(() => server.close());
  const auth = authenticatorFor(server.url, { refreshIntervalMs: 60_000, cooldownMs: 60_000 });
  t.teardown(() => auth.close!());
  const tok = await token(k1);
  t.equal(auth.ready!(), false);
  const results = await Promise.all([auth.authenticate(bearer(tok)), auth.authenticate(bearer(tok))]);
  t.same(results.map(user), ['alice', 'alice']);
  t.equal(server.state.hits, 1);
});
