// WebSocket (and other HTTP/1.1 Upgrade) handshakes: the same facts → decision as any
// request, taken before a single frame passes; only then is the handshake forwarded
// (with the stripped-then-set headers) and the two sockets joined.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
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
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      upstreamSocket.on('error', () => socket.destroy());
      socket.on('close', () => upstreamSocket.destroy());
      upstreamSocket.on('close', () => socket.destroy());
      upstreamSocket.pipe(socket).pipe(upstreamSocket);
      finish(101);
    });
    upstreamReq.end();
  } catch (error) {
    log.error({ requestId, err: { type: (error as Error).name, message: (error as Error).message } }, 'internal error');
    record.outcome = 'error';
    refuse('GATEHOUSE_ERR_INTERNAL');
  }
}
