// Graceful shutdown of a gateway in this process: /readyz 503 first, requests in flight
// finish (with Connection: close), idle keep-alive connections do not hold the close,
// WebSockets get a Close (1001) between two frames, and past the deadline what is left
// is cut and counted. shutdown.test.ts does it to a real process with SIGTERM.
import net, { type AddressInfo } from 'node:net';
import t from 'tap';
import { request, Agent } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import { closeFrame, createUpgradeTracker, FrameBoundary, GOING_AWAY } from '../../src/server/upgrade.js';
import { startTestGateway } from '../helpers/gateway.js';
import { startSlowUpstream } from '../helpers/slow-upstream.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const routes = (upstream: string, ws = 'echo'): string => `routes:
  - name: slow
    match: { path: /slow/** }
    upstream: ${upstream}
    auth: anonymous
  - name: ws
    match: { path: /ws/** }
    upstream: ${ws}
    auth: anonymous
  - name: fast
    match: { path: /** }
    upstream: echo
    auth: anonymous
`;

t.test('in-flight requests finish, idle keep-alive connections do not wait, /readyz is 503 meanwhile', async (t) => {
  const upstream = await startSlowUpstream(600);
  t.teardown(upstream.close);
  const gw = await startTestGateway(routes(upstream.url));
  const agent = new Agent({ keepAliveTimeout: 60_000 });
  t.teardown(() => agent.close());
  // An idle keep-alive connection, as a browser or a pooling client leaves them.
  const idle = await request(`${gw.url}/warm`, { dispatcher: agent });
  await idle.body.text();
  const inFlight = [1, 2, 3].map(async (i) => {
    const res = await request(`${gw.url}/slow/${i}`, { dispatcher: agent });
    return { status: res.statusCode, connection: res.headers.connection, body: await res.body.text() };
  });
  while (upstream.holding() < 3) await sleep(5);
  const started = Date.now();
  const closing = gw.gateway.shutdown({ timeoutMs: 5000 });
  const readyz = await request(`${gw.adminUrl}/readyz`);
  t.equal(readyz.statusCode, 503, '/readyz turns 503 first');
  t.match(await readyz.body.json(), { status: 'not-ready' });
  const answers = await Promise.all(inFlight);
  t.same(answers, [1, 2, 3].map((i) => ({ status: 200, connection: 'close', body: `slow /slow/${i}` })), 'every request in flight completes, and says the connection ends');
  t.same(await closing, { cut: 0, ms: (await closing).ms });
  const took = Date.now() - started;
  t.ok(took < 1500, `closed as soon as the last request finished (${took} ms), not after a keep-alive timeout`);
  t.equal(await gw.gateway.shutdown(), await closing, 'a second call gets the same result');
  await gw.close();
});

t.test('past the deadline, what is left is cut and counted', async (t) => {
  const upstream = await startSlowUpstream(5000);
  t.teardown(upstream.close);
  const wsUpstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wsUpstream.once('listening', r));
  wsUpstream.on('connection', (socket) => socket.send('hello'));
  t.teardown(() => new Promise((r) => wsUpstream.close(r)));
  const gw = await startTestGateway(routes(upstream.url, `http://127.0.0.1:${(wsUpstream.address() as AddressInfo).port}`).replace(/- name: fast/, `- name: echo-ws\n    match: { path: /echo/** }\n    upstream: echo\n    auth: anonymous\n  - name: fast`));
  const failures = [1, 2].map((i) => request(`${gw.url}/slow/${i}`).then((r) => r.statusCode, (e: Error) => e.constructor.name));
  while (upstream.holding() < 2) await sleep(5);
  for (const path of ['/ws/x', '/echo/x']) {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}${path}`);
    await new Promise((r) => ws.once('message', r));
    // A client that ignores the Close and keeps its WebSocket open.
    (ws as unknown as { _socket: net.Socket })._socket.removeAllListeners('data');
    ws.on('error', () => undefined);
  }
  t.equal(gw.gateway.runtime.upgrades?.size, 2, 'both WebSockets are tracked');
  const started = Date.now();
  const result = await gw.gateway.shutdown({ timeoutMs: 300 });
  t.equal(result.cut, 4, 'two requests and two WebSockets');
  t.ok(Date.now() - started < 2000, 'the deadline is kept');
  t.same(await Promise.all(failures), ['SocketError', 'SocketError'], 'their connections were destroyed');
});

t.test('WebSockets: the echo upstream and a relayed one get a Close (1001)', async (t) => {
  const upstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => upstream.once('listening', r));
  const fromClient: Array<{ code: number; reason: string }> = [];
  upstream.on('connection', (socket) => {
    socket.send('hello');
    socket.on('message', (m) => socket.send(`echo:${m.toString()}`));
    socket.on('close', (code, reason) => fromClient.push({ code, reason: reason.toString() }));
  });
  t.teardown(() => new Promise((r) => upstream.close(r)));
  const wsPort = (upstream.address() as AddressInfo).port;
  const gw = await startTestGateway(routes('http://127.0.0.1:9', `http://127.0.0.1:${wsPort}`).replace('path: /ws/**', 'path: /ws/**').replace(/- name: fast/, `- name: echo-ws\n    match: { path: /echo/** }\n    upstream: echo\n    auth: anonymous\n  - name: fast`));
  const open = async (path: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}${path}`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    await new Promise((r) => ws.once('message', r));
    return { ws, closed };
  };
  const relayed = await open('/ws/chat');
  relayed.ws.send('ping');
  t.equal(await new Promise<string>((r) => relayed.ws.once('message', (m) => r(m.toString()))), 'echo:ping', 'relaying works before the shutdown');
  const echoed = await open('/echo/chat');
  const result = await gw.gateway.shutdown({ timeoutMs: 3000 });
  t.same(await relayed.closed, { code: GOING_AWAY, reason: 'gatehouse is shutting down' });
  t.same(await echoed.closed, { code: GOING_AWAY, reason: 'gatehouse is shutting down' });
  t.equal(result.cut, 0, 'both finished the closing handshake in time');
  await sleep(50);
  t.same(fromClient, [{ code: GOING_AWAY, reason: 'gatehouse is shutting down' }], 'the upstream hears the client answer the Close');
});

t.test('a relayed WebSocket is closed between two frames, never inside one', async (t) => {
  const big = Buffer.alloc(24 * 1024 * 1024, 7);
  const upstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => upstream.once('listening', r));
  upstream.on('connection', (socket) => {
    socket.send(big);
    // In the same stream right behind it: never relayed once the Close is sent.
    socket.send('after the close');
  });
  t.teardown(() => new Promise((r) => upstream.close(r)));
  const gw = await startTestGateway(routes('http://127.0.0.1:9', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`));

  // A raw client that stops reading after the first bytes, so the big frame is stuck
  // half-way through the gateway when the shutdown starts.
  const client = net.connect((new URL(gw.url).port as unknown as number), '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  client.write('GET /ws/big HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    client.once('data', (chunk: Buffer) => {
      chunks.push(chunk);
      client.pause();
      resolve();
    });
  });
  const closing = gw.gateway.shutdown({ timeoutMs: 10_000 });
  await sleep(100);
  const ended = new Promise((r) => client.once('end', r));
  client.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    // Our answer to the Close: masked, as a client must.
    const all = Buffer.concat(chunks);
    if (all.subarray(-closeFrame(GOING_AWAY, 'gatehouse is shutting down').length).equals(closeFrame(GOING_AWAY, 'gatehouse is shutting down'))) {
      client.end(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9]));
    }
  });
  client.resume();
  await ended;
  await closing;
  const all = Buffer.concat(chunks);
  const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
  // One binary frame with a 64-bit length, all of it, then the Close.
  t.equal(body[0], 0x82);
  t.equal(body[1], 127);
  t.equal(Number(body.readBigUInt64BE(2)), big.length);
  const afterFrame = body.subarray(10 + big.length);
  t.same(afterFrame, closeFrame(GOING_AWAY, 'gatehouse is shutting down'), 'the Close comes after the whole frame, and nothing after it');
});

t.test('FrameBoundary follows frames across any split', async (t) => {
  const frame = (payload: number, masked: boolean, opcode = 0x2): Buffer => {
    const len = payload < 126 ? Buffer.from([payload | (masked ? 0x80 : 0)]) : payload < 65536 ? Buffer.from([126 | (masked ? 0x80 : 0), payload >> 8, payload & 0xff]) : (() => {
      const b = Buffer.alloc(9);
      b[0] = 127 | (masked ? 0x80 : 0);
      b.writeBigUInt64BE(BigInt(payload), 1);
      return b;
    })();
    return Buffer.concat([Buffer.from([0x80 | opcode]), len, masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0), Buffer.alloc(payload, 1)]);
  };
  const stream = Buffer.concat([frame(0, false, 0x9), frame(5, true), frame(300, false), frame(70_000, true, 0x1), frame(125, false)]);
  const starts: number[] = [];
  for (let at = 0, i = 0; i < 5; i++) {
    starts.push(at);
    at += [2, 11, 304, 70_014, 127][i]!;
  }
  for (const size of [1, 2, 3, 7, 64, 1000, stream.length]) {
    const boundary = new FrameBoundary();
    const seen: number[] = [];
    for (let offset = 0; offset < stream.length; offset += size) {
      const chunk = stream.subarray(offset, offset + size);
      for (let i = 0; i < chunk.length; ) {
        if (boundary.atBoundary) seen.push(offset + i);
        // Step to the next boundary, or to the end of the chunk.
        const taken = boundary.consume(chunk.subarray(i), true);
        i += taken === 0 ? boundary.consume(chunk.subarray(i, i + 1)) : taken;
      }
    }
    t.same([...new Set(seen)], starts, `chunks of ${size}`);
    t.ok(boundary.atBoundary);
  }
  const b = new FrameBoundary();
  t.equal(b.consume(Buffer.from([0x82]), true), 0, 'between frames: nothing to finish');
  t.equal(b.consume(Buffer.from([0x82])), 1);
  t.equal(b.atBoundary, false, 'inside a header: not a boundary');
  t.equal(b.consume(Buffer.from([0x02, 9, 9, 0x81, 0x00]), true), 3, 'stops right after the frame');
  t.equal(b.consume(Buffer.from([0x81, 0x00])), 2, 'without stop: takes all');
});

t.test('closeFrame and the tracker', async (t) => {
  t.same(closeFrame(1001, 'bye'), Buffer.from([0x88, 5, 0x03, 0xe9, 0x62, 0x79, 0x65]));
  t.equal(closeFrame(1001, 'x'.repeat(200)).length, 127, 'a control frame carries at most 125 bytes');
  const tracker = createUpgradeTracker();
  const events: string[] = [];
  const socket = new (await import('node:events')).EventEmitter() as unknown as net.Socket;
  tracker.add({ goAway: () => events.push('a away'), destroy: () => events.push('a destroyed') }, socket);
  t.equal(tracker.size, 1);
  t.equal(tracker.closing, false);
  tracker.goAway();
  t.equal(tracker.closing, true);
  const late = new (await import('node:events')).EventEmitter() as unknown as net.Socket;
  tracker.add({ goAway: () => events.push('b away'), destroy: () => events.push('b destroyed') }, late);
  (late as unknown as { emit(e: string): void }).emit('close');
  t.equal(tracker.size, 1, 'a closed socket leaves');
  t.equal(tracker.destroyAll(), 1);
  t.same(events, ['a away', 'b away', 'a destroyed'], 'joined while closing: told at once');
  t.equal(tracker.size, 0);
});
