// `match.host`: an exact host or `*.example.com` (config.md "Route matching").
// Patterns are normalized like Host headers (normalizeHost), so that comparison is a
// plain string comparison against RequestFacts.hostname.
import { isIPv4 } from 'node:net';
import { parseHostname } from '../normalize/host.js';

export type HostPattern =
  | { readonly kind: 'exact'; readonly host: string }
  /** `suffix` includes the leading dot: `*.example.com` → `.example.com`. */
  | { readonly kind: 'wildcard'; readonly suffix: string };

export interface CompiledHostPattern {
  readonly pattern: HostPattern;
  /** `hostname` must be normalized (normalizeHost(...).hostname): no port, lower case. */
  test(hostname: string): boolean;
}

export type HostPatternResult = { ok: true; host: CompiledHostPattern } | { ok: false; message: string };

function hasPort(raw: string): boolean {
  const close = raw.lastIndexOf(']');
  return raw.lastIndexOf(':') > close;
}

export function compileHostPattern(raw: string): HostPatternResult {
  if (raw.length === 0) return { ok: false, message: 'must not be empty; omit host to match every host' };
  if (raw.startsWith('*.')) {
    const rest = raw.slice(2);
    if (hasPort(rest)) return { ok: false, message: 'must not contain a port: hosts are compared without one' };
    const name = parseHostname(rest);
    if (name === undefined || name.startsWith('[') || isIPv4(name)) {
      return { ok: false, message: "'*.' must be followed by a domain name such as example.com" };
    }
    const suffix = '.' + name;
    return {
      ok: true,
      host: Object.freeze({
        pattern: Object.freeze({ kind: 'wildcard', suffix }),
        // One or more labels before the suffix, never the bare domain. A normalized
        // hostname has no empty labels, so any longer string ending in suffix qualifies.
        test: (h: string) => h.length > suffix.length && h.endsWith(suffix),
      }),
    };
  }
  if (raw.includes('*')) {
    return { ok: false, message: "a wildcard is only allowed as a whole first label: '*.example.com'" };
  }
  if (hasPort(raw)) return { ok: false, message: 'must not contain a port: hosts are compared without one' };
  const host = parseHostname(raw);
  if (host === undefined) {
    return { ok: false, message: 'is not a valid host name, IPv4 address or bracketed IPv6 address' };
  }
  return {
    ok: true,
    host: Object.freeze({ pattern: Object.freeze({ kind: 'exact', host }), test: (h: string) => h === host }),
  };
}

/** Whether every hostname `b` matches is also matched by `a` (undefined = any host). */
export function hostPatternCovers(a: HostPattern | undefined, b: HostPattern | undefined): boolean {
  if (a === undefined) return true;
  if (b === undefined) return false;
  if (a.kind === 'exact') return b.kind === 'exact' && b.host === a.host;
  // `*.x.com` covers `a.x.com` and `*.a.x.com`, and `*.x.com` itself.
  const name = b.kind === 'exact' ? b.host : b.suffix;
  return name.length > a.suffix.length ? name.endsWith(a.suffix) : b.kind === 'wildcard' && name === a.suffix;
}
