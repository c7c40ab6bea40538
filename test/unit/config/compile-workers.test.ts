// `workers`, `watch` and `shutdownTimeout` once compiled, and the one cross-check they
// bring: several worker processes cannot share a memory session store.
import { availableParallelism } from 'node:os';
import t from 'tap';
import { compileConfig, type CompiledConfig } from '../../../src/config/compile.js';
import { ConfigError } from '../../../src/config/diagnostics.js';
import { loadConfigText } from '../../../src/config/load.js';

const SECRET = 'a-session-secret-of-at-least-32-chars';
const users = `  staff:\n    type: basic\n    users: [{ name: alice, hash: "$2b$04$EnRhHTmtcEzHbYlXJ65souje9W1N2Ui/QybCSbgSdKfalXAlzbeZW" }]\n`;
const route = (auth: string): string => `routes:\n  - name: r\n    match: { path: /** }\n    upstream: echo\n    auth: ${auth}\n`;
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

t.test('defaults: one process, no watch, 25 s to shut down', async (t) => {
  const config = await compile(route('anonymous'));
  t.teardown(() => config.close());
  t.equal(config.workers, 1);
  t.equal(config.watch, false);
  t.equal(config.shutdownTimeoutMs, 25_000);
});

t.test('values as given; auto is one per core of this machine', async (t) => {
  const config = await compile(`workers: 3\nwatch: true\nshutdownTimeout: 1500ms\n${route('anonymous')}`);
  t.teardown(() => config.close());
  t.same([config.workers, config.watch, config.shutdownTimeoutMs], [3, true, 1500]);
  const auto = await compile(`workers: auto\n${route('anonymous')}`);
  t.teardown(() => auto.close());
  t.equal(auto.workers, availableParallelism());
});

t.test('several workers need the redis session store', async (t) => {
  const sessionsNeeded = `${form}authenticators:\n  web: { type: session }\n${users}${route('web')}`;
  t.same(await problems(`workers: 2\n${sessionsNeeded}`), [
    'g.yaml:1:10 workers: more than one worker process needs sessions.store: redis (the memory store keeps sessions in one process, where the other workers cannot see them)',
  ], 'sessions needed, no sessions block: the default memory store');
  t.same(await problems(`sessions: { store: memory, secret: ${SECRET} }\nworkers: auto\n${sessionsNeeded}`), [
    'g.yaml:2:10 workers: "auto" may start several worker processes; that needs sessions.store: redis (the memory store keeps sessions in one process, where the other workers cannot see them)',
  ], 'auto is refused whatever this machine has, so that check gives the same answer everywhere');
  t.same(await problems(`workers: 1\n${sessionsNeeded}`), [], 'one worker: the memory store is fine');
  t.same(await problems(`workers: 2\nauthenticators:\n${users}${route('staff')}`), [], 'no sessions: nothing to share');
  const redis = await compile(`workers: 2\nsessions:\n  store: redis\n  secret: ${SECRET}\n  redis: { url: "redis://127.0.0.1:1" }\n${sessionsNeeded}`);
  t.teardown(() => redis.close());
  t.equal(redis.workers, 2, 'redis: shared by every worker');
});

t.test('the workers problem comes with the others', async (t) => {
  const out = await problems(`workers: 4\nsessions:\n  cookie: { secure: false }\n${form}authenticators:\n  web: { type: session }\n${users}${route('web')}`);
  t.same(out, [
    'g.yaml:3:21 sessions.cookie.secure: must be true for a cookie named __Host-… (browsers refuse it otherwise); rename the cookie for plain-HTTP testing',
    'g.yaml:1:10 workers: more than one worker process needs sessions.store: redis (the memory store keeps sessions in one process, where the other workers cannot see them)',
  ]);
});
