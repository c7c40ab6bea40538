// Step 3: identity × route.allow → decision with reasons (config.md "Authorization").
// AND across keys, OR within one list. Compiled once; the reasons go to logs and
// `explain`, never to the client.
import { lookupClaim } from '../headers/template.js';
import type { Identity } from '../types.js';

export type ClaimValue = string | number | boolean;

export interface AllowInput {
  readonly users?: readonly string[];
  readonly groups?: readonly string[];
  readonly emails?: readonly string[];
  readonly emailDomains?: readonly string[];
  readonly scopes?: readonly string[];
  readonly claims?: Readonly<Record<string, ClaimValue | readonly ClaimValue[]>>;
}

export type AuthzDecision = { readonly allow: true } | { readonly allow: false; readonly reasons: readonly string[] };

export type CompiledAllow = (identity: Identity) => AuthzDecision;

const ALLOW: AuthzDecision = Object.freeze({ allow: true });

type Check = (identity: Identity) => string | undefined;

function anyOf(wanted: readonly string[], have: readonly string[]): boolean {
  for (const h of have) if (wanted.includes(h)) return true;
  return false;
}

export function compileAllow(allow: AllowInput | undefined): CompiledAllow {
  if (!allow) return () => ALLOW;
  const checks: Check[] = [];
  if (allow.users) {
    const users = allow.users;
    checks.push((id) => (id.user !== undefined && users.includes(id.user) ? undefined : 'user-not-allowed'));
  }
  if (allow.groups) {
    const groups = allow.groups;
    checks.push((id) => (anyOf(groups, id.groups) ? undefined : 'groups-missing'));
  }
  if (allow.emails) {
    // RFC 5321: the domain part is case-insensitive; compare the whole address lower-cased
    // as every peer (oauth2-proxy, Pomerium) does.
    const emails = allow.emails.map((e) => e.toLowerCase());
    checks.push((id) => (id.email !== undefined && emails.includes(id.email.toLowerCase()) ? undefined : 'email-not-allowed'));
  }
  if (allow.emailDomains) {
    const domains = allow.emailDomains.map((d) => d.toLowerCase().replace(/^@/, ''));
    checks.push((id) => {
      const at = id.email?.lastIndexOf('@') ?? -1;
      return at > 0 && domains.includes(id.email!.slice(at + 1).toLowerCase()) ? undefined : 'email-domain-not-allowed';
    });
  }
  if (allow.scopes) {
    const scopes = allow.scopes;
    checks.push((id) => (anyOf(scopes, id.scopes) ? undefined : 'scopes-missing'));
  }
  for (const [path, expected] of Object.entries(allow.claims ?? {})) {
    const wanted = (Array.isArray(expected) ? expected : [expected]).map(String);
    checks.push((id) => {
      const value = lookupClaim(id.claims, path);
      const have = (Array.isArray(value) ? value : [value]).filter((v) => ['string', 'number', 'boolean'].includes(typeof v)).map(String);
      return anyOf(wanted, have) ? undefined : `claim-mismatch:${path}`;
    });
  }
  return (identity) => {
    let reasons: string[] | undefined;
    for (const check of checks) {
      const reason = check(identity);
      if (reason) (reasons ??= []).push(reason);
    }
    return reasons ? { allow: false, reasons } : ALLOW;
  };
}
