import { readFileSync } from 'node:fs';
import t from 'tap';
import { hashFamily, verifyPassword } from '../../../src/passwords.js';
import { createMemoryAttemptStore, type AttemptStore } from '../../../src/pipeline/authenticate/attempts.js';
import {
  clientKey,
  createBasicAuthenticator,
  MAX_BASIC_TOKEN_LENGTH,
  parseBasicCredentials,
  slowdownDelayMs,
  type BasicAuthenticatorOptions,
} from '../../../src/pipeline/authenticate/basic.js';
import type { AuthResult, Authenticator, RequestFacts } from '../../../src/pipeline/types.js';

// ---------------------------------------------------------------- fixtures and helpers

const fixture = (name: string): Map<string, string> => {
  const map = new Map<string, string>();
  for (const line of readFileSync(new URL(`../../fixtures/htpasswd/${name}`, import.meta.url), 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    map.set(line.slice(0, i), line.slice(i + 1));
  }
  return map;
};
const fromHtpasswd = fixture('htpasswd-bcrypt.htpasswd'); // $2y$ written by Debian's htpasswd
const fromNode = fixture('node-hashes.htpasswd');
const get = (m: Map<string, string>, u: string): string => m.get(u)!;

const ALICE = get(fromHtpasswd, 'alice'); // alice-secret, $2y$04$
const CAROL = get(fromHtpasswd, 'carol'); // a:b:c
const EMILE = get(fromHtpasswd, 'émile'); // pässwörd-😀
const DORA = get(fromNode, 'dora'); // dora-secret, $2b$04$
const ERIN = get(fromNode, 'erin'); // erin-secret, $2a$04$
const GINA = get(fromNode, 'gina'); // gina-secret, argon2id m=256

const IP = '203.0.113.5';

function facts(authorization?: string | string[], clientIp = IP): RequestFacts {
  return {
    method: 'GET',
    scheme: 'https',
    authority: 'app.example.com',
    hostname: 'app.example.com',
    path: '/',
    query: '',
    headers: authorization === undefined ? {} : { authorization },
    rawHeaders: [],
    peer: clientIp,
    peerTrusted: false,
    clientIp,
  };
}
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
const basicBytes = (bytes: Buffer): string => `Basic ${bytes.toString('base64')}`;

interface Harness {
  auth: Authenticator;
  sleeps: number[];
  verified: string[]; // hashes verify() was asked about, in order
  store: AttemptStore;
  keys: Set<string>; // every key the authenticator used
  clock: { advance(ms: number): void };
  errors: Array<[string, unknown]>;
}

const DEFAULT_OPTS: BasicAuthenticatorOptions = {
  name: 'staff',
  realm: 'Staff area',
  users: new Map([
    ['alice', ALICE],
    ['carol', CAROL],
    ['émile', EMILE],
    ['dora', DORA],
    ['erin', ERIN],
    ['gina', GINA],
  ]),
  groups: new Map([['alice', ['admin', 'staff']]]),
  throttle: { windowMs: 60_000, maxFailuresPerUserAndIp: 3, maxFailuresPerIp: 10, slowdownAfterUserFailures: 5 },
  cache: { maxEntries: 100, ttlMs: 60_000 },
};

interface HarnessDeps {
  store?: AttemptStore;
  /** Replaces the real verification (the harness still records each call). */
  verify?: (hash: string, password: Buffer) => Promise<boolean> | boolean;
}

async function harness(over: Partial<BasicAuthenticatorOptions> = {}, hd: HarnessDeps = {}): Promise<Harness> {
  const { store } = hd;
  const realVerify = hd.verify ?? verifyPassword;
  let now = 1_000_000;
  const memory = createMemoryAttemptStore({ now: () => now });
  const keys = new Set<string>();
  const base = store ?? memory;
  const spyStore: AttemptStore = {
    recordFailure: (k, w) => (keys.add(k), base.recordFailure(k, w)),
    peek: (k) => (keys.add(k), base.peek(k)),
    clear: (k) => (keys.add(k), base.clear(k)),
  };
  const sleeps: number[] = [];
  const verified: string[] = [];
  const errors: Array<[string, unknown]> = [];
  const auth = await createBasicAuthenticator(
    { ...DEFAULT_OPTS, ...over },
    {
      attempts: spyStore,
      sleep: async (ms) => void sleeps.push(ms),
      verify: (hash, pw) => (verified.push(hash), realVerify(hash, pw)) as Promise<boolean>,
      onError: (where, err) => void errors.push([where, err]),
    },
  );
  return { auth, sleeps, verified, store: base, keys, clock: { advance: (ms) => void (now += ms) }, errors };
}

const INVALID = { outcome: 'fail', reason: 'invalid-credentials', code: 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS' };
const malformedResult = (reason: string) => ({ outcome: 'fail', reason, code: 'GATEHOUSE_ERR_AUTH_MALFORMED_CREDENTIALS' });
const throttled = (retryAfter: number) => ({ outcome: 'fail', reason: 'throttled', code: 'GATEHOUSE_ERR_AUTH_THROTTLED', retryAfter });
const okAs = (user: string, groups: string[] = []) => ({
  outcome: 'ok',
  consumed: 'authorization',
  identity: { user, groups, scopes: [], claims: {}, method: 'basic', authenticator: 'staff' },
});

// ---------------------------------------------------------------- not mine → skip

t.test('no Basic credential: skip', async (t) => {
  const h = await harness();
  for (const v of [undefined, '', 'Bearer YWxpY2U6YWxpY2Utc2VjcmV0', 'Basicfoo YQ==', 'Digest username="alice"', 'Negotiate', ',Basic YQ==', '"Basic" YQ==']) {
    t.strictSame(await h.auth.authenticate(facts(v)), { outcome: 'skip' }, JSON.stringify(v));
  }
  t.same(h.verified, []);
  t.same([...h.keys], [], 'no store traffic for foreign credentials');
});

t.test('the scheme name is case-insensitive (RFC 7235 §2.1)', async (t) => {
  const h = await harness();
  const token = Buffer.from('alice:alice-secret').toString('base64');
  for (const scheme of ['Basic', 'basic', 'BASIC', 'bAsIc']) {
    t.strictSame(await h.auth.authenticate(facts(`${scheme} ${token}`)), okAs('alice', ['admin', 'staff']), scheme);
  }
});

// ---------------------------------------------------------------- success

t.test('a right password: ok, with groups, consuming Authorization', async (t) => {
  const h = await harness();
  const r = await h.auth.authenticate(facts(basic('alice', 'alice-secret')));
  t.strictSame(r, okAs('alice', ['admin', 'staff']));
  t.equal(h.auth.name, 'staff');
  t.equal(h.auth.type, 'basic');
  if (r.outcome !== 'ok') throw new Error('unreachable');
  t.ok(Object.isFrozen(r.identity) && Object.isFrozen(r.identity.groups), 'identity is frozen');
  t.not(r.identity.groups, DEFAULT_OPTS.groups.get('alice'), 'groups are a copy');
  t.strictSame(await h.auth.authenticate(facts(basic('dora', 'dora-secret'))), okAs('dora'), 'no groups: []');
});

t.test('bcrypt $2a$, $2b$, $2y$ and argon2id users all sign in', async (t) => {
  const h = await harness();
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), okAs('alice', ['admin', 'staff']), '$2y$ (htpasswd)');
  t.strictSame(await h.auth.authenticate(facts(basic('dora', 'dora-secret'))), okAs('dora'), '$2b$');
  t.strictSame(await h.auth.authenticate(facts(basic('erin', 'erin-secret'))), okAs('erin'), '$2a$');
  t.strictSame(await h.auth.authenticate(facts(basic('gina', 'gina-secret'))), okAs('gina'), 'argon2id');
  t.strictSame(await h.auth.authenticate(facts(basic('gina', 'gina-secreT'))), INVALID, 'argon2id, wrong');
});

t.test('the password is split at the FIRST colon and may contain more', async (t) => {
  const h = await harness();
  t.strictSame(await h.auth.authenticate(facts(basic('carol', 'a:b:c'))), okAs('carol'));
  t.strictSame(await h.auth.authenticate(facts(basic('carol', 'a:b'))), INVALID);
  // A user-id cannot contain ':' (RFC 7617 §2), so "carol:a" + "b:c" is carol with a:b:c.
  t.strictSame(await h.auth.authenticate(facts(basic('carol:a', 'b:c'))), okAs('carol'));
  t.same(parseBasicCredentials(basic('carol', 'a:b:c')), { kind: 'credentials', user: 'carol', password: Buffer.from('a:b:c') });
  t.same(parseBasicCredentials(basic('carol', '')), { kind: 'credentials', user: 'carol', password: Buffer.alloc(0) }, 'empty password parses');
});

t.test('a UTF-8 user and password verify against htpasswd’s hash of the same bytes', async (t) => {
  const h = await harness();
  t.strictSame(await h.auth.authenticate(facts(basic('émile', 'pässwörd-😀'))), okAs('émile'));
  t.strictSame(await h.auth.authenticate(facts(basic('émile', 'pässwörd-😁'))), INVALID);
  // No Unicode normalization: NFD "é" is another name, NFD "ä" another password.
  t.strictSame(await h.auth.authenticate(facts(basic('e\u0301mile', 'pässwörd-😀'))), INVALID);
  t.strictSame(await h.auth.authenticate(facts(basic('émile', 'pa\u0308sswörd-😀'))), INVALID);
  // A leading BOM is part of the name, not stripped.
  t.strictSame(await h.auth.authenticate(facts(basic('\uFEFFalice', 'alice-secret'))), INVALID);
});

// ---------------------------------------------------------------- malformed

t.test('every malformed Authorization: 401 malformed, nothing verified or counted', async (t) => {
  const good = Buffer.from('alice:alice-secret').toString('base64'); // YWxpY2U6YWxpY2Utc2VjcmV0
  // Bytes whose base64 holds '+' and '/', to turn into base64url.
  const plusSlash = Buffer.from([0x61, 0x3a, 0xfb, 0xff, 0xbf]);
  t.match(plusSlash.toString('base64'), /[+/]/);
  const cases: Array<[string, string | string[], string]> = [
    ['scheme only', 'Basic', 'malformed-header'],
    ['tab instead of space', `Basic\t${good}`, 'malformed-header'],
    ['no space', `Basic=${good}`, 'malformed-header'],
    ['two Authorization values', [basic('alice', 'alice-secret'), basic('alice', 'x')], 'malformed-header'],
    ['empty token', 'Basic ', 'malformed-base64'],
    ['two spaces', `Basic  ${good}`, 'malformed-base64'],
    ['trailing space', `Basic ${good} `, 'malformed-base64'],
    ['space inside', `Basic ${good.slice(0, 8)} ${good.slice(8)}`, 'malformed-base64'],
    ['newline inside', `Basic ${good.slice(0, 8)}\n${good.slice(8)}`, 'malformed-base64'],
    ['missing padding', `Basic ${Buffer.from('alice:x').toString('base64').replace(/=+$/, '')}`, 'malformed-base64'],
    ['extra padding', `Basic ${Buffer.from('alice:x').toString('base64')}=`, 'malformed-base64'],
    ['padding without need', `Basic ${good}==`, 'malformed-base64'],
    ['padding in the middle', `Basic YQ==${good}`, 'malformed-base64'],
    ['non-zero padding bits', `Basic ${Buffer.from('alice:x').toString('base64').replace('eA==', 'eB==')}`, 'malformed-base64'],
    ['base64url alphabet', `Basic ${plusSlash.toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}`, 'malformed-base64'],
    ['junk character', `Basic ${good.slice(0, 4)}*${good.slice(4)}`, 'malformed-base64'],
    ['trailing comma', `Basic ${good},`, 'malformed-base64'],
    ['auth-param form', 'Basic realm="x"', 'malformed-base64'],
    ['non-ASCII in token', `Basic ${good.slice(0, 4)}é${good.slice(5)}`, 'malformed-base64'],
    ['too long', `Basic ${Buffer.alloc(3075, 0x61).toString('base64')}`, 'malformed-too-long'],
    ['Latin-1 password', basicBytes(Buffer.from('alice:pässwörd', 'latin1')), 'malformed-utf8'],
    ['Latin-1 user', basicBytes(Buffer.from('émile:x', 'latin1')), 'malformed-utf8'],
    ['overlong "/"', basicBytes(Buffer.from([0x61, 0x3a, 0xc0, 0xaf])), 'malformed-utf8'],
    ['UTF-16 surrogate (CESU-8)', basicBytes(Buffer.from([0x61, 0x3a, 0xed, 0xa0, 0x80])), 'malformed-utf8'],
    ['truncated sequence', basicBytes(Buffer.from([0x61, 0x3a, 0xe2, 0x82])), 'malformed-utf8'],
    ['above U+10FFFF', basicBytes(Buffer.from([0x61, 0x3a, 0xf4, 0x90, 0x80, 0x80])), 'malformed-utf8'],
    ['no colon', `Basic ${Buffer.from('alice').toString('base64')}`, 'malformed-no-colon'],
    ['empty user', basic('', 'alice-secret'), 'malformed-empty-user'],
    ['NUL in user', basic('al\0ice', 'x'), 'malformed-control-char'],
    ['newline in password', basic('alice', 'alice-secret\n'), 'malformed-control-char'],
    ['CR LF in password', basic('alice', 'x\r\nX-Injected: 1'), 'malformed-control-char'],
    ['tab in password', basic('alice', 'a\tb'), 'malformed-control-char'],
    ['DEL in user', basic('alice\x7f', 'x'), 'malformed-control-char'],
    ['ESC in user', basic('\x1b[31malice', 'x'), 'malformed-control-char'],
    ['C1 NEL in password', basic('alice', 'x\u0085'), 'malformed-control-char'],
    ['C1 CSI in user', basic('\u009balice', 'x'), 'malformed-control-char'],
  ];
  const h = await harness();
  for (const [what, header, reason] of cases) {
    t.strictSame(await h.auth.authenticate(facts(header)), malformedResult(reason), what);
  }
  t.same(h.verified, [], 'nothing verified');
  t.same([...h.keys], [], 'nothing counted');
  // Not control characters: U+00A0 (after C1) and U+FEFF are ordinary bytes to us.
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'x\u00a0\uFEFF'))), INVALID);
});

t.test(`the token may be ${MAX_BASIC_TOKEN_LENGTH} characters, not one more`, async (t) => {
  const h = await harness();
  const user = 'u'.repeat(3070); // 3072 bytes with ":x" → exactly 4096 base64 characters
  const header = basic(user, 'x');
  t.equal(header.length - 'Basic '.length, MAX_BASIC_TOKEN_LENGTH);
  t.strictSame(await h.auth.authenticate(facts(header)), INVALID);
  const longer = basic(`${user}uuu`, 'x');
  t.equal(longer.length - 'Basic '.length, MAX_BASIC_TOKEN_LENGTH + 4);
  t.strictSame(await h.auth.authenticate(facts(longer)), malformedResult('malformed-too-long'));
  // A long odd name never reaches the store in clear.
  for (const k of h.keys) t.ok(k.length < 200 && !k.includes('uuuu'), `short key ${k.slice(0, 40)}…`);
});

// ---------------------------------------------------------------- no oracle

t.test('wrong password and unknown user are indistinguishable', async (t) => {
  const wrong = await harness();
  const unknown = await harness();
  const a = await wrong.auth.authenticate(facts(basic('alice', 'guess')));
  const b = await unknown.auth.authenticate(facts(basic('mallory', 'guess')));
  t.strictSame(a, INVALID);
  t.strictSame(b, INVALID);
  t.equal(JSON.stringify(a), JSON.stringify(b), 'byte-identical results');
  t.equal(wrong.verified.length, 1, 'the wrong password was verified once');
  t.equal(unknown.verified.length, 1, 'the unknown user was verified once, too');
  t.equal(wrong.verified[0], ALICE);
  t.equal(hashFamily(unknown.verified[0]!), hashFamily(ALICE), 'against a dummy of the same cost');
  t.not(unknown.verified[0], ALICE);
  for (const h of DEFAULT_OPTS.users.values()) t.not(unknown.verified[0], h, 'the dummy is no user’s hash');
  const shape = (keys: Set<string>): string[] => [...keys].map((k) => k.replace(/:[A-Za-z0-9_-]{43}(?=:|$)/, ':USER')).sort();
  t.same(shape(wrong.keys), shape(unknown.keys), 'same counters touched');
  t.equal(wrong.keys.size, 3);
  // Both counted: the unknown user is throttled exactly like the known one.
  for (const h of [wrong, unknown]) {
    const user = h === wrong ? 'alice' : 'mallory';
    await h.auth.authenticate(facts(basic(user, 'guess')));
    await h.auth.authenticate(facts(basic(user, 'guess')));
    t.strictSame(await h.auth.authenticate(facts(basic(user, 'guess'))), throttled(60), `${user} throttled after 3`);
  }
});

t.test('the dummy matches the most common hash family', async (t) => {
  const argonMostly = await harness({
    users: new Map([
      ['a', ALICE],
      ['g1', GINA],
      ['g2', GINA],
    ]),
  });
  await argonMostly.auth.authenticate(facts(basic('nobody', 'x')));
  t.equal(hashFamily(argonMostly.verified[0]!), 'argon2id:m=256,t=1,p=1');
  const tie = await harness({
    users: new Map([
      ['g', GINA],
      ['a', ALICE],
    ]),
  });
  await tie.auth.authenticate(facts(basic('nobody', 'x')));
  t.equal(hashFamily(tie.verified[0]!), 'argon2id:m=256,t=1,p=1', 'a tie goes to the first family seen');
});

t.test('no users at all: unknown names cost a default bcrypt check', async (t) => {
  const verified: string[] = [];
  const auth = await createBasicAuthenticator(
    { ...DEFAULT_OPTS, users: new Map() },
    { attempts: createMemoryAttemptStore(), verify: async (hash) => (verified.push(hash), true), sleep: async () => {} },
  );
  // Even a verifier that says yes cannot sign in a user that does not exist.
  t.strictSame(await auth.authenticate(facts(basic('alice', 'alice-secret'))), INVALID);
  t.equal(hashFamily(verified[0]!), 'bcrypt:12');
});

// ---------------------------------------------------------------- throttle

t.test('per (user, IP): 429 with Retry-After, before any verification', async (t) => {
  const h = await harness();
  for (let i = 0; i < 3; i++) t.strictSame(await h.auth.authenticate(facts(basic('alice', `guess${i}`))), INVALID);
  h.clock.advance(10_500);
  const before = h.verified.length;
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), throttled(50), 'even the right password');
  t.equal(h.verified.length, before, 'not verified while throttled');
  h.clock.advance(49_000);
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'x'))), throttled(1), '500 ms left → 1');
  h.clock.advance(499);
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'x'))), throttled(1), '1 ms left → still 1, never 0');
  // Other users from this IP, and alice from another IP, are not held back.
  t.strictSame(await h.auth.authenticate(facts(basic('dora', 'dora-secret'))), okAs('dora'));
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'), '198.51.100.7')), okAs('alice', ['admin', 'staff']));
  h.clock.advance(1);
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), okAs('alice', ['admin', 'staff']), 'window over');
});

t.test('per IP: failures across many users from one IP', async (t) => {
  const h = await harness();
  for (let i = 0; i < 10; i++) t.strictSame(await h.auth.authenticate(facts(basic(`user${i}`, 'guess'))), INVALID);
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), throttled(60), 'every user from this IP');
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'), '198.51.100.7')), okAs('alice', ['admin', 'staff']), 'other IPs unaffected');
  h.clock.advance(30_000);
  t.strictSame(await h.auth.authenticate(facts(basic('nobody', 'x'))), throttled(30));
});

t.test('when both limits hold, Retry-After is the later one', async (t) => {
  const h = await harness({ throttle: { ...DEFAULT_OPTS.throttle, maxFailuresPerIp: 4 } });
  await h.auth.authenticate(facts(basic('mallory', 'x'))); // ip window opens at t0
  h.clock.advance(20_000);
  for (let i = 0; i < 3; i++) await h.auth.authenticate(facts(basic('alice', 'x'))); // (alice, ip) window at t0+20 s
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'x'))), throttled(60));
  t.strictSame(await h.auth.authenticate(facts(basic('dora', 'x'))), throttled(40), 'only the IP limit for dora');
});

t.test('IPv6 clients are counted per /64; IPv4-mapped addresses as IPv4', async (t) => {
  t.equal(clientKey('192.0.2.1'), '192.0.2.1');
  t.equal(clientKey('::ffff:192.0.2.1'), '192.0.2.1');
  t.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  t.equal(clientKey('2001:DB8:1:2::9'), '2001:db8:1:2::/64');
  t.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.equal(clientKey('not-an-ip'), 'not-an-ip');
  const h = await harness();
  for (let i = 1; i <= 3; i++) await h.auth.authenticate(facts(basic('alice', 'x'), `2001:db8:1:2::${i}`));
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'), '2001:db8:1:2:ffff::1')), throttled(60), 'same /64');
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'), '2001:db8:1:3::1')), okAs('alice', ['admin', 'staff']), 'next /64');
  for (let i = 0; i < 3; i++) await h.auth.authenticate(facts(basic('dora', 'x'), '192.0.2.9'));
  t.strictSame(await h.auth.authenticate(facts(basic('dora', 'dora-secret'), '::ffff:192.0.2.9')), throttled(60), 'mapped = plain IPv4');
});

t.test('a success clears its (user, IP) counter, not the IP counter', async (t) => {
  const h = await harness({ throttle: { ...DEFAULT_OPTS.throttle, maxFailuresPerIp: 5 } });
  await h.auth.authenticate(facts(basic('alice', 'x')));
  await h.auth.authenticate(facts(basic('alice', 'x')));
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), okAs('alice', ['admin', 'staff']));
  await h.auth.authenticate(facts(basic('alice', 'x')));
  await h.auth.authenticate(facts(basic('alice', 'x')));
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'x'))), INVALID, 'third failure after the success: counted from 0');
  t.strictSame(await h.auth.authenticate(facts(basic('dora', 'dora-secret'))), throttled(60), 'but the IP counter kept all 2+3 failures');
});

t.test('failures against one user from many IPs slow that name down but never lock out a clean IP', async (t) => {
  const run = async (user: string): Promise<{ h: Harness; results: AuthResult[]; sleeps: number[] }> => {
    const h = await harness();
    const results: AuthResult[] = [];
    // 20 attackers, one guess each: no (user, IP) or IP limit is reached.
    for (let i = 0; i < 20; i++) results.push(await h.auth.authenticate(facts(basic(user, `guess${i}`), `198.51.100.${i + 1}`)));
    return { h, results, sleeps: [...h.sleeps] };
  };
  const known = await run('alice');
  const unknown = await run('nobody');
  t.same(known.results, Array(20).fill(INVALID), 'the attackers only ever get 401');
  t.same(known.sleeps, [250, 250, 250, 250, 250, 500, 500, 500, 500, 500, 1000, 1000, 1000, 1000, 1000], 'delays grow from the 6th guess');
  t.same(unknown.sleeps, known.sleeps, 'the same delays for a name that does not exist (no oracle)');
  t.same(unknown.results, known.results);

  const r = await known.h.auth.authenticate(facts(basic('alice', 'alice-secret'), IP));
  t.strictSame(r, okAs('alice', ['admin', 'staff']), 'the real user from a clean IP gets in');
  t.equal(known.h.sleeps.at(-1), 2000, 'after a capped delay');
  const n = await unknown.h.auth.authenticate(facts(basic('nobody', 'x'), IP));
  t.strictSame(n, INVALID);
  t.equal(unknown.h.sleeps.at(-1), 2000, 'the unknown name waits the same');

  // Other names are not slowed.
  const before = known.h.sleeps.length;
  t.strictSame(await known.h.auth.authenticate(facts(basic('dora', 'dora-secret'), IP)), okAs('dora'));
  t.equal(known.h.sleeps.length, before);
  // The slowdown ends with the window.
  known.h.clock.advance(60_000);
  await known.h.auth.authenticate(facts(basic('alice', 'x'), '192.0.2.200'));
  t.equal(known.h.sleeps.length, before, 'no delay in a fresh window');
});

t.test('slowdownDelayMs: 250 ms at the threshold, doubling, capped at 2 s', async (t) => {
  const table: Array<[number, number, number]> = [
    [0, 5, 0],
    [4, 5, 0],
    [5, 5, 250],
    [9, 5, 250],
    [10, 5, 500],
    [15, 5, 1000],
    [20, 5, 2000],
    [10_000, 5, 2000],
    [1, 1, 250],
    [Number.MAX_SAFE_INTEGER, 1, 2000],
  ];
  for (const [failures, threshold, ms] of table) t.equal(slowdownDelayMs(failures, threshold), ms, `${failures}/${threshold}`);
});

t.test('the default sleep really waits', async (t) => {
  const auth = await createBasicAuthenticator(
    { ...DEFAULT_OPTS, throttle: { ...DEFAULT_OPTS.throttle, slowdownAfterUserFailures: 1 } },
    { attempts: createMemoryAttemptStore() },
  );
  await auth.authenticate(facts(basic('alice', 'x'), '192.0.2.1'));
  const start = performance.now();
  t.strictSame(await auth.authenticate(facts(basic('alice', 'alice-secret'), '192.0.2.2')), okAs('alice', ['admin', 'staff']));
  t.ok(performance.now() - start >= 245, 'waited about 250 ms');
});

t.test('store keys: per authenticator, user names hashed', async (t) => {
  const h = await harness({ name: 'a:b' });
  await h.auth.authenticate(facts(basic('alice', 'x'), '2001:db8::1'));
  const keys = [...h.keys].sort();
  t.equal(keys.length, 3);
  for (const k of keys) {
    t.ok(k.startsWith('basic:a%3Ab:'), `${k} carries the encoded authenticator name`);
    t.notMatch(k, /alice/, 'no raw user name');
  }
  t.match(keys, [/^basic:a%3Ab:ip:2001:db8:0:0::\/64$/, /^basic:a%3Ab:user-ip:[A-Za-z0-9_-]{43}:2001:db8:0:0::\/64$/, /^basic:a%3Ab:user:[A-Za-z0-9_-]{43}$/]);
});

// ---------------------------------------------------------------- credential cache

t.test('a cache hit skips verification; only successes are cached', async (t) => {
  const h = await harness();
  for (let i = 0; i < 3; i++) t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), okAs('alice', ['admin', 'staff']));
  t.same(h.verified, [ALICE], 'verified once, then served from the cache');
  await h.auth.authenticate(facts(basic('alice', 'wrong')));
  await h.auth.authenticate(facts(basic('alice', 'wrong')));
  t.equal(h.verified.length, 3, 'failures are verified every time');
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), okAs('alice', ['admin', 'staff']));
  t.equal(h.verified.length, 3, 'still a hit');
  t.same(await h.store.peek([...h.keys].find((k) => k.includes(':user-ip:'))!), { failures: 0, resetInMs: 0 }, 'a hit clears (user, IP) failures');
  await h.auth.close!();
  await h.auth.authenticate(facts(basic('alice', 'alice-secret')));
  t.equal(h.verified.length, 4, 'close() empties the cache');
});

t.test('a changed hash misses the cache', async (t) => {
  const users = new Map(DEFAULT_OPTS.users);
  const h = await harness({ users });
  await h.auth.authenticate(facts(basic('alice', 'alice-secret')));
  users.set('alice', DORA); // alice's password is now dora-secret
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), INVALID, 'the old password no longer works');
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'dora-secret'))), okAs('alice', ['admin', 'staff']));
  t.same(h.verified, [ALICE, DORA, DORA]);
});

t.test('a cache hit still obeys a throttle in force for the IP, but skips the user slowdown', async (t) => {
  const h = await harness();
  await h.auth.authenticate(facts(basic('alice', 'alice-secret')));
  for (let i = 0; i < 10; i++) await h.auth.authenticate(facts(basic(`user${i}`, 'x')));
  const n = h.verified.length;
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), throttled(60), 'IP throttled: no cached ok');
  t.equal(h.verified.length, n);

  const s = await harness();
  await s.auth.authenticate(facts(basic('alice', 'alice-secret')));
  for (let i = 0; i < 6; i++) await s.auth.authenticate(facts(basic('alice', 'x'), `198.51.100.${i}`));
  const slept = s.sleeps.length;
  t.strictSame(await s.auth.authenticate(facts(basic('alice', 'alice-secret'))), okAs('alice', ['admin', 'staff']));
  t.equal(s.sleeps.length, slept, 'a proven credential is not slowed');
});

t.test('cache disabled (maxEntries 0): every request verifies', async (t) => {
  const h = await harness({ cache: { maxEntries: 0, ttlMs: 1000 } });
  await h.auth.authenticate(facts(basic('alice', 'alice-secret')));
  await h.auth.authenticate(facts(basic('alice', 'alice-secret')));
  t.equal(h.verified.length, 2);
});

// ---------------------------------------------------------------- challenge and creation

t.test('challenge: realm as an escaped quoted-string, charset UTF-8 (RFC 7617 §2.1)', async (t) => {
  t.equal((await harness()).auth.challenge, 'Basic realm="Staff area", charset="UTF-8"');
  t.equal((await harness({ realm: 'say "hi" \\ bye' })).auth.challenge, 'Basic realm="say \\"hi\\" \\\\ bye", charset="UTF-8"');
  t.equal((await harness({ realm: '' })).auth.challenge, 'Basic realm="", charset="UTF-8"');
  t.equal((await harness({ realm: 'Zugang für Mitarbeiter' })).auth.challenge, 'Basic realm="Zugang für Mitarbeiter", charset="UTF-8"');
  for (const realm of ['a\r\nSet-Cookie: x=1', 'a\0', 'tab\there', 'del\x7f', 'c1\u0085', 'emoji 😀', 'ĉ']) {
    await t.rejects(harness({ realm }), RangeError, JSON.stringify(realm));
  }
});

t.test('creation validates its options without quoting hashes', async (t) => {
  const apr1 = '$apr1$z6sTU15O$86XUsq1V6DieX3ZokZgVr0';
  const err = await harness({ users: new Map([['alice', apr1]]) }).then(
    () => undefined,
    (e: Error) => e,
  );
  t.equal(err?.message, 'basic authenticator staff: user "alice" has an unsupported hash scheme');
  t.notMatch(String(err?.stack), /86XUsq1V6DieX3ZokZgVr0/);
  await t.rejects(harness({ name: '' }), TypeError);
  const bad: Array<Partial<BasicAuthenticatorOptions['throttle']>> = [
    { windowMs: 0 },
    { windowMs: Number.POSITIVE_INFINITY },
    { maxFailuresPerUserAndIp: 0 },
    { maxFailuresPerIp: 1.5 },
    { slowdownAfterUserFailures: -1 },
  ];
  for (const b of bad) await t.rejects(harness({ throttle: { ...DEFAULT_OPTS.throttle, ...b } }), RangeError, JSON.stringify(b));
  await t.rejects(harness({ cache: { maxEntries: -1, ttlMs: 1 } }), RangeError);
});

// ---------------------------------------------------------------- failures of our own

t.test('a failing attempt store: the throttle fails open and Basic keeps working (§10)', async (t) => {
  const boom = new Error('redis down');
  const rejecting: AttemptStore = {
    recordFailure: async () => {
      throw boom;
    },
    peek: async () => {
      throw boom;
    },
    clear: async () => {
      throw boom;
    },
  };
  const h = await harness({}, { store: rejecting });
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'x'))), INVALID);
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), okAs('alice', ['admin', 'staff']));
  t.ok(h.errors.length >= 7, `errors reported (${h.errors.length})`);
  t.ok(h.errors.every(([where, e]) => where === 'attempt-store' && e === boom));

  const throwing = { recordFailure: () => { throw boom; }, peek: () => { throw boom; }, clear: () => { throw boom; } } as unknown as AttemptStore;
  const auth = await createBasicAuthenticator(DEFAULT_OPTS, {
    attempts: throwing,
    onError: () => {
      throw new Error('the reporter is broken too');
    },
  });
  t.strictSame(await auth.authenticate(facts(basic('dora', 'x'))), INVALID, 'synchronous throws and a throwing reporter survived');
  t.strictSame(await auth.authenticate(facts(basic('dora', 'dora-secret'))), okAs('dora'));
  const silent = await createBasicAuthenticator(DEFAULT_OPTS, { attempts: throwing });
  t.strictSame(await silent.authenticate(facts(basic('dora', 'x'))), INVALID, 'no reporter at all');
});

t.test('a verification that throws is a 500, reported, never a raw throw', async (t) => {
  const errors: Array<[string, unknown]> = [];
  const boom = new Error('native failure');
  const auth = await createBasicAuthenticator(DEFAULT_OPTS, {
    attempts: createMemoryAttemptStore(),
    verify: async () => {
      throw boom;
    },
    onError: (w, e) => void errors.push([w, e]),
  });
  t.strictSame(await auth.authenticate(facts(basic('alice', 'x'))), { outcome: 'fail', reason: 'verify-error', code: 'GATEHOUSE_ERR_INTERNAL' });
  t.same(errors, [['verify', boom]]);
});

// ---------------------------------------------------------------- concurrency

/** A verifier that holds every call until open() — to send guesses "at once". */
function gate() {
  const waiting: Array<() => void> = [];
  let isOpen = false;
  return {
    verify: async (hash: string, pw: Buffer): Promise<boolean> => {
      if (!isOpen) await new Promise<void>((r) => waiting.push(r));
      return verifyPassword(hash, pw);
    },
    open(): void {
      isOpen = true;
      for (const r of waiting.splice(0)) r();
    },
  };
}

t.test('a burst of parallel guesses cannot outrun the (user, IP) limit', async (t) => {
  const g = gate();
  const h = await harness({}, { verify: g.verify });
  const all = Array.from({ length: 20 }, (_, i) => h.auth.authenticate(facts(basic('alice', `guess${i}`))));
  await new Promise((r) => setImmediate(r));
  t.equal(h.verified.length, 3, 'only maxFailuresPerUserAndIp guesses are verified');
  g.open();
  const results = await Promise.all(all);
  t.same(results.slice(0, 3), [INVALID, INVALID, INVALID]);
  t.same(results.slice(3), Array(17).fill(throttled(1)), 'the rest are refused while those are pending');
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), throttled(60), 'and the 3 failures were counted');
  t.strictSame(await h.auth.authenticate(facts(basic('dora', 'dora-secret'))), okAs('dora'), 'pending slots were released');
});

t.test('a burst across many users cannot outrun the per-IP limit', async (t) => {
  const g = gate();
  const h = await harness({}, { verify: g.verify });
  const all = Array.from({ length: 30 }, (_, i) => h.auth.authenticate(facts(basic(`user${i}`, 'guess'))));
  await new Promise((r) => setImmediate(r));
  t.equal(h.verified.length, 10);
  g.open();
  const results = await Promise.all(all);
  t.equal(results.filter((r) => r.outcome === 'fail' && r.reason === 'invalid-credentials').length, 10);
  t.equal(results.filter((r) => r.outcome === 'fail' && r.reason === 'throttled').length, 20);
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), throttled(60));
});

t.test('identical parallel requests share one verification (a browser’s first page load)', async (t) => {
  const g = gate();
  const h = await harness({ throttle: { ...DEFAULT_OPTS.throttle, maxFailuresPerUserAndIp: 1 } }, { verify: g.verify });
  const all = Array.from({ length: 6 }, () => h.auth.authenticate(facts(basic('alice', 'alice-secret'))));
  await new Promise((r) => setImmediate(r));
  t.equal(h.verified.length, 1);
  g.open();
  t.same(await Promise.all(all), Array(6).fill(okAs('alice', ['admin', 'staff'])), 'no false 429 even with a limit of 1');
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'alice-secret'))), okAs('alice', ['admin', 'staff']));
  t.equal(h.verified.length, 1, 'then cached');
});

t.test('one guess repeated in parallel is one verification and one failure', async (t) => {
  for (const user of ['alice', 'nobody']) {
    const g = gate();
    const h = await harness({}, { verify: g.verify });
    const all = Array.from({ length: 10 }, (_, i) => h.auth.authenticate(facts(basic(user, 'guess'), `198.51.100.${i}`)));
    await new Promise((r) => setImmediate(r));
    t.equal(h.verified.length, 1, `${user}: one verification`);
    g.open();
    t.same(await Promise.all(all), Array(10).fill(INVALID));
    const userKey = [...h.keys].find((k) => k.includes(':user:'))!;
    t.same(await h.store.peek(userKey), { failures: 1, resetInMs: 60_000 }, `${user}: one failure`);
    t.same(h.sleeps, [], 'below the slowdown');
  }
});

t.test('a verifier that throws synchronously leaves nothing stuck', async (t) => {
  let calls = 0;
  const h = await harness({}, {
    verify: () => {
      calls += 1;
      throw new Error('sync');
    },
  });
  const internal = { outcome: 'fail', reason: 'verify-error', code: 'GATEHOUSE_ERR_INTERNAL' };
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'x'))), internal);
  t.strictSame(await h.auth.authenticate(facts(basic('alice', 'x'))), internal);
  t.equal(calls, 2, 'the second request verified again instead of reusing a stale answer');
  t.same(h.errors.map(([w]) => w), ['verify', 'verify']);
});

// ---------------------------------------------------------------- §13: secrets stay secret

t.test('no result carries the password, the hash or the header', async (t) => {
  const h = await harness({ throttle: { ...DEFAULT_OPTS.throttle, maxFailuresPerUserAndIp: 2 } });
  const password = 'alice-secret';
  const headers = [basic('alice', password), basic('alice', 'guess-zz'), basic('alice', 'guess-zz'), basic('alice', password), basic('alice', 'ctl\n'), basic('ghost', 'boo-zz')];
  const results: AuthResult[] = [];
  for (const hd of headers) results.push(await h.auth.authenticate(facts(hd)));
  t.same(
    results.map((r) => (r.outcome === 'fail' ? r.reason : r.outcome)),
    ['ok', 'invalid-credentials', 'invalid-credentials', 'throttled', 'malformed-control-char', 'invalid-credentials'],
  );
  const text = JSON.stringify(results) + String(h.auth.challenge);
  for (const secret of [password, 'guess-zz', 'boo-zz', ALICE, ALICE.slice(7), ...headers.map((x) => x.slice(6))]) {
    t.notOk(text.includes(secret), `no ${secret.slice(0, 12)}…`);
  }
});
