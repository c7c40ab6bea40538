// /.gatehouse/login, /callback, /logout, /backchannel-logout: the shell around the
// sign-in router (src/login/router.ts). It reads a POST's form body, bounded in size and
// time (security.md §11), and turns the router's answer into HTTP. The request's one log
// line is written by the proxy app's onResponse hook from the record filled in here.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorAnswer } from '../pipeline/respond/deny.js';
import type { RequestFacts } from '../pipeline/types.js';
import type { LoginRouter } from '../login/router.js';
import type { RequestRecord } from './request-log.js';
import { sendAnswer } from './send-answer.js';

/** Largest sign-in form body read (username, password, csrf, rd with room to spare). */
export const MAX_FORM_BYTES = 16 * 1024;
const FORM_READ_TIMEOUT_MS = 10_000;

/** Reads an application/x-www-form-urlencoded body; the error's message is the log reason. */
async function readForm(request: FastifyRequest, reply: FastifyReply): Promise<URLSearchParams | Error> {
  const type = request.headers['content-type'];
  if (typeof type !== 'string' || type.split(';', 1)[0]!.trim().toLowerCase() !== 'application/x-www-form-urlencoded') return new Error('form-content-type');
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > MAX_FORM_BYTES) return new Error('form-too-large');
  // The body of a sign-in form is ours to read: only now is it invited (security.md §11).
  if (request.headers.expect?.toLowerCase() === '100-continue') reply.raw.writeContinue();
  const raw = request.raw;
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(() => raw.destroy(new Error('form-timeout')), FORM_READ_TIMEOUT_MS);
  try {
    for await (const chunk of raw) {
      size += (chunk as Buffer).length;
      if (size > MAX_FORM_BYTES) return new Error('form-too-large');
      chunks.push(chunk as Buffer);
    }
  } catch {
    return new Error('form-read-failed');
  } finally {
    clearTimeout(timer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export async function handleLogin(request: FastifyRequest, reply: FastifyReply, input: { facts: RequestFacts; router: LoginRouter; record: RequestRecord }): Promise<FastifyReply> {
  const { facts, router, record } = input;
  record.outcome = 'internal';
  const form = facts.method === 'POST' ? await readForm(request, reply) : undefined;
  if (form instanceof Error) {
    record.reason = form.message;
    return sendAnswer(reply, errorAnswer(form.message === 'form-too-large' ? 'GATEHOUSE_ERR_REQUEST_BODY_TOO_LARGE' : 'GATEHOUSE_ERR_REQUEST_MALFORMED', request.id));
  }
  const { answer, endpoint } = await router.handle({ facts, ...(form ? { form } : {}), requestId: request.id, now: Date.now() });
  record.reason = answer.reason ? `${endpoint}:${answer.reason}` : endpoint;
  if (answer.user !== undefined) record.user = answer.user;
  for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
  return reply.code(answer.status).type(answer.contentType).send(facts.method === 'HEAD' ? '' : answer.body);
}
