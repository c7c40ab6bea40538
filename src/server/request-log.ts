// Exactly one decision line and one metrics sample per request (architecture.md
// principle 9): route, authenticator, outcome, reasons, user, status, duration. Never a
// credential, a cookie or the query string (which may carry tokens).
import type { Logger } from '../logging.js';
import type { Decision } from '../pipeline/run.js';
import type { RequestFacts } from '../pipeline/types.js';
import type { Metrics } from './metrics.js';
import type { ActiveConfig } from './runtime.js';

export type Outcome = 'allow' | 'deny' | 'refuse' | 'no-route' | 'internal' | 'error';

export interface RequestRecord {
  readonly started: number;
  readonly requestId: string;
  outcome: Outcome;
  reason?: string;
  facts?: RequestFacts;
  decision?: Decision;
  active?: ActiveConfig;
  /** Set when a streamed body passed limits.bodyBytes: the forward fails as 413, not 502. */
  bodyTooLarge?: boolean;
  /** Who signed in or out at a sign-in endpoint. */
  user?: string;
}

export function recordRequest(log: Logger, metrics: Metrics, record: RequestRecord | undefined, status: number): void {
  if (!record) return;
  const ms = Math.round((performance.now() - record.started) * 1000) / 1000;
  const d = record.decision;
  const route = d && d.kind !== 'no-route' ? d.route.name : undefined;
  const attempts = d && d.kind !== 'no-route' ? d.attempts : [];
  for (const a of attempts) metrics.authDuration.observe({ authenticator: a.authenticator, outcome: a.outcome }, a.ms / 1000);
  const decisive = attempts.find((a) => a.outcome !== 'skip');
  const identity = d?.kind === 'allow' || d?.kind === 'deny' ? d.identity : undefined;
  const reasons = d?.kind === 'deny' ? d.reasons : record.reason ? [record.reason] : undefined;
  metrics.requests.inc({ route: route ?? '', outcome: record.outcome, status: String(status) });
  log.info(
    {
      requestId: record.requestId,
      method: record.facts?.method,
      host: record.facts?.authority,
      path: record.facts?.path,
      client: record.facts?.clientIp,
      route,
      authenticator: decisive?.authenticator ?? identity?.authenticator,
      outcome: record.outcome,
      reasons,
      user: identity?.user ?? record.user,
      status,
      ms,
    },
    'request',
  );
}
