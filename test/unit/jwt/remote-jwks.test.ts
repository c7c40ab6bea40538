import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import type { Dispatcher } from 'undici';
import { createRemoteJwks, JWKS_DEFAULTS, type RemoteJwks, type RemoteJwksEvent, type RemoteJwksOptions } from '../../../src/jwt/remote-jwks.js';
import { freePort, sleep, waitFor } from '../../helpers/wait.js';
import { startJwksServer, type JwksServer } from './jwks-server.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const jwk = (kid: string) => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid });
const K1 = jwk('k1');
const K2 = jwk('k2');
const body = (...keys: unknown[]) => JSON.stringify({ keys });

// Long intervals unless a test says otherwise, so only the fetches a test asks for happen.
const QUIET = { refreshIntervalMs: 60_000, cooldownMs: 60_000, minRefetchIntervalMs: 60_000, timeoutMs: 2_000 };

async function setup(t: TapTest, state: Partial<JwksServer['state']> = {}, opts: Partial<RemoteJwksOptions> = {}) {
  const server = await startJwksServer({ body: body(K1), ...state });
  const events: RemoteJwksEvent[] = [];
  const jwks = createRemoteJwks({ url: server.url, ...QUIET, onEvent: (e) => events.push(e), ...opts });
  t.teardown(async () => {
    await jwks.close();
    await server.close();
  });
  return { server, jwks, events };
}

const settle = async (jwks: RemoteJwks): Promise<void> => {
  await jwks.refresh();
};

t.test('defaults', async (t) => {
  t.same(JWKS_DEFAULTS, { refreshIntervalMs: 600_000, cooldownMs: 30_000, timeoutMs: 5_000, minRefetchIntervalMs: 1_000, maxBodyBytes: 1_048_576, maxKeys: 100 });
});

t.test('options are checked', async (t) => {
  t.throws(() => createRemoteJwks({ url: 'not a url' }), { message: 'remote JWKS: url must be an absolute http(s) URL' });
  t.throws(() => createRemoteJwks({ url: 'file:///etc/jwks.json' }), { message: 'remote JWKS: url must be an absolute http(s) URL' });
  t.throws(() => createRemoteJwks({ url: 'http://127.0.0.1:9/', cooldownMs: 0 }), { message: 'remote JWKS: cooldownMs must be a positive number' });
  t.throws(() => createRemoteJwks({ url: 'http://127.0.0.1:9/', timeoutMs: Infinity }), { message: 'remote JWKS: timeoutMs must be a positive number' });
  t.throws(() => createRemoteJwks({ url: 'http://127.0.0.1:9/', refreshIntervalMs: NaN }), RangeError);
});

t.test('fetches at start without blocking; ready once fetched', async (t) => {
  const { server, jwks, events } = await setup(t, { delayMs: 50 });
  t.equal(jwks.ready(), false);
  t.equal(jwks.current(), undefined);
  t.same(jwks.health(), { jwks: 'missing', keys: 0 });
  t.ok(await waitFor(() => jwks.ready()));
  t.equal(server.state.hits, 1);
  t.equal(jwks.current()!.hasKid('k1'), true);
  t.same(jwks.health(), { jwks: 'ok', keys: 1 });
  t.same(events, [{ type: 'refresh', detail: { keys: 1, changed: true, skipped: [] } }]);
});

t.test('concurrent callers share one fetch', async (t) => {
  const { server, jwks } = await setup(t, { delayMs: 100 }, { cooldownMs: 1 });
  const results = await Promise.all([jwks.refetch(), jwks.refetch(), jwks.refresh(), jwks.refetch()]);
  t.equal(server.state.hits, 1, 'the start-up fetch was joined by everyone');
  t.ok(results.every((r) => r === results[0] && r !== undefined));
});

t.test('refetch: at most once per cooldown; refresh ignores it', async (t) => {
  const clock = { now: 0 };
  const { server, jwks } = await setup(t, {}, { cooldownMs: 1000, now: () => clock.now });
  await settle(jwks);
  const hits = server.state.hits; // the start-up fetch joined by refresh(): 1
  t.equal(hits, 1);
  clock.now = 999;
  const same = await jwks.refetch();
  t.equal(server.state.hits, 1, 'within the cooldown of the last fetch: nothing');
  t.equal(same, jwks.current());
  clock.now = 1000;
  server.state.body = body(K1, K2);
  const fresh = await jwks.refetch();
  t.equal(server.state.hits, 2);
  t.equal(fresh!.hasKid('k2'), true);
  clock.now = 1500;
  await jwks.refetch();
  t.equal(server.state.hits, 2);
  await jwks.refresh();
  t.equal(server.state.hits, 3, 'refresh() fetches regardless');
});

t.test('an unchanged document keeps the same KeySet object', async (t) => {
  const { jwks, events } = await setup(t);
  await settle(jwks);
  const first = jwks.current();
  await jwks.refresh();
  t.equal(jwks.current(), first);
  t.same(events.at(-1), { type: 'refresh', detail: { keys: 1, changed: false, skipped: [] } });
});

t.test('unusable keys are skipped and reported once', async (t) => {
  const bad = { kty: 'oct', k: 'AAAA', kid: 'hs' };
  const { server, jwks, events } = await setup(t, { body: body(K1, bad) });
  await settle(jwks);
  t.equal(jwks.current()!.size, 1);
  server.state.body = body(K2, bad);
  await jwks.refresh();
  t.equal(jwks.current()!.hasKid('k2'), true);
  const skipped = events.flatMap((e) => (e.type === 'refresh' ? e.detail.skipped : []));
  t.same(skipped, ['key 1 (kid "hs"): symmetric (oct) keys are not accepted here; HS* secrets go in `secret`']);
});

t.test('stale-if-error: a failed refresh keeps the last good key set', async (t) => {
  const { server, jwks, events } = await setup(t);
  await settle(jwks);
  const good = jwks.current();
  const failures: Array<[Partial<JwksServer['state']>, string]> = [
    [{ status: 500 }, 'http status 500'],
    [{ status: 302, headers: { location: 'http://127.0.0.1:1/evil' } }, 'http status 302'],
    [{ status: 200, body: '{"keys":' }, 'JWKS is not valid JSON'],
    [{ status: 200, body: '{"keys":{}}' }, 'JWKS must be a JSON object with a "keys" array'],
    [{ status: 200, body: body({ kty: 'oct', k: 'AAAA' }) }, 'JWKS has no usable key (key 0: symmetric (oct) keys are not accepted here; HS* secrets go in `secret`)'],
    [{ status: 200, body: body() }, 'JWKS has no keys'],
    [{ status: 200, body: body(...Array.from({ length: 101 }, () => K1)) }, 'JWKS has 101 keys; at most 100 are accepted'],
    [{ status: 200, body: Buffer.from([0x7b, 0xff, 0x7d]) }, 'body is not UTF-8'],
  ];
  let n = 0;
  for (const [state, error] of failures) {
    Object.assign(server.state, { headers: {}, ...state });
    await jwks.refresh();
    n++;
    t.equal(jwks.current(), good, `${error}: keys kept`);
    t.same(jwks.health(), { jwks: 'stale', keys: 1, lastError: error });
    t.same(events.at(-1), { type: 'error', detail: { error, stale: true, consecutiveFailures: n } });
  }
  Object.assign(server.state, { status: 200, body: body(K1), headers: {} });
  await jwks.refresh();
  t.same(jwks.health(), { jwks: 'ok', keys: 1 }, 'recovered');
});

t.test('body size limit, declared or streamed', async (t) => {
  const big = body(K1) + ' '.repeat(2000);
  const { server, jwks } = await setup(t, { body: big }, { maxBodyBytes: 1000 });
  await settle(jwks);
  t.same(jwks.health(), { jwks: 'missing', keys: 0, lastError: 'body too large' }, 'Content-Length over the limit');
  // Chunked, no Content-Length: counted while reading.
  server.state.headers = { 'transfer-encoding': 'chunked' };
  await jwks.refresh();
  t.same(jwks.health(), { jwks: 'missing', keys: 0, lastError: 'body too large' });
  server.state.body = body(K1);
  await jwks.refresh();
  t.equal(jwks.ready(), true, 'under the limit, chunked');
});

t.test('maxKeys option', async (t) => {
  const { jwks } = await setup(t, { body: body(K1, K2) }, { maxKeys: 1 });
  await settle(jwks);
  t.same(jwks.health(), { jwks: 'missing', keys: 0, lastError: 'JWKS has 2 keys; at most 1 are accepted' });
});

t.test('timeout', async (t) => {
  const { jwks } = await setup(t, { delayMs: Infinity }, { timeoutMs: 100 });
  const started = Date.now();
  await settle(jwks);
  t.ok(Date.now() - started < 1500, 'gave up in time');
  t.same(jwks.health(), { jwks: 'missing', keys: 0, lastError: 'timeout' });
});

t.test('connection refused', async (t) => {
  const port = await freePort();
  const jwks = createRemoteJwks({ url: `http://127.0.0.1:${port}/jwks.json`, ...QUIET });
  t.teardown(() => jwks.close());
  await jwks.refresh();
  t.same(jwks.health(), { jwks: 'missing', keys: 0, lastError: 'ECONNREFUSED' });
  t.equal(jwks.ready(), false);
});

t.test('errors without a plain code are "fetch failed"; a custom dispatcher is used', async (t) => {
  let calls = 0;
  const failing = (err: unknown) =>
    ({
      dispatch() {
        calls++;
        throw err;
      },
    }) as unknown as Dispatcher;
  for (const [err, expected] of [
    [new Error('boom at 10.0.0.1'), 'fetch failed'],
    [Object.assign(new Error('x'), { code: 'not a code! 10.0.0.1' }), 'fetch failed'],
    [Object.assign(new Error('x'), { code: 'EHOSTUNREACH' }), 'EHOSTUNREACH'],
    [null, 'fetch failed'],
  ] as const) {
    const jwks = createRemoteJwks({ url: 'http://127.0.0.1:9/jwks.json', ...QUIET, dispatcher: failing(err) });
    await jwks.refresh();
    t.equal(jwks.health().lastError, expected, String(expected));
    await jwks.close();
  }
  t.equal(calls, 4);
});

t.test('background refresh every refreshInterval', async (t) => {
  const { server, jwks } = await setup(t, {}, { refreshIntervalMs: 40, minRefetchIntervalMs: 10 });
  t.ok(await waitFor(() => server.state.hits >= 4), `hits ${server.state.hits}`);
  t.equal(jwks.ready(), true);
});

t.test('a shorter Cache-Control max-age brings the refresh forward (floored at minRefetchInterval)', async (t) => {
  const { server } = await setup(t, { headers: { 'cache-control': 'public, max-age=0' } }, { minRefetchIntervalMs: 30 });
  t.ok(await waitFor(() => server.state.hits >= 3, 2000), `hits ${server.state.hits}`);
});

t.test('a longer max-age does not delay the refresh interval', async (t) => {
  const { server } = await setup(t, { headers: { 'cache-control': 'max-age=86400' } }, { refreshIntervalMs: 40, minRefetchIntervalMs: 10 });
  t.ok(await waitFor(() => server.state.hits >= 3, 2000), `hits ${server.state.hits}`);
});

t.test('several Cache-Control headers are read together', async (t) => {
  const { server } = await setup(t, { headers: { 'cache-control': ['public', 'max-age=0'] } }, { minRefetchIntervalMs: 30 });
  t.ok(await waitFor(() => server.state.hits >= 3, 2000), `hits ${server.state.hits}`);
});

t.test('failed fetches are retried with backoff, up to the cooldown', async (t) => {
  const { server, jwks, events } = await setup(t, { status: 503 }, { minRefetchIntervalMs: 20, cooldownMs: 40 });
  t.ok(await waitFor(() => server.state.hits >= 4, 3000), `hits ${server.state.hits}`);
  t.same(
    events.slice(0, 3).map((e) => (e.type === 'error' ? e.detail.consecutiveFailures : 0)),
    [1, 2, 3],
  );
  server.state.status = 200;
  t.ok(await waitFor(() => jwks.ready(), 3000), 'recovers by itself');
});

t.test('close stops the timer and aborts a fetch under way', async (t) => {
  const server = await startJwksServer({ body: body(K1), delayMs: Infinity });
  t.teardown(() => server.close());
  const events: RemoteJwksEvent[] = [];
  const jwks = createRemoteJwks({ url: server.url, ...QUIET, refreshIntervalMs: 20, minRefetchIntervalMs: 20, onEvent: (e) => events.push(e) });
  await waitFor(() => server.state.hits === 1);
  const started = Date.now();
  await jwks.close();
  t.ok(Date.now() - started < 1000, 'close did not wait for the timeout');
  t.same(events, [], 'an aborted fetch is not reported as an error');
  server.state.delayMs = 0;
  await sleep(100);
  t.equal(server.state.hits, 1, 'no fetch after close');
  t.equal(await jwks.refetch(), undefined);
  t.equal(await jwks.refresh(), undefined);
  t.equal(server.state.hits, 1);
});

t.test('close after a successful fetch keeps answering current()', async (t) => {
  const { server, jwks } = await setup(t, {}, { refreshIntervalMs: 20, minRefetchIntervalMs: 20 });
  await settle(jwks);
  await jwks.close();
  const hits = server.state.hits;
  await sleep(80);
  t.equal(server.state.hits, hits);
  t.equal(jwks.current()!.hasKid('k1'), true);
});

t.test('closed while reporting a refresh: nothing more is scheduled', async (t) => {
  const server = await startJwksServer({ body: body(K1) });
  t.teardown(() => server.close());
  const holder: { jwks?: RemoteJwks } = {};
  holder.jwks = createRemoteJwks({ url: server.url, ...QUIET, refreshIntervalMs: 20, onEvent: () => void holder.jwks!.close() });
  t.ok(await waitFor(() => holder.jwks!.ready()));
  await sleep(100);
  t.equal(server.state.hits, 1);
});

t.test('a throwing onEvent does not break the cycle', async (t) => {
  const { jwks } = await setup(t, {}, {
    onEvent: () => {
      throw new Error('logger down');
    },
  });
  await settle(jwks);
  t.equal(jwks.ready(), true);
});
