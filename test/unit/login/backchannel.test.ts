// The validation matrix of OpenID Connect Back-Channel Logout 1.0 §2.4/§2.6 logout
// tokens, against hand-made tokens and a JWKS server on loopback. The end-to-end path
// with tokens signed by a real OP's key is in test/integration/oidc-login.test.ts.
import { createHash } from 'node:crypto';
import t from 'tap';
import {
  BACKCHANNEL_LOGOUT_EVENT,
  createBackchannelLogout,
  logoutTokenAlgorithms,
  verifyLogoutToken,
  type BackchannelLogoutOptions,
  type OpSigningMetadata,
} from '../../../src/login/backchannel.js';
import type { LoginAnswer, LoginRequest } from '../../../src/login/types.js';
import { keySetFromJwks } from '../../../src/jwt/key-set.js';
import type { SessionStore } from '../../../src/sessions/types.js';
import { sleep } from '../../helpers/wait.js';
import { startJwksServer, type JwksServer } from '../jwt/jwks-server.js';
import { b64u, facts, handToken, json, makeKey, type TestKey } from '../jwt/tokens.js';

const ISSUER = 'https://op.example.com';
const CLIENT_ID = 'gatehouse';
const NOW = Date.UTC(2030, 0, 1);
const NOW_S = NOW / 1000;
const EVENTS = { [BACKCHANNEL_LOGOUT_EVENT]: {} };

// ---------------------------------------------------------------- a recording store

interface StoreCalls {
  putOnce: Array<[string, string, number]>;
  take: string[];
  deleteByOidc: Array<[string, { sid?: string; sub?: string }]>;
}

function fakeStore(fail: { putOnce?: boolean; deleteByOidc?: boolean; take?: boolean } = {}): SessionStore & { calls: StoreCalls; once: Map<string, string> } {
  const once = new Map<string, string>();
  const calls: StoreCalls = { putOnce: [], take: [], deleteByOidc: [] };
  const down = (): Promise<never> => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
  const unused = (): never => {
    throw new Error('not used by back-channel logout');
  };
  return {
    kind: 'memory',
    calls,
    once,
    create: unused,
    get: unused,
    touch: unused,
    replace: unused,
    delete: unused,
    deleteByUser: unused,
    list: unused,
    acquireLock: unused,
    releaseLock: unused,
    health: () => ({ ok: true, store: 'memory' }),
    close: async () => {},
    async putOnce(key, value, ttlMs) {
      calls.putOnce.push([key, value, ttlMs]);
      if (fail.putOnce === true) return down();
      if (once.has(key)) return false;
      once.set(key, value);
      return true;
    },
    async take(key) {
      calls.take.push(key);
      if (fail.take === true) return down();
      const v = once.get(key);
      once.delete(key);
      return v;
    },
    async deleteByOidc(provider, match) {
      calls.deleteByOidc.push([provider, match]);
      if (fail.deleteByOidc === true) return down();
      return 2;
    },
  };
}

// ---------------------------------------------------------------- keys and tokens

let rsa: TestKey;
let rsaOther: TestKey;
let ec: TestKey;
let jwksServer: JwksServer;

const jwksBody = (...keys: TestKey[]): string => JSON.stringify({ keys: keys.map((k) => ({ ...k.jwk, use: 'sig' })) });

t.before(async () => {
  rsa = await makeKey('RS256', 'op-1');
  rsaOther = await makeKey('RS256', 'op-1'); // same kid, other key: a forgery
  ec = await makeKey('ES256', 'op-ec');
  jwksServer = await startJwksServer({ body: jwksBody(rsa, ec) });
});
t.teardown(() => jwksServer.close());

const baseClaims = (): Record<string, unknown> => ({
  iss: ISSUER,
  aud: CLIENT_ID,
  iat: NOW_S - 5,
  exp: NOW_S + 120,
  jti: 'jti-1',
  sid: 'op-session-1',
  events: EVENTS,
});

let jtiCounter = 0;
/** A logout token signed by the OP's RSA key; claims override (undefined removes). */
function token(overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: TestKey = rsa): string {
  const claims: Record<string, unknown> = { ...baseClaims(), jti: `jti-${++jtiCounter}`, ...overrides };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  const h: Record<string, unknown> = { alg: key.alg, kid: key.jwk.kid, typ: 'logout+jwt', ...header };
  for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k];
  return handToken(h.alg as string, key.privateKey, h, claims);
}

const metadata = (over: Partial<OpSigningMetadata> = {}): OpSigningMetadata => ({
  issuer: ISSUER,
  jwksUri: jwksServer.url,
  algorithms: ['RS256', 'ES256', 'HS256', 'none'],
  ...over,
});

function handler(
  t: { teardown(fn: () => unknown): void },
  store: SessionStore,
  over: Partial<BackchannelLogoutOptions> = {},
): ReturnType<typeof createBackchannelLogout> {
  const bcl = createBackchannelLogout({
    provider: 'corp',
    clientId: CLIENT_ID,
    store,
    metadata: () => metadata(),
    jwks: { cooldownMs: 1, minRefetchIntervalMs: 1, timeoutMs: 2_000 },
    ...over,
  });
  t.teardown(() => bcl.close());
  return bcl;
}

function post(form: Record<string, string | string[]> | undefined, method = 'POST', now = NOW): LoginRequest {
  let body: URLSearchParams | undefined;
  if (form !== undefined) {
    body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const item of [v].flat()) body.append(k, item);
  }
  return { facts: { ...facts(), method, path: '/.gatehouse/backchannel-logout/corp' }, ...(body === undefined ? {} : { form: body }), requestId: 'req-1', now };
}

const sha = (s: string): string => createHash('sha256').update(s).digest('base64url');

const OK: Partial<LoginAnswer> = { status: 200, headers: { 'cache-control': 'no-store' }, body: '', contentType: 'text/plain; charset=utf-8' };

function invalid(reason: string, description: string): LoginAnswer {
  return {
    status: 400,
    headers: { 'cache-control': 'no-store' },
    body: JSON.stringify({ error: 'invalid_request', error_description: description }),
    contentType: 'application/json; charset=utf-8',
    reason: `GATEHOUSE_ERR_LOGOUT_TOKEN_INVALID:${reason}`,
  };
}

const INVALID_GENERIC = 'logout token is invalid';
const BAD_SIGNATURE = 'logout token signature is invalid';

// ---------------------------------------------------------------- accepted tokens

t.test('a valid token with sid: 200 no-store, sessions of that OP session deleted, jti remembered until exp + 60 s', async (t) => {
  const store = fakeStore();
  const bcl = handler(t, store);
  const tok = token({ jti: 'the-jti', sub: 'alice' });
  const answer = await bcl.handle(post({ logout_token: tok }));
  t.same(answer, { ...OK, reason: 'backchannel-logout:2' });
  t.same(store.calls.deleteByOidc, [['corp', { sid: 'op-session-1' }]], 'sid preferred over sub');
  t.same(store.calls.putOnce, [[`bcl-jti:corp:${sha('the-jti')}`, '1', 120_000 + 60_000]]);
  t.same(bcl.health(), { logoutJwks: 'ok' });

  const again = await bcl.handle(post({ logout_token: tok }));
  t.same(again, invalid('replayed', 'logout token was already used'), 'the same jti twice');
  t.equal(store.calls.deleteByOidc.length, 1, 'nothing deleted by the replay');
});

t.test('sub only: every session of the subject', async (t) => {
  const store = fakeStore();
  const answer = await handler(t, store).handle(post({ logout_token: token({ sid: undefined, sub: 'alice' }) }));
  t.equal(answer.status, 200);
  t.same(store.calls.deleteByOidc, [['corp', { sub: 'alice' }]]);
});

t.test('accepted variants: aud array, ES256, typ forms, no typ, iat within the 60 s skew, extra event members', async (t) => {
  const store = fakeStore();
  const bcl = handler(t, store);
  const cases: Array<[string, string]> = [
    ['aud as an array holding us', token({ aud: ['other', CLIENT_ID] })],
    ['ES256 key', token({}, {}, ec)],
    ['typ application/logout+jwt', token({}, { typ: 'application/logout+jwt' })],
    ['typ in upper case', token({}, { typ: 'LOGOUT+JWT' })],
    ['no typ', token({}, { typ: undefined })],
    ['no kid: every key is tried', token({}, { kid: undefined })],
    ['iat 59 s ahead', token({ iat: NOW_S + 59 })],
    ['event object with members and other events', token({ events: { [BACKCHANNEL_LOGOUT_EVENT]: { a: 1 }, 'urn:other': {} } })],
  ];
  for (const [what, tok] of cases) t.match(await bcl.handle(post({ logout_token: tok })), { status: 200 }, what);
});

// ---------------------------------------------------------------- refused tokens

t.test('refused: each §2.6 rule', async (t) => {
  const store = fakeStore();
  const bcl = handler(t, store);
  const cases: Array<[string, string, string, string]> = [
    ['wrong issuer', token({ iss: 'https://evil.example.com' }), 'bad-issuer', 'logout token issuer is not accepted'],
    ['no issuer', token({ iss: undefined }), 'bad-issuer', 'logout token issuer is not accepted'],
    ['wrong audience', token({ aud: 'someone-else' }), 'bad-audience', 'logout token audience is not accepted'],
    ['no audience', token({ aud: undefined }), 'bad-audience', 'logout token audience is not accepted'],
    ['no iat', token({ iat: undefined }), 'missing-iat', 'logout token has no iat'],
    ['iat 61 s ahead', token({ iat: NOW_S + 61 }), 'iat-in-future', 'logout token iat is in the future'],
    ['iat not a number', token({ iat: 'yesterday' }), 'bad-iat', INVALID_GENERIC],
    ['no exp', token({ exp: undefined }), 'missing-exp', 'logout token has no exp'],
    ['expired beyond the skew', token({ exp: NOW_S - 60 }), 'expired', 'logout token has expired'],
    ['nbf ahead', token({ nbf: NOW_S + 120 }), 'not-yet-valid', 'logout token is not valid yet'],
    ['no jti', token({ jti: undefined }), 'missing-jti', 'logout token has no jti'],
    ['empty jti', token({ jti: '' }), 'missing-jti', 'logout token has no jti'],
    ['jti a number', token({ jti: 7 }), 'missing-jti', 'logout token has no jti'],
    ['no events', token({ events: undefined }), 'bad-events', 'logout token has no backchannel-logout event'],
    ['events an array', token({ events: [BACKCHANNEL_LOGOUT_EVENT] }), 'bad-events', 'logout token has no backchannel-logout event'],
    ['events null', token({ events: null }), 'bad-events', 'logout token has no backchannel-logout event'],
    ['events without our member', token({ events: { 'urn:other': {} } }), 'bad-events', 'logout token has no backchannel-logout event'],
    ['event value true', token({ events: { [BACKCHANNEL_LOGOUT_EVENT]: true } }), 'bad-events', 'logout token has no backchannel-logout event'],
    ['event value an array', token({ events: { [BACKCHANNEL_LOGOUT_EVENT]: [] } }), 'bad-events', 'logout token has no backchannel-logout event'],
    ['neither sub nor sid', token({ sid: undefined, sub: undefined }), 'missing-sub-and-sid', 'logout token has neither sub nor sid'],
    ['sub a number', token({ sid: undefined, sub: 42 }), 'bad-sub', INVALID_GENERIC],
    ['sid empty', token({ sid: '' }), 'bad-sid', INVALID_GENERIC],
    ['a nonce', token({ nonce: 'n-1' }), 'nonce-present', 'logout token must not contain a nonce'],
    ['typ JWT', token({}, { typ: 'JWT' }), 'bad-typ', 'logout token typ is not logout+jwt'],
    ['typ a number', token({}, { typ: 1 }), 'bad-typ', 'logout token typ is not logout+jwt'],
  ];
  for (const [what, tok, reason, description] of cases) t.same(await bcl.handle(post({ logout_token: tok })), invalid(reason, description), what);
  t.same(store.calls.deleteByOidc, [], 'nothing deleted');
  t.same(store.calls.putOnce, [], 'no jti remembered for a refused token');
});

t.test('refused: signature, algorithm and header rules', async (t) => {
  const store = fakeStore();
  const bcl = handler(t, store);
  const hs = Buffer.alloc(32, 7);
  const forged = token({}, {}, rsaOther);
  const [h, p] = token().split('.');
  const cases: Array<[string, string, string, string]> = [
    ['signed by another key with the OP kid', forged, 'bad-signature', BAD_SIGNATURE],
    ['unknown kid', token({}, { kid: 'nobody' }), 'unknown-kid', BAD_SIGNATURE],
    ['ES256 header naming the RSA kid', token({}, { alg: 'ES256', kid: 'op-1' }, ec), 'no-matching-key', BAD_SIGNATURE],
    ['HS256 (the client secret is never a logout key)', handToken('HS256', hs, { alg: 'HS256', typ: 'logout+jwt' }, baseClaims()), 'alg-not-allowed', 'logout token algorithm is not accepted'],
    ['alg none', `${json({ alg: 'none' })}.${json(baseClaims())}.${b64u('x')}`, 'alg-not-allowed', 'logout token algorithm is not accepted'],
    ['PS256, not published by the OP', token({}, { alg: 'PS256' }), 'alg-not-allowed', 'logout token algorithm is not accepted'],
    ['crit header', token({}, { crit: ['exp'] }), 'crit', INVALID_GENERIC],
    ['jku header', token({}, { jku: 'https://evil.example.com/jwks' }), 'forbidden-header', INVALID_GENERIC],
    ['kid a number', token({}, { kid: 5 }), 'bad-kid', INVALID_GENERIC],
    ['enc header (a JWE)', token({}, { enc: 'A128GCM' }), 'jwe', INVALID_GENERIC],
    ['not a JWS', 'not-a-token', 'bad-encoding', INVALID_GENERIC],
    ['five segments', 'a.b.c.d.e', 'jwe', INVALID_GENERIC],
    ['signature cut off', `${h}.${p}.`, 'bad-encoding', INVALID_GENERIC],
    ['payload not JSON', handToken('RS256', rsa.privateKey, { alg: 'RS256', kid: 'op-1' }, 'not json'), 'bad-claims', INVALID_GENERIC],
    ['duplicate claim', handToken('RS256', rsa.privateKey, { alg: 'RS256', kid: 'op-1' }, '{"sub":"a","sub":"b"}'), 'bad-claims', INVALID_GENERIC],
  ];
  for (const [what, tok, reason, description] of cases) t.same(await bcl.handle(post({ logout_token: tok })), invalid(reason, description), what);
  t.same(store.calls.putOnce, []);
});

t.test('request shape: POST only, one logout_token form field', async (t) => {
  const store = fakeStore();
  const bcl = handler(t, store);
  t.same(await bcl.handle(post({ logout_token: token() }, 'GET')), {
    status: 405,
    headers: { 'cache-control': 'no-store', allow: 'POST' },
    body: JSON.stringify({
      error: 'Method Not Allowed',
      code: 'GATEHOUSE_ERR_REQUEST_METHOD_NOT_ALLOWED',
      message: 'This method is not accepted by the gateway.',
      requestId: 'req-1',
    }),
    contentType: 'application/json; charset=utf-8',
    reason: 'method-not-allowed',
  });
  t.same(await bcl.handle(post(undefined)), invalid('missing-token', 'logout_token is missing'), 'no form body');
  t.same(await bcl.handle(post({ other: 'x' })), invalid('missing-token', 'logout_token is missing'));
  t.same(await bcl.handle(post({ logout_token: '' })), invalid('missing-token', 'logout_token is missing'));
  t.same(await bcl.handle(post({ logout_token: [token(), token()] })), invalid('ambiguous-token', 'logout_token appears more than once'));
  t.same(store.calls.putOnce, []);
});

// ---------------------------------------------------------------- outages

const unavailable = (code: string, message: string, reason: string): LoginAnswer => ({
  status: 503,
  headers: { 'cache-control': 'no-store' },
  body: JSON.stringify({ error: 'Service Unavailable', code, message, requestId: 'req-1' }),
  contentType: 'application/json; charset=utf-8',
  reason,
});
const PROVIDER_DOWN = ['GATEHOUSE_ERR_LOGIN_PROVIDER_UNAVAILABLE', 'The sign-in provider is temporarily unavailable.'] as const;
const STORE_DOWN = ['GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE', 'Sessions are temporarily unavailable.'] as const;

t.test('OP not discovered yet: 503, nothing fetched', async (t) => {
  const bcl = handler(t, fakeStore(), { metadata: () => undefined });
  t.same(await bcl.handle(post({ logout_token: token() })), unavailable(...PROVIDER_DOWN, 'provider-not-discovered'));
  t.same(bcl.health(), {});
});

t.test('JWKS never fetched (endpoint down): 503, not 400', async (t) => {
  const down = await startJwksServer({ status: 500 });
  t.teardown(() => down.close());
  const bcl = handler(t, fakeStore(), { metadata: () => metadata({ jwksUri: down.url }) });
  t.same(await bcl.handle(post({ logout_token: token() })), unavailable(...PROVIDER_DOWN, 'jwks-unavailable'));
  t.same(bcl.health(), { logoutJwks: 'missing' });
});

t.test('store down when remembering the jti: 503', async (t) => {
  const store = fakeStore({ putOnce: true });
  t.same(await handler(t, store).handle(post({ logout_token: token() })), unavailable(...STORE_DOWN, 'store-unavailable'));
  t.same(store.calls.deleteByOidc, []);
});

t.test('store down when deleting: 503 and the jti is forgotten, so the OP retry is accepted', async (t) => {
  const store = fakeStore({ deleteByOidc: true });
  const bcl = handler(t, store);
  const tok = token({ jti: 'retry-me' });
  t.same(await bcl.handle(post({ logout_token: tok })), unavailable(...STORE_DOWN, 'store-unavailable'));
  t.same(store.calls.take, [`bcl-jti:corp:${sha('retry-me')}`]);
  t.equal(store.once.size, 0, 'jti forgotten');
  const again = await bcl.handle(post({ logout_token: tok }));
  t.same(again, unavailable(...STORE_DOWN, 'store-unavailable'), 'the retry is not called a replay');
});

t.test('store down for deleting and for forgetting: still 503', async (t) => {
  const store = fakeStore({ deleteByOidc: true, take: true });
  t.same(await handler(t, store).handle(post({ logout_token: token() })), unavailable(...STORE_DOWN, 'store-unavailable'));
});

t.test('closed: 503, the JWKS fetcher stopped', async (t) => {
  const bcl = handler(t, fakeStore());
  t.equal((await bcl.handle(post({ logout_token: token() }))).status, 200);
  await bcl.close();
  t.same(await bcl.handle(post({ logout_token: token() })), unavailable(...PROVIDER_DOWN, 'provider-not-discovered'));
});

// ---------------------------------------------------------------- keys

t.test('a key rotated in at the OP is found by one refetch', async (t) => {
  const rotating = await startJwksServer({ body: jwksBody(rsa) });
  t.teardown(() => rotating.close());
  const bcl = handler(t, fakeStore(), { metadata: () => metadata({ jwksUri: rotating.url }) });
  t.equal((await bcl.handle(post({ logout_token: token() }))).status, 200);
  const fresh = await makeKey('RS256', 'op-2');
  rotating.state.body = jwksBody(rsa, fresh);
  await sleep(5); // past the 1 ms cooldown
  const hits = rotating.state.hits;
  t.equal((await bcl.handle(post({ logout_token: token({}, {}, fresh) }))).status, 200);
  t.equal(rotating.state.hits, hits + 1);
});

t.test('logoutTokenAlgorithms: published asymmetric algorithms we verify; RS256 when the OP says nothing', async (t) => {
  t.same([...logoutTokenAlgorithms(undefined)], ['RS256']);
  t.same([...logoutTokenAlgorithms(['none', 'HS256', 'HS512', 'ES256', 'EdDSA', 'RSA-OAEP', 'toString'])], ['ES256', 'EdDSA']);
  t.same([...logoutTokenAlgorithms([])], []);
});

t.test('verifyLogoutToken with a fixed key set: claims handed back', async (t) => {
  const loaded = keySetFromJwks(jwksBody(rsa));
  if ('error' in loaded) throw new Error(loaded.error);
  const keys = { current: () => loaded.keySet, refetch: async () => loaded.keySet };
  const rules = { issuer: ISSUER, clientId: CLIENT_ID, algorithms: new Set(['RS256']), nowMs: NOW };
  t.same(await verifyLogoutToken(token({ jti: 'j', sub: 'alice' }), keys, rules), {
    ok: true,
    claims: { jti: 'j', expMs: (NOW_S + 120) * 1000, sub: 'alice', sid: 'op-session-1' },
  });
  t.same(await verifyLogoutToken(token({ jti: 'j', sid: undefined, sub: 'bob' }), keys, rules), {
    ok: true,
    claims: { jti: 'j', expMs: (NOW_S + 120) * 1000, sub: 'bob' },
  });
  const none = { current: () => undefined, refetch: async () => undefined };
  t.same(await verifyLogoutToken(token(), none, rules), { ok: false, reason: 'no-keys' });
  // A refetch that brings back no key set keeps the old one's verdict.
  const flaky = { current: () => loaded.keySet, refetch: async () => undefined };
  t.same(await verifyLogoutToken(token({}, { kid: 'other' }), flaky, rules), { ok: false, reason: 'unknown-kid' });
});
