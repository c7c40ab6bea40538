// Token claims → Identity, by the dotted paths of an authenticator's `claims:` mapping.
// Shared by the jwt and introspection authenticators, so both read tokens alike.
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
    // for-in, not Object.values: no array per object. Own members only (JSON objects and
    // arrays have no enumerable inherited ones, but a caller's object might).
    for (const k in value) if (Object.hasOwn(value, k)) deepFreeze((value as Record<string, unknown>)[k]);
  }
  return value;
}

/** A claim path split once, looked up like lookupClaim (headers/template.ts): own members of non-array objects only. */
type ClaimPath = readonly string[];

const splitPath = (path: string | undefined): ClaimPath | undefined => (path === undefined ? undefined : path.split('.'));

function lookupPath(claims: Readonly<Record<string, unknown>>, path: ClaimPath): unknown {
  let node: unknown = claims;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

const optionalString = (claims: Readonly<Record<string, unknown>>, path: ClaimPath | undefined): string | undefined => {
  if (path === undefined) return undefined;
  const v = lookupPath(claims, path);
  return typeof v === 'string' && v !== '' ? v : undefined;
};

const NO_ITEMS: readonly string[] = Object.freeze([]);

/** Builds Identity objects from claims; see identityFromClaims. */
export type IdentityBuilder = (claims: Record<string, unknown>) => Identity | undefined;

/**
 * identityFromClaims with the mapping's paths split once, for an authenticator that maps
 * the claims of every token it accepts the same way.
 */
export function createIdentityBuilder(mapping: ClaimsMapping, method: 'jwt' | 'introspection', authenticator: string): IdentityBuilder {
  const userPath = splitPath(mapping.user)!;
  const emailPath = splitPath(mapping.email);
  const namePath = splitPath(mapping.name);
  const groupsPath = splitPath(mapping.groups);
  const scopesPath = splitPath(mapping.scopes);
  return (claims) => {
    const user = optionalString(claims, userPath);
    if (user === undefined) return undefined;
    const email = optionalString(claims, emailPath);
    const name = optionalString(claims, namePath);
    const groups = groupsPath === undefined ? NO_ITEMS : freezeList(claimList(lookupPath(claims, groupsPath)));
    const scopes = scopesPath === undefined ? NO_ITEMS : freezeList(claimList(lookupPath(claims, scopesPath)));
    // Members in the same order whichever optional ones are present.
    const identity: { -readonly [K in keyof Identity]: Identity[K] } = { user } as Identity;
    if (email !== undefined) identity.email = email;
    if (name !== undefined) identity.name = name;
    identity.groups = groups;
    identity.scopes = scopes;
    identity.claims = deepFreeze(claims);
    identity.method = method;
    identity.authenticator = authenticator;
    return Object.freeze(identity);
  };
}

const freezeList = (items: readonly string[]): readonly string[] => (items.length === 0 ? NO_ITEMS : Object.freeze(items));

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
  return createIdentityBuilder(mapping, method, authenticator)(claims);
}
