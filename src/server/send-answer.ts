// Writes one of gatehouse's own answers (an error, a refusal, a forward-auth verdict) on
// a Fastify reply: its headers, its status and, when it has one, its JSON body.
import type { FastifyReply } from 'fastify';
import type { ErrorBody } from '../errors.js';

export interface OwnAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: ErrorBody;
}

export function sendAnswer(reply: FastifyReply, answer: OwnAnswer): FastifyReply {
  for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
  reply.code(answer.status);
  if (answer.body === undefined) return reply.send();
  return reply.type('application/json; charset=utf-8').send(answer.body);
}
