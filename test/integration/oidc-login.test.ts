// The OIDC login provider against a real OpenID Provider on loopback: oidc-provider 9
// with its development login and consent pages, driven with fetch like a browser would.
import { createHash, generateKeyPairSync, KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import t from 'tap';
import type { CustomFetchOptions } from 'openid-client';
import { createOidcProvider, type OidcProviderOptions } from '../../src/login/oidc.js';
import type { LoginAnswer, LoginContext, LoginProvider, LoginRequest } from '../../src/login/types.js';
import type { CookieSettings } from '../../src/sessions/cookie.js';
import { freePort } from '../helpers/wait.js';
import { handToken } from '../unit/jwt/tokens.js';
import { createSessionManager, type SessionManager } from '../../src/sessions/manager.js';
import { createMemorySessionStore } from '../../src/sessions/memory-store.js';
import type { SessionStore, StoredSession } from '../../src/sessions/types.js';
import type { RequestFacts } from '../../src/pipeline/types.js';

const CLIENT_ID = 'gatehouse';
const CLIENT_SECRET = 'gatehouse-client-secret-0123456789';
const PUBLIC_CLIENT_ID = 'gatehouse-public';
const APP = 'https://app.example.com';
const COOKIE: CookieSettings = { name: '__Host-gatehouse', secure: true, sameSite: 'lax' };
const TX_COOKIE = '__Host-gatehouse-tx';
const ACCESS_TOKEN_TTL_S = 30;

// ---------------------------------------------------------------- the OP

const opKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const opJwk = { ...opKey.privateKey.export({ format: 'jwk' }), kid: 'op-key-1', alg: 'RS256', use: 'sig' };

let issuer = '';
let provider: Provider;
let tokenRequests = 0;
const opServer = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/token') tokenRequests += 1;
  void provider.callback()(req, res);
});

// Where the OP's own back-channel logout requests land: handed to `bclTarget`.
let bclTarget: LoginProvider | undefined;
const bclAnswers: LoginAnswer[] = [];
const rpServer = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const request: LoginRequest = {
      facts: facts({ method: 'POST', path: req.url!, query: '' }),
      form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      requestId: 'bcl',
      now: Date.now(),
    };
    void bclTarget!.backchannelLogout!(request).then((answer) => {
      bclAnswers.push(answer);
      res.writeHead(answer.status, { 'content-type': answer.contentType });
      res.end(answer.body);
    });
  });
});

interface Account {
  preferred_username: string;
  email: string;
  name: string;
  groups: string[];
  org: { roles: string[] };
}
const accounts: Record<string, Account> = {
  alice: { preferred_username: 'alice', email: 'alice@example.com', name: 'Alice Liddell', groups: ['staff', 'admin'], org: { roles: ['editor'] } },
  bob: { preferred_username: 'bob', email: 'bob@example.com', name: 'Bob', groups: [], org: { roles: [] } },
};

t.before(async () => {
  await new Promise<void>((resolve) => opServer.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => rpServer.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(opServer.address() as AddressInfo).port}`;
  const rp = `http://127.0.0.1:${(rpServer.address() as AddressInfo).port}`;
  provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [`${APP}/.gatehouse/callback/corp`, `${APP}/.gatehouse/callback/info`],
        post_logout_redirect_uris: [`${APP}/`],
        token_endpoint_auth_method: 'client_secret_basic',
        backchannel_logout_uri: `${rp}/.gatehouse/backchannel-logout/corp`,
        backchannel_logout_session_required: true,
      },
      {
        client_id: PUBLIC_CLIENT_ID,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [`${APP}/.gatehouse/callback/public`],
        token_endpoint_auth_method: 'none',
      },
    ],
    jwks: { keys: [opJwk] },
    findAccount: async (_ctx, id) => ({
      accountId: id,
      // Groups only at the userinfo endpoint, to show `userinfo: true` reading them.
      claims: async (use) => {
        const a = accounts[id]!;
        const { groups, ...rest } = a;
        return { sub: id, ...rest, ...(use === 'userinfo' ? { groups } : {}) };
      },
    }),
    claims: { openid: ['sub'], email: ['email'], profile: ['name', 'preferred_username'], groups: ['groups'], org: ['org'] },
    scopes: ['openid', 'email', 'profile', 'groups', 'org', 'offline_access'],
    // Scope claims in the ID token too, not only at userinfo.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
    },
    // Refresh tokens without offline_access (which needs prompt=consent each time).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    cookies: { keys: ['op-cookie-key-0123456789'] },
    // The OP refuses to call loopback addresses (SSRF protection); our back-channel
    // logout receiver is on loopback, so its requests go out without that dispatcher.
    fetch: (url, options) => {
      const { dispatcher: _d, ...rest } = options as RequestInit & { dispatcher?: unknown };
      return fetch(url, rest);
    },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL_S,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 86_400,
      Grant: 86_400,
      Interaction: 600,
      Session: 86_400,
    },
  });
});

t.teardown(async () => {
  for (const s of [opServer, rpServer]) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

// ---------------------------------------------------------------- gatehouse side

function facts(over: Partial<RequestFacts> = {}): RequestFacts {
  return {
    method: 'GET',
    scheme: 'https',
    authority: 'app.example.com',
    hostname: 'app.example.com',
    path: '/',
    query: '',
    headers: {},
    rawHeaders: [],
    peer: '127.0.0.1',
    peerTrusted: false,
    clientIp: '127.0.0.1',
    ...over,
  };
}

/** Answers a request to the OP instead of the OP (undefined: the real OP answers). */
type Hook = (url: URL, init: CustomFetchOptions) => Promise<Response | undefined> | Response | undefined;

interface Gate {
  store: SessionStore;
  manager: SessionManager;
  context: LoginContext;
  oidc: LoginProvider;
  /** Paths of every request gatehouse made to the OP. */
  fetches: string[];
  hook: Hook | undefined;
}

function gate(
  t: { teardown(fn: () => unknown): void },
  over: Partial<OidcProviderOptions> = {},
  extra: { store?: SessionStore; publicOrigins?: string[]; hook?: Hook } = {},
): Gate {
  const store = extra.store ?? createMemorySessionStore();
  const manager = createSessionManager({ store, cookie: COOKIE, secrets: [Buffer.alloc(32, 1)], maxAgeMs: 3_600_000, idleTimeoutMs: 1_800_000 });
  const context: LoginContext = {
    publicOrigins: extra.publicOrigins ?? [APP],
    allowedRedirectHosts: [],
    startSession: async (p, signIn, now) => (await manager.start(p, signIn, now)).setCookie,
    csrf: { issue: () => 'csrf', verify: () => true },
  };
  const g = { store, manager, context, fetches: [] as string[], hook: extra.hook } as Gate;
  g.oidc = createOidcProvider({
    name: 'corp',
    label: 'Corp SSO',
    issuer,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    scopes: ['openid', 'email', 'profile', 'org'],
    claims: { user: 'preferred_username', email: 'email', name: 'name', groups: 'groups' },
    userinfo: false,
    store,
    cookie: COOKIE,
    refreshBeforeMs: 60_000,
    timeoutMs: 2_000,
    fetch: async (url, init) => {
      const u = new URL(url);
      g.fetches.push(u.pathname);
      return (await g.hook?.(u, init)) ?? fetch(url, init as RequestInit);
    },
    ...over,
  });
  t.teardown(() => g.oidc.close!());
  return g;
}

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function ready(g: Gate): Promise<void> {
  await until(() => g.oidc.ready!());
}

const req = (over: Partial<RequestFacts> = {}, now = Date.now()): LoginRequest => ({ facts: facts(over), requestId: 'req-1', now });

/** The value of a cookie from a Set-Cookie header value. */
const cookieValue = (setCookie: string): string => setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));
const setCookies = (a: LoginAnswer): string[] => [a.headers['set-cookie'] ?? []].flat();

// A browser at the OP: a cookie jar (paths ignored: the OP's cookies are ours alone here).
class Browser {
  private readonly jar = new Map<string, string>();

  async fetch(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.jar.size > 0) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (init.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      headers,
      redirect: 'manual',
      ...(init.form === undefined ? {} : { body: new URLSearchParams(init.form).toString() }),
    });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.slice(0, c.indexOf(';'));
      const eq = pair.indexOf('=');
      this.jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  }

  /**
   * Follows the OP's redirects and fills its login and consent pages until the OP sends
   * the browser back to gatehouse; returns that URL. `abort` cancels at the login page.
   */
  async authorize(authorizationUrl: string, login: string, opts: { abort?: boolean } = {}): Promise<URL> {
    let url = authorizationUrl;
    for (let step = 0; step < 20; step++) {
      const res = await this.fetch(url);
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel();
        const next = new URL(res.headers.get('location')!, url);
        if (next.origin === APP) return next;
        url = next.href;
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`OP answered ${res.status}: ${html.slice(0, 300)}`);
      const action = new URL(/<form[^>]*action="([^"]+)"/.exec(html)![1]!, url).href;
      const prompt = /name="prompt" value="([a-z]+)"/.exec(html)![1]!;
      if (opts.abort === true) {
        url = `${action}/abort`;
        continue;
      }
      const form: Record<string, string> = prompt === 'login' ? { prompt, login, password: 'any' } : { prompt };
      const posted = await this.fetch(action, { method: 'POST', form });
      await posted.body?.cancel();
      if (posted.status !== 303) throw new Error(`interaction POST answered ${posted.status}`);
      url = new URL(posted.headers.get('location')!, action).href;
    }
    throw new Error('too many steps');
  }
}

interface Started {
  answer: LoginAnswer;
  authorizationUrl: URL;
  state: string;
}

async function startLogin(g: Gate, rd = '/app?x=1', over: Partial<RequestFacts> = {}): Promise<Started> {
  const answer = await g.oidc.login(req({ path: '/.gatehouse/login/corp', ...over }), rd, g.context);
  if (answer.status !== 302) throw new Error(`login answered ${answer.status}: ${answer.body}`);
  const authorizationUrl = new URL(answer.headers.location as string);
  return { answer, authorizationUrl, state: cookieValue(setCookies(answer)[0]!) };
}

function callbackRequest(returned: URL, cookies: string[], now = Date.now()): LoginRequest {
  return req(
    {
      path: returned.pathname,
      query: returned.search.slice(1),
      rawHeaders: cookies.length === 0 ? [] : ['Cookie', cookies.join('; ')],
    },
    now,
  );
}

/** A whole sign-in; returns the callback's answer and the session it made. */
async function signIn(g: Gate, user = 'alice', rd = '/app?x=1'): Promise<{ answer: LoginAnswer; session: StoredSession; started: Started; returned: URL }> {
  const started = await startLogin(g, rd);
  const returned = await new Browser().authorize(started.authorizationUrl.href, user);
  const answer = await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${started.state}`]), g.context);
  if (answer.status !== 303) throw new Error(`callback answered ${answer.status}: ${answer.reason}`);
  const lookup = await g.manager.resolve(['Cookie', setCookies(answer)[0]!.split(';')[0]!], Date.now());
  if (lookup.kind !== 'live') throw new Error('no live session after sign-in');
  return { answer, session: lookup.session, started, returned };
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('base64url');

const LOGIN_FAILED = (reason: string): Partial<LoginAnswer> => ({
  status: 400,
  reason,
  headers: { 'cache-control': 'no-store', 'set-cookie': `${TX_COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=Lax` },
  body: JSON.stringify({ error: 'Bad Request', code: 'GATEHOUSE_ERR_LOGIN_FAILED', message: 'The sign-in could not be completed; start again.', requestId: 'req-1' }),
  contentType: 'application/json; charset=utf-8',
});

// ---------------------------------------------------------------- tests

t.test('a full sign-in: PKCE S256, state, nonce, tx cookie; the session holds the mapped claims', async (t) => {
  const g = gate(t);
  await ready(g);
  t.equal(g.oidc.type, 'oidc');
  t.equal(g.oidc.label, 'Corp SSO');
  t.same(g.oidc.health!(), { discovery: 'ok' });
  const before = Date.now();
  const { answer, session, started } = await signIn(g);

  const q = started.authorizationUrl.searchParams;
  t.equal(`${started.authorizationUrl.origin}${started.authorizationUrl.pathname}`, `${issuer}/auth`);
  t.equal(q.get('client_id'), CLIENT_ID);
  t.equal(q.get('response_type'), 'code');
  t.equal(q.get('redirect_uri'), `${APP}/.gatehouse/callback/corp`);
  t.equal(q.get('scope'), 'openid email profile org');
  t.equal(q.get('code_challenge_method'), 'S256');
  t.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
  t.equal(q.get('state'), started.state);
  t.match(q.get('nonce'), /^[A-Za-z0-9_-]{43}$/);
  t.not(q.get('nonce'), started.state);
  t.same(started.answer.headers, {
    location: started.authorizationUrl.href,
    'set-cookie': `${TX_COOKIE}=${started.state}; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax`,
    'cache-control': 'no-store',
  });
  t.equal(started.answer.reason, 'redirect-to-op');

  t.equal(answer.status, 303);
  t.equal(answer.headers.location, '/app?x=1');
  t.equal(answer.headers['cache-control'], 'no-store');
  const cookies = setCookies(answer);
  t.equal(cookies.length, 2);
  t.match(cookies[0], /^__Host-gatehouse=[A-Za-z0-9_-]{43}\.[^;]+; Max-Age=3600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
  t.equal(cookies[1], LOGIN_FAILED('').headers!['set-cookie'], 'tx cookie cleared');
  t.equal(answer.reason, 'signed-in');
  t.equal(answer.user, 'alice');

  t.equal(session.user, 'alice');
  t.equal(session.email, 'alice@example.com');
  t.equal(session.name, 'Alice Liddell');
  t.same(session.groups, [], 'groups come from userinfo only, which is off');
  t.equal(session.provider, 'corp');
  t.equal(session.claims.iss, issuer);
  t.equal(session.claims.aud, CLIENT_ID);
  t.same(session.claims.org, { roles: ['editor'] });
  const oidc = session.oidc!;
  t.equal(oidc.sub, 'alice');
  t.match(oidc.sid, /^[A-Za-z0-9_-]+$/);
  t.match(oidc.idToken, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
  t.type(oidc.refreshToken, 'string');
  t.ok(oidc.accessTokenExpiresAt! >= before + (ACCESS_TOKEN_TTL_S - 2) * 1000 && oidc.accessTokenExpiresAt! <= Date.now() + ACCESS_TOKEN_TTL_S * 1000);
  t.notOk(JSON.stringify(answer).includes(oidc.idToken!), 'no token in the answer');
});

// ---------------------------------------------------------------- helpers for the failure cases

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const jsonResponse = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const htmlResponse = (status: number): Response => new Response('<html>proxy error</html>', { status, headers: { 'content-type': 'text/html' } });

/** An ID token signed with the OP's own key. */
function opSigned(claims: Record<string, unknown>, header: Record<string, unknown> = { typ: 'JWT' }, key: KeyObject = opKey.privateKey): string {
  return handToken('RS256', key, { alg: 'RS256', kid: 'op-key-1', ...header }, claims);
}

const nowS = (): number => Math.floor(Date.now() / 1000);

/** The discovery document with members removed. */
function trimmedDiscovery(...remove: string[]): Hook {
  return async (url, init) => {
    if (url.pathname !== '/.well-known/openid-configuration') return undefined;
    const doc = (await (await fetch(url, init as RequestInit)).json()) as Record<string, unknown>;
    for (const m of remove) delete doc[m];
    return jsonResponse(200, doc);
  };
}

/** Up to the OP's redirect back: the returned URL and the tx cookie value. */
async function toCallback(g: Gate, user = 'alice', rd = '/app'): Promise<{ returned: URL; state: string }> {
  const started = await startLogin(g, rd);
  return { returned: await new Browser().authorize(started.authorizationUrl.href, user), state: started.state };
}

const UNAVAILABLE = (code: string, message: string, reason: string, clearTx = true): Partial<LoginAnswer> => ({
  status: 503,
  reason,
  headers: { 'cache-control': 'no-store', ...(clearTx ? { 'set-cookie': LOGIN_FAILED('').headers!['set-cookie'] } : {}) },
  body: JSON.stringify({ error: 'Service Unavailable', code, message, requestId: 'req-1' }),
  contentType: 'application/json; charset=utf-8',
});
const OP_DOWN = (clearTx = true): Partial<LoginAnswer> =>
  UNAVAILABLE('GATEHOUSE_ERR_LOGIN_PROVIDER_UNAVAILABLE', 'The sign-in provider is temporarily unavailable.', 'op-unreachable', clearTx);
const STORE_DOWN = (clearTx = true): Partial<LoginAnswer> =>
  UNAVAILABLE('GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE', 'Sessions are temporarily unavailable.', 'store-unavailable', clearTx);

/** A memory store whose listed methods fail like an unreachable Redis (or answer as given). */
function brokenStore(over: Partial<Record<keyof SessionStore, unknown>>): SessionStore {
  const inner = createMemorySessionStore();
  const broken: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(over)) {
    broken[k] = v === 'down' ? () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) : v;
  }
  return new Proxy(inner, { get: (target, prop: string) => (prop in broken ? broken[prop] : (target as unknown as Record<string, unknown>)[prop]) });
}

// ---------------------------------------------------------------- callback failures

t.test('replay: the same callback twice; the second finds no transaction', async (t) => {
  const g = gate(t);
  await ready(g);
  const { returned, started } = await signIn(g);
  const again = await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${started.state}`]), g.context);
  t.same(again, LOGIN_FAILED('state-unknown'));
});

t.test('state and cookie: missing, different, doubled', async (t) => {
  const g = gate(t);
  await ready(g);
  const { returned, state } = await toCallback(g);
  const noState = new URL(returned);
  noState.searchParams.delete('state');
  const twoStates = new URL(returned);
  twoStates.searchParams.append('state', state);
  const emptyState = new URL(returned);
  emptyState.searchParams.set('state', '');
  const cases: Array<[string, URL, string[], string]> = [
    ['no tx cookie (another browser)', returned, [], 'tx-cookie-missing'],
    ['tx cookie of another login', returned, [`${TX_COOKIE}=${'x'.repeat(43)}`], 'state-mismatch'],
    ['tx cookie twice', returned, [`${TX_COOKIE}=${state}`, `${TX_COOKIE}=${state}`], 'tx-cookie-ambiguous'],
    ['no state parameter', noState, [`${TX_COOKIE}=${state}`], 'state-missing'],
    ['state parameter twice', twoStates, [`${TX_COOKIE}=${state}`], 'state-missing'],
    ['empty state parameter', emptyState, [`${TX_COOKIE}=`], 'state-missing'],
  ];
  for (const [what, url, cookies, reason] of cases) t.same(await g.oidc.callback!(callbackRequest(url, cookies), g.context), LOGIN_FAILED(reason), what);
  // None of those spent the transaction: the right browser still signs in.
  const ok = await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), g.context);
  t.equal(ok.status, 303);
});

async function tamper(g: Gate, state: string, change: (tx: Record<string, unknown>) => void): Promise<void> {
  const key = `oidc-tx:corp:${sha256(state)}`;
  const tx = JSON.parse((await g.store.take(key))!) as Record<string, unknown>;
  change(tx);
  await g.store.putOnce(key, JSON.stringify(tx), 600_000);
}

t.test('nonce mismatch: the ID token carries the nonce sent, not the stored one', async (t) => {
  const g = gate(t);
  await ready(g);
  const { returned, state } = await toCallback(g);
  await tamper(g, state, (tx) => (tx.nonce = 'another-nonce'));
  t.same(await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), g.context), LOGIN_FAILED('nonce-mismatch'));
});

t.test('PKCE mismatch: the OP refuses the code with another verifier', async (t) => {
  const g = gate(t);
  await ready(g);
  const { returned, state } = await toCallback(g);
  await tamper(g, state, (tx) => (tx.verifier = 'a'.repeat(43)));
  // oidc-provider says only "grant request is invalid" (RFC 7636 §4.6 asks for no more),
  // so the log cannot tell a PKCE failure from another refused code.
  t.same(await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), g.context), LOGIN_FAILED('invalid-grant'));
  // An OP that names the cause gets it logged.
  const second = await toCallback(g);
  g.hook = (url) => (url.pathname === '/token' ? jsonResponse(400, { error: 'invalid_grant', error_description: 'PKCE verification failed' }) : undefined);
  t.same(await g.oidc.callback!(callbackRequest(second.returned, [`${TX_COOKIE}=${second.state}`]), g.context), LOGIN_FAILED('pkce'));
});

t.test('the stored transaction: expired, malformed', async (t) => {
  const g = gate(t);
  await ready(g);
  const { returned, state } = await toCallback(g);
  t.same(await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`], Date.now() + 600_001), g.context), LOGIN_FAILED('state-expired'));
  const good = { verifier: 'v', nonce: 'n', rd: '/', createdAt: Date.now(), redirectUri: `${APP}/.gatehouse/callback/corp` };
  const bad = [
    'not json',
    'null',
    '5',
    JSON.stringify({ ...good, verifier: 1 }),
    JSON.stringify({ ...good, nonce: undefined }),
    JSON.stringify({ ...good, rd: null }),
    JSON.stringify({ ...good, createdAt: '1' }),
    JSON.stringify({ ...good, redirectUri: undefined }),
  ];
  for (const text of bad) {
    const s = `state-${sha256(text)}`;
    await g.store.putOnce(`oidc-tx:corp:${sha256(s)}`, text, 60_000);
    const url = new URL(returned);
    url.searchParams.set('state', s);
    t.same(await g.oidc.callback!(callbackRequest(url, [`${TX_COOKIE}=${s}`]), g.context), LOGIN_FAILED('state-unknown'), text);
  }
});

t.test('OP error: the user cancels at the OP; the transaction is spent', async (t) => {
  const g = gate(t);
  await ready(g);
  const started = await startLogin(g);
  const returned = await new Browser().authorize(started.authorizationUrl.href, 'alice', { abort: true });
  t.equal(returned.searchParams.get('error'), 'access_denied');
  t.equal(returned.searchParams.get('state'), started.state);
  const cookies = [`${TX_COOKIE}=${started.state}`];
  t.same(await g.oidc.callback!(callbackRequest(returned, cookies), g.context), LOGIN_FAILED('op-error'));
  t.same(await g.oidc.callback!(callbackRequest(returned, cookies), g.context), LOGIN_FAILED('state-unknown'));
  const bare = new URL(`${APP}/.gatehouse/callback/corp?error=server_error`);
  t.same(await g.oidc.callback!(callbackRequest(bare, []), g.context), LOGIN_FAILED('op-error'), 'an error without state');
  t.equal(g.fetches.includes('/token'), false, 'no token request');
});

t.test('a callback whose iss parameter is not the issuer (RFC 9207 mix-up defence)', async (t) => {
  const g = gate(t);
  await ready(g);
  const { returned, state } = await toCallback(g);
  returned.searchParams.set('iss', 'https://evil.example.com');
  t.same(await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), g.context), LOGIN_FAILED('bad-callback'));
});

t.test('the user claim missing from the ID token', async (t) => {
  const g = gate(t, { claims: { user: 'employee.id' } });
  await ready(g);
  const { returned, state } = await toCallback(g);
  t.same(await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), g.context), LOGIN_FAILED('missing-user-claim'));
});

t.test('a wrong client secret: the OP refuses the client (401 + challenge)', async (t) => {
  const g = gate(t, { clientSecret: 'wrong' });
  await ready(g);
  const { returned, state } = await toCallback(g);
  t.same(await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), g.context), LOGIN_FAILED('token-error'));
});

t.test('token endpoint answers: OP failures are 503, protocol failures 400', async (t) => {
  const g = gate(t, { timeoutMs: 300 });
  await ready(g);
  const cases: Array<[string, Hook, Partial<LoginAnswer>]> = [
    ['connection refused', () => Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })), OP_DOWN()],
    ['500 server_error', () => jsonResponse(500, { error: 'server_error' }), OP_DOWN()],
    ['429 with an error body', () => jsonResponse(429, { error: 'slow_down' }), OP_DOWN()],
    ['502 from a proxy', () => htmlResponse(502), OP_DOWN()],
    ['404 html', () => htmlResponse(404), LOGIN_FAILED('token-error')],
    ['200 html', () => htmlResponse(200), LOGIN_FAILED('token-error')],
    ['an abort', () => Promise.reject(new DOMException('aborted', 'AbortError')), OP_DOWN()],
    ['a hang past timeoutMs', (_u, init) => new Promise((_resolve, reject) => init.signal?.addEventListener('abort', () => reject(init.signal!.reason))), OP_DOWN()],
    ['400 invalid_request', () => jsonResponse(400, { error: 'invalid_request' }), LOGIN_FAILED('token-error')],
    ['400 invalid_grant, no reason given', () => jsonResponse(400, { error: 'invalid_grant' }), LOGIN_FAILED('invalid-grant')],
    ['400 invalid_grant, other reason', () => jsonResponse(400, { error: 'invalid_grant', error_description: 'grant request is invalid' }), LOGIN_FAILED('invalid-grant')],
  ];
  for (const [what, hook, expected] of cases) {
    const { returned, state } = await toCallback(g);
    g.hook = (url, init) => (url.pathname === '/token' ? hook(url, init) : undefined);
    t.same(await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), g.context), expected, what);
    g.hook = undefined;
  }
});

t.test('an ID token for another audience, signed by the OP key', async (t) => {
  const g = gate(t);
  await ready(g);
  const { returned, state } = await toCallback(g);
  g.hook = async (url, init) => {
    if (url.pathname !== '/token') return undefined;
    const real = (await (await fetch(url, init as RequestInit)).json()) as Record<string, unknown>;
    const claims = JSON.parse(Buffer.from((real.id_token as string).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    return jsonResponse(200, { ...real, id_token: opSigned({ ...claims, aud: 'someone-else' }) });
  };
  t.same(await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), g.context), LOGIN_FAILED('id-token-invalid'));
});

t.test('store down: at login, at the callback, when starting the session', async (t) => {
  const down = gate(t, {}, { store: brokenStore({ putOnce: 'down' }) });
  await ready(down);
  t.same(await down.oidc.login(req(), '/', down.context), STORE_DOWN(false));

  const taken = gate(t, {}, { store: brokenStore({ putOnce: async () => false }) });
  await ready(taken);
  t.same(await taken.oidc.login(req(), '/', taken.context), {
    ...LOGIN_FAILED('state-collision'),
    headers: { 'cache-control': 'no-store' },
  });

  const takeDown = gate(t, {}, { store: brokenStore({ take: 'down' }) });
  await ready(takeDown);
  const { returned, state } = await toCallback(takeDown);
  t.same(await takeDown.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), takeDown.context), STORE_DOWN());

  const g = gate(t);
  await ready(g);
  const second = await toCallback(g);
  const context: LoginContext = { ...g.context, startSession: () => Promise.reject(new Error('ECONNREFUSED')) };
  t.same(await g.oidc.callback!(callbackRequest(second.returned, [`${TX_COOKIE}=${second.state}`]), context), STORE_DOWN());
});

// ---------------------------------------------------------------- redirect_uri, clients, userinfo

t.test('redirect_uri: the publicUrl origin of the request, else the first; the Host only without publicUrl', async (t) => {
  const cases: Array<[string[], Partial<RequestFacts>, string]> = [
    [['https://other.example.com', APP], {}, `${APP}/.gatehouse/callback/corp`],
    [['https://other.example.com', APP], { authority: 'evil.example.com', hostname: 'evil.example.com' }, 'https://other.example.com/.gatehouse/callback/corp'],
    [['https://app.example.com:8443'], { authority: 'app.example.com:8443' }, 'https://app.example.com:8443/.gatehouse/callback/corp'],
    [[], { scheme: 'http', authority: 'localhost:8080', hostname: 'localhost' }, 'http://localhost:8080/.gatehouse/callback/corp'],
  ];
  for (const [origins, over, expected] of cases) {
    const g = gate(t, {}, { publicOrigins: origins });
    await ready(g);
    const { authorizationUrl } = await startLogin(g, '/', over);
    t.equal(authorizationUrl.searchParams.get('redirect_uri'), expected, JSON.stringify([origins, over]));
  }
});

t.test('a public client: PKCE only, no client secret', async (t) => {
  const g = gate(t, { name: 'public', clientId: PUBLIC_CLIENT_ID, clientSecret: undefined, claims: { user: 'preferred_username' } });
  await ready(g);
  const started = await g.oidc.login(req(), '/', g.context);
  const state = cookieValue(setCookies(started)[0]!);
  const returned = await new Browser().authorize(started.headers.location as string, 'bob');
  t.equal(returned.pathname, '/.gatehouse/callback/public');
  const answer = await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), g.context);
  t.equal(answer.status, 303);
  t.equal(answer.user, 'bob');
  const lookup = await g.manager.resolve(['Cookie', setCookies(answer)[0]!.split(';')[0]!], Date.now());
  if (lookup.kind !== 'live') throw new Error('no session');
  t.same(lookup.session.groups, [], 'no groups mapping');
  t.equal(lookup.session.oidc!.refreshToken, undefined, 'this client may not refresh');
});

t.test('a token response without expires_in or sid: the session has no access-token expiry', async (t) => {
  const g = gate(t);
  await ready(g);
  g.hook = async (url, init) => {
    if (url.pathname !== '/token') return undefined;
    const { expires_in: _e, ...real } = (await (await fetch(url, init as RequestInit)).json()) as Record<string, unknown>;
    const claims = JSON.parse(Buffer.from((real.id_token as string).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    delete claims.sid;
    return jsonResponse(200, { ...real, id_token: opSigned(claims) });
  };
  const { session } = await signIn(g);
  t.equal(session.oidc!.accessTokenExpiresAt, undefined);
  t.equal(session.oidc!.sid, undefined);
  t.type(session.oidc!.refreshToken, 'string');
});

t.test('userinfo: true adds its claims (groups here); dotted claim paths', async (t) => {
  const g = gate(t, { name: 'info', userinfo: true, scopes: ['openid', 'groups', 'profile'], claims: { user: 'preferred_username', groups: 'groups' } });
  await ready(g);
  const { session } = await signIn(g);
  t.same(session.groups, ['staff', 'admin']);
  t.equal(session.claims.iss, issuer, 'the ID token claims are still there');
  t.equal(session.email, undefined, 'not mapped');
  t.ok(g.fetches.includes('/me'));

  const dotted = gate(t, { claims: { user: 'preferred_username', groups: 'org.roles' } });
  await ready(dotted);
  t.same((await signIn(dotted)).session.groups, ['editor']);
});

t.test('userinfo failures: another subject, OP down, not JSON', async (t) => {
  const g = gate(t, { name: 'info', userinfo: true });
  await ready(g);
  const cases: Array<[string, Hook, Partial<LoginAnswer>]> = [
    ['sub of another user', () => jsonResponse(200, { sub: 'mallory', preferred_username: 'mallory' }), LOGIN_FAILED('userinfo-sub-mismatch')],
    ['userinfo protocol claims cannot override', () => jsonResponse(200, { sub: 'alice', iss: 'https://evil.example.com', preferred_username: 'alice' }), {}],
    ['503', () => htmlResponse(503), OP_DOWN()],
    ['200 html', () => htmlResponse(200), LOGIN_FAILED('userinfo-error')],
  ];
  for (const [what, hook, expected] of cases) {
    const { returned, state } = await toCallback(g);
    g.hook = (url, init) => (url.pathname === '/me' ? hook(url, init) : undefined);
    const answer = await g.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), g.context);
    if (what.startsWith('userinfo protocol')) {
      t.equal(answer.status, 303, what);
      const lookup = await g.manager.resolve(['Cookie', setCookies(answer)[0]!.split(';')[0]!], Date.now());
      t.equal(lookup.kind === 'live' && lookup.session.claims.iss, issuer, what);
    } else t.same(answer, expected, what);
    g.hook = undefined;
  }
});

// ---------------------------------------------------------------- refresh

/** When the access token is within refreshBeforeMs (60 s) of expiring: always, with a 30 s token. */
const due = (s: StoredSession): number => s.oidc!.accessTokenExpiresAt! - 1_000;

t.test('refresh: renewed tokens; two concurrent calls make one grant; the spent token is not reused', async (t) => {
  const g = gate(t);
  await ready(g);
  const { session } = await signIn(g);
  const old = session.oidc!;
  const before = tokenRequests;
  const now = due(session);
  const [a, b] = await Promise.all([g.oidc.refresh!(session, now), g.oidc.refresh!(session, now)]);
  t.equal(tokenRequests - before, 1, 'one grant');
  const outcomes = [a.outcome, b.outcome].sort();
  t.same(outcomes, ['renewed', 'unavailable'], 'the other keeps the session as it is');
  const renewed = a.outcome === 'renewed' ? a : b;
  if (renewed.outcome !== 'renewed') throw new Error('no renewal');
  const data = renewed.data;
  t.equal(data.user, 'alice');
  t.equal(data.provider, 'corp');
  t.equal(data.createdAt, session.createdAt);
  t.equal(data.expiresAt, session.expiresAt, 'the absolute lifetime is not extended');
  t.notOk('lastSeenAt' in data);
  t.equal(data.oidc!.sub, 'alice');
  t.equal(data.oidc!.sid, old.sid);
  t.not(data.oidc!.refreshToken, old.refreshToken, 'rotated');
  t.type(data.oidc!.refreshToken, 'string');
  t.match(data.oidc!.idToken, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/, 'an ID token came with the renewal');
  // openid-client's expiresIn() rounds the time left down to whole seconds.
  t.ok([now + ACCESS_TOKEN_TTL_S * 1000, now + (ACCESS_TOKEN_TTL_S - 1) * 1000].includes(data.oidc!.accessTokenExpiresAt!), 'expiry from the refresh time');
  t.equal(data.email, 'alice@example.com', 're-mapped from the new ID token');

  // A request that read the session before it was replaced holds the spent token.
  t.same(await g.oidc.refresh!(session, now), { outcome: 'unavailable' });
  t.equal(tokenRequests - before, 1, 'no second grant with the rotated-out token');

  // The renewed session renews again with its own token.
  const stored: StoredSession = { ...data, lastSeenAt: now };
  t.match(await g.oidc.refresh!(stored, due(stored)), { outcome: 'renewed' });
  t.equal(tokenRequests - before, 2);
});

t.test('refresh: nothing to do', async (t) => {
  const g = gate(t);
  await ready(g);
  const { session } = await signIn(g);
  const before = tokenRequests;
  t.same(await g.oidc.refresh!(session, session.oidc!.accessTokenExpiresAt! - 60_001), { outcome: 'current' }, 'not due yet');
  const { refreshToken: _r, ...noRefresh } = session.oidc!;
  t.same(await g.oidc.refresh!({ ...session, oidc: noRefresh }, Date.now()), { outcome: 'current' }, 'no refresh token');
  const { accessTokenExpiresAt: _e, ...noExpiry } = session.oidc!;
  t.same(await g.oidc.refresh!({ ...session, oidc: noExpiry }, Date.now()), { outcome: 'current' }, 'no known expiry');
  const { oidc: _o, ...formSession } = session;
  t.same(await g.oidc.refresh!(formSession, Date.now()), { outcome: 'current' }, 'not an OIDC session');
  t.equal(tokenRequests, before);
});

t.test('refresh: invalid_grant ends the session', async (t) => {
  const g = gate(t);
  await ready(g);
  const { session } = await signIn(g);
  const bogus = { ...session, oidc: { ...session.oidc!, refreshToken: 'not-a-refresh-token' } };
  t.same(await g.oidc.refresh!(bogus, due(session)), { outcome: 'ended' });
});

t.test('refresh: OP trouble keeps the session and frees the lock for the next try', async (t) => {
  const g = gate(t);
  await ready(g);
  const { session } = await signIn(g);
  const cases: Array<[string, Hook]> = [
    ['connection refused', () => Promise.reject(new TypeError('fetch failed'))],
    ['503', () => htmlResponse(503)],
    ['invalid_client', () => jsonResponse(400, { error: 'invalid_client' })],
  ];
  for (const [what, hook] of cases) {
    g.hook = (url, init) => (url.pathname === '/token' ? hook(url, init) : undefined);
    t.same(await g.oidc.refresh!(session, due(session)), { outcome: 'unavailable' }, what);
  }
  g.hook = undefined;
  t.match(await g.oidc.refresh!(session, due(session)), { outcome: 'renewed' }, 'lock released after each failure');
});

t.test('refresh: store down for the lock', async (t) => {
  const g = gate(t, {}, { store: brokenStore({ acquireLock: 'down' }) });
  await ready(g);
  const { session } = await signIn(g);
  const before = tokenRequests;
  t.same(await g.oidc.refresh!(session, due(session)), { outcome: 'unavailable' });
  t.equal(tokenRequests, before);
});

t.test('refresh with a hand-made token response: ID token rules', async (t) => {
  const g = gate(t);
  await ready(g);
  const { session } = await signIn(g);
  const idClaims = (over: Record<string, unknown>): Record<string, unknown> => ({
    iss: issuer,
    aud: CLIENT_ID,
    iat: nowS(),
    exp: nowS() + 300,
    sub: 'alice',
    preferred_username: 'alice',
    ...over,
  });
  const respond = (body: Record<string, unknown>): void => {
    g.hook = (url) => (url.pathname === '/token' ? jsonResponse(200, { access_token: 'at', token_type: 'Bearer', ...body }) : undefined);
  };
  let n = 0;
  // Each case starts from a fresh refresh token: a renewal keeps its token's lock.
  const fresh = (s: StoredSession = session): StoredSession => ({ ...s, oidc: { ...s.oidc!, refreshToken: `rt-${++n}` } });

  respond({ id_token: opSigned(idClaims({ sub: 'mallory', preferred_username: 'alice' })) });
  t.same(await g.oidc.refresh!(fresh(), due(session)), { outcome: 'ended' }, 'another subject');

  respond({ id_token: opSigned(idClaims({ preferred_username: 'bob' })) });
  t.same(await g.oidc.refresh!(fresh(), due(session)), { outcome: 'ended' }, 'another user name');

  respond({ id_token: opSigned(idClaims({ preferred_username: undefined, sid: 'new-sid' })), refresh_token: 'rt-new', expires_in: 120 });
  const slim = await g.oidc.refresh!(fresh(), due(session));
  if (slim.outcome !== 'renewed') throw new Error('not renewed');
  t.equal(slim.data.email, 'alice@example.com', 'a slim ID token leaves the identity as it was');
  t.same(slim.data.claims, session.claims);
  t.equal(slim.data.oidc!.sid, 'new-sid');
  t.equal(slim.data.oidc!.refreshToken, 'rt-new');
  t.ok([due(session) + 120_000, due(session) + 119_000].includes(slim.data.oidc!.accessTokenExpiresAt!), 'expiry from expires_in');

  respond({ id_token: opSigned(idClaims({ name: 'Alice L.' })) });
  const remapped = await g.oidc.refresh!(fresh(), due(session));
  if (remapped.outcome !== 'renewed') throw new Error('not renewed');
  t.equal(remapped.data.name, 'Alice L.');
  t.equal(remapped.data.email, undefined, 'no longer in the ID token: dropped');
  t.equal(remapped.data.claims.name, 'Alice L.');

  respond({});
  const bare = fresh();
  const plain = await g.oidc.refresh!(bare, due(session));
  if (plain.outcome !== 'renewed') throw new Error('not renewed');
  t.same(plain.data.oidc, { sub: 'alice', sid: session.oidc!.sid, idToken: session.oidc!.idToken, refreshToken: bare.oidc!.refreshToken }, 'no new ID token, refresh token kept, expiry unknown');

  const { idToken: _i, sid: _s, ...noIdToken } = session.oidc!;
  const minimal = { ...session, oidc: { ...noIdToken, refreshToken: 'rt-minimal' } };
  const kept = await g.oidc.refresh!(minimal, due(session));
  if (kept.outcome !== 'renewed') throw new Error('not renewed');
  t.same(kept.data.oidc, { sub: 'alice', refreshToken: 'rt-minimal' });

  respond({ id_token: opSigned(idClaims({ aud: 'someone-else' })) });
  t.same(await g.oidc.refresh!(fresh(), due(session)), { outcome: 'unavailable' }, 'an invalid ID token is not a renewal');
});

t.test('refresh with userinfo: claims re-read', async (t) => {
  const g = gate(t, { name: 'info', userinfo: true, scopes: ['openid', 'groups', 'profile'] });
  await ready(g);
  const { session } = await signIn(g);
  accounts.alice!.groups = ['staff'];
  t.teardown(() => void (accounts.alice!.groups = ['staff', 'admin']));
  const r = await g.oidc.refresh!(session, due(session));
  if (r.outcome !== 'renewed') throw new Error('not renewed');
  t.same(r.data.groups, ['staff']);
});

// ---------------------------------------------------------------- RP-initiated logout

t.test('endSessionUrl: the OP end_session_endpoint with id_token_hint; the OP accepts it', async (t) => {
  const g = gate(t);
  await ready(g);
  const { session } = await signIn(g);
  const url = new URL((await g.oidc.endSessionUrl!(session, `${APP}/`))!);
  t.equal(`${url.origin}${url.pathname}`, `${issuer}/session/end`);
  t.equal(url.searchParams.get('client_id'), CLIENT_ID);
  t.equal(url.searchParams.get('id_token_hint'), session.oidc!.idToken);
  t.equal(url.searchParams.get('post_logout_redirect_uri'), `${APP}/`);
  const res = await fetch(url, { redirect: 'manual' });
  t.equal(res.status, 200, 'the OP shows its logout confirmation');
  await res.body?.cancel();

  const { idToken: _i, ...noIdToken } = session.oidc!;
  const bare = new URL((await g.oidc.endSessionUrl!({ ...session, oidc: noIdToken }, `${APP}/`))!);
  t.equal(bare.searchParams.has('id_token_hint'), false);
  t.equal(bare.searchParams.get('client_id'), CLIENT_ID);

  const without = gate(t, {}, { hook: trimmedDiscovery('end_session_endpoint') });
  await ready(without);
  t.equal(await without.oidc.endSessionUrl!(session, `${APP}/`), undefined, 'an OP without end_session_endpoint');
});

// ---------------------------------------------------------------- back-channel logout

const bclRequest = (form: Record<string, string>): LoginRequest => ({
  facts: facts({ method: 'POST', path: '/.gatehouse/backchannel-logout/corp' }),
  form: new URLSearchParams(form),
  requestId: 'req-1',
  now: Date.now(),
});

t.test('back-channel logout sent by the OP itself ends the session of that OP session', async (t) => {
  const g = gate(t);
  await ready(g);
  const { answer, session } = await signIn(g);
  const other = await signIn(g, 'bob');
  bclTarget = g.oidc;
  // The OP's own sender (not in @types/oidc-provider): signs a logout token and POSTs it.
  const opClient = (await provider.Client.find(CLIENT_ID)) as unknown as { backchannelLogout(sub: string, sid: string): Promise<void> };
  await opClient.backchannelLogout('alice', session.oidc!.sid!);
  t.same(bclAnswers.at(-1), { status: 200, headers: { 'cache-control': 'no-store' }, body: '', contentType: 'text/plain; charset=utf-8', reason: 'backchannel-logout:1' });
  const cookie = ['Cookie', setCookies(answer)[0]!.split(';')[0]!];
  t.same(await g.manager.resolve(cookie, Date.now()), { kind: 'none' }, 'alice signed out');
  const bobCookie = ['Cookie', setCookies(other.answer)[0]!.split(';')[0]!];
  t.equal((await g.manager.resolve(bobCookie, Date.now())).kind, 'live', 'bob still signed in');
  t.same(g.oidc.health!(), { discovery: 'ok', logoutJwks: 'ok' });
});

t.test('back-channel logout tokens signed with the OP key: the §2.6 rules end to end', async (t) => {
  const g = gate(t);
  await ready(g);
  const { answer, session } = await signIn(g);
  const cookie = ['Cookie', setCookies(answer)[0]!.split(';')[0]!];
  const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => {
    const c: Record<string, unknown> = {
      iss: issuer,
      aud: CLIENT_ID,
      iat: nowS(),
      exp: nowS() + 120,
      jti: `jti-${Math.random()}`,
      sid: session.oidc!.sid,
      events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      ...over,
    };
    for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
    return c;
  };
  const typ = { typ: 'logout+jwt' };
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const refused: Array<[string, string, string]> = [
    ['bad signature (another key, the OP kid)', opSigned(claims(), typ, other), 'bad-signature'],
    ['wrong audience', opSigned(claims({ aud: 'another-client' }), typ), 'bad-audience'],
    ['wrong issuer', opSigned(claims({ iss: 'https://evil.example.com' }), typ), 'bad-issuer'],
    ['missing events', opSigned(claims({ events: undefined }), typ), 'bad-events'],
    ['nonce present (an ID token)', opSigned(claims({ nonce: 'n' }), typ), 'nonce-present'],
    ['expired', opSigned(claims({ iat: nowS() - 600, exp: nowS() - 300 }), typ), 'expired'],
  ];
  for (const [what, token, reason] of refused) {
    const a = await g.oidc.backchannelLogout!(bclRequest({ logout_token: token }));
    t.same([a.status, a.reason], [400, `GATEHOUSE_ERR_LOGOUT_TOKEN_INVALID:${reason}`], what);
  }
  t.equal((await g.manager.resolve(cookie, Date.now())).kind, 'live', 'still signed in after the refused tokens');

  const good = opSigned(claims({ jti: 'one-time' }), typ);
  t.match(await g.oidc.backchannelLogout!(bclRequest({ logout_token: good })), { status: 200, reason: 'backchannel-logout:1' });
  t.same(await g.manager.resolve(cookie, Date.now()), { kind: 'none' });
  t.match(await g.oidc.backchannelLogout!(bclRequest({ logout_token: good })), { status: 400, reason: 'GATEHOUSE_ERR_LOGOUT_TOKEN_INVALID:replayed' });

  // By subject, without sid: every session of the user at this provider.
  const s1 = await signIn(g, 'bob');
  const s2 = await signIn(g, 'bob');
  const bySub = opSigned(claims({ sid: undefined, sub: 'bob' }), typ);
  t.match(await g.oidc.backchannelLogout!(bclRequest({ logout_token: bySub })), { status: 200, reason: 'backchannel-logout:2' });
  for (const s of [s1, s2]) t.same(await g.manager.resolve(['Cookie', setCookies(s.answer)[0]!.split(';')[0]!], Date.now()), { kind: 'none' });
});

t.test('back-channel logout before discovery, or with an OP publishing no jwks_uri: 503', async (t) => {
  const g = gate(t, {}, { hook: trimmedDiscovery('jwks_uri', 'id_token_signing_alg_values_supported') });
  await ready(g);
  t.match(await g.oidc.backchannelLogout!(bclRequest({ logout_token: 'x.y.z' })), { status: 503, reason: 'provider-not-discovered' });
});

t.test('back-channel logout: an OP not listing its algorithms is taken to sign with RS256', async (t) => {
  const g = gate(t, {}, { hook: trimmedDiscovery('id_token_signing_alg_values_supported') });
  await ready(g);
  const token = opSigned({
    iss: issuer,
    aud: CLIENT_ID,
    iat: nowS(),
    exp: nowS() + 60,
    jti: 'rs256-default',
    sub: 'nobody',
    events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
  }, { typ: 'logout+jwt' });
  t.match(await g.oidc.backchannelLogout!(bclRequest({ logout_token: token })), { status: 200, reason: 'backchannel-logout:0' });
});

// ---------------------------------------------------------------- discovery

t.test('issuer and scopes are checked at creation', async (t) => {
  const base = { name: 'x', label: 'x', clientId: 'c', scopes: ['openid'], claims: { user: 'sub' }, userinfo: false, store: createMemorySessionStore(), cookie: COOKIE, refreshBeforeMs: 1, timeoutMs: 100 };
  const https = /^oidc: issuer must be https/;
  t.throws(() => createOidcProvider({ ...base, issuer: 'http://op.example.com' }), { name: 'TypeError', message: https });
  t.throws(() => createOidcProvider({ ...base, issuer: 'http://127.0.0.2:1' }), { message: https });
  t.throws(() => createOidcProvider({ ...base, issuer: 'ftp://127.0.0.1' }), { message: https });
  t.throws(() => createOidcProvider({ ...base, issuer: 'not a url' }), { message: /^oidc: issuer must be an absolute https URL$/ });
  t.throws(() => createOidcProvider({ ...base, issuer: 'https://op.example.com', scopes: ['email'] }), { message: 'oidc: scopes must include openid' });
  for (const ok of ['http://localhost:1', 'http://[::1]:1', 'https://op.invalid']) {
    const p = createOidcProvider({ ...base, issuer: ok, fetch: () => Promise.reject(new TypeError('fetch failed')) });
    t.equal(p.ready!(), false, ok);
    await p.close!();
  }
  // Without a fetch option: the global fetch, against a port nobody listens on.
  const p = createOidcProvider({ ...base, issuer: `http://127.0.0.1:${await freePort()}` });
  await until(() => p.health!().discovery === 'failing');
  t.same(p.health!(), { discovery: 'failing', lastError: 'ECONNREFUSED' });
  await p.close!();
});

t.test('discovery fails: not ready, 503 at sign-in, retries with backoff until the OP answers', async (t) => {
  let failing = true;
  const g = gate(t, { discoveryRetry: { minMs: 20, maxMs: 10_000 } }, {
    hook: (url) => (failing && url.pathname === '/.well-known/openid-configuration' ? htmlResponse(502) : undefined),
  });
  t.same(g.oidc.health!(), { discovery: 'pending' }, 'first attempt under way');
  // A sign-in during the first attempt waits for it (and it fails).
  t.same(await g.oidc.login(req(), '/', g.context), OP_DOWN(false));
  t.equal(g.oidc.ready!(), false);
  t.same(g.oidc.health!(), { discovery: 'failing', lastError: 'OAUTH_RESPONSE_IS_NOT_CONFORM' });
  // Right after a failure, a sign-in does not start another discovery.
  const count = g.fetches.length;
  t.same(await g.oidc.login(req(), '/', g.context), OP_DOWN(false));
  t.same(await g.oidc.callback!(callbackRequest(new URL(`${APP}/.gatehouse/callback/corp?state=s`), [`${TX_COOKIE}=s`]), g.context), LOGIN_FAILED('state-unknown'));
  t.same(await g.oidc.refresh!({ user: 'a', groups: [], claims: {}, provider: 'corp', createdAt: 0, expiresAt: 1, lastSeenAt: 0, oidc: { sub: 'a', refreshToken: 'r', accessTokenExpiresAt: 0 } }, 0), { outcome: 'unavailable' });
  t.equal(await g.oidc.endSessionUrl!({ user: 'a', groups: [], claims: {}, provider: 'corp', createdAt: 0, expiresAt: 1, lastSeenAt: 0 }, '/'), undefined);
  t.match(await g.oidc.backchannelLogout!(bclRequest({ logout_token: 'x.y.z' })), { status: 503, reason: 'provider-not-discovered' });
  t.equal(g.fetches.length, count, 'no discovery from those');
  // Background retries back off: 20, 40, 80, 160, 320 ms, then 640 ms.
  await until(() => g.fetches.length >= 6);
  const attempts = g.fetches.length;
  failing = false;
  await sleep(25);
  // The next background retry is about 640 ms away: this sign-in discovers inline.
  const started = await g.oidc.login(req(), '/', g.context);
  t.equal(started.status, 302);
  t.equal(g.fetches.length, attempts + 1);
  t.equal(g.oidc.ready!(), true);
  t.same(g.oidc.health!(), { discovery: 'ok' });
});

t.test('discovery that never succeeds keeps retrying in the background; health names the error', async (t) => {
  const g = gate(t, { discoveryRetry: { minMs: 5, maxMs: 10 } }, { hook: () => Promise.reject(new Error('boom')) });
  await until(() => g.fetches.length >= 4);
  t.same(g.oidc.health!(), { discovery: 'failing', lastError: 'error' });

  const refused = gate(t, {}, { hook: () => Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })) });
  await until(() => refused.oidc.health!().discovery === 'failing');
  t.same(refused.oidc.health!(), { discovery: 'failing', lastError: 'ECONNREFUSED' });
});

t.test('a callback while the OP cannot be discovered: 503 once the transaction checks out', async (t) => {
  const store = createMemorySessionStore();
  const g = gate(t, {}, { store });
  await ready(g);
  const { returned, state } = await toCallback(g);
  // Another instance (same store), started while the OP is unreachable.
  const other = gate(t, { discoveryRetry: { minMs: 1, maxMs: 60_000 } }, { store, hook: () => htmlResponse(503) });
  await until(() => other.oidc.health!().discovery === 'failing');
  await sleep(5);
  t.same(await other.oidc.callback!(callbackRequest(returned, [`${TX_COOKIE}=${state}`]), other.context), OP_DOWN());
});

t.test('close(): stops discovery under way and the retries', async (t) => {
  const g = gate(t);
  await g.oidc.close!();
  t.equal(g.oidc.ready!(), false, 'the discovery that finished after close is dropped');
  t.same(await g.oidc.login(req(), '/', g.context), OP_DOWN(false));
  const count = g.fetches.length;
  await sleep(50);
  t.equal(g.fetches.length, count);
});
