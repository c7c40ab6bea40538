// Whether a URL's host never leaves this machine. Plain http is tolerated only there
// (an introspection endpoint, a development OpenID Provider): secrets travel in those
// requests (RFC 7662 §4, OpenID Connect Core §16.17).
import { isIP } from 'node:net';

/** `hostname` as URL.hostname gives it (IPv6 in brackets). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
