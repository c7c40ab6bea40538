// Token claims → Identity, by the dotted paths of an authenticator's `claims:` mapping.
// Shared by the jwt and introspection authenticators, so both read tokens alike.
import { lookupClaim } from '../headers/template.js';
import type { Identity } from '../types.js';

export interface ClaimsMapping {
  /** Path of the user name; required in the token. */
  readonly user: string;
  readonly email?: string;
  readonly name?: string;
  /** Array of strings, or one space-separated string. */
  readonly groups?: string;
  /** Array of strings, or one space-separated string (RFC 6749 §3.3). */
  readonly scopes?: string;
}

/** Strings from an array of strings, or the space-separated items of a string; [] otherwise. */
export function claimList(value: unknown): readonly string[] {
  // RFC 6749 §3.3: scope-token *( SP scope-token ). Space only: a tab or comma is part
  // of a token, never a separator, so "a,b" can never turn into the scope "b".
  const items = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
  const out: string[] = [];
  for (const item of items) {
    // Non-strings in an array (numbers, objects) cannot equal a configured name: dropped.
    if (typeof item === 'string' && item !== '' && !out.includes(item)) out.push(item);
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const optionalString = (claims: Readonly<Record<string, unknown>>, path: string | undefined): string | undefined => {
  if (path === undefined) return undefined;
  const v = lookupClaim(claims, path);
  return typeof v === 'string' && v !== '' ? v : undefined;
};

/**
 * The identity a token's claims describe, or undefined when the user claim is missing,
 * empty or not a string (the caller fails with 'missing-user-claim'). Optional fields of
 * the wrong type are left out. `claims` is frozen (deeply) and kept whole in the identity.
 */
export function identityFromClaims(
  claims: Record<string, unknown>,
  mapping: ClaimsMapping,
  method: 'jwt' | 'introspection',
  authenticator: string,
): Identity | undefined {
  const user = optionalString(claims, mapping.user);
  if (user === undefined) return undefined;
  const email = optionalString(claims, mapping.email);
  const name = optionalString(claims, mapping.name);
  const groups = mapping.groups === undefined ? [] : claimList(lookupClaim(claims, mapping.groups));
  const scopes = mapping.scopes === undefined ? [] : claimList(lookupClaim(claims, mapping.scopes));
  return Object.freeze({
    user,
    ...(email === undefined ? {} : { email }),
    ...(name === undefined ? {} : { name }),
    groups: Object.freeze(groups),
    scopes: Object.freeze(scopes),
    claims: deepFreeze(claims),
    method,
    authenticator,
  });
}
