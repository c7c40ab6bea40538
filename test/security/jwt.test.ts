// security.md §6 through the whole gateway: "the configuration decides, never the
// token". Every forged or malformed token is refused and NEVER reaches the upstream
// (the recording upstream is the oracle); unknown kids are 401, never 500.
import { createHmac, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import t from 'tap';
import { request } from 'undici';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { assertNothingForwarded, rawGet, type TapTest } from './support.js';

const ISS = 'https://idp.example.com/';
const SECRET = 's'.repeat(48);
const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = (): number => Math.floor(Date.now() / 1000);

let upstream: RecordingUpstream;
let gw: TestGateway;
let jwksServer: http.Server;
let jwksHits = 0;
let es: Awaited<ReturnType<typeof generateKeyPair>>;
let publicJwk: JWK;
const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ sub: 'svc', iss: ISS, aud: 'api', exp: now() + 300, iat: now(), ...extra });

/** Sign header.payload with the real ES256 key (raw P1363 signature, as JWS wants). */
function signEs(header: Record<string, unknown>, payload: Record<string, unknown> | string, key = es.privateKey): string {
  const input = `${b64(header)}.${typeof payload === 'string' ? payload : b64(payload)}`;
  const sig = cryptoSign('sha256', Buffer.from(input), { key: key as never, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}
const good = (extra: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string => signEs({ alg: 'ES256', kid: 'k1', typ: 'JWT', ...header }, claims(extra));

t.before(async () => {
  es = await generateKeyPair('ES256', { extractable: true });
  publicJwk = { ...(await exportJWK(es.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwksServer = http.createServer((_req, res) => {
    jwksHits++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  upstream = await startRecordingUpstream();
  gw = await startTestGateway(
    `
authenticators:
  partners:
    type: jwt
    jwks: http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json
    jwksRefresh: { cooldown: 1h }
    issuer: ${ISS}
    audience: [api, api2]
    algorithms: [ES256]
    clockTolerance: 5s
  internal:
    type: jwt
    secret: "\${env:SECRET}"
    audience: any
    algorithms: [HS256]
routes:
  - name: api
    match: { path: /api/** }
    upstream: ${upstream.url}
    auth: partners
  - name: internal
    match: { path: /internal/** }
    upstream: ${upstream.url}
    auth: internal
`,
    { env: { SECRET } },
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

async function refused(tt: TapTest, token: string, status = 401, path = '/api/x'): Promise<void> {
  const res = await request(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  tt.equal(res.statusCode, status);
  const body = (await res.body.json()) as { code: string };
  tt.match(body.code, /^GATEHOUSE_ERR_AUTH_/);
  if (status === 401) tt.match(res.headers['www-authenticate'], /^Bearer realm="gatehouse", error="invalid_token"/);
  await assertNothingForwarded(tt, upstream);
}

t.test('control: a well-formed token is forwarded', async (tt) => {
  const res = await request(`${gw.url}/api/x`, { headers: { authorization: `Bearer ${good()}` } });
  tt.equal(res.statusCode, 200);
  await res.body.text();
  tt.equal(upstream.requests.length, 1);
});

const cases: Array<[string, () => string, number?, string?]> = [
  ['alg none, no signature', () => `${b64({ alg: 'none', kid: 'k1' })}.${b64(claims())}.`],
  ['alg "None" spelled differently', () => `${b64({ alg: 'None', kid: 'k1' })}.${b64(claims())}.`],
  ['alg none with a signature appended', () => `${b64({ alg: 'none' })}.${b64(claims())}.${b64('x')}`],
  ['alg not in the allow-list (ES384 label on an ES256 route)', () => signEs({ alg: 'ES384', kid: 'k1' }, claims())],
  ['RS256 token on an ES256-only route', () => {
    const input = `${b64({ alg: 'RS256', kid: 'k1' })}.${b64(claims())}`;
    return `${input}.${cryptoSign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`;
  }],
  ['HS256 signed with the public JWK as secret (key confusion)', () => {
    const input = `${b64({ alg: 'HS256', kid: 'k1' })}.${b64(claims())}`;
    return `${input}.${createHmac('sha256', JSON.stringify(publicJwk)).update(input).digest('base64url')}`;
  }],
  ['jku header pointing at an attacker JWKS', () => signEs({ alg: 'ES256', kid: 'k1', jku: 'https://evil.example/jwks.json' }, claims())],
  ['x5u header', () => signEs({ alg: 'ES256', kid: 'k1', x5u: 'https://evil.example/cert.pem' }, claims())],
  ['jwk header embedding the attacker key, signed by it', () => {
    const jwk = attacker.publicKey.export({ format: 'jwk' });
    return signEs({ alg: 'ES256', jwk }, claims(), attacker.privateKey as never);
  }],
  ['x5c header', () => signEs({ alg: 'ES256', kid: 'k1', x5c: ['MIIB'] }, claims())],
  ['crit naming an extension gatehouse does not understand', () => signEs({ alg: 'ES256', kid: 'k1', crit: ['exp'], exp: 1 }, claims())],
  ['crit b64=false (unencoded payload)', () => signEs({ alg: 'ES256', kid: 'k1', b64: false, crit: ['b64'] }, claims())],
  ['JWE (five segments)', () => `${b64({ alg: 'dir', enc: 'A256GCM' })}..${b64('iv')}.${b64('ct')}.${b64('tag')}`],
  ['token over 8 KiB', () => good({ pad: 'x'.repeat(9000) })],
  ['padding "=" in a segment', () => { const [h, p, s] = good().split('.'); return `${h}=.${p}.${s}`; }],
  ['standard base64 characters (+ and /)', () => { const [h, p, s] = good().split('.'); return `${h}.${p}.${s!.replace(/-/g, '+').replace(/_/g, '/')}${/[-_]/.test(s!) ? '' : '+'}`; }],
  ['non-canonical base64url (non-zero trailing bits)', () => {
    const [h, p, s] = good().split('.');
    // 64 signature bytes end in 2 chars of 6 bits where the last 2 bits must be zero.
    const last = s!.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const bumped = alphabet[(alphabet.indexOf(last) + 1) % 64]!;
    return `${h}.${p}.${s!.slice(0, -1)}${bumped}`;
  }],
  ['empty signature segment', () => { const [h, p] = good().split('.'); return `${h}.${p}.`; }],
  ['payload tampered after signing', () => { const [h, , s] = good().split('.'); return `${h}.${b64(claims({ sub: 'admin' }))}.${s}`; }],
  ['signed by another key under the same kid', () => signEs({ alg: 'ES256', kid: 'k1' }, claims(), attacker.privateKey as never)],
  ['missing exp', () => signEs({ alg: 'ES256', kid: 'k1' }, { sub: 'svc', iss: ISS, aud: 'api' })],
  ['exp as a string', () => signEs({ alg: 'ES256', kid: 'k1' }, claims({ exp: String(now() + 300) }))],
  ['exp absurdly far (1e300)', () => signEs({ alg: 'ES256', kid: 'k1' }, claims({ exp: 1e300 }))],
  ['expired beyond the clock tolerance', () => good({ exp: now() - 60 })],
  ['nbf in the future', () => good({ nbf: now() + 600 })],
  ['iat in the future beyond the tolerance', () => good({ iat: now() + 600 })],
  ['wrong issuer', () => good({ iss: 'https://evil.example/' })],
  ['issuer differing only by a trailing slash', () => good({ iss: ISS.slice(0, -1) })],
  ['wrong audience', () => good({ aud: 'other' })],
  ['audience list without ours', () => good({ aud: ['x', 'y'] })],
  ['header is a JSON array, not an object', () => { const [, p, s] = good().split('.'); return `${b64([{ alg: 'ES256' }])}.${p}.${s}`; }],
  ['payload is not JSON', () => signEs({ alg: 'ES256', kid: 'k1' }, b64('not json'))],
  ['duplicate "alg" member in the header', () => signEs({ alg: 'ES256', kid: 'k1' }, claims()).replace(/^[^.]+/, b64('{"alg":"none","kid":"k1","alg":"ES256"}'))],
  ['typ declares a non-JWT (JWE-style) media type', () => good({}, { typ: 'JOSE+JSON' })],
  ['an opaque (non-JWS) token', () => 'opaque-token-123'],
  ['token with an embedded space', () => { const [h, p, s] = good().split('.'); return `${h}.${p} .${s}`; }],
];

for (const [name, make, status] of cases) {
  t.test(`refused: ${name}`, async (tt) => {
    await refused(tt, make(), status ?? 401);
  });
}

t.test('unknown kid: 401 (not 500), and at most one JWKS refetch per cooldown', async (tt) => {
  const before = jwksHits;
  for (let i = 0; i < 5; i++) await refused(tt, signEs({ alg: 'ES256', kid: `nope-${i}` }, claims(), attacker.privateKey as never));
  tt.ok(jwksHits - before <= 1, `JWKS fetched ${jwksHits - before} times for 5 unknown kids`);
});

t.test('HS route: RS256 token (alg confusion the other way) refused', async (tt) => {
  const input = `${b64({ alg: 'RS256' })}.${b64(claims())}`;
  await refused(tt, `${input}.${cryptoSign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`, 401, '/internal/x');
});

t.test('HS route: token signed with a different secret refused', async (tt) => {
  const token = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m').sign(Buffer.from('t'.repeat(48)));
  await refused(tt, token, 401, '/internal/x');
});

t.test('HS route: alg none refused even with the right shape', async (tt) => {
  await refused(tt, `${b64({ alg: 'none' })}.${b64({ sub: 'x', exp: now() + 60 })}.`, 401, '/internal/x');
});

t.test('two Authorization headers are refused before any check (400)', async (tt) => {
  const token = good();
  const res = await rawRequest(gw.url, rawGet('/api/x', [`Authorization: Bearer ${token}`, 'Authorization: Bearer x']));
  tt.equal(res.status, 400);
  await assertNothingForwarded(tt, upstream);
});

t.test('a token in the query string is not a credential (RFC 6750 §2.3 is not supported)', async (tt) => {
  const res = await request(`${gw.url}/api/x?access_token=${good()}`);
  tt.equal(res.statusCode, 401);
  await res.body.text();
  await assertNothingForwarded(tt, upstream);
});

t.test('Bearer scheme without a token is malformed', async (tt) => {
  for (const value of ['Bearer', 'Bearer ', 'Bearer\t']) {
    const res = await request(`${gw.url}/api/x`, { headers: { authorization: value } });
    tt.equal(res.statusCode, 401, JSON.stringify(value.slice(0, 10)));
    await res.body.text();
  }
  await assertNothingForwarded(tt, upstream);
});
