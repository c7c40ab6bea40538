// `trustedProxies`: the peers allowed to speak for a client through X-Forwarded-*
// (client address, scheme, forward-auth target). Default: nobody.
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export type TrustedPeer = (ip: string) => boolean;

/** Parses "10.0.0.0/8", "::1/128" or a bare address; returns undefined for garbage. */
export function parseCidr(entry: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  try {
    if (entry.includes('/')) {
      const [base] = entry.split('/');
      return isIP(base!) ? ipaddr.parseCIDR(entry) : undefined;
    }
    if (!isIP(entry)) return undefined;
    const addr = ipaddr.parse(entry);
    return [addr, addr.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return undefined;
  }
}

export function compileTrustedProxies(entries: readonly string[]): TrustedPeer {
  const ranges = entries.map((e) => parseCidr(e)).filter((r): r is NonNullable<typeof r> => r !== undefined);
  if (ranges.length === 0) return () => false;
  const cache = new Map<string, boolean>();
  return (ip) => {
    const hit = cache.get(ip);
    if (hit !== undefined) return hit;
    let trusted = false;
    if (isIP(ip)) {
      let addr = ipaddr.parse(ip);
      if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
      trusted = ranges.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));
    }
    // Bounded: peers are few (proxies, load balancers), but X-Forwarded-For hops are client-chosen.
    if (cache.size < 1024) cache.set(ip, trusted);
    return trusted;
  };
}
