// The jwt authenticator with many never-repeated tokens (the "cold" path): one-off tokens
// take no long-lived cache entry and evict none, repeated ones are still cached, and the
// remembered header checks never let a token past a rule.
import t from 'tap';
import { keySetFromJwks, type KeySet } from '../../../src/jwt/key-set.js';
import { createJwtAuthenticator, type JwtAuthenticatorOptions } from '../../../src/pipeline/authenticate/jwt.js';
import { PROBATION_ENTRIES } from '../../../src/pipeline/authenticate/token-cache.js';
import type { AuthResult } from '../../../src/pipeline/types.js';
import { b64u, bearer, handToken, json, makeKey, signInput } from '../jwt/tokens.js';

const NOW_S = Math.floor(Date.now() / 1000);
const CLAIMS = { sub: 'alice', aud: 'api', iss: 'https://idp.example.com/', exp: NOW_S + 300, iat: NOW_S - 10 };
const es = await makeKey('ES256', 'es-1');
const other = await makeKey('ES256', 'es-1'); // same kid, another key

function keySet(): KeySet & { selects: number } {
  const r = keySetFromJwks(JSON.stringify({ keys: [es.jwk] }));
  if ('error' in r) throw new Error(r.error);
  const inner = r.keySet;
  const ks = {
    selects: 0,
    size: inner.size,
    select(alg: string, kid: string | undefined) {
      ks.selects++;
      return inner.select(alg, kid);
    },
    hasKid: (kid: string) => inner.hasKid(kid),
  };
  return ks;
}

function make(ks: KeySet, over: Partial<JwtAuthenticatorOptions> = {}, clock = { now: NOW_S * 1000 }) {
  return createJwtAuthenticator(
    {
      name: 'partners',
      realm: 'api',
      algorithms: ['ES256'],
      keys: { kind: 'static', keySet: ks },
      issuer: 'https://idp.example.com/',
      audience: ['api'],
      clockToleranceMs: 30_000,
      claims: { user: 'sub' },
      cache: { maxEntries: 100 },
      ...over,
    },
    { now: () => clock.now },
  );
}

const HEADER = { alg: 'ES256', kid: 'es-1', typ: 'JWT' };
let serial = 0;
/** A valid token no other test uses. */
const fresh = (claims: Record<string, unknown> = {}) => handToken('ES256', es.privateKey, HEADER, { ...CLAIMS, jti: `t${serial++}`, ...claims });
const userOf = (r: AuthResult) => (r.outcome === 'ok' ? r.identity.user : r.outcome === 'fail' ? r.reason : 'skip');

async function oneOffs(auth: { authenticate: (f: ReturnType<typeof bearer>) => Promise<AuthResult> }, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await auth.authenticate(bearer(fresh()));
    if (r.outcome !== 'ok') throw new Error(`one-off token refused: ${JSON.stringify(r)}`);
  }
}

t.test('a token seen once is verified again on its next request, then cached', async (t) => {
  const ks = keySet();
  // A first sight is remembered for about maxEntries other tokens: far more than here.
  const auth = make(ks, { cache: { maxEntries: 10_000 } });
  const token = fresh();
  t.equal(userOf(await auth.authenticate(bearer(token))), 'alice');
  await oneOffs(auth, PROBATION_ENTRIES);
  t.equal(ks.selects, 1 + PROBATION_ENTRIES);
  t.equal(userOf(await auth.authenticate(bearer(token))), 'alice');
  t.equal(ks.selects, 2 + PROBATION_ENTRIES, 'its one-off cache slot was gone: verified again');
  await oneOffs(auth, 3 * PROBATION_ENTRIES);
  const before = ks.selects;
  t.equal(userOf(await auth.authenticate(bearer(token))), 'alice');
  t.equal(ks.selects, before, 'seen twice: cached, one-off traffic in between notwithstanding');
});

t.test('a token repeated right away is cached from its second request', async (t) => {
  const ks = keySet();
  const auth = make(ks);
  const token = fresh();
  const first = await auth.authenticate(bearer(token));
  t.equal(await auth.authenticate(bearer(token)), first, 'the very same result');
  await oneOffs(auth, 3 * PROBATION_ENTRIES);
  const before = ks.selects;
  t.equal(await auth.authenticate(bearer(token)), first);
  t.equal(ks.selects, before);
});

t.test('one-off tokens never evict repeated ones', async (t) => {
  const ks = keySet();
  const auth = make(ks, { cache: { maxEntries: 2 } });
  const warm = [fresh(), fresh()];
  for (const token of warm) {
    await auth.authenticate(bearer(token));
    await auth.authenticate(bearer(token));
  }
  await oneOffs(auth, 200);
  const before = ks.selects;
  for (const token of warm) t.equal(userOf(await auth.authenticate(bearer(token))), 'alice');
  t.equal(ks.selects, before, 'both still cached');
});

t.test('a cached token is never used at or past its exp, however it got there', async (t) => {
  const clock = { now: NOW_S * 1000 };
  const ks = keySet();
  const auth = make(ks, { clockToleranceMs: 0 }, clock);
  const token = fresh({ exp: NOW_S + 60 });
  await auth.authenticate(bearer(token));
  await oneOffs(auth, PROBATION_ENTRIES);
  await auth.authenticate(bearer(token)); // second sight: cached
  clock.now = (NOW_S + 60) * 1000;
  t.equal(userOf(await auth.authenticate(bearer(token))), 'expired');
});

t.test('remembered header checks: the signature and claims are still checked per token', async (t) => {
  const ks = keySet();
  const auth = make(ks);
  t.equal(userOf(await auth.authenticate(bearer(fresh()))), 'alice', 'the header is now remembered');
  const forged = handToken('ES256', other.privateKey, HEADER, { ...CLAIMS, sub: 'mallory' });
  t.equal(userOf(await auth.authenticate(bearer(forged))), 'bad-signature', 'same header text, another key');
  const good = fresh();
  const [h, , s] = good.split('.');
  t.equal(userOf(await auth.authenticate(bearer(`${h}.${json({ ...CLAIMS, sub: 'mallory' })}.${s}`))), 'bad-signature', 'same header, payload swapped');
  t.equal(userOf(await auth.authenticate(bearer(fresh({ aud: 'other' })))), 'bad-audience');
  t.equal(userOf(await auth.authenticate(bearer(fresh({ exp: NOW_S - 60 })))), 'expired');
});

t.test('a refused header is refused every time, remembered headers or not', async (t) => {
  const auth = make(keySet());
  await oneOffs(auth, 1);
  const hs = `${json({ alg: 'HS256', kid: 'es-1', typ: 'JWT' })}.${json(CLAIMS)}`;
  const token = `${hs}.${b64u(signInput('HS256', Buffer.alloc(32, 1), hs))}`;
  for (let i = 0; i < 3; i++) t.equal(userOf(await auth.authenticate(bearer(token))), 'alg-not-allowed');
  const dup = handToken('ES256', es.privateKey, '{"alg":"ES256","kid":"es-1","alg":"ES256"}', CLAIMS);
  for (let i = 0; i < 3; i++) t.equal(userOf(await auth.authenticate(bearer(dup))), 'duplicate-header-member');
  const bad = handToken('ES256', es.privateKey, '{"alg":"ES256"', CLAIMS);
  t.equal(userOf(await auth.authenticate(bearer(bad))), 'bad-header');
});

t.test('many distinct headers: all still checked, none remembered past the bound', async (t) => {
  const ks = keySet();
  const auth = make(ks);
  for (let i = 0; i < 200; i++) {
    const token = handToken('ES256', es.privateKey, { ...HEADER, x: i }, { ...CLAIMS, jti: `h${i}` });
    t.equal(userOf(await auth.authenticate(bearer(token))), 'alice');
  }
  const forged = handToken('ES256', other.privateKey, { ...HEADER, x: 199 }, CLAIMS);
  t.equal(userOf(await auth.authenticate(bearer(forged))), 'bad-signature');
});

t.test('without an injected clock, the wall clock decides', async (t) => {
  const auth = createJwtAuthenticator(
    {
      name: 'partners',
      realm: 'api',
      algorithms: ['ES256'],
      keys: { kind: 'static', keySet: keySet() },
      issuer: 'https://idp.example.com/',
      audience: ['api'],
      clockToleranceMs: 0,
      claims: { user: 'sub' },
      cache: { maxEntries: 10 },
    },
    {},
  );
  t.equal(userOf(await auth.authenticate(bearer(fresh()))), 'alice');
  t.equal(userOf(await auth.authenticate(bearer(fresh({ exp: Math.floor(Date.now() / 1000) - 1 })))), 'expired');
});
