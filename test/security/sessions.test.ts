// Sessions and sign-in under attack (security.md §8 sessions, §9 redirects, §10 fail
// closed, §12 credentials at the gate, §13 secrets): fixation, forged and tampered
// cookies, secret rotation, server-side expiry, CSRF on the sign-in form, on logout and on
// unsafe upstream calls, open redirects through the real endpoints, credential leaks to
// upstreams and logs, the sign-in form's oracle and throttle, and gatehouse's own paths
// under a catch-all route. Every case goes through a real gateway to a recording upstream
// and asserts on what arrived there (or that nothing did), never on the status alone.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashSync } from '@node-rs/bcrypt';
import { Redis } from 'ioredis';
import t from 'tap';
import { compileConfig } from '../../src/config/compile.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { SessionStore } from '../../src/sessions/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { SHARED_REDIS_URL, deleteKeysUnder, keysUnder, runPrefix } from '../helpers/redis.js';
import { hidden } from '../helpers/sign-in.js';
import {
  HOST,
  ORIGIN,
  PRE,
  SAME_ORIGIN,
  SESSION,
  TX,
  cookieNamesUpstream,
  cookieSet,
  everythingUpstream,
  send,
  type Response,
} from './session-client.js';
import { assertNothingForwarded, basic, onlyRequest, sleep, startByteTap, valuesFolded, type ByteTap, type TapTest } from './support.js';

const SECRET = 'sessions-attack-suite-secret-0123456789';
const OTHER_SECRET = 'another-deployment-secret-9876543210abcdef';
const REDIS_PREFIX = runPrefix('sessions-');
const LEAKY_PASSWORD = 'Leaky-Pa55word-unique-7f3a';

const users: Array<[string, string]> = [
  ['alice', 'wonderland'],
  ['bob', 'builder'],
  ['tim', 't1m-pass'],
  ['sam', 's4m-pass'],
  ['uma', 'um4-pass'],
  ['leaky', LEAKY_PASSWORD],
];
const usersYaml = users.map(([name, pw]) => `      - { name: ${name}, hash: "${hashSync(pw, 4)}" }`).join('\n');
const password = (user: string): string => users.find(([n]) => n === user)![1];

/** The shared part of every gateway here: sign-in form against `staff`, session authenticator `web`. */
function config(upstreamUrl: string, sessions: string, extraRoutes = ''): string {
  return `
publicUrl: ${ORIGIN}
trustedProxies: [127.0.0.1]
sessions:
${sessions}
authenticators:
  web:
    type: session
  staff:
    type: basic
    realm: Staff
    users:
${usersYaml}
    throttle: { window: 60s, maxFailuresPerUserAndIp: 3, maxFailuresPerIp: 6, slowdownAfterUserFailures: 100 }
login:
  providers:
    local: { type: form, authenticator: staff }
  allowedRedirectHosts: [docs.example.com]
routes:
${extraRoutes}
  - name: app
    match: { path: /app/** }
    upstream: ${upstreamUrl}
    auth: [web, staff]
  - name: web
    match: { path: /web/** }
    upstream: ${upstreamUrl}
    auth: web
  - name: hooks
    match: { path: /hooks/** }
    upstream: ${upstreamUrl}
    auth: web
    csrf: off
  - name: pass
    match: { path: /pass/** }
    upstream: ${upstreamUrl}
    auth: web
    forwardCredentials: true
  - name: everything-else
    match: { path: /** }
    upstream: ${upstreamUrl}
    auth: anonymous
`;
}

const memorySessions = (secret: string | string[], lifetimes = 'maxAge: 12h\n  idleTimeout: 1h'): string =>
  `  store: memory\n  secret: ${JSON.stringify(secret)}\n  ${lifetimes}`;
const redisSessions = `  store: redis\n  redis: { url: "${SHARED_REDIS_URL}", keyPrefix: "${REDIS_PREFIX}" }\n  secret: "${SECRET}"\n  maxAge: 12h\n  idleTimeout: 30m`;

let upstream: RecordingUpstream;
let gw: TestGateway;
let short: TestGateway;
let rotating: TestGateway;
let redisA: TestGateway;
let redisB: TestGateway;
let redis: Redis;
let outage: TestGateway;
let outageTap: ByteTap;

t.before(async () => {
  upstream = await startRecordingUpstream();
  gw = await startTestGateway(config(upstream.url, memorySessions(SECRET)));
  short = await startTestGateway(config(upstream.url, memorySessions(SECRET, 'maxAge: 4s\n  idleTimeout: 2s')));
  rotating = await startTestGateway(config(upstream.url, memorySessions(['old-secret-of-this-deployment-0123456789'])));
  redisA = await startTestGateway(config(upstream.url, redisSessions));
  redisB = await startTestGateway(config(upstream.url, redisSessions));
  redis = new Redis(SHARED_REDIS_URL);
  // Redis behind a relay the outage cases cut (security.md §10).
  outageTap = await startByteTap('http://127.0.0.1:6379');
  outage = await startTestGateway(
    config(upstream.url, redisSessions.replace(SHARED_REDIS_URL, `redis://${new URL(outageTap.url).host}/0`).replace(`keyPrefix: "${REDIS_PREFIX}"`, `keyPrefix: "${REDIS_PREFIX}outage:"`)),
  );
});

t.afterEach(async () => {
  upstream.requests.length = 0;
});

t.teardown(async () => {
  await Promise.all([gw, short, rotating, redisA, redisB, outage].map((g) => g.close()));
  await outageTap.close().catch(() => undefined);
  await upstream.close();
  await deleteKeysUnder(redis, REDIS_PREFIX);
  await redis.quit();
});

// --- the browser's side ------------------------------------------------------------------------

let ipCounter = 0;
/** A client address of its own (behind the trusted proxy), so throttle counts never mix. */
const freshIp = (): string => `198.18.${Math.floor(++ipCounter / 250)}.${(ipCounter % 250) + 1}`;

interface FormPage {
  readonly res: Response;
  /** The pre-session cookie value the browser holds after this page. */
  readonly pre: string;
  readonly csrf: string;
  readonly rd: string;
}

/** GET the sign-in form, as a browser holding `cookies`. */
async function openForm(on: TestGateway, opts: { rd?: string; cookies?: readonly string[]; ip?: string; query?: string } = {}): Promise<FormPage> {
  const query = opts.query ?? (opts.rd === undefined ? '' : `?rd=${encodeURIComponent(opts.rd)}`);
  const res = await send(on.url, { target: `/.gatehouse/login/local${query}`, cookies: opts.cookies ?? [], ip: opts.ip ?? freshIp(), headers: ['Accept: text/html'] });
  const presented = (opts.cookies ?? []).join(';').match(new RegExp(`(?:^|;)\\s*${PRE}=([^;]*)`))?.[1];
  return { res, pre: cookieSet(res, PRE) ?? presented ?? '', csrf: hidden(res.body, 'csrf') ?? '', rd: hidden(res.body, 'rd') ?? '' };
}

interface PostOptions {
  readonly user: string;
  readonly password: string;
  readonly csrf?: string;
  readonly rd?: string;
  readonly cookies?: readonly string[];
  readonly headers?: readonly string[];
  readonly ip?: string;
  readonly target?: string;
  readonly extraFields?: Readonly<Record<string, string>>;
}

function postForm(on: TestGateway, o: PostOptions): Promise<Response> {
  const form: Record<string, string> = { username: o.user, password: o.password };
  if (o.csrf !== undefined) form.csrf = o.csrf;
  if (o.rd !== undefined) form.rd = o.rd;
  return send(on.url, { method: 'POST', target: o.target ?? '/.gatehouse/login/local', cookies: o.cookies ?? [], headers: o.headers ?? SAME_ORIGIN, ip: o.ip ?? freshIp(), form: { ...form, ...o.extraFields } });
}

/** The whole sign-in as a browser does it; returns the session cookie value and the answer. */
async function signIn(on: TestGateway, user: string, opts: { cookies?: readonly string[]; rd?: string; ip?: string } = {}): Promise<{ session: string; res: Response; form: FormPage }> {
  const ip = opts.ip ?? freshIp();
  const form = await openForm(on, { ...opts, ip });
  const others = (opts.cookies ?? []).filter((c) => !c.startsWith(`${PRE}=`));
  const res = await postForm(on, { user, password: password(user), csrf: form.csrf, rd: form.rd, cookies: [...others, `${PRE}=${form.pre}`], ip });
  return { session: cookieSet(res, SESSION) ?? '', res, form };
}

const sessionCookie = (value: string): string => `${SESSION}=${value}`;
const errorCode = (res: Response): unknown => (JSON.parse(res.body) as { code?: unknown }).code;

/** The session authenticates on the session-only route: the upstream is told this user. */
async function assertLive(t: TapTest, session: string, user: string, on: TestGateway = gw): Promise<void> {
  upstream.requests.length = 0;
  const res = await send(on.url, { target: '/web/whoami', cookies: [sessionCookie(session)] });
  t.equal(res.status, 200, `the session of ${user} is live`);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), [user]);
  upstream.requests.length = 0;
}

/** The session authenticates nothing: 401 (AUTH_REQUIRED for an unknown id, SESSION_INVALID for a bad cookie), nothing forwarded. */
async function assertDead(t: TapTest, session: string, on: TestGateway = gw, code = 'GATEHOUSE_ERR_AUTH_REQUIRED'): Promise<void> {
  upstream.requests.length = 0;
  const res = await send(on.url, { target: '/web/whoami', cookies: [sessionCookie(session)] });
  t.equal(res.status, 401, 'the session authenticates nothing');
  t.equal(errorCode(res), code);
  await assertNothingForwarded(t, upstream, 'a dead session reaches nothing');
}

/** A login answer signed nobody in: no session cookie, and whatever it set opens nothing. */
async function assertNotSignedIn(t: TapTest, res: Response, on: TestGateway = gw): Promise<void> {
  t.notOk(res.setCookies.some((c) => c.name === SESSION && c.value !== ''), 'no session cookie was issued');
  upstream.requests.length = 0;
  const cookies = res.setCookies.filter((c) => c.value !== '').map((c) => `${c.name}=${c.value}`);
  const probe = await send(on.url, { target: '/web/whoami', cookies: cookies.length > 0 ? [cookies.join('; ')] : [] });
  t.equal(probe.status, 401);
  await assertNothingForwarded(t, upstream, 'nothing the answer set opens a session');
}

/** Our cookie signature: HMAC-SHA256 in base64 without padding (written out, not imported). */
const sign = (value: string, secret: string): string => `${value}.${createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '')}`;
const idOf = (cookieValue: string): string => cookieValue.slice(0, cookieValue.lastIndexOf('.'));
const newId = (): string => randomBytes(32).toString('base64url');
const storeOf = (on: TestGateway): SessionStore => on.gateway.runtime.current.config.sessions!.shared.store;

// =============================================================================================
// Session fixation (§8: a new id at every sign-in)
// =============================================================================================

t.test('fixation: a signed-in attacker cookie planted before sign-in is replaced, and stops working', async (t) => {
  const attacker = (await signIn(gw, 'bob')).session;
  await assertLive(t, attacker, 'bob');
  const victim = await signIn(gw, 'alice', { cookies: [sessionCookie(attacker)] });
  t.equal(victim.res.status, 303);
  t.not(victim.session, '');
  t.not(victim.session, attacker, 'the cookie after sign-in is not the planted one');
  t.not(idOf(victim.session), idOf(attacker));
  await assertLive(t, victim.session, 'alice');
  await assertDead(t, attacker);
});

t.test('fixation: an attacker-chosen id is never adopted, not even one signed with our secret', async (t) => {
  // Worst case for fixation: the planted value passes the signature check (a leaked
  // secret). The server must still make the id itself.
  const chosen = newId();
  const planted = sign(chosen, SECRET);
  const { session, res } = await signIn(gw, 'alice', { cookies: [sessionCookie(planted)] });
  t.equal(res.status, 303);
  t.not(idOf(session), chosen);
  await assertLive(t, session, 'alice');
  await assertDead(t, planted);
});

t.test('fixation: an unsigned attacker-chosen value planted before sign-in is never the id after', async (t) => {
  const chosen = 'Attacker-Chosen-Value-0000000000000000000000';
  const { session, res } = await signIn(gw, 'alice', { cookies: [sessionCookie(chosen)] });
  t.equal(res.status, 303);
  t.not(idOf(session), chosen);
  t.notMatch(session, /Attacker-Chosen/);
  await assertLive(t, session, 'alice');
  await assertDead(t, chosen, gw, 'GATEHOUSE_ERR_SESSION_INVALID');
});

t.test('fixation: signing in again replaces the id; the old id stops working at once', async (t) => {
  const first = (await signIn(gw, 'alice')).session;
  await assertLive(t, first, 'alice');
  const second = (await signIn(gw, 'alice', { cookies: [sessionCookie(first)] })).session;
  t.not(second, '');
  t.not(idOf(second), idOf(first));
  await assertLive(t, second, 'alice');
  await assertDead(t, first);
});

t.test('fixation: the sign-in clears the pre-session cookie and every new cookie is HttpOnly, Secure, Lax', async (t) => {
  const { res } = await signIn(gw, 'alice');
  const set = res.setCookies.find((c) => c.name === SESSION)!;
  t.same(set.attributes, ['Max-Age=43200', 'Path=/', 'HttpOnly', 'Secure', 'SameSite=Lax']);
  const pre = res.setCookies.find((c) => c.name === PRE);
  t.equal(pre?.value, '', 'the pre-session cookie is cleared');
  t.ok(pre?.attributes.includes('Max-Age=0'));
});

t.test('ambiguous: two Cookie headers each with a session cookie (two live users) → 401, never forwarded', async (t) => {
  const alice = (await signIn(gw, 'alice')).session;
  const bob = (await signIn(gw, 'bob')).session;
  for (const order of [[alice, bob], [bob, alice]]) {
    upstream.requests.length = 0;
    const res = await send(gw.url, { target: '/web/x', cookies: order.map(sessionCookie) });
    t.equal(res.status, 401);
    t.equal(errorCode(res), 'GATEHOUSE_ERR_SESSION_INVALID');
    await assertNothingForwarded(t, upstream);
  }
});

t.test('ambiguous: the session cookie twice in one Cookie header (live + planted) → 401, never forwarded', async (t) => {
  const alice = (await signIn(gw, 'alice')).session;
  for (const header of [`${sessionCookie(alice)}; ${sessionCookie('planted')}`, `${sessionCookie('planted')}; ${sessionCookie(alice)}`, `${sessionCookie(alice)}; ${sessionCookie(alice)}`, `a=1;${sessionCookie(alice)};  ${SESSION} =${alice}`]) {
    upstream.requests.length = 0;
    const res = await send(gw.url, { target: '/app/x', cookies: [header] });
    t.equal(res.status, 401, header.replaceAll(alice, '<alice>'));
    await assertNothingForwarded(t, upstream);
  }
  // A browser is sent to sign in again rather than served as either user.
  const nav = await send(gw.url, { target: '/app/x', cookies: [`${sessionCookie(alice)}; ${sessionCookie('planted')}`], headers: ['Accept: text/html'] });
  t.equal(nav.status, 302);
  t.equal(nav.headers.location, '/.gatehouse/login?rd=%2Fapp%2Fx');
  await assertNothingForwarded(t, upstream);
});

t.test('ambiguous: a doubled session cookie is not "resolved" by Basic credentials either', async (t) => {
  const alice = (await signIn(gw, 'alice')).session;
  const res = await send(gw.url, { target: '/app/x', cookies: [sessionCookie(alice), sessionCookie('planted')], headers: [`Authorization: ${basic('bob', 'builder')}`] });
  t.equal(res.status, 401);
  await assertNothingForwarded(t, upstream);
});

// =============================================================================================
// Tampered, unsigned and forged cookies (§8: a bad signature is a failure)
// =============================================================================================

let aliceCookie = '';
let bobCookie = '';
t.test('forged cookies: setup (two live sessions to tamper with)', async (t) => {
  aliceCookie = (await signIn(gw, 'alice')).session;
  bobCookie = (await signIn(gw, 'bob')).session;
  await assertLive(t, aliceCookie, 'alice');
  await assertLive(t, bobCookie, 'bob');
});

const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
const sigOf = (v: string): string => v.slice(v.lastIndexOf('.') + 1);

const forged: Array<[string, () => string, string]> = [
  ['the last signature character flipped', () => flip(aliceCookie, aliceCookie.length - 1), 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['the first signature character flipped', () => flip(aliceCookie, aliceCookie.lastIndexOf('.') + 1), 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['one id character flipped, the signature kept', () => flip(aliceCookie, 5), 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['the id without its signature', () => idOf(aliceCookie), 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['the id with an empty signature', () => `${idOf(aliceCookie)}.`, 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['the id signed with another deployment\'s secret', () => sign(idOf(aliceCookie), OTHER_SECRET), 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['alice\'s id with bob\'s signature', () => `${idOf(aliceCookie)}.${sigOf(bobCookie)}`, 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['a well-formed id that was never issued, validly signed', () => sign(newId(), SECRET), 'GATEHOUSE_ERR_AUTH_REQUIRED'],
  ['a user name instead of an id, validly signed', () => sign('alice', SECRET), 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['an id in another spelling of the same bytes, validly signed', () => sign(idOf(aliceCookie).slice(0, 42) + String.fromCharCode(idOf(aliceCookie).charCodeAt(42) ^ 1), SECRET), 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['the signature appended twice', () => `${aliceCookie}.${sigOf(aliceCookie)}`, 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['the cookie with a trailing dot-suffix', () => `${aliceCookie}.x`, 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['the dot percent-encoded', () => aliceCookie.replace(/\.(?=[^.]*$)/, '%2E'), 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['the first character percent-encoded', () => `%${aliceCookie.charCodeAt(0).toString(16).toUpperCase()}${aliceCookie.slice(1)}`, 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['the whole value double-quoted', () => `"${aliceCookie}"`, 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['the id in upper case', () => `${idOf(aliceCookie).toUpperCase()}.${sigOf(aliceCookie)}`, 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['an empty value', () => '', 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['garbage punctuation', () => '..../\\!$%&*()', 'GATEHOUSE_ERR_SESSION_INVALID'],
  ['an over-long value (8 KiB)', () => `${'A'.repeat(8192)}.${sigOf(aliceCookie)}`, 'GATEHOUSE_ERR_SESSION_INVALID'],
];

for (const [what, value, code] of forged) {
  t.test(`forged cookie: ${what} → 401, never forwarded`, async (t) => {
    const v = value();
    t.not(v, aliceCookie);
    const res = await send(gw.url, { target: '/app/x', cookies: [`theme=dark; ${sessionCookie(v)}`] });
    t.equal(res.status, 401);
    t.equal(errorCode(res), code);
    t.notOk(res.body.includes(v) && v.length > 3, 'the answer does not echo the cookie');
    await assertNothingForwarded(t, upstream);
  });
}

const similarNames = ['__host-gatehouse', '__HOST-GATEHOUSE', '__Host-Gatehouse', '__Secure-gatehouse', 'gatehouse', '__Host-gatehouse-csrf', '__Host-gatehouse-tx', '__Host-gatehouse.', '__Host-gatehouse[]', '%5F%5FHost-gatehouse', '__Host-gatehous'];

t.test('similar cookie names carrying a live session value authenticate nothing', async (t) => {
  for (const name of similarNames) {
    upstream.requests.length = 0;
    const res = await send(gw.url, { target: '/web/x', cookies: [`${name}=${aliceCookie}`] });
    t.equal(res.status, 401, name);
    t.equal(errorCode(res), 'GATEHOUSE_ERR_AUTH_REQUIRED', name);
    await assertNothingForwarded(t, upstream, `${name}: nothing reached the upstream`);
  }
});

t.test('a similar-named cookie does not become our cookie in the forwarded request either', async (t) => {
  // Sent next to a real session: only the real one authenticates; the look-alike is
  // the client's own business and may pass, but the real one never does.
  const res = await send(gw.url, { target: '/app/x', cookies: [`__host-gatehouse=lookalike; ${sessionCookie(aliceCookie)}`] });
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-auth-user'), ['alice']);
  t.same(cookieNamesUpstream(got), ['__host-gatehouse']);
  t.notOk(everythingUpstream(upstream.requests).includes(aliceCookie), 'the session value never reached the upstream');
});

// --- rotation ---------------------------------------------------------------------------------

const OLD = 'old-secret-of-this-deployment-0123456789';
const NEW = 'new-secret-of-this-deployment-9876543210';

/** Reloads `on` with the same routes and another sessions.secret (the store is kept). */
async function reloadSecrets(on: TestGateway, secrets: string[]): Promise<void> {
  const file = join(on.dir, `reload-${secrets.length}-${Date.now()}.yaml`);
  writeFileSync(file, `listen: 127.0.0.1:0\nadmin: { listen: "127.0.0.1:0" }\n${config(upstream.url, memorySessions(secrets))}`);
  const next = await compileConfig(loadConfigFile(file, {}), { previous: on.gateway.runtime.current.config });
  await on.gateway.reload(next);
}

let signedByOld = '';
let pendingForm: FormPage | undefined;
t.test('rotation: a cookie signed by an old secret still in the list keeps working; new ones use the first', async (t) => {
  signedByOld = (await signIn(rotating, 'alice')).session;
  t.equal(signedByOld, sign(idOf(signedByOld), OLD), 'signed by the only secret');
  pendingForm = await openForm(rotating);
  await reloadSecrets(rotating, [NEW, OLD]);
  await assertLive(t, signedByOld, 'alice', rotating);
  const fresh = (await signIn(rotating, 'bob')).session;
  t.equal(fresh, sign(idOf(fresh), NEW), 'a sign-in after the rotation is signed by the first secret');
  await assertLive(t, fresh, 'bob', rotating);
});

t.test('rotation: a sign-in form opened before the rotation still submits while the old secret verifies', async (t) => {
  const res = await postForm(rotating, { user: 'alice', password: 'wonderland', csrf: pendingForm!.csrf, rd: '/', cookies: [`${PRE}=${pendingForm!.pre}`] });
  t.equal(res.status, 303);
  await assertLive(t, cookieSet(res, SESSION)!, 'alice', rotating);
});

t.test('rotation: once the old secret is removed its cookies and form tokens are refused', async (t) => {
  const recent = await openForm(rotating); // its token is signed by NEW
  const fresh = (await signIn(rotating, 'bob')).session; // signed by NEW
  await reloadSecrets(rotating, [NEW]);
  await assertDead(t, signedByOld, rotating, 'GATEHOUSE_ERR_SESSION_INVALID');
  // The session itself is still in the store: only the signature closes the door.
  t.ok((await storeOf(rotating).list({ user: 'alice' })).length > 0, 'the old session still exists server-side');
  await assertLive(t, fresh, 'bob', rotating);
  // A form token made under [NEW, OLD] is signed with NEW: still fine. One made under OLD alone is not.
  const old = pendingForm!;
  const res = await postForm(rotating, { user: 'alice', password: 'wonderland', csrf: old.csrf, rd: '/', cookies: [`${PRE}=${old.pre}`] });
  t.equal(res.status, 403);
  await assertNotSignedIn(t, res, rotating);
  const ok = await postForm(rotating, { user: 'alice', password: 'wonderland', csrf: recent.csrf, rd: '/', cookies: [`${PRE}=${recent.pre}`] });
  t.equal(ok.status, 303);
});

// =============================================================================================
// Expiry, enforced server-side (idleTimeout 2 s, maxAge 4 s on `short`)
// =============================================================================================

t.test('expiry: an idle session ends server-side, though the browser still sends the cookie', async (t) => {
  const { session } = await signIn(short, 'alice');
  await assertLive(t, session, 'alice', short);
  await sleep(2300);
  await assertDead(t, session, short);
  t.same(await storeOf(short).list({ user: 'alice' }), [], 'gone from the store');
  const nav = await send(short.url, { target: '/web/page', cookies: [sessionCookie(session)], headers: ['Accept: text/html'] });
  t.equal(nav.status, 302, 'a browser is sent to sign in again');
  t.equal(nav.headers.location, '/.gatehouse/login?rd=%2Fweb%2Fpage');
  await assertNothingForwarded(t, upstream);
});

t.test('expiry: the absolute maxAge ends a session that is used all the time', async (t) => {
  const started = Date.now();
  const { session, res } = await signIn(short, 'bob');
  t.ok(res.setCookies.find((c) => c.name === SESSION)?.attributes.includes('Max-Age=4'));
  // Used every 400 ms: the idle timeout (2 s) never strikes, only maxAge can.
  const early: number[] = [];
  while (Date.now() - started < 3400) {
    upstream.requests.length = 0;
    early.push((await send(short.url, { target: '/web/x', cookies: [sessionCookie(session)] })).status);
    t.equal(upstream.requests.length, 1);
    await sleep(400);
  }
  t.ok(early.length >= 6);
  t.same(early, early.map(() => 200), 'live while within maxAge, slid past the idle timeout');
  await sleep(Math.max(0, started + 4300 - Date.now()));
  await assertDead(t, session, short);
  t.same(await storeOf(short).list({ user: 'bob' }), []);
});

t.test('expiry: logout deletes the session server-side; the replayed cookie is dead', async (t) => {
  const { session } = await signIn(gw, 'uma');
  const page = await send(gw.url, { target: '/.gatehouse/logout', cookies: [sessionCookie(session)] });
  const res = await send(gw.url, { method: 'POST', target: '/.gatehouse/logout', cookies: [sessionCookie(session)], headers: SAME_ORIGIN, form: { csrf: hidden(page.body, 'csrf')! } });
  t.equal(res.status, 303);
  t.equal(res.headers.location, '/.gatehouse/login');
  t.equal(cookieSet(res, SESSION), '', 'the cookie is cleared');
  t.same(await storeOf(gw).list({ user: 'uma' }), [], 'and the server-side session is gone');
  await assertDead(t, session);
});

// =============================================================================================
// CSRF: the sign-in form (login CSRF), logout, and unsafe upstream calls
// =============================================================================================

t.test('login CSRF: a POST without a token signs nobody in', async (t) => {
  const form = await openForm(gw);
  const res = await postForm(gw, { user: 'alice', password: 'wonderland', rd: '/', cookies: [`${PRE}=${form.pre}`] });
  t.equal(res.status, 403);
  t.match(res.body, /GATEHOUSE_ERR_CSRF_REJECTED/);
  await assertNotSignedIn(t, res);
});

t.test('login CSRF: a wrong token (right shape) signs nobody in', async (t) => {
  const form = await openForm(gw);
  const res = await postForm(gw, { user: 'alice', password: 'wonderland', csrf: randomBytes(48).toString('base64url'), cookies: [`${PRE}=${form.pre}`] });
  t.equal(res.status, 403);
  await assertNotSignedIn(t, res);
});

t.test('login CSRF: a token from another pre-session cookie (the attacker\'s own form) is refused', async (t) => {
  const attackers = await openForm(gw);
  const victims = await openForm(gw);
  t.not(attackers.pre, victims.pre);
  const res = await postForm(gw, { user: 'bob', password: 'builder', csrf: attackers.csrf, cookies: [`${PRE}=${victims.pre}`] });
  t.equal(res.status, 403);
  await assertNotSignedIn(t, res);
});

t.test('login CSRF: a valid token without the pre-session cookie is refused', async (t) => {
  const form = await openForm(gw);
  const res = await postForm(gw, { user: 'bob', password: 'builder', csrf: form.csrf });
  t.equal(res.status, 403);
  await assertNotSignedIn(t, res);
});

const crossSiteForm: Array<[string, string[]]> = [
  ['Sec-Fetch-Site: cross-site', ['Sec-Fetch-Site: cross-site']],
  ['Sec-Fetch-Site: same-site (a sibling sub-domain that tossed the cookie)', ['Sec-Fetch-Site: same-site']],
  ['a foreign Origin', ['Origin: https://evil.example']],
  ['Origin: null (sandboxed frame, data: URL)', ['Origin: null']],
  ['our host under http:// as Origin', [`Origin: http://${HOST}`]],
  ['Sec-Fetch-Site cross-site with our own Origin', ['Sec-Fetch-Site: cross-site', `Origin: ${ORIGIN}`]],
];

for (const [what, headers] of crossSiteForm) {
  t.test(`login CSRF: a valid token and cookie pair posted with ${what} signs nobody in`, async (t) => {
    const form = await openForm(gw);
    const res = await postForm(gw, { user: 'bob', password: 'builder', csrf: form.csrf, rd: '/', cookies: [`${PRE}=${form.pre}`], headers });
    t.equal(res.status, 403);
    t.notMatch(res.body, /value="bob"/, 'the attacker\'s typed user name is not echoed');
    await assertNotSignedIn(t, res);
  });
}

// --- logout ------------------------------------------------------------------------------------

/** A live session and the token of its own logout page. */
async function sessionWithLogoutToken(user = 'alice'): Promise<{ session: string; token: string }> {
  const { session } = await signIn(gw, user);
  const page = await send(gw.url, { target: '/.gatehouse/logout', cookies: [sessionCookie(session)], headers: ['Accept: text/html'] });
  return { session, token: hidden(page.body, 'csrf') ?? '' };
}

// [what, request, status]: 400 when there is no form to read at all, else 403.
const logoutAttacks: Array<[string, (token: string, other: string) => { form?: Record<string, string>; headers: string[]; status?: number }]> = [
  ['without a token', () => ({ form: {}, headers: SAME_ORIGIN })],
  ['with no body at all', () => ({ headers: SAME_ORIGIN, status: 400 })],
  ['with a wrong token', () => ({ form: { csrf: randomBytes(48).toString('base64url') }, headers: SAME_ORIGIN })],
  ['with the token of another user\'s session', (_t, other) => ({ form: { csrf: other }, headers: SAME_ORIGIN })],
  ['with a valid token from a cross-site page', (token) => ({ form: { csrf: token }, headers: ['Sec-Fetch-Site: cross-site', 'Origin: https://evil.example'] })],
  ['with a valid token from a same-site sibling', (token) => ({ form: { csrf: token }, headers: ['Sec-Fetch-Site: same-site'] })],
  ['with a valid token and a foreign Origin', (token) => ({ form: { csrf: token }, headers: ['Origin: https://evil.example'] })],
];

for (const [what, build] of logoutAttacks) {
  t.test(`logout CSRF: POST /.gatehouse/logout ${what} is refused and the session survives`, async (t) => {
    const { session, token } = await sessionWithLogoutToken('alice');
    const other = (await sessionWithLogoutToken('bob')).token;
    t.not(token, '');
    const { form, headers, status } = build(token, other);
    const res = await send(gw.url, { method: 'POST', target: '/.gatehouse/logout', cookies: [sessionCookie(session)], headers, ...(form ? { form } : {}) });
    t.equal(res.status, status ?? 403);
    t.notOk(res.setCookies.some((c) => c.name === SESSION), 'the cookie is not cleared');
    await assertLive(t, session, 'alice');
  });
}

t.test('logout: GET (and HEAD) /.gatehouse/logout never ends a session, even with the token in the query', async (t) => {
  const { session, token } = await sessionWithLogoutToken('alice');
  for (const [method, target] of [['GET', '/.gatehouse/logout'], ['HEAD', '/.gatehouse/logout'], ['GET', `/.gatehouse/logout?csrf=${token}`]] as const) {
    const res = await send(gw.url, { method, target, cookies: [sessionCookie(session)] });
    t.equal(res.status, 200, `${method} ${target.replace(token, '<token>')}`);
    t.notOk(res.setCookies.some((c) => c.name === SESSION));
  }
  await assertLive(t, session, 'alice');
});

t.test('logout: other methods (PUT, DELETE) are 405 and the session survives', async (t) => {
  const { session, token } = await sessionWithLogoutToken('alice');
  for (const method of ['PUT', 'DELETE']) {
    const res = await send(gw.url, { method, target: '/.gatehouse/logout', cookies: [sessionCookie(session)], headers: SAME_ORIGIN, form: { csrf: token } });
    t.equal(res.status, 405, method);
  }
  await assertLive(t, session, 'alice');
});

t.test('logout: the real thing (same origin, own token) ends exactly that session', async (t) => {
  const mine = await sessionWithLogoutToken('alice');
  const other = (await signIn(gw, 'alice')).session;
  const res = await send(gw.url, { method: 'POST', target: '/.gatehouse/logout', cookies: [sessionCookie(mine.session)], headers: SAME_ORIGIN, form: { csrf: mine.token } });
  t.equal(res.status, 303);
  await assertDead(t, mine.session);
  await assertLive(t, other, 'alice');
});

// --- unsafe methods carried by the session cookie ----------------------------------------------

const unsafeAttacks: Array<[string, string, string[]]> = [
  ['POST', 'Sec-Fetch-Site: cross-site', ['Sec-Fetch-Site: cross-site']],
  ['POST', 'Sec-Fetch-Site: same-site', ['Sec-Fetch-Site: same-site']],
  ['POST', 'neither Sec-Fetch-Site nor Origin', []],
  ['POST', 'Origin: null', ['Origin: null']],
  ['POST', 'a foreign Origin', ['Origin: https://evil.example']],
  ['POST', 'an Origin that only starts like ours', [`Origin: ${ORIGIN}.evil.example`]],
  ['POST', 'our host under http:// as Origin', [`Origin: http://${HOST}`]],
  ['POST', 'Sec-Fetch-Site cross-site outvoting our own Origin', ['Sec-Fetch-Site: cross-site', `Origin: ${ORIGIN}`]],
  ['POST', 'two Sec-Fetch-Site headers (same-origin, cross-site)', ['Sec-Fetch-Site: same-origin', 'Sec-Fetch-Site: cross-site']],
  ['POST', 'only a same-origin Referer', [`Referer: ${ORIGIN}/app/form`]],
  ['POST', 'two Origin headers (ours, then a foreign one)', [`Origin: ${ORIGIN}`, 'Origin: https://evil.example']],
  ['PUT', 'Sec-Fetch-Site: cross-site', ['Sec-Fetch-Site: cross-site']],
  ['PATCH', 'Sec-Fetch-Site: same-site', ['Sec-Fetch-Site: same-site']],
  ['DELETE', 'neither Sec-Fetch-Site nor Origin', []],
  ['DELETE', 'a foreign Origin', ['Origin: https://evil.example']],
  ['PROPPATCH', 'Sec-Fetch-Site: cross-site (WebDAV)', ['Sec-Fetch-Site: cross-site']],
  ['MKCOL', 'Origin: null (WebDAV)', ['Origin: null']],
  ['LOCK', 'neither header (WebDAV)', []],
];

let csrfVictim = '';
for (const [method, what, headers] of unsafeAttacks) {
  t.test(`CSRF upstream: ${method} with the session cookie and ${what} → 403, never forwarded`, async (t) => {
    csrfVictim ||= (await signIn(gw, 'alice')).session;
    const res = await send(gw.url, { method, target: '/app/transfer', cookies: [sessionCookie(csrfVictim)], headers, form: { to: 'mallory', amount: '1000' } });
    t.equal(res.status, 403);
    t.equal(errorCode(res), 'GATEHOUSE_ERR_CSRF_REJECTED');
    await assertNothingForwarded(t, upstream);
  });
}

t.test('CSRF upstream: same-origin unsafe requests pass (Sec-Fetch-Site same-origin/none, or our Origin)', async (t) => {
  const session = (await signIn(gw, 'alice')).session;
  const cases: Array<[string, string[]]> = [
    ['POST', ['Sec-Fetch-Site: same-origin']],
    ['PUT', ['Sec-Fetch-Site: none']],
    ['DELETE', [`Origin: ${ORIGIN}`]],
    ['PROPFIND', ['Sec-Fetch-Site: same-origin', `Origin: ${ORIGIN}`]],
  ];
  for (const [method, headers] of cases) {
    upstream.requests.length = 0;
    const res = await send(gw.url, { method, target: '/app/transfer', cookies: [sessionCookie(session)], headers, form: { amount: '1' } });
    t.equal(res.status, 200, method);
    const got = onlyRequest(t, upstream);
    t.equal(got.method, method);
    // (A WebDAV method's body is not forwarded at all today: reported separately, not a CSRF matter.)
    if (method !== 'PROPFIND') t.equal(got.body, 'amount=1');
    t.same(valuesFolded(got, 'x-auth-user'), ['alice']);
  }
});

t.test('CSRF upstream: a route with csrf: off forwards a cross-site POST carried by the cookie', async (t) => {
  const session = (await signIn(gw, 'alice')).session;
  const res = await send(gw.url, { method: 'POST', target: '/hooks/x', cookies: [sessionCookie(session)], headers: ['Sec-Fetch-Site: cross-site', 'Origin: https://evil.example'], form: { a: '1' } });
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.equal(got.method, 'POST');
  t.same(valuesFolded(got, 'x-auth-user'), ['alice']);
});

t.test('CSRF upstream: a Basic-authenticated cross-site POST is not CSRF-checked (no ambient credential)', async (t) => {
  const res = await send(gw.url, { method: 'POST', target: '/app/x', headers: [`Authorization: ${basic('bob', 'builder')}`, 'Sec-Fetch-Site: cross-site', 'Origin: https://evil.example'], form: { a: '1' } });
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.equal(got.method, 'POST');
  t.same(valuesFolded(got, 'x-auth-user'), ['bob']);
  t.same(valuesFolded(got, 'x-auth-method'), ['basic']);
});

t.test('CSRF upstream: safe methods are not blocked cross-site (GET is a navigation)', async (t) => {
  const session = (await signIn(gw, 'alice')).session;
  const res = await send(gw.url, { target: '/app/page', cookies: [sessionCookie(session)], headers: ['Sec-Fetch-Site: cross-site'] });
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), ['alice']);
});

// =============================================================================================
// Open redirect through the real endpoints (§9)
// =============================================================================================

/**
 * Where a browser ends up after signing in, when `rd` enters (a) the way a link does,
 * through /.gatehouse/login?rd=, followed to the form and posted as the form says, and
 * (b) tampered into the POST's hidden field.
 */
async function redirectsAfterSignIn(t: TapTest, rd: string): Promise<{ viaLink: string | undefined; viaPost: string | undefined }> {
  const entry = await send(gw.url, { target: `/.gatehouse/login?rd=${encodeURIComponent(rd)}`, headers: ['Accept: text/html'] });
  t.equal(entry.status, 302);
  const next = entry.headers.location ?? '';
  t.match(next, /^\/\.gatehouse\/login\/local\?rd=/, 'the chooser stays on our origin');
  const form = await openForm(gw, { query: next.slice('/.gatehouse/login/local'.length) });
  const a = await postForm(gw, { user: 'alice', password: 'wonderland', csrf: form.csrf, rd: form.rd, cookies: [`${PRE}=${form.pre}`] });
  t.equal(a.status, 303);
  const tampered = await openForm(gw);
  const b = await postForm(gw, { user: 'alice', password: 'wonderland', csrf: tampered.csrf, rd, cookies: [`${PRE}=${tampered.pre}`] });
  t.equal(b.status, 303);
  return { viaLink: a.headers.location, viaPost: b.headers.location };
}

const unsafeRedirects: Array<[string, string]> = [
  ['a protocol-relative //host', '//evil.example/path'],
  ['/\\host', '/\\evil.example'],
  ['https:host (no slashes)', 'https:evil.example'],
  ['https:/host (one slash)', 'https:/evil.example'],
  ['%2F%2Fhost (encoded slashes)', '%2F%2Fevil.example'],
  ['/%2F/host', '/%2F/evil.example'],
  ['/%5Chost (encoded backslash)', '/%5Cevil.example'],
  ['/%252F%252Fhost (double-encoded)', '/%252F%252Fevil.example'],
  ['a tab between the slashes', '/\t/evil.example'],
  ['a leading space', ' //evil.example'],
  ['dot segments that resolve to //host', '/app/..//evil.example'],
  ['encoded dot segments that resolve to //host', '/app/%2e%2e//evil.example'],
  ['fullwidth solidi', '\uff0f\uff0fevil.example'],
  ['javascript:', 'javascript:alert(document.cookie)'],
  ['/javascript: (scheme behind one slash)', '/javascript:alert(1)'],
  ['an https URL to a host not allowed', 'https://evil.example/'],
  ['an allowed host as a prefix of another', 'https://docs.example.com.evil.example/'],
  ['an allowed host as userinfo', 'https://docs.example.com@evil.example/'],
  ['a backslash before an allowed host', 'https://evil.example\\@docs.example.com/'],
  ['plain http to an allowed host', 'http://docs.example.com/'],
  ['an allowed host with //host behind it', 'https://docs.example.com//evil.example'],
  ['our own sign-in endpoint (a loop)', '/.gatehouse/logout'],
  ['CR LF (header injection)', '/app\r\nSet-Cookie: injected=1'],
  ['an over-long value (over 2 KiB)', `/app/${'a'.repeat(2100)}`],
];

for (const [what, rd] of unsafeRedirects) {
  t.test(`open redirect: rd = ${what} → / after sign-in, by link and by tampered POST`, async (t) => {
    const { viaLink, viaPost } = await redirectsAfterSignIn(t, rd);
    t.equal(viaLink, '/');
    t.equal(viaPost, '/');
  });
}

const allowedRedirects: Array<[string, string, string]> = [
  ['a same-origin path with a query', '/app/report?id=7', '/app/report?id=7'],
  ['a same-origin path whose query holds //host (stays home)', '/app/ok?next=//evil.example', '/app/ok?next=//evil.example'],
  ['an https URL on an allowed host', 'https://docs.example.com/guide?a=1', 'https://docs.example.com/guide?a=1'],
  ['an allowed host in upper case (normalized)', 'HTTPS://DOCS.EXAMPLE.COM/guide', 'https://docs.example.com/guide'],
];

for (const [what, rd, expected] of allowedRedirects) {
  t.test(`redirect: rd = ${what} is honoured`, async (t) => {
    const { viaLink, viaPost } = await redirectsAfterSignIn(t, rd);
    t.equal(viaLink, expected);
    t.equal(viaPost, expected);
    const origin = new URL(expected, ORIGIN).origin;
    t.ok(origin === ORIGIN || origin === 'https://docs.example.com', 'home, or an allowed host');
  });
}

t.test('redirect: a second rd parameter cannot smuggle a target past the check', async (t) => {
  const cases: Array<[string, string]> = [
    ['rd=%2Fapp%2Fx&rd=%2F%2Fevil.example', '/app/x'],
    ['rd=%2F%2Fevil.example&rd=%2Fapp%2Fx', '/'],
  ];
  for (const [query, expected] of cases) {
    const entry = await send(gw.url, { target: `/.gatehouse/login?${query}` });
    const form = await openForm(gw, { query: entry.headers.location!.slice('/.gatehouse/login/local'.length) });
    const res = await postForm(gw, { user: 'alice', password: 'wonderland', csrf: form.csrf, rd: form.rd, cookies: [`${PRE}=${form.pre}`] });
    t.equal(res.headers.location, expected, query);
    const direct = await openForm(gw, { query: `?${query}` });
    t.equal(direct.rd, expected, `the form itself, ${query}`);
  }
});

t.test('redirect: the bounce from a protected page round-trips to that page, and only there', async (t) => {
  const bounce = await send(gw.url, { target: '/app/deep/page?x=1', headers: ['Accept: text/html'] });
  t.equal(bounce.status, 302);
  t.equal(bounce.headers.location, '/.gatehouse/login?rd=%2Fapp%2Fdeep%2Fpage%3Fx%3D1');
  await assertNothingForwarded(t, upstream);
  const rd = new URLSearchParams(bounce.headers.location!.split('?')[1]).get('rd')!;
  const { viaLink } = await redirectsAfterSignIn(t, rd);
  t.equal(viaLink, '/app/deep/page?x=1');
});

// =============================================================================================
// Credentials stay at the gate (§12) and secrets stay secret (§13)
// =============================================================================================

t.test('credentials: the session cookie and the helper cookies never reach the upstream; other cookies do', async (t) => {
  const { session } = await signIn(gw, 'alice');
  const pre = (await openForm(gw)).pre;
  const tx = 'tx-value-unique-4242';
  const res = await send(gw.url, { target: '/app/x', cookies: [`theme=dark; ${sessionCookie(session)}; ${PRE}=${pre}; ${TX}=${tx}; lang=en`] });
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-auth-user'), ['alice']);
  t.same(cookieNamesUpstream(got), ['theme', 'lang']);
  const seen = everythingUpstream(upstream.requests);
  for (const secret of [session, idOf(session), pre, tx]) t.notOk(seen.includes(secret), 'a gate cookie value reached the upstream');
});

t.test('credentials: the same with one Cookie header per cookie (HTTP/2 style) and odd spacing', async (t) => {
  const { session } = await signIn(gw, 'alice');
  const res = await send(gw.url, { target: '/app/x', cookies: ['theme=dark', `${sessionCookie(session)}`, `${PRE}=abc;lang=en`, `\t${TX}=zzz ;x=1`] });
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(cookieNamesUpstream(got).sort(), ['lang', 'theme', 'x']);
  t.notOk(everythingUpstream(upstream.requests).includes(idOf(session)));
});

t.test('credentials: a request with only our cookies reaches the upstream without any Cookie header', async (t) => {
  const { session } = await signIn(gw, 'alice');
  const res = await send(gw.url, { target: '/web/x', cookies: [`${sessionCookie(session)}; ${PRE}=abc`] });
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'cookie'), []);
});

t.test('credentials: an anonymous catch-all route strips our cookies too (even a doubled session cookie)', async (t) => {
  const { session } = await signIn(gw, 'alice');
  const res = await send(gw.url, { target: '/public/page', cookies: [`${sessionCookie(session)}; theme=dark`, `${sessionCookie('second')}; ${TX}=t`] });
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(cookieNamesUpstream(got), ['theme']);
  t.same(valuesFolded(got, 'x-auth-user'), []);
  t.notOk(everythingUpstream(upstream.requests).includes(idOf(session)));
});

t.test('credentials: the csrf: off route strips the session cookie too', async (t) => {
  const { session } = await signIn(gw, 'alice');
  const res = await send(gw.url, { method: 'POST', target: '/hooks/x', cookies: [`${sessionCookie(session)}; keep=1`], headers: SAME_ORIGIN, form: { a: '1' } });
  t.equal(res.status, 200);
  t.same(cookieNamesUpstream(onlyRequest(t, upstream)), ['keep']);
});

t.test('credentials: forwardCredentials: true passes the session cookie on (the opt-in works)', async (t) => {
  const { session } = await signIn(gw, 'alice');
  const res = await send(gw.url, { target: '/pass/x', cookies: [`${sessionCookie(session)}; keep=1`] });
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'cookie'), [`${sessionCookie(session)}; keep=1`]);
  t.same(valuesFolded(got, 'x-auth-user'), ['alice']);
});

t.test('credentials: identity headers sent by a session-holding client are replaced, not trusted', async (t) => {
  const { session } = await signIn(gw, 'alice');
  const res = await send(gw.url, { target: '/web/x', cookies: [sessionCookie(session)], headers: ['X-Auth-User: admin', 'X_Auth_Method: basic', 'x-auth-groups: admin'] });
  t.equal(res.status, 200);
  const got = onlyRequest(t, upstream);
  t.same(valuesFolded(got, 'x-auth-user'), ['alice']);
  t.same(valuesFolded(got, 'x-auth-method'), ['session']);
  t.same(valuesFolded(got, 'x-auth-groups'), []);
});

t.test('secrets: no password, session id, cookie or CSRF token in any log line or answer body', async (t) => {
  const bodies: string[] = [];
  const keep = (r: Response): Response => {
    bodies.push(r.raw.replace(/^set-cookie:.*$/gim, ''));
    return r;
  };
  const ip = freshIp();
  const wrongPassword = 'Wrong-Guess-unique-91c2';
  const failed = await openForm(gw, { ip });
  keep(failed.res);
  keep(await postForm(gw, { user: 'leaky', password: wrongPassword, csrf: failed.csrf, rd: '/', cookies: [`${PRE}=${failed.pre}`], ip }));
  const { session, res, form } = await signIn(gw, 'leaky', { ip });
  keep(res);
  keep(await send(gw.url, { target: '/web/x', cookies: [sessionCookie(session)] }));
  keep(await send(gw.url, { target: '/web/x', cookies: [sessionCookie(flip(session, session.length - 1))] }));
  keep(await send(gw.url, { method: 'POST', target: '/app/x', cookies: [sessionCookie(session)], headers: ['Sec-Fetch-Site: cross-site'] }));
  const page = keep(await send(gw.url, { target: '/.gatehouse/logout', cookies: [sessionCookie(session)] }));
  const token = hidden(page.body, 'csrf')!;
  keep(await send(gw.url, { method: 'POST', target: '/.gatehouse/logout', cookies: [sessionCookie(session)], headers: ['Sec-Fetch-Site: cross-site'], form: { csrf: token } }));
  keep(await send(gw.url, { method: 'POST', target: '/.gatehouse/logout', cookies: [sessionCookie(session)], headers: SAME_ORIGIN, form: { csrf: token } }));
  keep(await send(gw.url, { target: '/web/x', cookies: [sessionCookie(session)] }));
  await sleep(30);
  const logs = gw.logText();
  t.match(logs, /"user":"leaky"/, 'the sign-in was logged (by name)');
  const secrets: Record<string, string> = {
    password: LEAKY_PASSWORD,
    'wrong password': wrongPassword,
    'session id': idOf(session),
    'cookie signature': sigOf(session),
    'pre-session value': form.pre,
    'sign-in csrf token': form.csrf,
    'logout csrf token': token,
    'session secret': SECRET,
  };
  for (const [what, value] of Object.entries(secrets)) {
    t.notOk(logs.includes(value), `the ${what} is not in the logs`);
    // The token a page hands out is meant to be in that page; nothing else may be echoed.
    if (what.endsWith('csrf token') || what === 'pre-session value') continue;
    t.notOk(bodies.some((b) => b.includes(value)), `the ${what} is not in any answer`);
  }
});

// =============================================================================================
// The sign-in form: no oracle, the Basic throttle, no injection (§7)
// =============================================================================================

/** A failed sign-in answer without what legitimately differs per request. */
function comparable(res: Response, username: string): unknown {
  const headers = { ...res.headers };
  delete headers.date;
  delete headers['x-request-id'];
  const body = res.body
    .replace(/Request ID: [0-9a-f-]{36}/, 'Request ID: <id>')
    .replace(/name="csrf" value="[A-Za-z0-9_-]+"/, 'name="csrf" value="<token>"')
    .replace(`value="${username}"`, 'value="<username>"');
  return { status: res.status, headers, body };
}

t.test('sign-in: unknown user and wrong password get the identical answer', async (t) => {
  const ip = freshIp();
  const form = await openForm(gw, { ip });
  const post = (user: string): Promise<Response> => postForm(gw, { user, password: 'not-it', csrf: form.csrf, rd: '/app/x', cookies: [`${PRE}=${form.pre}`], ip });
  const wrong = await post('alice');
  const unknown = await post('zelda');
  t.equal(wrong.status, 401);
  t.match(wrong.body, /The username or password is incorrect\./);
  t.same(comparable(unknown, 'zelda'), comparable(wrong, 'alice'));
  await assertNotSignedIn(t, wrong);
  await assertNotSignedIn(t, unknown);
});

t.test('sign-in: the Basic throttle applies to the form — 429 with Retry-After, then even the right password is refused', async (t) => {
  const ip = freshIp();
  const form = await openForm(gw, { ip });
  const post = (pw: string): Promise<Response> => postForm(gw, { user: 'tim', password: pw, csrf: form.csrf, rd: '/', cookies: [`${PRE}=${form.pre}`], ip });
  const statuses: number[] = [];
  let last: Response | undefined;
  for (let i = 0; i < 4; i++) statuses.push((last = await post(`guess-${i}`)).status);
  t.same(statuses, [401, 401, 401, 429]);
  t.match(last?.headers['retry-after'], /^[1-9][0-9]*$/);
  t.ok(Number(last?.headers['retry-after']) <= 60);
  const right = await post(password('tim'));
  t.equal(right.status, 429);
  await assertNotSignedIn(t, right);
  // The throttle is per (user, IP): the real user on a clean address is not locked out.
  await assertLive(t, (await signIn(gw, 'tim')).session, 'tim');
});

t.test('sign-in: failures over Basic and over the form share one count', async (t) => {
  const ip = freshIp();
  for (let i = 0; i < 2; i++) t.equal((await send(gw.url, { target: '/app/x', ip, headers: [`Authorization: ${basic('sam', `basic-guess-${i}`)}`] })).status, 401);
  const form = await openForm(gw, { ip });
  const post = (pw: string): Promise<Response> => postForm(gw, { user: 'sam', password: pw, csrf: form.csrf, rd: '/', cookies: [`${PRE}=${form.pre}`], ip });
  t.equal((await post('form-guess')).status, 401);
  const throttled = await post(password('sam'));
  t.equal(throttled.status, 429);
  await assertNotSignedIn(t, throttled);
  // ...and the other way round: the form's failures block Basic from that address.
  t.equal((await send(gw.url, { target: '/app/x', ip, headers: [`Authorization: ${basic('sam', password('sam'))}`] })).status, 429);
  await assertNothingForwarded(t, upstream);
});

t.test('sign-in: a password spray over many names from one address is throttled per IP on the form', async (t) => {
  const ip = freshIp();
  const form = await openForm(gw, { ip });
  const statuses: number[] = [];
  for (let i = 0; i < 7; i++) statuses.push((await postForm(gw, { user: `spray${i}`, password: 'Winter2024!', csrf: form.csrf, rd: '/', cookies: [`${PRE}=${form.pre}`], ip })).status);
  t.same(statuses, [401, 401, 401, 401, 401, 401, 429]);
  const alice = await postForm(gw, { user: 'alice', password: 'wonderland', csrf: form.csrf, rd: '/', cookies: [`${PRE}=${form.pre}`], ip });
  t.equal(alice.status, 429);
  await assertNotSignedIn(t, alice);
});

t.test('sign-in: HTML in the user name is escaped in the re-rendered form', async (t) => {
  const ip = freshIp();
  const form = await openForm(gw, { ip });
  const evil = '"><script>alert(1)</script><input value="';
  const res = await postForm(gw, { user: evil, password: 'x', csrf: form.csrf, rd: '/', cookies: [`${PRE}=${form.pre}`], ip });
  t.equal(res.status, 401);
  t.notOk(res.body.includes('<script>'), 'no live script tag');
  t.notOk(res.body.includes(evil));
  t.match(res.body, /value="&quot;&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;&lt;input value=&quot;"/);
  t.match(res.headers['content-security-policy'], /default-src 'none'/);
  await assertNotSignedIn(t, res);
});

t.test('sign-in: HTML in rd is escaped in the form and in the after-sign-in page', async (t) => {
  const rd = '/app/"><script>alert(1)</script>';
  const form = await openForm(gw, { rd });
  t.equal(form.rd, rd, 'a same-origin path, kept');
  t.notOk(form.res.body.includes('<script>'));
  t.match(form.res.body, /name="rd" value="\/app\/&quot;&gt;&lt;script&gt;/);
  const res = await postForm(gw, { user: 'alice', password: 'wonderland', csrf: form.csrf, rd: form.rd, cookies: [`${PRE}=${form.pre}`] });
  t.equal(res.status, 303);
  t.equal(res.headers.location, rd);
  t.notOk(res.body.includes('<script>'));
});

t.test('sign-in: credentials in the query string never sign anyone in', async (t) => {
  const form = await openForm(gw, { query: '?username=alice&password=wonderland' });
  t.equal(form.res.status, 200);
  await assertNotSignedIn(t, form.res);
  // A valid token and cookie in the body, the credentials only in the query: the form
  // reads its fields from the body, so this is an empty user name, not alice.
  const res = await send(gw.url, {
    method: 'POST',
    target: '/.gatehouse/login/local?username=alice&password=wonderland',
    cookies: [`${PRE}=${form.pre}`],
    headers: SAME_ORIGIN,
    form: { csrf: form.csrf, rd: '/' },
  });
  t.equal(res.status, 401);
  await assertNotSignedIn(t, res);
});

t.test('sign-in: a body that is not a form (JSON) signs nobody in', async (t) => {
  const form = await openForm(gw);
  const text = JSON.stringify({ username: 'alice', password: 'wonderland', csrf: form.csrf, rd: '/' });
  const res = await send(gw.url, { method: 'POST', target: '/.gatehouse/login/local', cookies: [`${PRE}=${form.pre}`], headers: SAME_ORIGIN, body: { type: 'application/json', text } });
  t.equal(res.status, 400);
  await assertNotSignedIn(t, res);
});

// =============================================================================================
// gatehouse's own paths are never forwarded, even under a catch-all route
// =============================================================================================

const internalTargets = [
  '/.gatehouse/login',
  '/.gatehouse/login/local',
  '/.gatehouse/logout',
  '/.gatehouse/callback/local',
  '/.gatehouse/backchannel-logout/local',
  '/.gatehouse/anything-else',
  '/.gatehouse',
  '/.gatehouse/',
  '/.GATEHOUSE/logout',
  '/.Gatehouse/Login',
  '/%2egatehouse/login',
  '/%2Egatehouse/logout',
  '/.%67atehouse/login',
  '/app/../.gatehouse/logout',
  '/app/%2e%2e/.gatehouse/logout',
  '//.gatehouse/login',
  '/./.gatehouse/login',
  '/.gatehouse/login/',
  '/.gatehouse/logout?rd=/x',
  '/.gatehouse%2Flogin',
  '/.gatehouse/logout%00',
];

for (const target of internalTargets) {
  t.test(`internal path ${JSON.stringify(target)} is never forwarded (GET and POST, catch-all route present)`, async (t) => {
    const session = aliceCookie;
    for (const method of ['GET', 'POST']) {
      upstream.requests.length = 0;
      const res = await send(gw.url, { method, target, cookies: [sessionCookie(session)], headers: SAME_ORIGIN, ...(method === 'POST' ? { form: { csrf: 'x' } } : {}) });
      t.not(res.status, 502, `${method}: answered by gatehouse`);
      t.notOk(res.body.includes('"headers"'), `${method}: not the upstream's echo`);
      await assertNothingForwarded(t, upstream, `${method} ${target}: nothing reached the upstream`);
    }
  });
}

// Servlet containers (Tomcat, Jetty, Spring) drop `;params` from every segment before
// routing, so an upstream reads `/.gatehouse;x/login` as `/.gatehouse/login`: the same
// reason isInternalPath ignores letter case ("a case-insensitive upstream must never
// receive one of our paths either") applies to matrix parameters on the first segment.
t.test('internal path with a matrix parameter on the prefix segment (/.gatehouse;x/login) is never forwarded', async (t) => {
  for (const target of ['/.gatehouse;x/login', '/.gatehouse;/logout', '/.GATEHOUSE;jsessionid=1/login/local']) {
    upstream.requests.length = 0;
    const res = await send(gw.url, { target, cookies: [sessionCookie(aliceCookie)] });
    t.not(res.status, 200, `${target}: not served by the upstream`);
    await assertNothingForwarded(t, upstream, `${target}: nothing reached the upstream`);
  }
});

t.test('the catch-all route itself works (so the cases above prove something)', async (t) => {
  const res = await send(gw.url, { target: '/gatehouse/login' });
  t.equal(res.status, 200);
  t.equal(onlyRequest(t, upstream).url, '/gatehouse/login');
});

// =============================================================================================
// Fail closed (§10): Redis goes away under a running gateway
// =============================================================================================

t.test('redis outage: a session cookie is answered 503, never forwarded, never "no session"', async (t) => {
  const { session } = await signIn(outage, 'alice');
  await assertLive(t, session, 'alice', outage);
  await outageTap.close();
  for (const headers of [[], ['Accept: text/html'], [`Authorization: ${basic('bob', 'builder')}`]]) {
    upstream.requests.length = 0;
    const res = await send(outage.url, { target: '/app/x', cookies: [sessionCookie(session)], headers });
    t.equal(res.status, 503, headers.join() || 'no extra header');
    t.equal(errorCode(res), 'GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE');
    await assertNothingForwarded(t, upstream);
  }
  // Logout cannot pretend to have ended a session it could not delete.
  const out = await send(outage.url, { method: 'POST', target: '/.gatehouse/logout', cookies: [sessionCookie(session)], headers: SAME_ORIGIN, form: { csrf: 'x' } });
  t.equal(out.status, 503);
});

t.test('redis outage: Basic keeps working on the same route (no session cookie sent)', async (t) => {
  const res = await send(outage.url, { target: '/app/x', headers: [`Authorization: ${basic('bob', 'builder')}`] });
  t.equal(res.status, 200);
  t.same(valuesFolded(onlyRequest(t, upstream), 'x-auth-user'), ['bob']);
});

t.test('redis outage: the sign-in form does not become an unthrottled password oracle', async (t) => {
  // The throttle's counters live in the same Redis. Whatever the form answers while it is
  // gone, a right password must not be told apart from a wrong one, and no more guesses
  // than the throttle allows (3 per user and IP here) may be answered "incorrect".
  const ip = freshIp();
  const form = await openForm(outage, { ip });
  t.equal(form.res.status, 200);
  const post = (pw: string): Promise<Response> => postForm(outage, { user: 'uma', password: pw, csrf: form.csrf, rd: '/', cookies: [`${PRE}=${form.pre}`], ip });
  const wrong: number[] = [];
  for (let i = 0; i < 6; i++) wrong.push((await post(`outage-guess-${i}`)).status);
  const right = await post(password('uma'));
  t.ok(wrong.filter((s) => s === 401).length <= 3, `guesses verified while the throttle store is down: ${JSON.stringify(wrong)}`);
  t.equal(right.status, wrong.at(-1), `the right password is answered like a wrong one (wrong: ${JSON.stringify(wrong)}, right: ${right.status})`);
  await assertNotSignedIn(t, right, outage);
});

// =============================================================================================
// The Redis store: two instances, one truth
// =============================================================================================

const redisKey = (id: string): string => `${REDIS_PREFIX}s:${createHash('sha256').update(id, 'utf8').digest('base64url')}`;

t.test('redis: a session from instance A works on B; logout on A is refused on B at once', async (t) => {
  const { session } = await signIn(redisA, 'alice');
  await assertLive(t, session, 'alice', redisB);
  const page = await send(redisA.url, { target: '/.gatehouse/logout', cookies: [sessionCookie(session)] });
  const out = await send(redisA.url, { method: 'POST', target: '/.gatehouse/logout', cookies: [sessionCookie(session)], headers: SAME_ORIGIN, form: { csrf: hidden(page.body, 'csrf')! } });
  t.equal(out.status, 303);
  t.equal(await redis.exists(redisKey(idOf(session))), 0, 'deleted in Redis');
  await assertDead(t, session, redisB);
  await assertDead(t, session, redisA);
});

t.test('redis: signing in again on B ends the session made on A, on both', async (t) => {
  const first = (await signIn(redisA, 'bob')).session;
  const second = (await signIn(redisB, 'bob', { cookies: [sessionCookie(first)] })).session;
  t.not(idOf(second), idOf(first));
  await assertDead(t, first, redisA);
  await assertDead(t, first, redisB);
  await assertLive(t, second, 'bob', redisA);
});

t.test('redis: the store holds no session id, cookie, password or CSRF value; expiry is server-side', async (t) => {
  const { session, form } = await signIn(redisA, 'uma');
  const keys = await keysUnder(redis, REDIS_PREFIX);
  t.ok(keys.includes(redisKey(idOf(session))), 'the session is stored under sha256(id)');
  let dump = keys.join('\n');
  for (const key of keys) {
    const type = await redis.type(key);
    if (type === 'hash') dump += JSON.stringify(await redis.hgetall(key));
    else if (type === 'set') dump += JSON.stringify(await redis.smembers(key));
    else if (type === 'string') dump += (await redis.get(key)) ?? '';
  }
  for (const secret of [idOf(session), sigOf(session), password('uma'), form.pre, form.csrf, SECRET]) t.notOk(dump.includes(secret), 'a secret value is in Redis');
  const ttl = await redis.pttl(redisKey(idOf(session)));
  t.ok(ttl > 0 && ttl <= 30 * 60_000, `Redis expires the session by itself within the idle timeout (pttl ${ttl})`);
});

t.test('redis: the form throttle is shared by the instances (guesses on A count on B)', async (t) => {
  const ip = freshIp();
  const onA = await openForm(redisA, { ip });
  for (let i = 0; i < 3; i++) t.equal((await postForm(redisA, { user: 'sam', password: `guess-${i}`, csrf: onA.csrf, rd: '/', cookies: [`${PRE}=${onA.pre}`], ip })).status, 401);
  const onB = await openForm(redisB, { ip });
  const res = await postForm(redisB, { user: 'sam', password: password('sam'), csrf: onB.csrf, rd: '/', cookies: [`${PRE}=${onB.pre}`], ip });
  t.equal(res.status, 429);
  t.match(res.headers['retry-after'], /^[1-9][0-9]*$/);
  await assertNotSignedIn(t, res, redisB);
});

t.test('redis: a forged cookie is refused and a never-issued signed id is no session', async (t) => {
  const { session } = await signIn(redisA, 'alice');
  await assertDead(t, flip(session, session.length - 1), redisB, 'GATEHOUSE_ERR_SESSION_INVALID');
  await assertDead(t, sign(newId(), SECRET), redisB);
  await assertDead(t, sign(idOf(session), OTHER_SECRET), redisB, 'GATEHOUSE_ERR_SESSION_INVALID');
});
