// `gatehouse explain -c FILE METHOD URL [--header 'K: V'...]`: runs the real pipeline on
// a described request and prints which route, which authenticators, what is required
// and what the upstream would see. Credentials given with --header are checked for real
// but never printed (security.md §13).
import { errorStatus } from '../errors.js';
import { buildFacts, type RawRequest } from '../pipeline/facts.js';
import { denyAnswer } from '../pipeline/respond/deny.js';
import { decide } from '../pipeline/run.js';
import { configPath, type CliIo } from './io.js';
import { loadAndCompile } from './load-compiled.js';

export interface ExplainOptions {
  readonly config?: string;
  readonly method: string;
  readonly url: string;
  readonly headers: readonly string[];
  readonly peer?: string;
  readonly json?: boolean;
}

const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);

function mask(name: string, value: string): string {
  if (!SECRET_HEADERS.has(name.toLowerCase())) return value;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*) /.exec(value)?.[1];
  return scheme && name.toLowerCase() !== 'cookie' ? `${scheme} [redacted]` : '[redacted]';
}

export async function runExplain(options: ExplainOptions, io: CliIo): Promise<number> {
  const m = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(options.url);
  if (!m) {
    io.stderr.write('URL must be absolute, e.g. https://app.example.com/admin/\n');
    return 2;
  }
  const rawHeaders: string[] = [];
  const headers: Record<string, string | string[]> = {};
  const addHeader = (name: string, value: string): void => {
    rawHeaders.push(name, value);
    const lower = name.toLowerCase();
    const prior = headers[lower];
    headers[lower] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
  };
  for (const h of options.headers) {
    const i = h.indexOf(':');
    if (i <= 0) {
      io.stderr.write(`--header must look like 'Name: value' (got a header without a colon)\n`);
      return 2;
    }
    addHeader(h.slice(0, i).trim(), h.slice(i + 1).trim());
  }
  if (headers.host === undefined) addHeader('Host', m[2]!);

  const file = configPath(options.config, io.env);
  const loaded = await loadAndCompile(file, io.env);
  if (!loaded.ok) {
    for (const line of loaded.messages) io.stderr.write(line + '\n');
    return 1;
  }
  const { config } = loaded;
  try {
    const raw: RawRequest = {
      method: options.method.toUpperCase(),
      url: m[3] || '/',
      headers,
      rawHeaders,
      peer: options.peer ?? '127.0.0.1',
      scheme: m[1]!.toLowerCase() as 'http' | 'https',
    };
    const built = buildFacts(raw, config.limits, config.trustedPeer);
    const report: Record<string, unknown> = { request: `${raw.method} ${options.url}` };
    const lines: string[] = [`request    ${raw.method} ${options.url}`];
    if (!built.ok) {
      lines.push(`decision   refuse ${errorStatus(built.code)} ${built.code} (${built.reason}); nothing is matched or forwarded`);
      Object.assign(report, { decision: 'refuse', code: built.code, reason: built.reason });
      return print();
    }
    const facts = built.facts;
    lines.push(`normalized ${facts.authority} ${facts.path}${facts.query ? '?' + facts.query : ''}`);
    const decision = await decide(config.policy, facts, { requestId: 'explain' });
    if (decision.kind === 'no-route') {
      lines.push('route      none matches: 404, never forwarded');
      Object.assign(report, { decision: 'no-route', status: 404 });
      return print();
    }
    const route = decision.route;
    const spec = route.match.spec;
    const matchText = [spec.host && `host ${spec.host}`, spec.path && `path ${spec.path}`, spec.regex && `regex ${spec.regex}`, spec.methods && `methods ${spec.methods.join(',')}`].filter(Boolean).join(', ');
    lines.push(`route      ${route.name} (routes[${route.index}] in ${config.file}) matched on ${matchText || 'every request'}`);
    const auth = route.auth;
    lines.push(`auth       ${auth.kind === 'check' ? auth.authenticators.map((a) => `${a.name} (${a.type})`).join(', ') + ' — first that recognises a credential decides' : auth.kind}`);
    for (const a of decision.attempts) lines.push(`           ${a.authenticator}: ${a.outcome}${a.reason ? ` (${a.reason})` : ''}`);
    lines.push(`requires   ${route.requirements.length ? route.requirements.join('; ') : auth.kind === 'check' ? 'any authenticated identity' : 'nothing'}`);
    report.route = route.name;
    report.attempts = decision.attempts.map(({ authenticator, outcome, reason }) => ({ authenticator, outcome, reason }));
    report.requires = route.requirements;
    if (decision.kind === 'deny') {
      const answer = denyAnswer(decision, 'explain');
      lines.push(`decision   deny ${answer.status} ${decision.code} (${decision.reasons.join(', ')})`);
      for (const [name, value] of Object.entries(answer.headers)) for (const v of [value].flat()) lines.push(`           ${name}: ${v}`);
      Object.assign(report, { decision: 'deny', status: answer.status, code: decision.code, reasons: decision.reasons });
      return print();
    }
    const fwd = decision.forward;
    const target = route.upstream.kind === 'echo' ? `echo ${fwd.target}` : `${route.upstream.origin}${fwd.target}`;
    lines.push(`decision   allow as ${decision.identity.user ?? 'anonymous'} (${decision.identity.method})`);
    lines.push(`upstream   ${fwd.method} ${target}`);
    const shown: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(fwd.headers)) {
      shown[name] = Array.isArray(value) ? value.map((v) => mask(name, v)) : mask(name, value);
      for (const v of [shown[name]].flat()) lines.push(`           ${name}: ${v}`);
    }
    Object.assign(report, { decision: 'allow', user: decision.identity.user, upstream: { method: fwd.method, url: target, headers: shown } });
    return print();

    function print(): number {
      io.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : lines.join('\n') + '\n');
      return 0;
    }
  } finally {
    await config.close();
  }
}
