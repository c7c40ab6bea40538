import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createCsrfTokens } from '../../../src/login/csrf.js';
import { createFormProvider, INVALID_CREDENTIALS_MESSAGE, MAX_PASSWORD_BYTES, MAX_USERNAME_LENGTH } from '../../../src/login/form.js';
import { contentSecurityPolicy } from '../../../src/login/pages.js';
import type { LoginAnswer, LoginContext, LoginProvider, PasswordChecker, SignIn } from '../../../src/login/types.js';
import type { AuthResult, Identity, RequestFacts } from '../../../src/pipeline/types.js';
import type { CookieSettings } from '../../../src/sessions/cookie.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

// ---------------------------------------------------------------- fixtures

const COOKIE: CookieSettings = { name: '__Host-gatehouse', secure: true, sameSite: 'lax' };
const CSRF_COOKIE = '__Host-gatehouse-csrf';
const SESSION_COOKIE = '__Host-gatehouse';
const PASSWORD = 'Pa55<b>w0rd-SECRET-é';
const IP = '203.0.113.7';
const NOW = 1_700_000_000_000;
const INVALID: AuthResult = Object.freeze({ outcome: 'fail', reason: 'invalid-credentials', code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS' });

const identity = (user: string | undefined, extra: Partial<Identity> = {}): Identity => ({
  ...(user === undefined ? {} : { user }),
  groups: ['staff'],
  scopes: [],
  claims: { dept: 'ops' },
  method: 'basic',
  authenticator: 'staff',
  ...extra,
});

interface Harness {
  provider: LoginProvider;
  context: LoginContext;
  checks: [string, string, string][];
  sessions: [string, SignIn, number][];
}

/** A fake checker like the real one: alice/PASSWORD is valid, everything else the same INVALID. */
function harness(
  options: {
    check?: (user: string, password: string) => Promise<AuthResult>;
    startSession?: () => Promise<string>;
    publicOrigins?: string[];
  } = {},
): Harness {
  const checks: [string, string, string][] = [];
  const sessions: [string, SignIn, number][] = [];
  const checker: PasswordChecker = {
    async checkPassword(user, password, clientIp) {
      checks.push([user, password, clientIp]);
      if (options.check) return options.check(user, password);
      if (user === 'alice' && password === PASSWORD) return { outcome: 'ok', identity: identity('alice', { email: 'alice@example.com', name: 'Alice A.' }), consumed: 'none' };
      return INVALID;
    },
  };
  const context: LoginContext = {
    publicOrigins: options.publicOrigins ?? ['https://app.example.com'],
    allowedRedirectHosts: ['app.example.com', 'docs.example.com'],
    csrf: createCsrfTokens([Buffer.alloc(32, 7)]),
    async startSession(provider, signIn, now) {
      sessions.push([provider, signIn, now]);
      if (options.startSession) return options.startSession();
      // Like the manager: a new random id every time, never one from the request.
      return `${SESSION_COOKIE}=${randomBytes(32).toString('base64url')}.sig; Max-Age=43200; Path=/; HttpOnly; Secure; SameSite=Lax`;
    },
  };
  const provider = createFormProvider({ name: 'local', label: 'Staff area', checker, cookie: COOKIE });
  return { provider, context, checks, sessions };
}

function facts(method: string, headers: Record<string, string | string[]> = {}, cookies: string[] = []): RequestFacts {
  const rawHeaders: string[] = ['Host', 'app.example.com'];
  for (const c of cookies) rawHeaders.push('Cookie', c);
  for (const [name, value] of Object.entries(headers)) for (const v of Array.isArray(value) ? value : [value]) rawHeaders.push(name, v);
  return {
    method,
    scheme: 'https',
    authority: 'app.example.com',
    hostname: 'app.example.com',
    path: '/.gatehouse/login/local',
    query: '',
    headers: { host: 'app.example.com', ...(cookies.length > 0 ? { cookie: cookies.join('; ') } : {}), ...headers },
    rawHeaders,
    peer: IP,
    peerTrusted: false,
    clientIp: IP,
  };
}

const get = (h: Harness, rd = '/next', cookies: string[] = [], method = 'GET'): Promise<LoginAnswer> =>
  h.provider.login({ facts: facts(method, {}, cookies), requestId: 'req-get', now: NOW }, rd, h.context);

interface PostOptions {
  cookie?: string | undefined; // the csrf cookie value; undefined: none sent
  extraCookies?: string[];
  token?: string | undefined;
  username?: string;
  password?: string;
  rd?: string | undefined; // form field; undefined: absent
  headers?: Record<string, string | string[]>;
  noForm?: boolean;
  rdArgument?: string;
}

function post(h: Harness, o: PostOptions): Promise<LoginAnswer> {
  const form = new URLSearchParams();
  if (o.token !== undefined) form.set('csrf', o.token);
  if (o.rd !== undefined) form.set('rd', o.rd);
  if (o.username !== undefined) form.set('username', o.username);
  if (o.password !== undefined) form.set('password', o.password);
  const cookies = [...(o.cookie === undefined ? [] : [`${CSRF_COOKIE}=${o.cookie}`]), ...(o.extraCookies ?? [])];
  const headers = o.headers ?? { origin: 'https://app.example.com', 'sec-fetch-site': 'same-origin' };
  return h.provider.login(
    { facts: facts('POST', headers, cookies), ...(o.noForm ? {} : { form }), requestId: 'req-post', now: NOW },
    o.rdArgument ?? '/',
    h.context,
  );
}

const setCookies = (a: LoginAnswer): string[] => {
  const v = a.headers['set-cookie'];
  return v === undefined ? [] : typeof v === 'string' ? [v] : [...v];
};
const tokenIn = (a: LoginAnswer): string => /name="csrf" value="([^"]*)"/.exec(a.body)![1]!;
const rdIn = (a: LoginAnswer): string => /name="rd" value="([^"]*)"/.exec(a.body)![1]!;
const alertIn = (a: LoginAnswer): string => /role="alert">([^<]*)</.exec(a.body)![1]!;
const cookieValueIn = (setCookie: string): string => /^__Host-gatehouse-csrf=([^;]*);/.exec(setCookie)![1]!;

/** A valid pre-session: the cookie from a GET and the token of its form. */
async function preSession(h: Harness): Promise<{ cookie: string; token: string }> {
  const answer = await get(h);
  return { cookie: cookieValueIn(setCookies(answer)[0]!), token: tokenIn(answer) };
}

async function validPost(h: Harness, o: PostOptions = {}): Promise<LoginAnswer> {
  const pre = await preSession(h);
  return post(h, { cookie: pre.cookie, token: pre.token, username: 'alice', password: PASSWORD, rd: '/next', ...o });
}

const noPassword = (t: TapTest, a: LoginAnswer): void => {
  const all = JSON.stringify(a);
  t.notMatch(all, 'Pa55', 'the password appears nowhere in the answer');
  t.notMatch(all, 'SECRET');
};

// ---------------------------------------------------------------- GET

t.test('the provider describes itself', async (t) => {
  const { provider } = harness();
  t.equal(provider.name, 'local');
  t.equal(provider.type, 'form');
  t.equal(provider.label, 'Staff area');
});

t.test('GET renders the form and sets a fresh pre-session cookie', async (t) => {
  const h = harness();
  const a = await get(h, '/next?x=1');
  t.equal(a.status, 200);
  t.equal(a.reason, 'login-form');
  t.equal(a.user, undefined);
  t.equal(a.contentType, 'text/html; charset=utf-8');
  t.equal(a.headers['cache-control'], 'no-store');
  t.equal(a.headers['content-security-policy'], contentSecurityPolicy());
  const [cookie, ...more] = setCookies(a);
  t.same(more, []);
  t.match(cookie, /^__Host-gatehouse-csrf=[A-Za-z0-9_-]{43}; Max-Age=3600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
  const value = cookieValueIn(cookie!);
  t.equal(h.context.csrf.verify(tokenIn(a), `login:local:${value}`), true, 'token bound to the cookie and provider');
  t.equal(rdIn(a), '/next?x=1');
  t.match(a.body, '<form method="post" action="/.gatehouse/login/local">');
  t.match(a.body, '<h1>Sign in to Staff area</h1>');
  t.equal(alertIn(a), '', 'no error');
});

t.test('GET makes a new cookie value every time none is presented', async (t) => {
  const h = harness();
  const one = cookieValueIn(setCookies(await get(h))[0]!);
  const two = cookieValueIn(setCookies(await get(h))[0]!);
  t.not(one, two);
});

t.test('GET reuses a well-formed cookie, so several tabs share one binding', async (t) => {
  const h = harness();
  const { cookie } = await preSession(h);
  const tab1 = await get(h, '/a', [`${CSRF_COOKIE}=${cookie}`]);
  const tab2 = await get(h, '/b', [`other=1; ${CSRF_COOKIE}=${cookie}`]);
  t.same(setCookies(tab1), [], 'no new cookie');
  t.same(setCookies(tab2), []);
  const a1 = await post(h, { cookie, token: tokenIn(tab1), username: 'alice', password: PASSWORD, rd: '/a' });
  const a2 = await post(h, { cookie, token: tokenIn(tab2), username: 'alice', password: PASSWORD, rd: '/b' });
  t.equal(a1.status, 303);
  t.equal(a1.headers.location, '/a');
  t.equal(a2.status, 303, 'the second tab works too');
  t.equal(a2.headers.location, '/b');
});

t.test('GET replaces a malformed or ambiguous cookie', async (t) => {
  const h = harness();
  for (const [name, cookies] of [
    ['too short', [`${CSRF_COOKIE}=abc`]],
    ['too long', [`${CSRF_COOKIE}=${'a'.repeat(44)}`]],
    ['bad characters', [`${CSRF_COOKIE}=${'a'.repeat(42)}.`]],
    ['empty', [`${CSRF_COOKIE}=`]],
    ['two cookies of our name', [`${CSRF_COOKIE}=${'a'.repeat(43)}`, `${CSRF_COOKIE}=${'b'.repeat(43)}`]],
  ] as const) {
    const a = await get(h, '/', [...cookies]);
    const set = setCookies(a);
    t.equal(set.length, 1, `${name}: new cookie`);
    t.not(cookieValueIn(set[0]!), 'a'.repeat(43), `${name}: not the presented value`);
  }
});

t.test('HEAD answers like GET', async (t) => {
  const a = await get(harness(), '/', [], 'HEAD');
  t.equal(a.status, 200);
  t.equal(a.reason, 'login-form');
});

t.test('GET re-checks rd and escapes it', async (t) => {
  const h = harness();
  t.equal(rdIn(await get(h, '//evil.example')), '/', 'unsafe rd from a careless router');
  const injected = await get(h, '/x"><script>alert(1)</script>');
  t.notMatch(injected.body, '<script>alert(1)');
  t.equal(rdIn(injected), '/x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
  const absolute = await get(h, 'https://docs.example.com/guide');
  t.equal(rdIn(absolute), 'https://docs.example.com/guide');
  t.equal(absolute.headers['content-security-policy'], contentSecurityPolicy(['https://docs.example.com']), 'form-action lets the redirect after the POST through');
});

t.test('other methods are refused with 405 and Allow', async (t) => {
  const a = await harness().provider.login({ facts: facts('PUT'), requestId: 'r9', now: NOW }, '/', harness().context);
  t.equal(a.status, 405);
  t.equal(a.headers.allow, 'GET, HEAD, POST');
  t.equal(a.reason, 'method-not-allowed');
  t.match(a.body, 'GATEHOUSE_ERR_REQUEST_METHOD_NOT_ALLOWED');
  t.match(a.body, 'Request ID: r9');
});

// ---------------------------------------------------------------- POST: success

t.test('valid credentials: a new session, 303 to rd, the csrf cookie cleared', async (t) => {
  const h = harness();
  const a = await validPost(h, { rd: '/next?x=1' });
  t.equal(a.status, 303);
  t.equal(a.headers.location, '/next?x=1');
  t.equal(a.reason, 'signed-in');
  t.equal(a.user, 'alice');
  t.same(h.checks, [['alice', PASSWORD, IP]], 'checked once, with the client address');
  t.same(h.sessions, [['local', { user: 'alice', email: 'alice@example.com', name: 'Alice A.', groups: ['staff'], claims: { dept: 'ops' } }, NOW]]);
  const [session, cleared, ...rest] = setCookies(a);
  t.same(rest, []);
  t.match(session, /^__Host-gatehouse=[A-Za-z0-9_-]{43}\.sig;/);
  t.equal(cleared, '__Host-gatehouse-csrf=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=Lax');
  t.match(a.body, '<a href="/next?x=1">Continue</a>');
  t.equal(a.headers['x-frame-options'], 'DENY');
  noPassword(t, a);
});

t.test('an identity without user, email or name: the typed name, no empty fields', async (t) => {
  const h = harness({ check: async () => ({ outcome: 'ok', identity: identity(undefined), consumed: 'none' }) });
  const a = await validPost(h, { username: 'bob' });
  t.equal(a.status, 303);
  t.equal(a.user, 'bob');
  t.same(h.sessions[0]![1], { user: 'bob', groups: ['staff'], claims: { dept: 'ops' } });
  t.notOk('email' in h.sessions[0]![1]);
  t.notOk('name' in h.sessions[0]![1]);
});

t.test('rd after sign-in: the form field, re-checked; else the router rd, re-checked', async (t) => {
  const h = harness();
  t.equal((await validPost(h, { rd: 'https://docs.example.com/x' })).headers.location, 'https://docs.example.com/x', 'allowed absolute');
  t.equal((await validPost(h, { rd: '//evil.example' })).headers.location, '/', '//evil');
  t.equal((await validPost(h, { rd: 'https://evil.example/' })).headers.location, '/', 'foreign host');
  t.equal((await validPost(h, { rd: '/.gatehouse/login' })).headers.location, '/', 'sign-in loop');
  t.equal((await validPost(h, { rd: undefined, rdArgument: '/from-query' })).headers.location, '/from-query', 'no field: router rd');
  t.equal((await validPost(h, { rd: undefined, rdArgument: '/%2F/evil' })).headers.location, '/', 'no field: router rd re-checked');
});

t.test('session fixation: the answer never carries an id the client sent', async (t) => {
  const h = harness();
  const planted = 'ATTACKERPLANTEDSESSIONID0123456789abcdefghi';
  const a = await validPost(h, { extraCookies: [`${SESSION_COOKIE}=${planted}.forged`] });
  t.equal(a.status, 303);
  const [session] = setCookies(a);
  t.notMatch(session, planted);
  t.notMatch(JSON.stringify(a), planted, 'the planted id is nowhere in the answer');
  t.equal(h.sessions.length, 1, 'startSession made the id');
});

t.test('the session store failing: 503, no session cookie, no sign-in', async (t) => {
  const h = harness({ startSession: () => Promise.reject(new Error('ECONNREFUSED')) });
  const a = await validPost(h, { rd: '/next' });
  t.equal(a.status, 503);
  t.equal(a.reason, 'session-store-unavailable');
  t.equal(a.user, undefined);
  t.same(setCookies(a), []);
  t.equal(a.headers.location, undefined);
  t.match(a.body, 'GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE');
  t.match(a.body, 'Sessions are temporarily unavailable.');
  t.match(a.body, '<a href="/.gatehouse/login/local?rd=%2Fnext">Try again</a>');
  t.notMatch(a.body, 'ECONNREFUSED');
  noPassword(t, a);
});

// ---------------------------------------------------------------- POST: CSRF

const csrfRefused = (t: TapTest, h: Harness, a: LoginAnswer, reason: string): void => {
  t.equal(a.status, 403, `${reason}: 403`);
  t.equal(a.reason, reason);
  t.equal(alertIn(a), 'The request did not come from this site.');
  t.match(a.body, 'Code: GATEHOUSE_ERR_CSRF_REJECTED');
  t.match(a.body, '<form method="post"', 'the form is shown again');
  t.same(h.checks, [], 'the password was not checked');
  t.same(h.sessions, [], 'no session');
  t.equal(a.headers.location, undefined);
  noPassword(t, a);
};

t.test('CSRF: token missing', async (t) => {
  const h = harness();
  const pre = await preSession(h);
  const a = await post(h, { cookie: pre.cookie, username: 'alice', password: PASSWORD });
  csrfRefused(t, h, a, 'csrf-token-invalid');
  t.same(setCookies(a), [], 'the valid cookie is kept');
  t.equal(h.context.csrf.verify(tokenIn(a), `login:local:${pre.cookie}`), true, 'the new form works with it');
});

t.test('CSRF: token garbled or empty', async (t) => {
  const h = harness();
  const pre = await preSession(h);
  csrfRefused(t, h, await post(h, { cookie: pre.cookie, token: pre.token.slice(0, -2) + 'xx', username: 'alice', password: PASSWORD }), 'csrf-token-invalid');
  csrfRefused(t, h, await post(h, { cookie: pre.cookie, token: '', username: 'alice', password: PASSWORD }), 'csrf-token-invalid');
});

t.test('CSRF: a token made for another cookie (the attacker’s own)', async (t) => {
  const h = harness();
  const attacker = await preSession(h);
  const victim = await preSession(h);
  csrfRefused(t, h, await post(h, { cookie: victim.cookie, token: attacker.token, username: 'alice', password: PASSWORD }), 'csrf-token-invalid');
});

t.test('CSRF: a token made for another provider', async (t) => {
  const h = harness();
  const pre = await preSession(h);
  const foreign = h.context.csrf.issue(`login:other:${pre.cookie}`);
  csrfRefused(t, h, await post(h, { cookie: pre.cookie, token: foreign, username: 'alice', password: PASSWORD }), 'csrf-token-invalid');
});

t.test('CSRF: cookie missing, or malformed, or twice', async (t) => {
  const h = harness();
  const pre = await preSession(h);
  const missing = await post(h, { token: pre.token, username: 'alice', password: PASSWORD });
  csrfRefused(t, h, missing, 'csrf-cookie-missing');
  const fresh = setCookies(missing);
  t.equal(fresh.length, 1, 'a new cookie comes with the new form');
  t.equal(h.context.csrf.verify(tokenIn(missing), `login:local:${cookieValueIn(fresh[0]!)}`), true);
  csrfRefused(t, h, await post(h, { cookie: pre.cookie + '!', token: pre.token, username: 'alice', password: PASSWORD }), 'csrf-cookie-missing');
  csrfRefused(
    t,
    h,
    await post(h, { cookie: pre.cookie, extraCookies: [`${CSRF_COOKIE}=${pre.cookie}`], token: pre.token, username: 'alice', password: PASSWORD }),
    'csrf-cookie-missing',
  );
});

t.test('CSRF: no form body at all', async (t) => {
  const h = harness();
  const pre = await preSession(h);
  csrfRefused(t, h, await post(h, { cookie: pre.cookie, token: pre.token, noForm: true }), 'csrf-token-invalid');
});

t.test('CSRF: Sec-Fetch-Site cross-site or same-site is refused even with a valid token', async (t) => {
  const h = harness();
  const pre = await preSession(h);
  const base = { cookie: pre.cookie, token: pre.token, username: 'alice', password: PASSWORD };
  csrfRefused(t, h, await post(h, { ...base, headers: { 'sec-fetch-site': 'cross-site' } }), 'csrf-cross-site');
  csrfRefused(t, h, await post(h, { ...base, headers: { 'sec-fetch-site': 'same-site', origin: 'https://app.example.com' } }), 'csrf-cross-site');
  csrfRefused(t, h, await post(h, { ...base, headers: { 'sec-fetch-site': 'bogus' } }), 'csrf-cross-site');
  csrfRefused(t, h, await post(h, { ...base, headers: { 'sec-fetch-site': ['same-origin', 'cross-site'] } }), 'csrf-cross-site');
});

t.test('CSRF: Sec-Fetch-Site same-origin, none, or absent passes', async (t) => {
  const variants: Record<string, string>[] = [{ 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'none' }, {}];
  for (const headers of variants) {
    const h = harness();
    t.equal((await validPost(h, { headers })).status, 303, JSON.stringify(headers));
  }
});

t.test('CSRF: a foreign Origin is refused even with a valid token', async (t) => {
  const h = harness();
  const pre = await preSession(h);
  const base = { cookie: pre.cookie, token: pre.token, username: 'alice', password: PASSWORD };
  csrfRefused(t, h, await post(h, { ...base, headers: { origin: 'https://evil.example' } }), 'csrf-foreign-origin');
  csrfRefused(t, h, await post(h, { ...base, headers: { origin: 'null' } }), 'csrf-foreign-origin');
  csrfRefused(t, h, await post(h, { ...base, headers: { origin: 'http://app.example.com' } }), 'csrf-foreign-origin');
  csrfRefused(t, h, await post(h, { ...base, headers: { origin: 'https://app.example.com:8443' } }), 'csrf-foreign-origin');
  csrfRefused(t, h, await post(h, { ...base, headers: { origin: ['https://app.example.com', 'https://app.example.com'] } }), 'csrf-foreign-origin');
});

t.test('CSRF: Origin matching a public origin (any case) passes', async (t) => {
  t.equal((await validPost(harness(), { headers: { origin: 'https://app.example.com' } })).status, 303);
  t.equal((await validPost(harness(), { headers: { origin: 'HTTPS://APP.EXAMPLE.COM' } })).status, 303);
  const two = harness({ publicOrigins: ['https://login.example.com', 'https://app.example.com'] });
  t.equal((await validPost(two, { headers: { origin: 'https://login.example.com' } })).status, 303, 'second public origin');
});

t.test('CSRF: without publicUrl, Origin is compared with the request’s own origin', async (t) => {
  t.equal((await validPost(harness({ publicOrigins: [] }), { headers: { origin: 'https://app.example.com' } })).status, 303);
  const h = harness({ publicOrigins: [] });
  const pre = await preSession(h);
  csrfRefused(
    t,
    h,
    await post(h, { cookie: pre.cookie, token: pre.token, username: 'alice', password: PASSWORD, headers: { origin: 'https://evil.example' } }),
    'csrf-foreign-origin',
  );
});

t.test('CSRF refusals do not echo the posted username or an unsafe rd', async (t) => {
  const h = harness();
  const a = await post(h, { token: 'x', username: 'Call +1-555-0100 now', password: PASSWORD, rd: '//evil.example' });
  t.notMatch(a.body, '555-0100');
  t.equal(rdIn(a), '/');
});

// ---------------------------------------------------------------- POST: failures

t.test('one generic 401 for an unknown user and a wrong password', async (t) => {
  const h = harness();
  const wrong = await validPost(h, { username: 'alice', password: 'wrong-password' });
  const unknown = await validPost(h, { username: 'nobody', password: 'whatever' });
  t.equal(wrong.status, 401);
  t.equal(unknown.status, 401);
  t.equal(wrong.reason, 'invalid-credentials');
  t.equal(unknown.reason, wrong.reason);
  t.equal(alertIn(wrong), INVALID_CREDENTIALS_MESSAGE);
  t.equal(alertIn(unknown), INVALID_CREDENTIALS_MESSAGE);
  // Everything else identical too, once the typed name and the random token are masked.
  const mask = (a: LoginAnswer, name: string): string =>
    a.body.replace(/name="csrf" value="[^"]*"/, 'CSRF').replace(`value="${name}"`, 'USER');
  t.equal(mask(wrong, 'alice'), mask(unknown, 'nobody'));
  t.same(setCookies(wrong), []);
  t.same(setCookies(unknown), []);
  t.same({ ...wrong.headers }, { ...unknown.headers });
  t.equal(wrong.user, undefined, 'no user is logged for a failed attempt');
  t.same(h.sessions, []);
  t.match(wrong.body, 'value="alice"', 'the typed username is kept');
  t.notMatch(wrong.body, 'wrong-password');
  t.notMatch(unknown.body, 'whatever');
});

t.test('the form after a failure still works (same cookie, new token)', async (t) => {
  const h = harness();
  const pre = await preSession(h);
  const failed = await post(h, { cookie: pre.cookie, token: pre.token, username: 'alice', password: 'nope' });
  t.equal(failed.status, 401);
  const retry = await post(h, { cookie: pre.cookie, token: tokenIn(failed), username: 'alice', password: PASSWORD });
  t.equal(retry.status, 303);
});

t.test('a typed username with HTML is escaped when kept', async (t) => {
  const a = await validPost(harness(), { username: '"><script>alert(1)</script>', password: 'x' });
  t.equal(a.status, 401);
  t.notMatch(a.body, '<script>alert(1)');
  t.match(a.body, 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
});

t.test('throttled: 429 with Retry-After, username kept, no password', async (t) => {
  const throttled: AuthResult = { outcome: 'fail', reason: 'throttled', code: 'GATEHOUSE_ERR_AUTH_THROTTLED', retryAfter: 17 };
  const h = harness({ check: async () => throttled });
  const a = await validPost(h);
  t.equal(a.status, 429);
  t.equal(a.headers['retry-after'], '17');
  t.equal(a.reason, 'throttled');
  t.equal(alertIn(a), 'Too many failed attempts; retry later.');
  t.match(a.body, 'Code: GATEHOUSE_ERR_AUTH_THROTTLED');
  t.match(a.body, 'value="alice"');
  t.same(h.sessions, []);
  noPassword(t, a);
  const noHint = harness({ check: async () => ({ outcome: 'fail', reason: 'throttled', code: 'GATEHOUSE_ERR_AUTH_THROTTLED' }) });
  t.equal((await validPost(noHint)).headers['retry-after'], '60', 'a default when the checker gives none');
});

t.test('the checker failing on our side: its status and message, no sign-in', async (t) => {
  const internal = harness({ check: async () => ({ outcome: 'fail', reason: 'verify-error', code: 'GATEHOUSE_ERR_INTERNAL' }) });
  const a = await validPost(internal);
  t.equal(a.status, 500);
  t.equal(a.reason, 'verify-error');
  t.equal(alertIn(a), 'An internal error occurred.');
  t.same(internal.sessions, []);
  noPassword(t, a);

  const throwing = harness({ check: () => Promise.reject(new Error(`redis down, password was ${PASSWORD}`)) });
  const b = await validPost(throwing);
  t.equal(b.status, 503);
  t.equal(b.reason, 'checker-unavailable');
  t.equal(alertIn(b), 'Authentication is temporarily unavailable.');
  t.notMatch(b.body, 'redis down');
  noPassword(t, b);
});

t.test('a checker answering skip is a failed sign-in', async (t) => {
  const h = harness({ check: async () => ({ outcome: 'skip' }) });
  const a = await validPost(h);
  t.equal(a.status, 401);
  t.equal(alertIn(a), INVALID_CREDENTIALS_MESSAGE);
  t.same(h.sessions, []);
});

t.test('missing fields are checked as empty strings (same throttle, same answer)', async (t) => {
  const h = harness();
  const pre = await preSession(h);
  const a = await post(h, { cookie: pre.cookie, token: pre.token });
  t.equal(a.status, 401);
  t.same(h.checks, [['', '', IP]]);
});

t.test('bounded fields: username ≤ 256 characters, password ≤ 1024 bytes', async (t) => {
  t.equal(MAX_USERNAME_LENGTH, 256);
  t.equal(MAX_PASSWORD_BYTES, 1024);
  const h = harness();
  const longName = await validPost(h, { username: 'u'.repeat(257) });
  t.equal(longName.status, 400);
  t.equal(longName.reason, 'field-too-long');
  t.equal(alertIn(longName), 'The username or password is longer than allowed.');
  t.notMatch(longName.body, 'u'.repeat(257), 'the over-long name is not echoed');
  const longPassword = await validPost(h, { password: 'é'.repeat(513) }); // 1026 bytes, 513 characters
  t.equal(longPassword.status, 400);
  t.notMatch(longPassword.body, 'é'.repeat(10));
  t.same(h.checks, [], 'nothing over the bounds reaches the checker');
  t.equal((await validPost(h, { username: 'u'.repeat(256), password: 'p' })).status, 401, '256 characters: checked');
  t.equal((await validPost(h, { password: 'p'.repeat(1024) })).status, 401, '1024 bytes: checked');
  t.equal(h.checks.length, 2);
  t.equal(h.checks[1]![1].length, 1024);
});
