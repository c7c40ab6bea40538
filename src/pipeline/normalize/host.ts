// Host normalization (security.md §2): one spelling per host, so that `match.host`
// compares like with like, and refusal of anything that is not a plain host[:port].
import { isIPv4, isIPv6 } from 'node:net';

export type HostResult =
  | { ok: true; authority: string; hostname: string; port: number | undefined }
  | { ok: false; reason: 'missing-host' | 'bad-host' };

const MAX_HOSTNAME = 253;

// reg-name restricted to what DNS names and service labels use; RFC 3986 would also
// allow sub-delims and escapes, which no real host needs and which make spoofing easy.
const REG_NAME_CHAR = new Uint8Array(128);
for (const ch of 'abcdefghijklmnopqrstuvwxyz0123456789-._') REG_NAME_CHAR[ch.charCodeAt(0)] = 1;

/**
 * Validate and normalize a hostname without port: ASCII lower case, one trailing dot
 * removed, IPv6 literal (bracketed) in its canonical RFC 5952 form. Returns undefined
 * when it is not a hostname gatehouse accepts.
 */
export function parseHostname(raw: string): string | undefined {
  if (raw.length === 0) return undefined;
  if (raw.charCodeAt(0) === 0x5b) {
    // '['
    if (raw.charCodeAt(raw.length - 1) !== 0x5d) return undefined;
    const inner = raw.slice(1, -1);
    // node:net accepts a zone id (`fe80::1%eth0`); a Host header must not carry one
    // (RFC 9110 §4.2.3 defers to RFC 3986, which has no zone ids).
    if (inner.includes('%') || !isIPv6(inner)) return undefined;
    // WHATWG serialises IPv6 canonically, so `[0:0::1]` and `[::1]` are one host.
    return new URL(`http://[${inner}]/`).hostname;
  }
  let host = raw;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    const l = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    if (l >= 128 || REG_NAME_CHAR[l] !== 1) return undefined;
  }
  host = host.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host.length === 0 || host.length > MAX_HOSTNAME) return undefined;
  const labels = host.split('.');
  if (labels.includes('')) return undefined;
  // WHATWG (and so any Node or browser client) reads a host whose last label is a number
  // as IPv4, in decimal, octal or hex (`0x7f.1` is 127.0.0.1). Accept only the canonical
  // dotted quad, so one address has one spelling.
  if (/^(?:\d+|0x[0-9a-f]*)$/.test(labels[labels.length - 1]!) && !isIPv4(host)) return undefined;
  return host;
}

/** Normalize a Host header value (or an absolute-form authority) for `scheme`. */
export function normalizeHost(raw: string | undefined, scheme: 'http' | 'https'): HostResult {
  if (raw === undefined || raw.length === 0) return { ok: false, reason: 'missing-host' };
  let hostPart = raw;
  let portPart: string | undefined;
  const close = raw.lastIndexOf(']');
  const colon = raw.lastIndexOf(':');
  if (colon > close) {
    hostPart = raw.slice(0, colon);
    portPart = raw.slice(colon + 1);
  }
  const hostname = parseHostname(hostPart);
  if (hostname === undefined) return { ok: false, reason: 'bad-host' };
  let port: number | undefined;
  if (portPart !== undefined) {
    // RFC 3986 allows an empty port and any number of digits; we accept 1-5 digits
    // naming 1-65535, and print them as a number (`:0080` → `:80`).
    if (!/^\d{1,5}$/.test(portPart)) return { ok: false, reason: 'bad-host' };
    port = Number(portPart);
    if (port < 1 || port > 65535) return { ok: false, reason: 'bad-host' };
    if (port === (scheme === 'https' ? 443 : 80)) port = undefined;
  }
  return { ok: true, authority: port === undefined ? hostname : `${hostname}:${port}`, hostname, port };
}
