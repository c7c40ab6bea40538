// /.gatehouse/auth: the shell around forward-auth. Trusted ingresses only; the original
// request's facts go through the same decide() as proxy mode, and the request's one log
// line and metrics sample describe that original request (route, outcome), written by
// the proxy app's onResponse hook from the record filled in here.
import type { FastifyReply } from 'fastify';
import { forwardAuthAnswer, refusalAnswer, type ForwardAuthAnswer } from '../forward-auth/answer.js';
import { originalFacts } from '../forward-auth/facts.js';
import { decide } from '../pipeline/run.js';
import type { RequestFacts } from '../pipeline/types.js';
import type { RequestRecord } from './request-log.js';
import { sendAnswer } from './send-answer.js';
import type { ActiveConfig } from './runtime.js';

export { isForwardAuthPath } from '../forward-auth/facts.js';

export interface ForwardAuthCheck {
  /** Facts of the check request (buildFacts), its path is /.gatehouse/auth[/...]. */
  readonly facts: RequestFacts;
  /** The check's raw request target. */
  readonly url: string;
  readonly active: ActiveConfig;
  readonly record: RequestRecord;
}

async function answerCheck(check: ForwardAuthCheck): Promise<ForwardAuthAnswer> {
  const { facts, active, record } = check;
  const requestId = record.requestId;
  record.active = active;
  // Anyone else gets 403 and nothing is evaluated: their headers describe nothing we trust.
  if (!facts.peerTrusted) {
    record.reason = 'forward-auth-untrusted';
    return refusalAnswer('GATEHOUSE_ERR_FORWARD_AUTH_UNTRUSTED', requestId);
  }
  const config = active.config;
  const original = originalFacts({ facts, url: check.url }, config.limits);
  if (!original.ok) {
    record.reason = original.reason;
    return refusalAnswer(original.code, requestId);
  }
  record.facts = original.facts;
  const upgrade = original.facts.method === 'GET' && typeof original.facts.headers.upgrade === 'string' && original.facts.headers.upgrade.trim().toLowerCase() === 'websocket';
  const decision = await decide(config.policy, original.facts, { requestId, upgrade });
  record.decision = decision;
  record.outcome = decision.kind === 'allow' ? 'allow' : decision.kind === 'no-route' ? 'no-route' : 'deny';
  return forwardAuthAnswer(decision, { style: original.style, facts: original.facts, requestId, headerPolicy: config.policy.headers, publicOrigins: config.publicOrigins });
}

/** Answers one forward-auth check on `reply`. */
export async function handleForwardAuth(reply: FastifyReply, check: ForwardAuthCheck): Promise<FastifyReply> {
  return sendAnswer(reply, await answerCheck(check));
}
