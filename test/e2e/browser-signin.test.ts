// Sign-in in a real browser: Debian's Chromium, driven by playwright-core, against a real
// gateway, a real recording upstream (the oracle for "never reached the upstream") and,
// for OIDC, a real oidc-provider 9 with its development login and consent pages.
// What only a browser shows: the cookies it really keeps and sends (__Host-, Secure,
// SameSite), the Origin and Sec-Fetch-Site it really attaches to form posts and fetches,
// CSP form-action on the redirect after a post, and the pages' labels and alerts.
//
// Needs /usr/bin/chromium (Debian package `chromium`; .ci/run installs it). Without it the
// whole file is skipped, loudly. Never downloads a browser.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hashSync } from '@node-rs/bcrypt';
import Provider from 'oidc-provider';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import t from 'tap';
import { requestLines, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startRecordingUpstream, type Recorded, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { freePort } from '../helpers/wait.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const CHROMIUM = '/usr/bin/chromium';
const COOKIE = '__Host-gatehouse';
const PASSWORD = 'correct horse battery staple';
const INVALID = 'The username or password is incorrect.';
const SECRET = 'e2e-session-secret-0123456789-abcdef';
const STEP_TIMEOUT_MS = 10_000;

// The probe's flags (machines/node-svc.md "Known to work"); host-resolver-rules keeps
// every non-loopback name (the OP's pages @import Google Fonts) from reaching DNS at all.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];

if (!existsSync(CHROMIUM)) {
  const why = `browser e2e needs ${CHROMIUM}: install Debian's package "chromium" (apt-get install -y chromium; .ci/run does it)`;
  process.stderr.write(`\n!!! SKIPPED ${why} !!!\n\n`);
  t.comment(why);
  t.plan(0, why);
} else {
  main();
}

function main(): void {
  let browser: Browser;
  t.before(async () => {
    // launch() starts from a new, empty user-data dir of its own (removed at close).
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  });
  t.teardown(async () => {
    await browser?.close();
  });

  t.test('form sign-in', (t) => formScenario(t, browser));
  t.test('OIDC sign-in and RP-initiated logout', (t) => oidcScenario(t, browser));
}

// ---------------------------------------------------------------- shared helpers

/** A fresh, isolated browser profile (own cookie jar) with a page. */
async function openPage(t: TapTest, browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  return { context, page };
}

/**
 * One step of a scenario as a subtest. The steps of a scenario build on each other: after
 * a failed one the rest are skipped (not left to time out one by one). On a failure the
 * page is saved to /tmp/gatehouse-e2e-<scenario>-<step>.png (not committed), and the
 * gateway's last decision lines are printed.
 */
function stepper(t: TapTest, page: Page, scenario: string, gw: () => TestGateway) {
  let failedStep: string | undefined;
  return (name: string, fn: (t: TapTest) => Promise<void>) => {
    if (failedStep !== undefined) return t.test(name, { skip: `an earlier step failed: ${failedStep}` }, () => undefined);
    return t.test(name, async (st) => {
      const report = async (): Promise<void> => {
        failedStep = name;
        const file = `/tmp/gatehouse-e2e-${scenario}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 80)}.png`;
        await page.screenshot({ path: file, fullPage: true }).then(
          () => st.comment(`screenshot: ${file} (at ${page.url()})`),
          () => undefined,
        );
        for (const l of requestLines(gw()).slice(-4)) st.comment(`gateway: ${l.method} ${l.path} → ${l.status} ${l.outcome} ${JSON.stringify(l.reasons ?? [])}`);
      };
      try {
        await fn(st);
      } catch (err) {
        await report();
        throw err;
      }
      if (!st.passing()) await report();
    });
  };
}

async function serve(handler: http.RequestListener): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A page on another origin that auto-submits a form POST to `action` (a CSRF attempt). */
async function attackerSite(t: TapTest, action: string): Promise<number> {
  const site = await serve((_req, res) => {
    const html =
      '<!doctype html><html lang="en"><head><title>Win a prize</title></head><body>' +
      `<form id="f" method="post" action="${action}"><input type="hidden" name="amount" value="1000"></form>` +
      '<script>document.getElementById("f").submit()</script></body></html>';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  t.teardown(() => site.close());
  return site.port;
}

const upstreamSaw = (upstream: RecordingUpstream, method: string, url: string): Recorded[] =>
  upstream.requests.filter((r) => r.method === method && r.url === url);

/** Every header value the upstream received, as one string (for "no credential leaked"). */
const allHeaderText = (r: Recorded): string => r.rawHeaders.join('\n');

const sessionCookieOf = async (context: BrowserContext, origin: string) => (await context.cookies(origin)).find((c) => c.name === COOKIE);

// ---------------------------------------------------------------- 1. the form provider

async function formScenario(t: TapTest, browser: Browser): Promise<void> {
  const upstream = await startRecordingUpstream();
  t.teardown(() => upstream.close());
  // publicUrl names the gateway's own origin, so its port is chosen before it listens.
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const hash = hashSync(PASSWORD, 4);
  const gw = await startTestGateway(`listen: 127.0.0.1:${port}
publicUrl: ${origin}
sessions:
  store: memory
  # The production default (__Host-, Secure) on plain http: Chromium treats loopback as a
  # secure context and keeps Secure cookies from http://127.0.0.1.
  cookie: { name: ${COOKIE}, secure: true, sameSite: lax }
  secret: ${SECRET}
  maxAge: 1h
  idleTimeout: 30m
login:
  providers:
    local: { type: form, authenticator: staff, label: Staff }
authenticators:
  web: { type: session }
  staff:
    type: basic
    realm: Staff
    users:
      - { name: alice, hash: "${hash}" }
    groups:
      alice: [staff, admin]
routes:
  - name: app
    match: { path: /app/** }
    upstream: ${upstream.url}
    auth: web
    allow: { groups: [staff] }
`);
  t.teardown(() => gw.close());
  t.equal(gw.url, origin, 'the gateway listens where publicUrl says');

  const { context, page } = await openPage(t, browser);
  const step = stepper(t, page, 'form', () => gw);
  const protectedPath = '/app/reports?q=caf%C3%A9&sort=-date&page=2';
  const signInUrl = `${origin}/.gatehouse/login/local?rd=${encodeURIComponent(protectedPath)}`;
  let sessionValue = '';

  await step('a protected URL sends the browser to an accessible sign-in form', async (t) => {
    const res = await page.goto(origin + protectedPath);
    t.equal(page.url(), signInUrl, 'redirected to the form provider, rd = path and query');
    t.equal(res?.status(), 200);
    t.equal(await page.title(), 'Sign in to Staff');
    t.equal(await page.locator('html').getAttribute('lang'), 'en');
    t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Sign in to Staff');
    const username = page.getByLabel('Username', { exact: true });
    const password = page.getByLabel('Password', { exact: true });
    t.equal(await username.getAttribute('type'), 'text', 'the Username label names the text field');
    t.equal(await username.getAttribute('autocomplete'), 'username');
    t.equal(await password.getAttribute('type'), 'password', 'the Password label names the password field');
    t.equal(await password.getAttribute('autocomplete'), 'current-password');
    t.equal(await page.getByRole('button', { name: 'Sign in' }).count(), 1);
    t.equal(await page.getByRole('alert').count(), 0, 'no error shown yet (the empty alert region is hidden)');
    // Keyboard order: username → password → button. (A string expression: the test's
    // tsconfig has no DOM lib.)
    const focused = (): Promise<string> => page.evaluate<string>('`${document.activeElement?.tagName} ${document.activeElement?.id || document.activeElement?.textContent}`');
    await username.focus();
    await page.keyboard.press('Tab');
    t.equal(await focused(), 'INPUT password', 'Tab: to the password field');
    await page.keyboard.press('Tab');
    t.equal(await focused(), 'BUTTON Sign in', 'Tab: to the button');
    const csrf = (await context.cookies(origin)).find((c) => c.name === `${COOKIE}-csrf`);
    t.match(csrf, { path: '/', httpOnly: true, secure: true, sameSite: 'Lax' }, 'pre-session CSRF cookie kept by the browser');
    t.equal(upstream.requests.length, 0, 'the upstream was not reached');
  });

  await step('a wrong password and an unknown user show the same one generic error', async (t) => {
    const texts: string[] = [];
    for (const [user, pass] of [
      ['alice', 'wrong password'],
      ['mallory', PASSWORD],
    ] as const) {
      await page.getByLabel('Username', { exact: true }).fill(user);
      await page.getByLabel('Password', { exact: true }).fill(pass);
      const [res] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === `${origin}/.gatehouse/login/local`),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      await page.waitForLoadState();
      const headers = await res.request().allHeaders();
      t.comment(`sign-in POST sent Origin: ${headers.origin}, Sec-Fetch-Site: ${headers['sec-fetch-site']}`);
      t.equal(res.status(), 401, `${user}: 401`);
      const alert = page.getByRole('alert');
      texts.push((await alert.textContent()) ?? '');
      t.equal(await alert.textContent(), INVALID, `${user}: the generic message`);
      t.equal(await page.getByLabel('Username', { exact: true }).inputValue(), user, 'username kept');
      t.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '', 'password never echoed');
      t.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');
      t.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-describedby'), 'error');
      t.notOk(await page.content().then((html) => html.includes(pass)), 'the typed password is nowhere in the page');
    }
    t.equal(texts[0], texts[1], 'no oracle between unknown user and wrong password');
    t.equal(await sessionCookieOf(context, origin), undefined, 'no session cookie');
    t.equal(upstream.requests.length, 0);
  });

  await step('the right password lands on the original URL, query intact; the upstream sees the identity, not the cookie', async (t) => {
    await page.getByLabel('Username', { exact: true }).fill('alice');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await Promise.all([page.waitForURL(origin + protectedPath), page.getByRole('button', { name: 'Sign in' }).click()]);
    t.equal(page.url(), origin + protectedPath);
    const cookie = await sessionCookieOf(context, origin);
    t.match(cookie, { path: '/', httpOnly: true, secure: true, sameSite: 'Lax', domain: '127.0.0.1' }, 'session cookie attributes as the browser keeps them');
    t.match(cookie?.value, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_+/=-]+$/, '<id>.<hmac>');
    sessionValue = cookie?.value ?? '';
    t.equal((await context.cookies(origin)).some((c) => c.name === `${COOKIE}-csrf`), false, 'pre-session cookie cleared');
    const seen = upstreamSaw(upstream, 'GET', protectedPath);
    t.equal(seen.length, 1, 'the upstream got the original request once');
    const h = seen[0]?.headers ?? {};
    t.equal(h['x-auth-user'], 'alice');
    t.equal(h['x-auth-groups'], 'staff,admin');
    t.equal(h['x-auth-method'], 'session');
    t.equal(h['x-auth-route'], 'app');
    t.equal(h.cookie, undefined, 'no Cookie header at all: the session cookie stays at the gate');
    t.notOk(allHeaderText(seen[0]!).includes(sessionValue.split('.')[0]!), 'the session id is in no upstream header');
    t.match(await page.locator('body').textContent(), /"x-auth-user":"alice"/, 'the page is the upstream\'s answer');
  });

  await step('a same-origin fetch POST from the page passes', async (t) => {
    const result = await page.evaluate(async () => {
      const r = await fetch('/app/api/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"widget"}' });
      return { status: r.status, body: await r.text() };
    });
    t.equal(result.status, 200);
    const seen = upstreamSaw(upstream, 'POST', '/app/api/items');
    t.equal(seen.length, 1, 'the upstream received the POST');
    t.equal(seen[0]?.body, '{"name":"widget"}');
    t.equal(seen[0]?.headers['x-auth-user'], 'alice');
    t.equal(seen[0]?.headers['x-auth-method'], 'session');
    t.equal(seen[0]?.headers['sec-fetch-site'], 'same-origin', 'what the browser said');
    t.equal(seen[0]?.headers.origin, origin);
    t.equal(seen[0]?.headers.cookie, undefined);
  });

  await step('a same-site form POST from another loopback port is refused with 403 and never forwarded', async (t) => {
    // 127.0.0.1 on another port is same-site (ports do not count), so SameSite=Lax lets
    // the session cookie ride along: only the Sec-Fetch-Site check stands in the way.
    const attacker = await attackerSite(t, `${origin}/app/transfer`);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${origin}/app/transfer`),
      page.goto(`http://127.0.0.1:${attacker}/`),
    ]);
    await page.waitForURL(`${origin}/app/transfer`);
    const sent = await res.request().allHeaders();
    t.equal(sent['sec-fetch-site'], 'same-site');
    t.equal(sent.origin, `http://127.0.0.1:${attacker}`);
    t.match(sent.cookie, `${COOKIE}=`, 'the browser did send the session cookie');
    t.equal(res.status(), 403);
    t.match(JSON.parse(await res.text()), { code: 'GATEHOUSE_ERR_CSRF_REJECTED' });
    t.same(upstreamSaw(upstream, 'POST', '/app/transfer'), [], 'the upstream never saw it');
    const line = requestLines(gw).findLast((l) => l.path === '/app/transfer');
    t.match(line, { method: 'POST', status: 403, user: 'alice' }, 'refused for CSRF with a live session, not for a missing one');
  });

  await step('a cross-site form POST (another host) carries no cookie and never reaches the upstream', async (t) => {
    const attacker = await attackerSite(t, `${origin}/app/transfer-2`);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${origin}/app/transfer-2`),
      page.goto(`http://localhost:${attacker}/`),
    ]);
    const sent = await res.request().allHeaders();
    t.equal(sent['sec-fetch-site'], 'cross-site');
    t.equal(sent.cookie, undefined, 'SameSite=Lax withholds the cookie from a cross-site POST');
    t.equal(res.status(), 401, 'no session: an unsafe request is not redirected, just refused');
    t.same(upstreamSaw(upstream, 'POST', '/app/transfer-2'), [], 'the upstream never saw it');
  });

  await step('sign out: the logout page, the button, back on the sign-in page', async (t) => {
    await page.goto(`${origin}/.gatehouse/logout`);
    t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Sign out');
    t.match(await page.locator('main').textContent(), 'You are signed in as alice.');
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === `${origin}/.gatehouse/logout`),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    const headers = await res.request().allHeaders();
    t.comment(`logout POST sent Origin: ${headers.origin}, Sec-Fetch-Site: ${headers['sec-fetch-site']}`);
    t.equal(res.status(), 303);
    await page.waitForURL(`${origin}/.gatehouse/login/local?rd=%2F`);
    t.equal(page.url(), `${origin}/.gatehouse/login/local?rd=%2F`, 'back on the sign-in form');
    t.equal(await sessionCookieOf(context, origin), undefined, 'the browser dropped the cookie');
    // The server side ended too: the old cookie, replayed by hand, is no session.
    const replay = await fetch(origin + protectedPath, { headers: { cookie: `${COOKIE}=${sessionValue}` }, redirect: 'manual' });
    t.equal(replay.status, 401, 'the old cookie is dead on the server');
    await replay.body?.cancel();
  });

  await step('the protected URL asks for sign-in again; the upstream is not reached', async (t) => {
    const before = upstream.requests.length;
    await page.goto(origin + protectedPath);
    t.equal(page.url(), signInUrl);
    t.equal(await page.getByLabel('Password', { exact: true }).count(), 1);
    t.equal(upstream.requests.length, before);
  });

  t.notOk(gw.logText().includes(PASSWORD), 'the password is in no log line');
  t.notOk(sessionValue !== '' && gw.logText().includes(sessionValue.split('.')[0]!), 'the session id is in no log line');
}

// ---------------------------------------------------------------- 2. an OIDC provider

const OIDC_CLIENT_ID = 'gatehouse';
const OIDC_CLIENT_SECRET = 'gatehouse-e2e-client-secret-0123456789';

interface Account {
  preferred_username: string;
  email: string;
  name: string;
  groups: string[];
}
const ACCOUNTS: Record<string, Account> = {
  alice: { preferred_username: 'alice', email: 'alice@example.com', name: 'Alice Liddell', groups: ['staff', 'admin'] },
};

async function startOp(t: TapTest, gatewayOrigin: string): Promise<{ issuer: string; provider: Provider }> {
  let provider: Provider | undefined;
  const op = await serve((req, res) => void provider!.callback()(req, res));
  t.teardown(() => op.close());
  const issuer = `http://127.0.0.1:${op.port}`;
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  provider = new Provider(issuer, {
    clients: [
      {
        client_id: OIDC_CLIENT_ID,
        client_secret: OIDC_CLIENT_SECRET,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [`${gatewayOrigin}/.gatehouse/callback/corp`],
        // Where gatehouse asks the OP to send the browser after RP-initiated logout.
        post_logout_redirect_uris: [`${gatewayOrigin}/.gatehouse/login`],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [{ ...key.export({ format: 'jwk' }), kid: 'e2e-op-key', alg: 'ES256', use: 'sig' }] },
    findAccount: async (_ctx, id) => {
      const account = ACCOUNTS[id];
      return account === undefined ? undefined : { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
    claims: { openid: ['sub'], email: ['email'], profile: ['name', 'preferred_username'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // Scope claims in the ID token (gatehouse reads them there: userinfo is off).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    cookies: { keys: ['e2e-op-cookie-key-0123456789'] },
    ttl: { AccessToken: 300, AuthorizationCode: 60, IdToken: 3600, RefreshToken: 86_400, Grant: 86_400, Interaction: 600, Session: 86_400 },
  });
  return { issuer, provider };
}

async function oidcScenario(t: TapTest, browser: Browser): Promise<void> {
  const upstream = await startRecordingUpstream();
  t.teardown(() => upstream.close());
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const { issuer } = await startOp(t, origin);
  const gw = await startTestGateway(`listen: 127.0.0.1:${port}
publicUrl: ${origin}
sessions:
  store: memory
  cookie: { name: ${COOKIE}, secure: true, sameSite: lax }
  secret: ${SECRET}
  maxAge: 1h
  idleTimeout: 30m
login:
  providers:
    corp:
      type: oidc
      label: Corp SSO
      issuer: ${issuer}
      clientId: ${OIDC_CLIENT_ID}
      clientSecret: ${OIDC_CLIENT_SECRET}
      scopes: [openid, email, profile, groups]
      claims: { user: preferred_username, email: email, name: name, groups: groups }
authenticators:
  web: { type: session }
routes:
  - name: app
    match: { path: /app/** }
    upstream: ${upstream.url}
    auth: web
    allow: { groups: [staff] }
`);
  t.teardown(() => gw.close());

  const { context, page } = await openPage(t, browser);
  const step = stepper(t, page, 'oidc', () => gw);
  const protectedPath = '/app/dashboard?tab=activity&range=7d';
  let sessionValue = '';
  const opLoginPage = new RegExp(`^${issuer.replace(/[.]/g, '\\.')}/interaction/[\\w-]+$`);

  await step('a protected URL goes through gatehouse to the OP\'s login page', async (t) => {
    const hops: string[] = [];
    const onRequest = (r: { url(): string; isNavigationRequest(): boolean }): void => {
      if (r.isNavigationRequest()) hops.push(r.url());
    };
    page.on('request', onRequest);
    await page.goto(origin + protectedPath);
    page.off('request', onRequest);
    t.match(page.url(), opLoginPage, 'at the OP');
    t.equal(hops[1], `${origin}/.gatehouse/login?rd=${encodeURIComponent(protectedPath)}`);
    t.equal(hops[2], `${origin}/.gatehouse/login/corp?rd=${encodeURIComponent(protectedPath)}`, 'one provider: no chooser');
    const authorize = new URL(hops[3]!);
    t.equal(`${authorize.origin}${authorize.pathname}`, `${issuer}/auth`);
    t.equal(authorize.searchParams.get('redirect_uri'), `${origin}/.gatehouse/callback/corp`, 'redirect_uri from publicUrl');
    t.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    t.equal(authorize.searchParams.get('scope'), 'openid email profile groups');
    const tx = (await context.cookies(origin)).find((c) => c.name === `${COOKIE}-tx`);
    t.match(tx, { httpOnly: true, secure: true, sameSite: 'Lax' }, 'login transaction cookie');
    t.equal(upstream.requests.length, 0);
  });

  await step('login and consent at the OP land on the original URL; the upstream sees the mapped identity', async (t) => {
    await page.locator('input[name="login"]').fill('alice');
    await page.locator('input[name="password"]').fill('any password: devInteractions');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(origin + protectedPath);
    t.equal(page.url(), origin + protectedPath, 'back on the protected URL, query intact');
    const seen = upstreamSaw(upstream, 'GET', protectedPath);
    t.equal(seen.length, 1);
    const h = seen[0]?.headers ?? {};
    t.equal(h['x-auth-user'], 'alice');
    t.equal(h['x-auth-email'], 'alice@example.com');
    t.equal(h['x-auth-name'], 'Alice Liddell');
    t.equal(h['x-auth-groups'], 'staff,admin');
    t.equal(h['x-auth-method'], 'session');
    // Cookies ignore ports (RFC 6265 §8.5): the OP's own cookies, set by 127.0.0.1:<op>,
    // ride along to 127.0.0.1:<gateway>. Only gatehouse's cookies are taken out.
    const forwarded = (h.cookie ?? '').split(';').map((c) => c.trim().split('=')[0]!).filter(Boolean).sort();
    const othersInJar = (await context.cookies(origin + '/app/dashboard')).map((c) => c.name).filter((n) => !n.startsWith(COOKIE)).sort();
    t.same(forwarded, othersInJar, `exactly the browser's other cookies go upstream (${forwarded.join(', ') || 'none'})`);
    const session = await sessionCookieOf(context, origin);
    t.match(session, { httpOnly: true, secure: true, sameSite: 'Lax' });
    sessionValue = session?.value ?? '';
    t.notOk(allHeaderText(seen[0]!).includes(sessionValue.split('.')[0]!), 'the session id is in no upstream header');
    t.equal((await context.cookies(origin)).some((c) => c.name === `${COOKIE}-tx`), false, 'tx cookie cleared');
  });

  await step('logout at gatehouse continues to the OP\'s end-session page, then back to sign-in', async (t) => {
    await page.goto(`${origin}/.gatehouse/logout`);
    t.match(await page.locator('main').textContent(), 'You are signed in as alice.');
    const hops: string[] = [];
    page.on('request', (r) => {
      if (r.isNavigationRequest()) hops.push(`${r.method()} ${r.url()}`);
    });
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === `${origin}/.gatehouse/logout`),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    const location = res.headers().location;
    if (res.status() !== 303 || location === undefined) throw new Error(`the logout POST answered ${res.status()}, not a redirect to the OP`);
    const endSession = new URL(location);
    t.equal(`${endSession.origin}${endSession.pathname}`, `${issuer}/session/end`, 'RP-initiated logout at the OP');
    t.equal(endSession.searchParams.get('post_logout_redirect_uri'), `${origin}/.gatehouse/login`);
    t.equal(endSession.searchParams.get('client_id'), OIDC_CLIENT_ID);
    t.match(endSession.searchParams.get('id_token_hint'), /^eyJ/);
    // The CSP form-action of the logout page allows the OP: Chrome follows the 303 there.
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/session/end`));
    t.equal(await sessionCookieOf(context, origin), undefined, 'gatehouse cookie gone');
    const yes = page.getByRole('button', { name: 'Yes, sign me out' });
    t.equal(await yes.count(), 1, 'the OP asks for confirmation');
    await yes.click();
    // The OP sends the browser to post_logout_redirect_uri = /.gatehouse/login, whose one
    // provider starts a new sign-in: with the OP session gone, that is the OP's login page.
    await page.waitForURL(opLoginPage);
    t.ok(hops.includes(`GET ${origin}/.gatehouse/login`), `came back through /.gatehouse/login: ${hops.join(' → ')}`);
    t.equal(await page.locator('input[name="login"]').count(), 1, 'the OP asks for a login again: its session ended too');
    const replay = await fetch(origin + protectedPath, { headers: { cookie: `${COOKIE}=${sessionValue}` }, redirect: 'manual' });
    t.equal(replay.status, 401, 'the old gatehouse cookie is dead on the server');
    await replay.body?.cancel();
  });

  await step('the protected URL goes back to the OP; the upstream is not reached', async (t) => {
    const before = upstream.requests.length;
    await page.goto(origin + protectedPath);
    t.match(page.url(), opLoginPage);
    t.equal(upstream.requests.length, before);
  });
}
