// Bearer tokens through the whole gateway: JWT against a real JWKS server on loopback,
// RFC 6750 answers, the signed identity assertion and its public keys, /readyz.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose';
import t from 'tap';
import { request } from 'undici';
import { startTestGateway, requestLines, type TestGateway } from '../helpers/gateway.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';

const ISS = 'https://idp.example.com/';
const SECRET = 'x'.repeat(40);
let upstream: RecordingUpstream;
let gw: TestGateway;
let jwksServer: http.Server;
let jwks: { keys: JWK[] } = { keys: [] };
let es: Awaited<ReturnType<typeof generateKeyPair>>;
const assertionKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

async function es256(claims: Record<string, unknown>, opts: { exp?: number | string; aud?: string; kid?: string } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'k1' })
    .setIssuer(ISS)
    .setAudience(opts.aud ?? 'api')
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(es.privateKey);
}

t.before(async () => {
  es = await generateKeyPair('ES256', { extractable: true });
  jwks = { keys: [{ ...(await exportJWK(es.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
  jwksServer = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  upstream = await startRecordingUpstream();
  const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  gw = await startTestGateway(
    `
identity:
  assertion: { privateKey: "\${env:ASSERTION_KEY}", issuer: gatehouse-test, ttl: 60s }
authenticators:
  partners:
    type: jwt
    realm: partners
    jwks: ${jwksUrl}
    issuer: ${ISS}
    audience: api
    algorithms: [ES256]
    claims: { user: sub, email: email, groups: realm_access.roles }
  internal:
    type: jwt
    secret: "\${env:HS_SECRET}"
    audience: any
    algorithms: [HS256]
routes:
  - name: orders
    match: { path: /api/orders/** }
    upstream: ${upstream.url}
    auth: partners
    allow: { scopes: ["orders:read"] }
    headers: { X-Tenant: "{claims.tenant}" }
  - name: internal
    match: { path: /internal/** }
    upstream: ${upstream.url}
    auth: internal
    assertionAudience: internal-api
  - name: open
    match: { path: /open }
    upstream: ${upstream.url}
    auth: anonymous
`,
    { env: { ASSERTION_KEY: assertionKey, HS_SECRET: SECRET } },
  );
});

t.afterEach(async () => {
  upstream.requests.length = 0;
});

t.teardown(async () => {
  await gw.close();
  await upstream.close();
  await new Promise((r) => jwksServer.close(r));
});

const get = (path: string, token?: string) => request(`${gw.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

t.test('a valid token reaches the upstream with identity, claims template and a verifiable assertion', async (t) => {
  const token = await es256({ sub: 'svc-1', email: 'svc@partner.io', scope: 'orders:read other', tenant: 'acme', realm_access: { roles: ['buyer', 'a,b'] } });
  const res = await get('/api/orders/7', token);
  t.equal(res.statusCode, 200);
  await res.body.text();
  const seen = upstream.requests[0]!.headers;
  t.equal(seen['x-auth-user'], 'svc-1');
  t.equal(seen['x-auth-email'], 'svc@partner.io');
  t.equal(seen['x-auth-groups'], 'buyer,a%2Cb');
  t.equal(seen['x-auth-method'], 'jwt');
  t.equal(seen['x-tenant'], 'acme');
  t.equal(seen.authorization, undefined, 'the bearer token stays at the gate');
  const keys = await request(`${gw.url}/.gatehouse/jwks.json`);
  t.equal(keys.statusCode, 200);
  t.equal(keys.headers['cache-control'], 'public, max-age=60');
  const set = (await keys.body.json()) as { keys: JWK[] };
  const { payload } = await jwtVerify(seen['x-auth-assertion'] as string, createLocalJWKSet(set), { issuer: 'gatehouse-test', audience: upstream.origin });
  t.match(payload, { sub: 'svc-1', email: 'svc@partner.io', groups: ['buyer', 'a,b'], route: 'orders' });
});

t.test('a client-sent assertion header never survives', async (t) => {
  const res = await request(`${gw.url}/open`, { headers: { 'x-auth-assertion': 'forged', 'X_Auth_Assertion': 'forged' } });
  await res.body.text();
  t.equal(upstream.requests[0]!.headers['x-auth-assertion'], undefined, 'anonymous routes get no assertion');
  t.notOk(JSON.stringify(upstream.requests[0]!.headers).includes('forged'));
});

t.test('HS256 route: assertion audience from assertionAudience', async (t) => {
  const token = await new SignJWT({ sub: 'cron' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m').sign(Buffer.from(SECRET));
  const res = await get('/internal/run', token);
  t.equal(res.statusCode, 200);
  await res.body.text();
  const keys = (await (await request(`${gw.url}/.gatehouse/jwks.json`)).body.json()) as { keys: JWK[] };
  const { payload } = await jwtVerify(upstream.requests[0]!.headers['x-auth-assertion'] as string, createLocalJWKSet(keys), { audience: 'internal-api' });
  t.equal(payload.sub, 'cron');
});

t.test('RFC 6750: no token → 401 with the Bearer challenge', async (t) => {
  const res = await get('/api/orders/1');
  t.equal(res.statusCode, 401);
  t.equal(res.headers['www-authenticate'], 'Bearer realm="partners"');
  t.match(await res.body.json(), { code: 'GATEHOUSE_ERR_AUTH_REQUIRED' });
});

t.test('RFC 6750: expired token → 401 invalid_token "token expired"', async (t) => {
  const res = await get('/api/orders/1', await es256({ sub: 'x', scope: 'orders:read' }, { exp: Math.floor(Date.now() / 1000) - 3600 }));
  t.equal(res.statusCode, 401);
  t.equal(res.headers['www-authenticate'], 'Bearer realm="partners", error="invalid_token", error_description="token expired"');
  t.match(await res.body.json(), { code: 'GATEHOUSE_ERR_AUTH_TOKEN_EXPIRED' });
});

t.test('RFC 6750: missing scope → 403 insufficient_scope naming the scope', async (t) => {
  const res = await get('/api/orders/1', await es256({ sub: 'x', scope: 'profile' }));
  t.equal(res.statusCode, 403);
  t.equal(res.headers['www-authenticate'], 'Bearer realm="partners", error="insufficient_scope", scope="orders:read"');
  t.match(await res.body.json(), { code: 'GATEHOUSE_ERR_AUTHZ_INSUFFICIENT_SCOPE' });
});

t.test('wrong audience and tampered signature → 401 invalid_token; nothing forwarded', async (t) => {
  const wrongAud = await get('/api/orders/1', await es256({ sub: 'x', scope: 'orders:read' }, { aud: 'other' }));
  t.equal(wrongAud.statusCode, 401);
  t.match(wrongAud.headers['www-authenticate'], /error="invalid_token", error_description="invalid token"/);
  await wrongAud.body.text();
  const good = await es256({ sub: 'x', scope: 'orders:read' });
  const [h, p] = good.split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify({ sub: 'admin', scope: 'orders:read', iss: ISS, aud: 'api', exp: 9e9 })).toString('base64url')}.${good.split('.')[2]}`;
  const tampered = await get('/api/orders/1', forged);
  t.equal(tampered.statusCode, 401);
  await tampered.body.text();
  t.ok(p);
  t.equal(upstream.requests.length, 0);
});

t.test('tokens never appear in logs', async (t) => {
  const token = await es256({ sub: 'logcheck', scope: 'orders:read' });
  await (await get('/api/orders/1', token)).body.text();
  await (await get('/api/orders/1', token.slice(0, -4) + 'AAAA')).body.text();
  const lines = requestLines(gw);
  t.match(lines.at(-2), { route: 'orders', authenticator: 'partners', outcome: 'allow', user: 'logcheck' });
  t.match(lines.at(-1), { outcome: 'deny', reasons: ['bad-signature'] });
  t.notOk(gw.logText().includes(token.split('.')[2]!), 'no signature in logs');
  t.notOk(gw.logText().includes(token.split('.')[1]!), 'no payload in logs');
});

t.test('/readyz reports the JWKS and is ready once keys are in', async (t) => {
  const res = await request(`${gw.adminUrl}/readyz`);
  t.equal(res.statusCode, 200);
  t.match(await res.body.json(), { status: 'ready', authenticators: { partners: { jwks: 'ok' } } });
});

t.test('/.gatehouse paths other than the JWKS are 404 and never forwarded', async (t) => {
  for (const path of ['/.gatehouse/', '/.gatehouse/nope', '/.GATEHOUSE/jwks.json']) {
    const res = await request(`${gw.url}${path}`);
    t.equal(res.statusCode, 404, path);
    await res.body.text();
  }
  const post = await request(`${gw.url}/.gatehouse/jwks.json`, { method: 'POST', body: 'x' });
  t.equal(post.statusCode, 405);
  await post.body.text();
  t.equal(upstream.requests.length, 0);
});
