// The introspection authenticator against a small fake RFC 7662 endpoint on loopback:
// the request it sends, what it makes of each kind of answer, its cache (bounds counted
// in endpoint calls), shared concurrent calls, outages as 503, and secrecy.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { Agent, Dispatcher } from 'undici';
import {
  createIntrospectionAuthenticator,
  MAX_NEGATIVE_CACHE_MS,
  MAX_RESPONSE_BYTES,
  type IntrospectionAuthenticatorOptions,
} from '../../../src/pipeline/authenticate/introspection.js';
import { MAX_BEARER_TOKEN_LENGTH as MAX_TOKEN_LENGTH } from '../../../src/pipeline/authenticate/bearer.js';
import type { AuthResult, Authenticator, RequestFacts } from '../../../src/pipeline/types.js';

// ---------------------------------------------------------------- fixtures and helpers

// Characters RFC 6749 §2.3.1's form-encoding must protect: space, ':', '%', '+', '&', '='.
const CLIENT_ID = 'gate house:rs';
const SECRET = 'S3cr3t: 100%+&=/~!x';
const T0 = 1_800_000_000_000; // a fixed wall clock, ms
const SEC = (ms: number): number => Math.floor(ms / 1000);

/** What the helpers need of a test: somewhere to hang clean-up. */
interface Tap {
  teardown(fn: () => unknown): void;
}

interface Call {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  token: string | null;
}
type Handler = (call: Call, res: http.ServerResponse) => void;

interface Fake {
  url: string;
  calls: Call[];
  handler: Handler;
  close(): Promise<void>;
}

function listen(server: http.Server | https.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function fakeEndpoint(t: Tap, handler: Handler, opts: { tls?: https.ServerOptions } = {}): Promise<Fake> {
  const fake: Fake = { url: '', calls: [], handler, close: async () => {} };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const call: Call = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, token: new URLSearchParams(body).get('token') };
      fake.calls.push(call);
      fake.handler(call, res);
    });
  };
  const server = opts.tls === undefined ? http.createServer(onRequest) : https.createServer(opts.tls, onRequest);
  const port = await listen(server);
  fake.url = `${opts.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}/oauth2/introspect`;
  fake.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  t.teardown(() => fake.close());
  return fake;
}

const sendJson = (res: http.ServerResponse, value: unknown, status = 200): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof value === 'string' ? value : JSON.stringify(value));
};

/** Answers from a table token → answer; unknown tokens are inactive. */
const table =
  (answers: Record<string, unknown>): Handler =>
  (call, res) =>
    sendJson(res, answers[call.token ?? ''] ?? { active: false });

interface Made {
  auth: Authenticator;
  clock: { now: number };
}

function make(t: Tap, fake: { url: string }, overrides: Partial<IntrospectionAuthenticatorOptions> = {}, dispatcher?: Dispatcher): Made {
  const clock = { now: T0 };
  const auth = createIntrospectionAuthenticator(
    {
      name: 'opaque',
      realm: 'api',
      endpoint: fake.url,
      clientId: CLIENT_ID,
      clientSecret: SECRET,
      cacheTtlMs: 60_000,
      timeoutMs: 2_000,
      claims: { user: 'sub', email: 'email', name: 'name', groups: 'groups', scopes: 'scope' },
      cache: { maxEntries: 100 },
      ...overrides,
    },
    { now: () => clock.now, ...(dispatcher === undefined ? {} : { dispatcher }) },
  );
  t.teardown(() => auth.close?.());
  return { auth, clock };
}

function facts(authorization?: string | string[]): RequestFacts {
  return {
    method: 'GET',
    scheme: 'https',
    authority: 'api.example.com',
    hostname: 'api.example.com',
    path: '/',
    query: '',
    headers: authorization === undefined ? {} : { authorization },
    rawHeaders: [],
    peer: '203.0.113.5',
    peerTrusted: false,
    clientIp: '203.0.113.5',
  };
}

// Every result and health() any test saw, checked for secrets at the end.
const seen: unknown[] = [];
const usedTokens = new Set<string>();
async function authn(auth: Authenticator, token: string): Promise<AuthResult> {
  usedTokens.add(token);
  const r = await auth.authenticate(facts(`Bearer ${token}`));
  seen.push(r, auth.health?.());
  return r;
}

const CHALLENGE = 'Bearer realm="api"';
const rejected = (reason: string, code: string, description: string) => ({
  outcome: 'fail',
  reason,
  code,
  challenge: `${CHALLENGE}, error="invalid_token", error_description="${description}"`,
});
const INACTIVE = rejected('inactive', 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS', 'invalid token');
const UNAVAILABLE = { outcome: 'fail', reason: 'endpoint-error', code: 'GATEHOUSE_ERR_AUTH_UNAVAILABLE' };

const ALICE = { active: true, sub: 'alice', email: 'alice@example.com', name: 'Alice', groups: ['staff'], scope: 'orders:read orders:write', exp: SEC(T0) + 3600 };

// ---------------------------------------------------------------- the request

t.test('the request: POST, form body with token and hint, JSON accepted, client_secret_basic form-encoded', async (t) => {
  const fake = await fakeEndpoint(t, table({ 'tok-alice': ALICE }));
  const { auth } = make(t, fake);
  await authn(auth, 'tok-alice');
  t.equal(fake.calls.length, 1);
  const call = fake.calls[0]!;
  t.equal(call.method, 'POST');
  t.equal(call.url, '/oauth2/introspect');
  t.equal(call.headers['content-type'], 'application/x-www-form-urlencoded');
  t.equal(call.headers.accept, 'application/json');
  t.equal(call.body, 'token=tok-alice&token_type_hint=access_token');
  const authz = call.headers.authorization!;
  t.match(authz, /^Basic [A-Za-z0-9+/]+=*$/);
  const decoded = Buffer.from(authz.slice(6), 'base64').toString('utf8');
  // RFC 6749 §2.3.1: each part form-urlencoded, so the ':' that joins them is the only raw one.
  t.equal(decoded, 'gate+house%3Ars:S3cr3t%3A+100%25%2B%26%3D%2F%7E%21x');
  const colon = decoded.indexOf(':');
  const formDecode = (s: string): string => new URLSearchParams(`v=${s}`).get('v')!;
  t.equal(formDecode(decoded.slice(0, colon)), CLIENT_ID);
  t.equal(formDecode(decoded.slice(colon + 1)), SECRET);
});

t.test('a token that needs form-encoding reaches the endpoint intact', async (t) => {
  const token = 'a+b/c~d_e-f.g==';
  const fake = await fakeEndpoint(t, table({ [token]: ALICE }));
  const { auth } = make(t, fake);
  t.match(await authn(auth, token), { outcome: 'ok' });
  t.equal(fake.calls[0]!.token, token);
});

// ---------------------------------------------------------------- which requests are ours

t.test('no Authorization header, or another scheme: skip, no call', async (t) => {
  const fake = await fakeEndpoint(t, table({}));
  const { auth } = make(t, fake);
  t.same(await auth.authenticate(facts()), { outcome: 'skip' });
  t.same(await auth.authenticate(facts('Basic YWxpY2U6cHc=')), { outcome: 'skip' });
  t.equal(fake.calls.length, 0);
});

t.test('a malformed Bearer header: 401 malformed with invalid_token, no call', async (t) => {
  const fake = await fakeEndpoint(t, table({}));
  const { auth } = make(t, fake);
  const expected = rejected('malformed', 'GATEHOUSE_ERR_AUTH_MALFORMED_CREDENTIALS', 'invalid token');
  t.same(await auth.authenticate(facts('Bearer a b')), expected);
  t.same(await auth.authenticate(facts('Bearer ')), expected);
  t.same(await auth.authenticate(facts(['Bearer x', 'Bearer y'])), expected);
  t.equal(fake.calls.length, 0);
});

t.test(`a token longer than ${MAX_TOKEN_LENGTH} characters: 401 too-large, no call`, async (t) => {
  const fake = await fakeEndpoint(t, (call, res) => sendJson(res, { ...ALICE, sub: `len-${call.token!.length}` }));
  const { auth } = make(t, fake);
  t.same(await authn(auth, 'a'.repeat(MAX_TOKEN_LENGTH + 1)), rejected('too-large', 'GATEHOUSE_ERR_AUTH_MALFORMED_CREDENTIALS', 'token too large'));
  t.equal(fake.calls.length, 0);
  // Exactly at the limit is still checked.
  t.match(await authn(auth, 'a'.repeat(MAX_TOKEN_LENGTH)), { outcome: 'ok', identity: { user: `len-${MAX_TOKEN_LENGTH}` } });
  t.equal(fake.calls.length, 1);
});

// ---------------------------------------------------------------- answers

t.test('active: the identity from the claims mapping, method introspection, Authorization consumed', async (t) => {
  const fake = await fakeEndpoint(t, table({ 'tok-alice': ALICE }));
  const { auth } = make(t, fake);
  const r = await authn(auth, 'tok-alice');
  if (r.outcome !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  t.equal(r.consumed, 'authorization');
  t.equal(r.identity.user, 'alice');
  t.equal(r.identity.email, 'alice@example.com');
  t.equal(r.identity.name, 'Alice');
  t.same(r.identity.groups, ['staff']);
  t.same(r.identity.scopes, ['orders:read', 'orders:write']);
  t.equal(r.identity.method, 'introspection');
  t.equal(r.identity.authenticator, 'opaque');
  t.equal(r.identity.claims.sub, 'alice');
});

t.test('active without exp: accepted, cached for cacheTtl', async (t) => {
  const fake = await fakeEndpoint(t, table({ tok: { active: true, sub: 'svc' } }));
  const { auth, clock } = make(t, fake, { cacheTtlMs: 30_000 });
  t.match(await authn(auth, 'tok'), { outcome: 'ok', identity: { user: 'svc' } });
  clock.now = T0 + 29_999;
  await authn(auth, 'tok');
  t.equal(fake.calls.length, 1);
  clock.now = T0 + 30_000;
  await authn(auth, 'tok');
  t.equal(fake.calls.length, 2);
});

t.test('`active` must be the JSON boolean true', async (t) => {
  for (const active of [false, 'true', 1, null, {}]) {
    const fake = await fakeEndpoint(t, (_call, res) => sendJson(res, { ...ALICE, active }));
    const { auth } = make(t, fake);
    t.same(await authn(auth, 'tok'), INACTIVE, `active: ${JSON.stringify(active)}`);
  }
  const fake = await fakeEndpoint(t, (_call, res) => sendJson(res, { sub: 'alice' }));
  const { auth } = make(t, fake);
  t.same(await authn(auth, 'tok'), INACTIVE, 'active absent');
});

t.test('active but exp passed (or exactly now): 401 expired', async (t) => {
  const fake = await fakeEndpoint(t, table({ past: { ...ALICE, exp: SEC(T0) - 1 }, now: { ...ALICE, exp: SEC(T0) } }));
  const { auth } = make(t, fake);
  const expired = rejected('expired', 'GATEHOUSE_ERR_AUTH_TOKEN_EXPIRED', 'token expired');
  t.same(await authn(auth, 'past'), expired);
  t.same(await authn(auth, 'now'), expired);
});

t.test('active but nbf in the future: 401 not-yet-valid, remembered only until nbf', async (t) => {
  const nbf = SEC(T0) + 3;
  const fake = await fakeEndpoint(t, table({ tok: { ...ALICE, nbf } }));
  const { auth, clock } = make(t, fake);
  t.same(await authn(auth, 'tok'), rejected('not-yet-valid', 'GATEHOUSE_ERR_AUTH_TOKEN_NOT_YET_VALID', 'token not yet valid'));
  clock.now = nbf * 1000 - 1;
  t.match(await authn(auth, 'tok'), { reason: 'not-yet-valid' });
  t.equal(fake.calls.length, 1, 'cached before nbf');
  clock.now = nbf * 1000;
  t.match(await authn(auth, 'tok'), { outcome: 'ok', identity: { user: 'alice' } });
  t.equal(fake.calls.length, 2, 'asked again at nbf');
});

t.test('fractional exp and nbf are honoured to the millisecond', async (t) => {
  const fake = await fakeEndpoint(t, table({ tok: { ...ALICE, nbf: SEC(T0) - 0.5, exp: SEC(T0) + 0.25 } }));
  const { auth, clock } = make(t, fake);
  clock.now = SEC(T0) * 1000;
  t.match(await authn(auth, 'tok'), { outcome: 'ok' });
  clock.now = SEC(T0) * 1000 + 249;
  t.match(await authn(auth, 'tok'), { outcome: 'ok' });
  t.equal(fake.calls.length, 1);
  clock.now = SEC(T0) * 1000 + 250;
  t.match(await authn(auth, 'tok'), { reason: 'expired' });
  t.equal(fake.calls.length, 2);
});

t.test('no user claim: 401 missing-user-claim', async (t) => {
  const fake = await fakeEndpoint(t, table({ tok: { active: true, client_id: 'svc', scope: 'a' } }));
  const { auth } = make(t, fake);
  t.same(await authn(auth, 'tok'), rejected('missing-user-claim', 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS', 'invalid token'));
});

t.test('the claims mapping decides where the user comes from (client_id for client_credentials tokens)', async (t) => {
  const fake = await fakeEndpoint(t, table({ tok: { active: true, client_id: 'billing-svc', scope: 'invoices:read' } }));
  const { auth } = make(t, fake, { claims: { user: 'client_id', scopes: 'scope' } });
  t.match(await authn(auth, 'tok'), { outcome: 'ok', identity: { user: 'billing-svc', scopes: ['invoices:read'], method: 'introspection' } });
});

t.test('token_type Bearer (any case) or access_token is accepted', async (t) => {
  const fake = await fakeEndpoint(t, (call, res) => sendJson(res, { ...ALICE, token_type: call.token }));
  const { auth } = make(t, fake);
  for (const type of ['Bearer', 'bearer', 'BEARER', 'access_token']) t.match(await authn(auth, type), { outcome: 'ok' }, type);
});

t.test('sender-constrained or non-Bearer tokens presented as Bearer: 401 unsupported token type', async (t) => {
  const answers = {
    dpop: { ...ALICE, token_type: 'DPoP' },
    refresh: { ...ALICE, token_type: 'refresh_token' },
    numeric: { ...ALICE, token_type: 1 },
    jkt: { ...ALICE, cnf: { jkt: 'abc' } },
    mtls: { ...ALICE, token_type: 'Bearer', cnf: { 'x5t#S256': 'abc' } },
  };
  const fake = await fakeEndpoint(t, table(answers));
  const { auth } = make(t, fake);
  const expected = rejected('unsupported-token-type', 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS', 'unsupported token type');
  for (const token of Object.keys(answers)) t.same(await authn(auth, token), expected, token);
});

// ---------------------------------------------------------------- cache

t.test('an active answer is reused for cacheTtl, then the endpoint is asked again', async (t) => {
  const fake = await fakeEndpoint(t, table({ 'tok-alice': ALICE }));
  const { auth, clock } = make(t, fake, { cacheTtlMs: 5_000 });
  const first = await authn(auth, 'tok-alice');
  clock.now = T0 + 4_999;
  t.equal(await authn(auth, 'tok-alice'), first, 'the very same result');
  t.equal(fake.calls.length, 1);
  clock.now = T0 + 5_000;
  t.match(await authn(auth, 'tok-alice'), { outcome: 'ok' });
  t.equal(fake.calls.length, 2);
});

t.test('an active answer is never reused past the token\'s exp', async (t) => {
  const exp = SEC(T0) + 2;
  let active = true;
  const fake = await fakeEndpoint(t, (_call, res) => sendJson(res, { ...ALICE, active, exp }));
  const { auth, clock } = make(t, fake, { cacheTtlMs: 60_000 });
  t.match(await authn(auth, 'tok'), { outcome: 'ok' });
  clock.now = exp * 1000 - 1;
  t.match(await authn(auth, 'tok'), { outcome: 'ok' });
  t.equal(fake.calls.length, 1);
  clock.now = exp * 1000;
  active = false;
  t.same(await authn(auth, 'tok'), INACTIVE);
  t.equal(fake.calls.length, 2, 'asked again at exp, well before cacheTtl');
});

t.test(`a rejection is remembered for at most ${MAX_NEGATIVE_CACHE_MS} ms, even with a longer cacheTtl`, async (t) => {
  const fake = await fakeEndpoint(t, table({}));
  const { auth, clock } = make(t, fake, { cacheTtlMs: 60_000 });
  t.same(await authn(auth, 'nope'), INACTIVE);
  clock.now = T0 + MAX_NEGATIVE_CACHE_MS - 1;
  t.same(await authn(auth, 'nope'), INACTIVE);
  t.equal(fake.calls.length, 1);
  clock.now = T0 + MAX_NEGATIVE_CACHE_MS;
  t.same(await authn(auth, 'nope'), INACTIVE);
  t.equal(fake.calls.length, 2);
});

t.test('a rejection is remembered for cacheTtl when that is shorter than 10 s', async (t) => {
  const fake = await fakeEndpoint(t, table({}));
  const { auth, clock } = make(t, fake, { cacheTtlMs: 3_000 });
  await authn(auth, 'nope');
  clock.now = T0 + 2_999;
  await authn(auth, 'nope');
  t.equal(fake.calls.length, 1);
  clock.now = T0 + 3_000;
  await authn(auth, 'nope');
  t.equal(fake.calls.length, 2);
});

t.test('expired answers are remembered like other rejections', async (t) => {
  const fake = await fakeEndpoint(t, table({ tok: { ...ALICE, exp: SEC(T0) - 60 } }));
  const { auth, clock } = make(t, fake);
  await authn(auth, 'tok');
  clock.now = T0 + 9_000;
  t.match(await authn(auth, 'tok'), { reason: 'expired' });
  t.equal(fake.calls.length, 1);
});

t.test('cacheTtl 0: every request asks the endpoint', async (t) => {
  const fake = await fakeEndpoint(t, table({ 'tok-alice': ALICE }));
  const { auth } = make(t, fake, { cacheTtlMs: 0 });
  await authn(auth, 'tok-alice');
  await authn(auth, 'tok-alice');
  await authn(auth, 'nope');
  await authn(auth, 'nope');
  t.equal(fake.calls.length, 4);
});

t.test('different tokens are cached apart', async (t) => {
  const fake = await fakeEndpoint(t, table({ a: { active: true, sub: 'a' }, b: { active: true, sub: 'b' } }));
  const { auth } = make(t, fake);
  t.match(await authn(auth, 'a'), { identity: { user: 'a' } });
  t.match(await authn(auth, 'b'), { identity: { user: 'b' } });
  t.match(await authn(auth, 'a'), { identity: { user: 'a' } });
  t.match(await authn(auth, 'b'), { identity: { user: 'b' } });
  t.equal(fake.calls.length, 2);
});

t.test('close() empties the cache', async (t) => {
  const fake = await fakeEndpoint(t, table({ 'tok-alice': ALICE }));
  const agent = new Agent();
  t.teardown(() => agent.close());
  const { auth } = make(t, fake, {}, agent);
  await authn(auth, 'tok-alice');
  await auth.close!();
  await authn(auth, 'tok-alice');
  t.equal(fake.calls.length, 2, 'asked again after close');
});

// ---------------------------------------------------------------- concurrency

t.test('concurrent requests with one token share one call', async (t) => {
  const pending: Array<() => void> = [];
  const fake = await fakeEndpoint(t, (_call, res) => pending.push(() => sendJson(res, ALICE)));
  const { auth } = make(t, fake);
  const all = Promise.all(Array.from({ length: 5 }, () => authn(auth, 'tok-alice')));
  while (fake.calls.length === 0) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 30)); // room for (wrong) extra calls to arrive
  t.equal(fake.calls.length, 1);
  pending.shift()!();
  const results = await all;
  t.match(results[0], { outcome: 'ok', identity: { user: 'alice' } });
  for (const r of results) t.equal(r, results[0]);
});

t.test('concurrent requests with different tokens each get their own call', async (t) => {
  const fake = await fakeEndpoint(t, (call, res) => setTimeout(() => sendJson(res, { active: true, sub: call.token }), 20));
  const { auth } = make(t, fake);
  const results = await Promise.all(['a', 'b', 'a', 'c'].map((tok) => authn(auth, tok)));
  t.same(
    results.map((r) => (r.outcome === 'ok' ? r.identity.user : r.outcome)),
    ['a', 'b', 'a', 'c'],
  );
  t.same(fake.calls.map((c) => c.token).sort(), ['a', 'b', 'c']);
});

t.test('concurrent requests share an outage too, and the next request asks again', async (t) => {
  let fail = true;
  const fake = await fakeEndpoint(t, (_call, res) => setTimeout(() => (fail ? sendJson(res, 'down', 500) : sendJson(res, ALICE)), 20));
  const { auth } = make(t, fake);
  const results = await Promise.all([authn(auth, 'tok'), authn(auth, 'tok')]);
  t.same(results, [UNAVAILABLE, UNAVAILABLE]);
  t.equal(fake.calls.length, 1);
  fail = false;
  t.match(await authn(auth, 'tok'), { outcome: 'ok' });
  t.equal(fake.calls.length, 2);
});

// ---------------------------------------------------------------- outages: 503, never 401, never cached

const outages: Array<[string, Handler, string]> = [
  ['HTTP 400 with another error', (_c, res) => sendJson(res, { error: 'invalid_request' }, 400), 'http-400'],
  ['HTTP 400 without a JSON body', (_c, res) => sendJson(res, 'bad request', 400), 'http-400'],
  ['HTTP 500', (_c, res) => sendJson(res, { error: 'oops' }, 500), 'http-500'],
  ['HTTP 401 (our client credentials refused)', (_c, res) => sendJson(res, { error: 'invalid_client' }, 401), 'http-401'],
  ['HTTP 302 (redirects are not followed)', (_c, res) => { res.writeHead(302, { location: '/elsewhere' }); res.end(); }, 'http-302'],
  ['HTTP 204', (_c, res) => { res.writeHead(204); res.end(); }, 'http-204'],
  ['a body that is not JSON', (_c, res) => sendJson(res, '<html>login</html>'), 'not-json'],
  ['an empty body', (_c, res) => sendJson(res, ''), 'not-json'],
  ['a body that is not UTF-8', (_c, res) => { res.writeHead(200); res.end(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])); }, 'not-json'],
  ['a JSON array', (_c, res) => sendJson(res, [{ active: true }]), 'not-object'],
  ['JSON null', (_c, res) => sendJson(res, 'null'), 'not-object'],
  ['a JSON string', (_c, res) => sendJson(res, '"active"'), 'not-object'],
  ['an answer over 64 KiB', (_c, res) => sendJson(res, { ...ALICE, pad: 'x'.repeat(MAX_RESPONSE_BYTES) }), 'response-too-large'],
  ['an active answer whose exp is not a number', (_c, res) => sendJson(res, { ...ALICE, exp: String(SEC(T0) + 60) }), 'invalid-exp'],
  ['an active answer whose nbf is not a number', (_c, res) => sendJson(res, { ...ALICE, nbf: true }), 'invalid-nbf'],
  ['a connection closed without an answer', (_c, res) => res.socket?.destroy(), 'UND_ERR_SOCKET'],
];

for (const [what, handler, lastError] of outages) {
  t.test(`endpoint outage, ${what}: 503 without invalid_token, not cached, health failing (${lastError})`, async (t) => {
    const fake = await fakeEndpoint(t, handler);
    const { auth } = make(t, fake);
    t.same(await authn(auth, 'tok-alice'), UNAVAILABLE);
    t.same(auth.health!(), { introspection: 'failing', lastError });
    t.same(await authn(auth, 'tok-alice'), UNAVAILABLE);
    t.equal(fake.calls.length, 2, 'not cached');
    fake.handler = table({ 'tok-alice': ALICE });
    t.match(await authn(auth, 'tok-alice'), { outcome: 'ok' });
    t.same(auth.health!(), { introspection: 'ok' }, 'recovers with the first good answer');
  });
}

t.test('HTTP 400 unsupported_token_type is about the token: 401 inactive, endpoint still ok, remembered', async (t) => {
  // oidc-provider answers so for any JWT-shaped token (RFC 7009 §2.2.1's error code).
  const fake = await fakeEndpoint(t, (_c, res) => sendJson(res, { error: 'unsupported_token_type', error_description: 'Structured JWT Tokens cannot be introspected' }, 400));
  const { auth } = make(t, fake);
  t.same(await authn(auth, 'eyJhbGciOiJub25lIn0.e30.x'), INACTIVE);
  t.same(auth.health!(), { introspection: 'ok' });
  t.same(await authn(auth, 'eyJhbGciOiJub25lIn0.e30.x'), INACTIVE);
  t.equal(fake.calls.length, 1);
});

t.test('a 64 KiB answer is still read', async (t) => {
  const base = JSON.stringify({ ...ALICE, pad: '' });
  const fake = await fakeEndpoint(t, (_c, res) => sendJson(res, { ...ALICE, pad: 'x'.repeat(MAX_RESPONSE_BYTES - base.length) }));
  const { auth } = make(t, fake);
  t.match(await authn(auth, 'tok'), { outcome: 'ok' });
});

t.test('an endpoint that accepts and never answers: 503 after timeoutMs', async (t) => {
  const fake = await fakeEndpoint(t, () => {});
  const { auth } = make(t, fake, { timeoutMs: 150 });
  const start = performance.now();
  t.same(await authn(auth, 'tok'), UNAVAILABLE);
  const took = performance.now() - start;
  t.ok(took >= 140 && took < 1_500, `took ${Math.round(took)} ms`);
  t.same(auth.health!(), { introspection: 'failing', lastError: 'timeout' });
});

t.test('an endpoint that stalls in the middle of its body: 503 after timeoutMs', async (t) => {
  const fake = await fakeEndpoint(t, (_c, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"active": true, ');
  });
  const { auth } = make(t, fake, { timeoutMs: 150 });
  t.same(await authn(auth, 'tok'), UNAVAILABLE);
  t.same(auth.health!(), { introspection: 'failing', lastError: 'timeout' });
});

t.test('nobody listening: 503, health names the connection error', async (t) => {
  const server = http.createServer();
  const port = await listen(server);
  await new Promise((r) => server.close(r));
  const { auth } = make(t, { url: `http://127.0.0.1:${port}/introspect` });
  t.same(await authn(auth, 'tok'), UNAVAILABLE);
  t.same(auth.health!(), { introspection: 'failing', lastError: 'ECONNREFUSED' });
});

t.test('an error without a code still gives a short, fixed lastError', async (t) => {
  class Broken extends Dispatcher {
    override dispatch(): boolean {
      throw new Error(`boom ${SECRET} http://user:pw@idp.internal/`);
    }
  }
  const { auth } = make(t, { url: 'https://idp.example.com/introspect' }, {}, new Broken());
  t.same(await authn(auth, 'tok'), UNAVAILABLE);
  t.same(auth.health!(), { introspection: 'failing', lastError: 'request-failed' });
});

t.test('health is ok before the first call', async (t) => {
  const { auth } = make(t, { url: 'https://idp.example.com/introspect' });
  t.same(auth.health!(), { introspection: 'ok' });
});

// ---------------------------------------------------------------- TLS

const pem = (name: string): string => readFileSync(new URL(`../../fixtures/config/valid/pem/${name}`, import.meta.url), 'utf8');

t.test('https with the configured CA and a client certificate (mTLS)', async (t) => {
  // The user is the CN of the client certificate the endpoint saw: proof that it was sent.
  const fake = await fakeEndpoint(
    t,
    (_call, res) => sendJson(res, { ...ALICE, sub: (res.socket as TLSSocket).getPeerCertificate().subject?.CN }),
    { tls: { cert: pem('server.crt'), key: pem('server.key'), ca: pem('ca.crt'), requestCert: true, rejectUnauthorized: true } },
  );
  const { auth } = make(t, fake, { tls: { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key'), rejectUnauthorized: true } });
  t.match(await authn(auth, 'tok'), { outcome: 'ok', identity: { user: 'gatehouse client' } });
});

t.test('https whose certificate does not chain to a trusted CA: 503, lastError a certificate code', async (t) => {
  const fake = await fakeEndpoint(t, table({ tok: ALICE }), { tls: { cert: pem('server.crt'), key: pem('server.key') } });
  const { auth } = make(t, fake);
  t.same(await authn(auth, 'tok'), UNAVAILABLE);
  const health = auth.health!() as { lastError: string };
  t.match(health.lastError, /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|DEPTH_ZERO_SELF_SIGNED_CERT)$/);
  t.equal(fake.calls.length, 0, 'no request was sent over an unverified connection');
});

t.test('tls.rejectUnauthorized false accepts any certificate (tests only)', async (t) => {
  const fake = await fakeEndpoint(t, table({ tok: ALICE }), { tls: { cert: pem('server.crt'), key: pem('server.key') } });
  const { auth } = make(t, fake, { tls: { rejectUnauthorized: false } });
  t.match(await authn(auth, 'tok'), { outcome: 'ok' });
});

// ---------------------------------------------------------------- challenges

t.test('challenge and scopeChallenge', async (t) => {
  const { auth } = make(t, { url: 'https://idp.example.com/introspect' }, { realm: 'Orders "API" \\ v2' });
  t.equal(auth.challenge, 'Bearer realm="Orders \\"API\\" \\\\ v2"');
  t.equal(auth.type, 'introspection');
  t.equal(auth.name, 'opaque');
  t.equal(auth.scopeChallenge!(['orders:read', 'orders:write']), 'Bearer realm="Orders \\"API\\" \\\\ v2", error="insufficient_scope", scope="orders:read orders:write"');
  t.equal(auth.scopeChallenge!(['a']), 'Bearer realm="Orders \\"API\\" \\\\ v2", error="insufficient_scope", scope="a"');
});

// ---------------------------------------------------------------- options

t.test('options are checked at creation, and errors name neither the secret nor the URL', async (t) => {
  const base: IntrospectionAuthenticatorOptions = {
    name: 'opaque',
    realm: 'api',
    endpoint: 'https://idp.example.com/introspect',
    clientId: 'gatehouse',
    clientSecret: SECRET,
    cacheTtlMs: 60_000,
    timeoutMs: 5_000,
    claims: { user: 'sub' },
    cache: { maxEntries: 10 },
  };
  const bad: Array<[string, Partial<IntrospectionAuthenticatorOptions>, RegExp]> = [
    ['empty name', { name: '' }, /name must be a non-empty string/],
    ['realm with a control character', { realm: 'a\nb' }, /realm must be printable Latin-1/],
    ['realm beyond Latin-1', { realm: 'caf\u0113' }, /realm must be printable Latin-1/],
    ['not a URL', { endpoint: `not a url ${SECRET}` }, /endpoint is not a URL/],
    ['credentials in the URL', { endpoint: `https://gatehouse:${encodeURIComponent(SECRET)}@idp.example.com/introspect` }, /must not carry credentials/],
    ['only a user name in the URL', { endpoint: 'https://gatehouse@idp.example.com/introspect' }, /must not carry credentials/],
    ['plain http to another host', { endpoint: 'http://idp.example.com/introspect' }, /must be an https URL \(http only on loopback\)/],
    ['plain http to a private address', { endpoint: 'http://10.0.0.1/introspect' }, /must be an https URL/],
    ['another scheme', { endpoint: 'ftp://127.0.0.1/introspect' }, /must be an https URL/],
    ['empty clientId', { clientId: '' }, /clientId must be a non-empty string/],
    ['empty clientSecret', { clientSecret: '' }, /clientSecret must be a non-empty string/],
    ['negative cacheTtl', { cacheTtlMs: -1 }, /cacheTtlMs must be a non-negative number/],
    ['NaN cacheTtl', { cacheTtlMs: Number.NaN }, /cacheTtlMs must be a non-negative number/],
    ['infinite cacheTtl', { cacheTtlMs: Infinity }, /cacheTtlMs must be a non-negative number/],
    ['zero timeout', { timeoutMs: 0 }, /timeoutMs must be a positive number/],
    ['infinite timeout', { timeoutMs: Infinity }, /timeoutMs must be a positive number/],
    ['no user claim', { claims: { user: '' } }, /claims.user must be set/],
  ];
  for (const [what, override, message] of bad) {
    let caught: unknown;
    try {
      createIntrospectionAuthenticator({ ...base, ...override });
    } catch (err) {
      caught = err;
    }
    t.type(caught, Error, what);
    t.match((caught as Error).message, message, what);
    t.notMatch((caught as Error).message, SECRET, `${what}: no secret`);
    t.notMatch((caught as Error).message, encodeURIComponent(SECRET), `${what}: no encoded secret`);
    t.notMatch((caught as Error).message, /idp\.example\.com|10\.0\.0\.1|127\.0\.0\.1/, `${what}: no URL`);
  }
});

t.test('http is accepted towards loopback addresses only', async (t) => {
  for (const endpoint of ['http://127.0.0.1:1/i', 'http://127.5.6.7/i', 'http://localhost:8080/i', 'http://[::1]:9/i', 'https://idp.example.com/i']) {
    const auth = createIntrospectionAuthenticator({
      name: 'x',
      realm: 'x',
      endpoint,
      clientId: 'c',
      clientSecret: 's',
      cacheTtlMs: 0,
      timeoutMs: 1,
      claims: { user: 'sub' },
      cache: { maxEntries: 1 },
    });
    t.equal(auth.type, 'introspection', endpoint);
    await auth.close!();
  }
});

t.test('close() leaves a dispatcher it was given open', async (t) => {
  const fake = await fakeEndpoint(t, table({ tok: ALICE }));
  const agent = new Agent();
  t.teardown(() => agent.close());
  const { auth } = make(t, fake, {}, agent);
  await auth.close!();
  t.equal(agent.closed, false);
  t.equal(agent.destroyed, false);
});

t.test('close() closes its own agent: later calls are outages, not crashes', async (t) => {
  const fake = await fakeEndpoint(t, table({ tok: ALICE }));
  const { auth } = make(t, fake);
  t.match(await authn(auth, 'tok'), { outcome: 'ok' });
  await auth.close!();
  await auth.close!(); // twice: a reload and a shutdown may both close it
  t.same(await authn(auth, 'tok'), UNAVAILABLE);
  t.same(auth.health!(), { introspection: 'failing', lastError: 'UND_ERR_DESTROYED' });
});

// ---------------------------------------------------------------- secrecy (security.md §13)

t.test('no result, health() or output carries the client secret or a token', async (t) => {
  const captured: string[] = [];
  const restore: Array<() => void> = [];
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      captured.push(String(chunk));
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restore.push(() => {
      stream.write = write;
    });
  }
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const orig = console[level];
    console[level] = (...args: unknown[]) => {
      captured.push(args.map(String).join(' '));
    };
    restore.push(() => {
      console[level] = orig;
    });
  }
  try {
    // One of each outcome, with the output watched.
    const fake = await fakeEndpoint(t, (call, res) => {
      if (call.token === 'tok-500') return sendJson(res, { error: SECRET }, 500);
      if (call.token === 'tok-bad') return sendJson(res, `{"x": "${SECRET}"`);
      return table({ 'tok-alice': ALICE, 'tok-old': { ...ALICE, exp: 1 } })(call, res);
    });
    const { auth } = make(t, fake, { timeoutMs: 200 });
    for (const tok of ['tok-alice', 'tok-nope', 'tok-old', 'tok-500', 'tok-bad', `tok-${'Zq9'.repeat(MAX_TOKEN_LENGTH / 3)}`]) await authn(auth, tok);
    seen.push(await auth.authenticate(facts('Bearer a b c')));
  } finally {
    for (const r of restore) r();
  }
  const text = JSON.stringify(seen) + captured.join('\n');
  t.ok(seen.length > 50, `checked ${seen.length} results and health reports`);
  t.notOk(text.includes(SECRET), 'no client secret');
  t.notOk(text.includes(encodeURIComponent(SECRET)), 'no encoded client secret');
  t.notOk(text.includes(Buffer.from(SECRET).toString('base64')), 'no base64 of the secret');
  // Tokens named tok-… never double as claim values in these tests, so any sighting is a leak.
  const tokens = [...usedTokens].filter((tok) => tok.startsWith('tok-'));
  t.ok(tokens.length >= 6, `looked for ${tokens.length} tokens`);
  t.same(tokens.filter((tok) => text.includes(tok)), [], 'no token');
});
