// Fastify as a thin shell around the pipeline: one onRequest hook turns the request into
// facts and a decision BEFORE any body byte is read; one catch-all handler forwards
// allowed requests. Routing is ours (on the normalized path), never Fastify's.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Transform, pipeline, type Readable } from 'node:stream';
import replyFrom from '@fastify/reply-from';
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../logging.js';
import { buildFacts } from '../pipeline/facts.js';
import { denyAnswer, errorAnswer, type HttpAnswer } from '../pipeline/respond/deny.js';
import { decide, isInternalPath, type Decision } from '../pipeline/run.js';
import type { RequestFacts } from '../pipeline/types.js';
import { echoBody } from '../upstream/echo.js';
import { recordRequest, type RequestRecord } from './request-log.js';
import type { Metrics } from './metrics.js';
import { rewriteResponseHeaders } from './response-headers.js';
import { internalAnswer } from './internal-endpoints.js';
import { handleForwardAuth, isForwardAuthPath } from './forward-auth-endpoint.js';
import { handleLogin } from './login-endpoint.js';
import { writeRawAnswer } from './raw-answer.js';
import { sendAnswer } from './send-answer.js';
import { handleUpgrade } from './upgrade.js';
import { rawRequestOf, type Runtime } from './runtime.js';

export interface ProxyDeps {
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly metrics: Metrics;
}

declare module 'fastify' {
  interface FastifyRequest {
    gatehouse: RequestRecord;
  }
}

const BODYLESS = new Set(['GET', 'HEAD']);

/** Upstream failures → 502/504 with no identity data (security.md §10). */
function upstreamErrorCode(error: unknown): ErrorCode {
  const err = error as { code?: string; statusCode?: number; cause?: { code?: string } };
  const code = err.cause?.code ?? err.code;
  if (err.statusCode === 504 || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'GATEHOUSE_ERR_UPSTREAM_TIMEOUT';
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'FST_REPLY_FROM_SERVICE_UNAVAILABLE') return 'GATEHOUSE_ERR_UPSTREAM_UNREACHABLE';
  return 'GATEHOUSE_ERR_UPSTREAM_BAD_RESPONSE';
}

class BodyLimit extends Transform {
  private seen = 0;
  constructor(
    private readonly limit: number,
    private readonly onExceeded: () => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      this.onExceeded();
      done(Object.assign(new Error('request body too large'), { code: 'GATEHOUSE_BODY_TOO_LARGE' }));
    } else done(null, chunk);
  }
}

export async function createProxyApp(deps: ProxyDeps): Promise<FastifyInstance> {
  const { runtime, log, metrics } = deps;
  // Server-level settings (listener, TLS, limits) are fixed at start; a reload changes policy.
  const boot = runtime.current.config;
  const scheme = boot.tls ? 'https' : 'http';
  const limits = boot.limits;

  const fastifyLog: FastifyBaseLogger = log.child({ component: 'fastify' }, { level: 'error' });
  const app = fastify({
    loggerInstance: fastifyLog,
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: () => randomUUID(),
    exposeHeadRoutes: false,
    return503OnClosing: true,
    // Smuggling (security.md §14): keep Node's strict parser.
    // Fastify never gets to parse a body: we stream it to the upstream after the decision.
    bodyLimit: limits.bodyBytes,
    serverFactory(handler) {
      const options: http.ServerOptions = {
        maxHeaderSize: limits.headerBytes,
        requestTimeout: 0,
        headersTimeout: limits.headersTimeoutMs,
        // headersTimeout is only checked every connectionsCheckingInterval (30 s by default).
        connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4))),
        insecureHTTPParser: false,
        joinDuplicateHeaders: false,
      };
      // An https.Server is an http.Server to Fastify (same request/response types).
      const server = (boot.tls ? https.createServer({ ...options, cert: boot.tls.cert, key: boot.tls.key }, handler) : http.createServer(options, handler)) as http.Server;
      // One more than the limit, so that exceeding it is visible (Node silently drops the rest).
      server.maxHeadersCount = limits.headerCount + 1;
      // Never answer 100 Continue before the auth decision (security.md §11): route the
      // request through the normal handler; writeContinue() is called once it is allowed.
      server.on('checkContinue', handler);
      server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
        void handleUpgrade({ runtime, log, metrics, scheme, limits }, req, socket, head);
      });
      return server;
    },
    clientErrorHandler(err: Error & { code?: string }, socket: Socket) {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const code: ErrorCode =
        err.code === 'HPE_HEADER_OVERFLOW' ? 'GATEHOUSE_ERR_REQUEST_HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'GATEHOUSE_ERR_REQUEST_TIMEOUT' : 'GATEHOUSE_ERR_REQUEST_MALFORMED';
      const answer = errorAnswer(code, randomUUID());
      // The one decision line for a request Node's parser refused before Fastify saw it.
      log.info({ requestId: answer.body.requestId, outcome: 'refuse', reasons: [err.code ?? 'client-error'], status: answer.status }, 'request');
      metrics.requests.inc({ route: '', outcome: 'refuse', status: String(answer.status) });
      writeRawAnswer(socket, answer);
    },
    frameworkErrors(error, request, reply) {
      // Fastify's router refused the URL (e.g. invalid percent-encoding) before our hook ran.
      request.gatehouse = { started: performance.now(), requestId: request.id, outcome: 'refuse', reason: error.code };
      reply.header('x-request-id', request.id);
      void sendAnswer(reply, errorAnswer('GATEHOUSE_ERR_REQUEST_BAD_TARGET', request.id));
    },
  });

  await app.register(replyFrom, {
    // reply-from fixes its client at registration; delegate to the current generation's
    // dispatcher so reloads (new upstreams, new TLS settings) take effect.
    undici: { request: (options: Dispatcher.RequestOptions, callback: (err: Error | null, data: Dispatcher.ResponseData) => void) => runtime.current.dispatcher.request(options, callback) } as unknown as Dispatcher,
    disableRequestLogging: true,
    contentTypesToEncode: [],
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    // Stream, never buffer: enforce limits.bodyBytes on chunked bodies as they pass.
    const raw = payload as Readable;
    const exceeded = (): void => {
      request.gatehouse.bodyTooLarge = true;
    };
    if (request.headers['content-length'] !== undefined) return done(null, raw);
    // pipeline (not pipe): a client that aborts mid-body destroys the limiter too, so the
    // upstream request is aborted instead of waiting for a body that never ends.
    const limited = new BodyLimit(limits.bodyBytes, exceeded);
    pipeline(raw, limited, () => undefined);
    done(null, limited);
  });

  app.addHook('onRequest', async (request, reply) => {
    const active = runtime.current;
    const record: RequestRecord = { started: performance.now(), requestId: request.id, outcome: 'refuse' };
    request.gatehouse = record;
    reply.header('x-request-id', request.id);
    const { config } = active;
    const built = buildFacts(rawRequestOf(request.raw, scheme), limits, config.trustedPeer);
    if (!built.ok) {
      record.reason = built.reason;
      return sendAnswer(reply, errorAnswer(built.code, request.id));
    }
    record.facts = built.facts;
    if (isInternalPath(built.facts.path)) {
      if (isForwardAuthPath(built.facts.path)) return handleForwardAuth(reply, { facts: built.facts, url: request.raw.url ?? '', active, record });
      const login = config.login;
      if (login?.router.owns(built.facts.path)) return handleLogin(request, reply, { facts: built.facts, router: login.router, record });
      const answer = internalAnswer(built.facts, active, runtime.retiredKeys(), request.id);
      record.outcome = 'internal';
      record.reason = answer.endpoint;
      for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
      return reply.code(answer.status).type('application/json; charset=utf-8').send(answer.body);
    }
    const decision = await decide(config.policy, built.facts, { requestId: request.id });
    record.decision = decision;
    record.active = active;
    if (decision.kind !== 'allow') {
      record.outcome = decision.kind === 'no-route' ? 'no-route' : 'deny';
      return sendAnswer(reply, denyAnswer(decision, request.id, built.facts));
    }
    record.outcome = 'allow';
    // The decision is made: now, and only now, invite the body.
    if (request.headers.expect?.toLowerCase() === '100-continue') reply.raw.writeContinue();
    return undefined;
  });

  app.addHook('onResponse', async (request, reply) => {
    recordRequest(log, metrics, request.gatehouse, reply.statusCode);
  });

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    const record = request.gatehouse;
    if (record) {
      record.outcome = 'error';
      record.reason = error.code ?? 'internal';
    }
    const bodyTooLarge = error.code === 'GATEHOUSE_BODY_TOO_LARGE' || error.code === 'FST_ERR_CTP_BODY_TOO_LARGE';
    if (!bodyTooLarge) log.error({ requestId: request.id, err: { type: error.name, code: error.code, message: error.message } }, 'internal error');
    return sendAnswer(reply, errorAnswer(bodyTooLarge ? 'GATEHOUSE_ERR_REQUEST_BODY_TOO_LARGE' : 'GATEHOUSE_ERR_INTERNAL', request.id));
  });

  const forward = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const record = request.gatehouse;
    const decision = record.decision as Extract<Decision, { kind: 'allow' }>;
    const facts = record.facts as RequestFacts;
    const { route, forward: fwd } = decision;
    const active = record.active!;

    if (route.upstream.kind === 'echo') {
      let bytes = 0;
      const body = request.body as Readable | undefined;
      if (body) for await (const chunk of body) bytes += (chunk as Buffer).length;
      return reply.code(200).type('application/json; charset=utf-8').header('cache-control', 'no-store').send(echoBody(fwd, bytes));
    }

    const headers = { ...fwd.headers };
    if (BODYLESS.has(fwd.method)) {
      // Fastify does not read GET/HEAD bodies; never announce one we do not send.
      delete headers['content-length'];
    }
    const upstream = route.upstream;
    const sent = performance.now();
    // reply-from takes the raw query from the request line itself; passing only the path
    // keeps its own URL checks off the query (a `?next=/../x` is not a path).
    const path = fwd.target.split('?', 1)[0]!;
    try {
      return reply.from(path, {
        timeout: route.timeoutMs,
        retryDelay: () => null,
        getUpstream: () => upstream.origin,
        rewriteRequestHeaders: () => headers,
        rewriteHeaders: (upstreamHeaders) =>
          rewriteResponseHeaders(upstreamHeaders, { upstreamOrigin: upstream.origin, basePath: upstream.basePath, stripPrefix: route.stripPrefix, facts, publicOrigins: active.config.publicOrigins, requestId: request.id }) as typeof upstreamHeaders,
        onResponse: (_req, rep, res) => {
          metrics.upstreamDuration.observe({ route: route.name }, (performance.now() - sent) / 1000);
          rep.send(res.stream);
        },
        onError: (rep, { error }) => {
          const code: ErrorCode = record.bodyTooLarge ? 'GATEHOUSE_ERR_REQUEST_BODY_TOO_LARGE' : upstreamErrorCode(error);
          record.outcome = 'error';
          record.reason = code;
          if (!record.bodyTooLarge) metrics.upstreamErrors.inc({ route: route.name, code });
          void sendAnswer(rep as FastifyReply, errorAnswer(code, request.id));
        },
      });
    } catch (error) {
      // reply-from refuses some paths our normalization keeps (a segment such as `..a`
      // decodes to contain "/.."); refuse them too rather than answer 500.
      if ((error as { statusCode?: number }).statusCode !== 400) throw error;
      record.outcome = 'refuse';
      record.reason = 'upstream-url-refused';
      return sendAnswer(reply, errorAnswer('GATEHOUSE_ERR_REQUEST_BAD_TARGET', request.id));
    }
  };

  // Fastify reads bodies only for the methods it knows to carry one; WebDAV and other
  // extension methods (PROPFIND, MKCOL, LOCK, REPORT…) would reach the upstream empty.
  // Node's parser accepts only http.METHODS; TRACE and CONNECT are refused before this.
  for (const method of http.METHODS) {
    if (method === 'GET' || method === 'HEAD' || method === 'TRACE' || method === 'CONNECT') continue;
    app.addHttpMethod(method, { hasBody: true, overrideExisting: true });
  }
  app.all('*', forward);
  app.setNotFoundHandler(forward);
  return app;
}
