// WebSocket (and other HTTP/1.1 Upgrade) handshakes: the same facts → decision as any
// request, taken before a single frame passes; only then is the handshake forwarded
// (with the stripped-then-set headers) and the two sockets joined. Joined sockets are
// tracked, so that a shutdown can send each client a Close frame (1001 Going Away)
// instead of cutting it mid-message.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Limits } from '../config/compile.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../logging.js';
import { buildFacts } from '../pipeline/facts.js';
import { denyAnswer, errorAnswer, type HttpAnswer } from '../pipeline/respond/deny.js';
import { decide, type Decision } from '../pipeline/run.js';
import type { Metrics } from './metrics.js';
import { rawRequestOf, type Runtime } from './runtime.js';
import { writeRawAnswer } from './raw-answer.js';
import { recordRequest, type RequestRecord } from './request-log.js';

export interface UpgradeDeps {
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly scheme: 'http' | 'https';
  /** Bound at start, like the listener's own limits. */
  readonly limits: Limits;
}

/** One open WebSocket, as the shutdown sees it. */
interface TrackedSocket {
  /** Starts the closing handshake with the client (1001 Going Away). */
  goAway(): void;
  destroy(): void;
}

/** The open WebSockets of one listener. */
export interface UpgradeTracker {
  readonly size: number;
  /** True once goAway() was called: sockets joined later are sent a Close at once. */
  readonly closing: boolean;
  add(socket: TrackedSocket, closed: Socket): void;
  /** Sends every open WebSocket a Close frame (1001); they finish the closing handshake on their own. */
  goAway(): void;
  /** Destroys every WebSocket still open; returns how many there were. */
  destroyAll(): number;
}

export function createUpgradeTracker(): UpgradeTracker {
  const open = new Set<TrackedSocket>();
  let closing = false;
  return {
    get size() {
      return open.size;
    },
    get closing() {
      return closing;
    },
    add(socket, closed) {
      open.add(socket);
      closed.once('close', () => open.delete(socket));
      if (closing) socket.goAway();
    },
    goAway() {
      closing = true;
      for (const socket of open) socket.goAway();
    },
    destroyAll() {
      const count = open.size;
      for (const socket of [...open]) socket.destroy();
      open.clear();
      return count;
    },
  };
}

/** RFC 6455 §7.4.1: the endpoint is going away (server shutdown). */
export const GOING_AWAY = 1001;
const GOING_AWAY_REASON = 'gatehouse is shutting down';

/** An unmasked Close frame (server to client, RFC 6455 §5.5.1) with a status code and reason. */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8');
  // A control frame's payload is at most 125 bytes (RFC 6455 §5.5).
  const payload = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), text]).subarray(0, 125);
  return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
}

/**
 * Follows frame headers (RFC 6455 §5.2) in one direction of a relayed WebSocket, so that
 * a frame of our own can be put between two frames, never inside one. Control frames
 * may come between the fragments of a message (§5.4), so any frame boundary will do.
 */
export class FrameBoundary {
  private header: number[] = [];
  private remaining = 0;

  /** True between two frames. */
  get atBoundary(): boolean {
    return this.header.length === 0 && this.remaining === 0;
  }

  /**
   * Follows `chunk` and returns how many of its bytes were taken: all of them, or with
   * `stop`, those up to the first frame boundary (0 when already between frames).
   */
  consume(chunk: Buffer, stop = false): number {
    let i = 0;
    while (i < chunk.length) {
      if (stop && this.atBoundary) return i;
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      this.header.push(chunk[i]!);
      i += 1;
      const need = FrameBoundary.headerLength(this.header);
      if (need !== undefined && this.header.length === need) {
        this.remaining = FrameBoundary.payloadLength(this.header);
        this.header = [];
      }
    }
    return i;
  }

  private static headerLength(header: readonly number[]): number | undefined {
    if (header.length < 2) return undefined;
    const second = header[1]!;
    const length7 = second & 0x7f;
    return 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (second & 0x80 ? 4 : 0);
  }

  private static payloadLength(header: readonly number[]): number {
    const length7 = header[1]! & 0x7f;
    if (length7 < 126) return length7;
    if (length7 === 126) return (header[2]! << 8) | header[3]!;
    // 64-bit length: exact up to 2^53, far beyond any frame a peer could send in practice.
    let length = 0;
    for (let i = 2; i < 10; i++) length = length * 256 + header[i]!;
    return length;
  }
}

/** The echo upstream's socket, closed by the ws library's own closing handshake. */
function trackEcho(tracker: UpgradeTracker | undefined, ws: WebSocket, socket: Socket): void {
  tracker?.add({ goAway: () => ws.close(GOING_AWAY, GOING_AWAY_REASON), destroy: () => ws.terminate() }, socket);
}

/**
 * Relays upstream → client frame-aware: on goAway(), the frame in passage is finished,
 * then the client gets a Close and nothing more from the upstream. The client's answering
 * Close still reaches the upstream, which then ends the connection.
 */
function relayToClient(tracker: UpgradeTracker | undefined, upstream: Socket, client: Socket, head: Buffer): void {
  const frames = new FrameBoundary();
  let goingAway = false;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    client.write(closeFrame(GOING_AWAY, GOING_AWAY_REASON));
    upstream.off('data', onData);
    upstream.resume();
  };
  const onData = (chunk: Buffer): void => {
    const taken = frames.consume(chunk, goingAway);
    const ok = client.write(taken === chunk.length ? chunk : chunk.subarray(0, taken));
    if (goingAway && frames.atBoundary) stop();
    else if (!ok) upstream.pause();
  };
  if (head.length > 0) onData(head);
  upstream.on('data', onData);
  client.on('drain', () => {
    if (!stopped) upstream.resume();
  });
  tracker?.add(
    {
      goAway() {
        if (goingAway) return;
        goingAway = true;
        if (frames.atBoundary) stop();
      },
      destroy() {
        client.destroy();
        upstream.destroy();
      },
    },
    client,
  );
}

// The built-in echo upstream speaks WebSocket too: it first sends the handshake it would
// have forwarded (method, path, headers), then echoes every message.
const echoServer = new WebSocketServer({ noServer: true });

export async function handleUpgrade(deps: UpgradeDeps, req: http.IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
  const { runtime, log, metrics } = deps;
  const requestId = randomUUID();
  const active = runtime.current;
  const record: RequestRecord = { started: performance.now(), requestId, outcome: 'refuse', active };
  let settled = false;
  const finish = (status: number): void => {
    settled = true;
    recordRequest(log, metrics, record, status);
  };
  const answer = (a: HttpAnswer): void => {
    writeRawAnswer(socket, a);
    finish(a.status);
  };
  const refuse = (code: ErrorCode): void => answer(errorAnswer(code, requestId));
  socket.on('error', () => socket.destroy());

  try {
    // Only WebSocket: relaying any other upgrade (h2c above all) would open a tunnel to the
    // upstream in which later requests bypass every route check (h2c smuggling).
    if (req.headers.upgrade?.trim().toLowerCase() !== 'websocket') {
      record.reason = 'upgrade-not-websocket';
      return refuse('GATEHOUSE_ERR_REQUEST_UPGRADE_REFUSED');
    }
    const built = buildFacts(rawRequestOf(req, deps.scheme), deps.limits, active.config.trustedPeer);
    if (!built.ok) {
      record.reason = built.reason;
      return refuse(built.code);
    }
    record.facts = built.facts;
    const decision: Decision = await decide(active.config.policy, built.facts, { requestId, upgrade: true });
    record.decision = decision;
    if (decision.kind !== 'allow') {
      record.outcome = decision.kind === 'no-route' ? 'no-route' : 'deny';
      return answer(denyAnswer(decision, requestId));
    }
    record.outcome = 'allow';
    const { route, forward } = decision;

    if (route.upstream.kind === 'echo') {
      echoServer.handleUpgrade(req, socket, head, (ws) => {
        finish(101);
        trackEcho(runtime.upgrades, ws, socket);
        ws.send(JSON.stringify({ method: forward.method, path: forward.target, headers: forward.headers }));
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      });
      return;
    }

    const upstream = route.upstream;
    const url = new URL(upstream.origin);
    const tls = active.config.upstreamTls.get(upstream.origin);
    const options: https.RequestOptions = {
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      method: forward.method,
      path: forward.target,
      headers: forward.headers,
      agent: false,
      timeout: route.timeoutMs,
      ...(tls ?? {}),
    };
    const upstreamReq = (url.protocol === 'https:' ? https : http).request(options);
    const fail = (code: ErrorCode): void => {
      upstreamReq.destroy();
      record.outcome = 'error';
      record.reason = code;
      metrics.upstreamErrors.inc({ route: route.name, code });
      refuse(code);
    };
    upstreamReq.on('timeout', () => {
      if (!settled) fail('GATEHOUSE_ERR_UPSTREAM_TIMEOUT');
    });
    upstreamReq.on('error', () => {
      if (!settled) fail('GATEHOUSE_ERR_UPSTREAM_UNREACHABLE');
      else socket.destroy();
    });
    upstreamReq.on('response', (res) => {
      // The upstream declined the upgrade: relay its answer as-is, then close.
      let headText = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
      for (let i = 0; i < res.rawHeaders.length; i += 2) headText += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
      socket.write(headText + '\r\n');
      res.pipe(socket);
      finish(res.statusCode ?? 502);
    });
    upstreamReq.on('upgrade', (res, upstreamSocket: Socket, upstreamHead: Buffer) => {
      upstreamReq.setTimeout(0);
      let headText = `HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}\r\n`;
      for (let i = 0; i < res.rawHeaders.length; i += 2) headText += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
      socket.write(headText + '\r\n');
      if (head.length > 0) upstreamSocket.write(head);
      upstreamSocket.on('error', () => socket.destroy());
      socket.on('close', () => upstreamSocket.destroy());
      upstreamSocket.on('close', () => socket.destroy());
      socket.pipe(upstreamSocket);
      relayToClient(runtime.upgrades, upstreamSocket, socket, upstreamHead);
      finish(101);
    });
    upstreamReq.end();
  } catch (error) {
    log.error({ requestId, err: { type: (error as Error).name, message: (error as Error).message } }, 'internal error');
    record.outcome = 'error';
    refuse('GATEHOUSE_ERR_INTERNAL');
  }
}
