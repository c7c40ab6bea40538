// A browser-like client for the session attack suite (test/security/sessions.test.ts):
// exact request bytes (raw-http) and every Set-Cookie kept apart (they cannot be folded into
// one header: Expires holds a comma). The form's hidden fields: `hidden` in ../helpers/sign-in.ts.
// Written here rather than taken from src/: the oracle must not share a bug with the
// code it judges.
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';
import type { Recorded } from '../helpers/recording-upstream.js';

export const HOST = 'gate.example';
export const ORIGIN = `https://${HOST}`;
export const SESSION = '__Host-gatehouse';
export const PRE = `${SESSION}-csrf`;
export const TX = `${SESSION}-tx`;

/** What a same-origin page of ours sends along with a form post (a modern browser). */
export const SAME_ORIGIN = ['Sec-Fetch-Site: same-origin', `Origin: ${ORIGIN}`];

export interface SetCookie {
  readonly name: string;
  readonly value: string;
  /** Attributes as sent, e.g. ['Max-Age=43200', 'Path=/', 'HttpOnly']. */
  readonly attributes: readonly string[];
}

export interface Response extends RawResponse {
  readonly setCookies: readonly SetCookie[];
}

export interface Request {
  readonly method?: string;
  readonly target: string;
  /** One `Cookie:` header line per entry, sent as given. */
  readonly cookies?: readonly string[];
  /** More header lines, without CRLF. */
  readonly headers?: readonly string[];
  /** A form body (application/x-www-form-urlencoded), or exact body text. */
  readonly form?: Readonly<Record<string, string>> | string;
  /** A body of another content type. */
  readonly body?: { readonly type: string; readonly text: string };
  /** Client address as told by the trusted proxy (X-Forwarded-For). */
  readonly ip?: string;
  readonly host?: string;
}

function setCookiesOf(raw: string): SetCookie[] {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  const out: SetCookie[] = [];
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (line.slice(0, colon).trim().toLowerCase() !== 'set-cookie') continue;
    const [pair = '', ...attributes] = line
      .slice(colon + 1)
      .split(';')
      .map((s) => s.trim());
    const eq = pair.indexOf('=');
    out.push({ name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes });
  }
  return out;
}

export async function send(url: string, req: Request): Promise<Response> {
  const lines = [`${req.method ?? 'GET'} ${req.target} HTTP/1.1`, `Host: ${req.host ?? HOST}`];
  if (req.ip !== undefined) lines.push(`X-Forwarded-For: ${req.ip}`);
  for (const c of req.cookies ?? []) lines.push(`Cookie: ${c}`);
  lines.push(...(req.headers ?? []));
  let body = '';
  if (req.form !== undefined) {
    body = typeof req.form === 'string' ? req.form : new URLSearchParams(req.form).toString();
    lines.push('Content-Type: application/x-www-form-urlencoded', `Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
  } else if (req.body !== undefined) {
    body = req.body.text;
    lines.push(`Content-Type: ${req.body.type}`, `Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
  } else if (req.method !== undefined && req.method !== 'GET' && req.method !== 'HEAD') {
    lines.push('Content-Length: 0');
  }
  lines.push('Connection: close');
  const res = await rawRequest(url, `${lines.join('\r\n')}\r\n\r\n${body}`);
  return { ...res, setCookies: setCookiesOf(res.raw) };
}

/** The value a Set-Cookie gives `name`, undefined when none sets it. */
export function cookieSet(res: Response, name: string): string | undefined {
  return res.setCookies.find((c) => c.name === name)?.value;
}

/**
 * Cookie names (as the upstream would parse them: split on ';', trimmed) in every Cookie
 * header the upstream received.
 */
export function cookieNamesUpstream(rec: Recorded): string[] {
  const names: string[] = [];
  for (let i = 0; i < rec.rawHeaders.length; i += 2) {
    if (rec.rawHeaders[i]!.toLowerCase() !== 'cookie') continue;
    for (const piece of rec.rawHeaders[i + 1]!.split(';')) {
      const text = piece.trim();
      if (text !== '') names.push(text.split('=', 1)[0]!.trim());
    }
  }
  return names;
}

/** Everything the upstream received, as one text: for "this value never got there". */
export function everythingUpstream(requests: readonly Recorded[]): string {
  return requests.map((r) => `${r.method} ${r.url}\n${r.rawHeaders.join('\n')}\n${r.body}`).join('\n\n');
}
