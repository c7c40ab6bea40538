// Load-time checks of sessions, login and `type: session`: every mistake is a diagnostic
// with file:line:col and key; a reload keeps the running session store.
import t from 'tap';
import { compileConfig, type CompiledConfig } from '../../../src/config/compile.js';
import { ConfigError } from '../../../src/config/diagnostics.js';
import { loadConfigText } from '../../../src/config/load.js';

const SECRET = 'a-session-secret-of-at-least-32-chars';
const users = `  staff:\n    type: basic\n    users: [{ name: alice, hash: "$2b$04$EnRhHTmtcEzHbYlXJ65souje9W1N2Ui/QybCSbgSdKfalXAlzbeZW" }]\n`;
const route = 'routes:\n  - name: r\n    match: { path: /** }\n    upstream: echo\n    auth: web\n';
const form = 'login:\n  providers:\n    local: { type: form, authenticator: staff }\n';

async function compile(yaml: string): Promise<CompiledConfig> {
  return compileConfig(loadConfigText(yaml, 'g.yaml', {}));
}

async function problems(yaml: string): Promise<string[]> {
  try {
    await (await compile(yaml)).close();
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message.split('\n');
  }
}

t.test('a form sign-in with memory sessions compiles; without a secret it warns', async (t) => {
  const config = await compile(`${form}authenticators:\n  web: { type: session }\n${users}${route}`);
  t.teardown(() => config.close());
  t.equal(config.sessions?.shared.store.kind, 'memory');
  t.same([...config.login!.providers.keys()], ['local']);
  t.equal(config.policy.routes[0]!.signInRedirect, true);
  t.equal(config.policy.routes[0]!.csrf, 'origin');
  t.same(config.warnings, ['g.yaml:5:3 authenticators.web: sessions.secret is not set; a random secret is used, so sessions end when gatehouse restarts (memory store, one process only)']);
  t.same([...config.policy.headers.ownCookies!], ['__Host-gatehouse', '__Host-gatehouse-csrf', '__Host-gatehouse-tx'], 'our cookies never reach upstreams');
});

t.test('sessions problems name their key', async (t) => {
  const base = `${form}authenticators:\n  web: { type: session }\n${users}${route}`;
  t.same(await problems(`sessions:\n  cookie: { secure: false }\n${base}`), ['g.yaml:2:21 sessions.cookie.secure: must be true for a cookie named __Host-… (browsers refuse it otherwise); rename the cookie for plain-HTTP testing']);
  t.same(await problems(`sessions:\n  cookie: { domain: example.com }\n${base}`), ['g.yaml:2:21 sessions.cookie.domain: must be null for a cookie named __Host-…; rename the cookie to share it with sub-domains']);
  t.same(await problems(`sessions:\n  cookie: { name: __Secure-x, secure: false }\n${base}`), ['g.yaml:2:39 sessions.cookie.secure: must be true for a cookie named __Secure-…']);
  t.same(await problems(`sessions:\n  cookie: { name: x, secure: false, sameSite: none }\n${base}`), ['g.yaml:2:47 sessions.cookie.sameSite: none requires secure: true (browsers refuse it otherwise)']);
  t.same(await problems(`sessions:\n  maxAge: 1h\n  idleTimeout: 2h\n${base}`), ['g.yaml:3:16 sessions.idleTimeout: must not exceed maxAge']);
  t.same(await problems(`sessions:\n  maxAge: 500ms\n  idleTimeout: 100ms\n${base}`), ['g.yaml:2:11 sessions.maxAge: must be at least 1s (cookies count lifetimes in whole seconds)']);
  const redis = await problems(`sessions:\n  store: redis\n  secret: ${SECRET}\n  redis: { url: "redis://127.0.0.1:1", cluster: ["a:1"] }\n${base}`);
  t.same(redis, ['g.yaml:4:10 sessions.redis: needs exactly one of url, sentinels (with name) or cluster']);
  t.same(await problems(`sessions:\n  store: redis\n  secret: ${SECRET}\n  redis: { sentinels: ["a:26379"] }\n${base}`), ['g.yaml:4:10 sessions.redis.name: is required with sentinels (the master name)']);
  t.same(await problems(`sessions:\n  redis: { url: "redis://127.0.0.1:1" }\n${base}`), ['g.yaml:2:10 sessions.redis: is only used when store is redis']);
  t.same(await problems(`sessions:\n  secret: short\n${base}`), ['g.yaml:2:11 sessions.secret: must be a secret of at least 32 characters']);
});

t.test('a redis store without a secret, and its missing connection, are both reported', async (t) => {
  const out = await problems(`sessions:\n  store: redis\n${form}authenticators:\n  web: { type: session }\n${users}${route}`);
  t.equal(out.length, 2);
  t.match(out[0], /sessions\.redis: is required when store is redis/);
  t.match(out[1], /sessions\.secret: is required with the redis store/);
  t.notMatch(out.join('\n'), new RegExp(SECRET), 'secrets never in messages');
});

t.test('login and session authenticators must fit together', async (t) => {
  t.same(await problems(`authenticators:\n  web: { type: session }\n${route}`), ['g.yaml:2:8 authenticators.web: needs login.providers: sessions are made by signing in']);
  t.same(await problems(`login:\n  providers:\n    local: { type: form, authenticator: web }\nauthenticators:\n  web: { type: session }\n${route}`), ['g.yaml:3:41 login.providers.local.authenticator: must name a basic authenticator ("web" is session)']);
  t.same(await problems(`login:\n  providers:\n    local: { type: form, authenticator: nobody }\nauthenticators:\n  web: { type: session }\n${route}`), ['g.yaml:3:41 login.providers.local.authenticator: must name a basic authenticator (no authenticator "nobody")']);
  const oidc = (extra: string) => `${extra}login:\n  providers:\n    corp: { type: oidc, issuer: "http://idp.example.com", clientId: c, scopes: [email] }\nauthenticators:\n  web: { type: session }\n${route}`;
  const found = await problems(oidc(''));
  t.equal(found.length, 3);
  t.match(found.join('\n'), /scopes: must include openid/);
  t.match(found.join('\n'), /publicUrl: is required by the oidc provider "corp"/);
  t.match(found.join('\n'), /issuer: must be https/);
});

t.test('a reload with the same store settings keeps the running store (no session is lost)', async (t) => {
  const yaml = `sessions:\n  secret: ${SECRET}\n${form}authenticators:\n  web: { type: session }\n${users}${route}`;
  const first = await compile(yaml);
  const { setCookie } = await first.sessions!.manager.start('local', { user: 'alice', groups: [], claims: {} }, Date.now());
  const second = await compileConfig(loadConfigText(yaml, 'g.yaml', {}), { previous: first });
  t.equal(second.sessions!.shared.store, first.sessions!.shared.store, 'adopted');
  await first.close(); // the old generation retires
  const cookie = setCookie.split(';', 1)[0]!;
  t.equal((await second.sessions!.manager.resolve(['Cookie', cookie], Date.now())).kind, 'live', 'the session survived the reload');
  const third = await compileConfig(loadConfigText(yaml.replace('sessions:\n', 'sessions:\n  maxAge: 2h\n'), 'g.yaml', {}), { previous: second });
  t.equal(third.sessions!.shared.store, second.sessions!.shared.store, 'lifetimes may change without a new store');
  await second.close();
  await third.close();
});

t.test('a generated secret survives a reload too', async (t) => {
  const yaml = `${form}authenticators:\n  web: { type: session }\n${users}${route}`;
  const first = await compile(yaml);
  const { setCookie } = await first.sessions!.manager.start('local', { user: 'alice', groups: [], claims: {} }, Date.now());
  const second = await compileConfig(loadConfigText(yaml, 'g.yaml', {}), { previous: first });
  await first.close();
  t.equal((await second.sessions!.manager.resolve(['Cookie', setCookie.split(';', 1)[0]!], Date.now())).kind, 'live');
  await second.close();
});
