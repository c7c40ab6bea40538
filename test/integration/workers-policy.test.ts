// The cluster primary's decisions (cluster-policy.ts) and the metrics it merges, in this
// process: the primary itself runs where tap cannot measure it (workers.test.ts).
import t from 'tap';
import {
  clusterReadiness,
  createLineRelay,
  createRequestBroker,
  createRestartPolicy,
  isGatehouseMessage,
  restartPolicyFor,
} from '../../src/cli/cluster-policy.js';
import { createMetrics, createPrimaryMetrics, mergeMetrics, setConfigInfo } from '../../src/server/metrics.js';

t.test('restarts: the first at once, then a doubling delay, then giving up on a crash loop', async (t) => {
  t.same(restartPolicyFor(2), { windowMs: 60_000, maxRestarts: 10, baseDelayMs: 250, maxDelayMs: 8000 });
  t.equal(restartPolicyFor(16).maxRestarts, 32, 'more workers, more room');
  const policy = createRestartPolicy({ windowMs: 10_000, maxRestarts: 5, baseDelayMs: 100, maxDelayMs: 300 });
  const decisions = [0, 1, 2, 3, 4, 5].map((i) => policy.onExit(1000 + i));
  t.same(decisions, [
    { action: 'restart', delayMs: 0, recent: 1 },
    { action: 'restart', delayMs: 100, recent: 2 },
    { action: 'restart', delayMs: 200, recent: 3 },
    { action: 'restart', delayMs: 300, recent: 4 },
    { action: 'restart', delayMs: 300, recent: 5 },
    { action: 'give-up', recent: 6 },
  ]);
  const calm = createRestartPolicy({ windowMs: 10_000, maxRestarts: 2, baseDelayMs: 100, maxDelayMs: 300 });
  t.same(calm.onExit(0), { action: 'restart', delayMs: 0, recent: 1 });
  t.same(calm.onExit(5000), { action: 'restart', delayMs: 100, recent: 2 });
  t.same(calm.onExit(12_000), { action: 'restart', delayMs: 100, recent: 2 }, 'exits older than the window are forgotten');
  t.same(calm.onExit(30_000), { action: 'restart', delayMs: 0, recent: 1 });
});

t.test('readiness: every expected worker listening and ready, and not shutting down', async (t) => {
  const ready = { ready: true, body: { status: 'ready', config: 'abc', authenticators: {} } };
  const waiting = { ready: false, body: { status: 'not-ready', config: 'abc', authenticators: { idp: { jwks: 'missing' } } } };
  const hash = 'abcdef0123456789';
  const both = clusterReadiness({
    accepting: true,
    expected: 2,
    configHash: hash,
    workers: [
      { id: 1, pid: 11, listening: true, readiness: ready },
      { id: 2, pid: 12, listening: true, readiness: ready },
    ],
  });
  t.same(both, {
    ready: true,
    body: {
      status: 'ready',
      config: 'abcdef012345',
      workers: {
        expected: 2,
        ready: 2,
        list: [
          { worker: 1, pid: 11, status: 'ready', config: 'abc', authenticators: {} },
          { worker: 2, pid: 12, status: 'ready', config: 'abc', authenticators: {} },
        ],
      },
    },
  });
  const partial = clusterReadiness({
    accepting: true,
    expected: 2,
    configHash: hash,
    workers: [
      { id: 1, pid: 11, listening: true, readiness: waiting },
      { id: 3, pid: 13, listening: false, readiness: undefined },
      { id: 4, pid: 14, listening: true, readiness: undefined },
    ],
  });
  t.equal(partial.ready, false);
  t.same((partial.body.workers as { list: unknown[] }).list, [
    { worker: 1, pid: 11, status: 'not-ready', config: 'abc', authenticators: { idp: { jwks: 'missing' } } },
    { worker: 3, pid: 13, status: 'starting' },
    { worker: 4, pid: 14, status: 'no-answer' },
  ]);
  t.equal((partial.body.workers as { ready: number }).ready, 0);
  const draining = clusterReadiness({ accepting: false, expected: 1, configHash: hash, workers: [{ id: 1, pid: 11, listening: true, readiness: ready }] });
  t.same([draining.ready, draining.body.status], [false, 'not-ready'], 'shutting down: 503 at once');
  t.equal(clusterReadiness({ accepting: true, expected: 2, configHash: hash, workers: [{ id: 1, pid: 11, listening: true, readiness: ready }] }).ready, false, 'one missing: not ready');
});

t.test('messages: only ours', async (t) => {
  t.ok(isGatehouseMessage({ type: 'gatehouse:hello' }));
  t.ok(isGatehouseMessage({ type: 'gatehouse:answer', id: 1, value: null }));
  t.notOk(isGatehouseMessage({ type: 'prom-client:getMetricsReq' }));
  t.notOk(isGatehouseMessage({ cmd: 'NODE_CLUSTER' }));
  t.notOk(isGatehouseMessage(null));
  t.notOk(isGatehouseMessage('gatehouse:hello'));
});

t.test('request broker: answers by id, undefined on timeout or when it cannot be sent', async (t) => {
  const broker = createRequestBroker();
  const sent: number[] = [];
  const first = broker.ask((id) => sent.push(id) > 0, 1000);
  const second = broker.ask((id) => sent.push(id) > 0, 1000);
  t.equal(broker.pending, 2);
  broker.answer(sent[1]!, 'two');
  broker.answer(sent[0]!, { one: 1 });
  broker.answer(sent[0]!, 'late');
  broker.answer(999, 'unknown');
  t.same(await Promise.all([first, second]), [{ one: 1 }, 'two']);
  t.equal(await broker.ask(() => false, 1000), undefined, 'not sent: no wait');
  const started = Date.now();
  t.equal(await broker.ask(() => true, 30), undefined, 'no answer in time');
  t.ok(Date.now() - started >= 25);
  t.equal(broker.pending, 0);
});

t.test('line relay: whole lines only, multi-byte characters kept whole', async (t) => {
  const out: string[] = [];
  const relay = createLineRelay((text) => out.push(text));
  relay.push('{"a":1}\n{"b"');
  relay.push(':2}\n');
  const euro = Buffer.from('{"c":"€"}\n');
  relay.push(euro.subarray(0, 7));
  relay.push(euro.subarray(7));
  relay.push('tail without newline');
  relay.end();
  relay.end();
  t.same(out, ['{"a":1}\n', '{"b":2}\n', '{"c":"€"}\n', 'tail without newline\n']);
});

t.test('metrics: the primary merges its workers', async (t) => {
  const primary = createPrimaryMetrics();
  setConfigInfo(primary, 'aaaaaaaaaaaaaaaa');
  primary.reloads.inc({ result: 'success' });
  primary.workers.set({ state: 'ready' }, 2);
  primary.workerRestarts.inc();
  const a = createMetrics();
  const b = createMetrics();
  a.requests.inc({ route: 'r', outcome: 'allow', status: '200' }, 3);
  b.requests.inc({ route: 'r', outcome: 'allow', status: '200' }, 4);
  a.sessionStoreUp.set(1);
  b.sessionStoreUp.set(0);
  setConfigInfo(a, 'aaaaaaaaaaaaaaaa');
  setConfigInfo(b, 'bbbbbbbbbbbbbbbb');
  const text = await mergeMetrics(primary.registry, [await a.registry.getMetricsAsJSON(), await b.registry.getMetricsAsJSON()]);
  t.match(text, /^gatehouse_requests_total\{route="r",outcome="allow",status="200"\} 7$/m, 'counters are summed');
  t.match(text, /^gatehouse_session_store_up 0$/m, 'down in one worker is down');
  t.match(text, /^gatehouse_config_info\{hash="aaaaaaaaaaaa"\} 1$/m, 'one series per config some process runs');
  t.match(text, /^gatehouse_config_info\{hash="bbbbbbbbbbbb"\} 1$/m);
  t.match(text, /^gatehouse_config_reloads_total\{result="success"\} 1$/m, 'reloads are counted by the primary only');
  t.match(text, /^gatehouse_workers\{state="ready"\} 2$/m);
  t.match(text, /^gatehouse_worker_restarts_total 1$/m);
  t.match(text, /^gatehouse_process_resident_memory_bytes \d+/m, 'process metrics: the sum over the processes');
});
