// Same-origin check for requests authenticated by the session cookie (security.md §8).
// A browser attaches the cookie to cross-site form posts and fetches (SameSite=Lax still
// lets top-level POST navigations through in some browsers' Lax-by-default grace period,
// and SameSite does nothing against same-site sibling hosts), so an unsafe method carried
// by the cookie must prove it came from one of our own pages.
import type { RequestFacts } from '../types.js';

/** RFC 9110 §9.2.1 safe methods; every other method (incl. WebDAV's) is checked. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export function needsSameOriginCheck(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * True when the request comes from our own origin: Sec-Fetch-Site `same-origin` or `none`
 * (the user typed it or used a bookmark); without Sec-Fetch-Site (older browsers), an
 * Origin equal to a publicUrl origin (or, without publicUrl, to the origin the request
 * was sent to). Neither header: not provable, refused.
 */
export function isSameOrigin(facts: RequestFacts, publicOrigins: readonly string[]): boolean {
  const site = single(facts.headers['sec-fetch-site']);
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = single(facts.headers.origin);
  if (origin === undefined || origin === 'null') return false;
  return ownOrigins(facts, publicOrigins).includes(origin.toLowerCase());
}

/** The origins that count as ours: publicUrl's, or without it the one the request was sent to. */
function ownOrigins(facts: RequestFacts, publicOrigins: readonly string[]): readonly string[] {
  return publicOrigins.length > 0 ? publicOrigins : [`${facts.scheme}://${facts.authority}`];
}

/**
 * Why the browser says the request came from elsewhere, if it does: Sec-Fetch-Site other
 * than same-origin/none (a repeated header included), or an Origin that is not ours.
 * Forms with their own CSRF token use this as a second line; absent headers are not held
 * against them (the token decides).
 */
export function crossSiteReason(facts: RequestFacts, publicOrigins: readonly string[]): 'csrf-cross-site' | 'csrf-foreign-origin' | undefined {
  const site = facts.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return 'csrf-cross-site';
  const origin = facts.headers.origin;
  if (origin === undefined) return undefined;
  return typeof origin === 'string' && ownOrigins(facts, publicOrigins).includes(origin.toLowerCase()) ? undefined : 'csrf-foreign-origin';
}

export function isCrossSite(facts: RequestFacts, publicOrigins: readonly string[]): boolean {
  return crossSiteReason(facts, publicOrigins) !== undefined;
}
