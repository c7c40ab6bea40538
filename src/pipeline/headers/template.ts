// Route `headers` templates such as "{claims.tenant}" or "tenant={claims.org.id}".
// Compiled once at load (a typo fails `gatehouse check`, never a request); rendered
// per request from the verified identity only. A placeholder without a value drops the
// whole header: absent fields are omitted, never sent empty.
import type { Identity } from '../types.js';
import { encodeIdentityList, encodeIdentityValue } from './encode.js';

export interface RenderContext {
  readonly identity: Identity;
  readonly route: string;
}

export type CompiledTemplate = (ctx: RenderContext) => string | undefined;

type Part = string | ((ctx: RenderContext) => string | undefined);

const FIELDS = ['user', 'email', 'name', 'groups', 'scopes', 'method', 'authenticator', 'route'] as const;
const PLACEHOLDER = /\{([^{}]*)\}/g;
const CLAIM_PATH = /^[A-Za-z0-9_$:@-]+(\.[A-Za-z0-9_$:@-]+)*$/;

export function lookupClaim(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  let node: unknown = claims;
  for (const key of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function renderValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    const items = value.filter((v) => v !== undefined && v !== null).map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v)));
    return items.length === 0 ? undefined : encodeIdentityList(items);
  }
  if (typeof value === 'object') return encodeIdentityValue(JSON.stringify(value));
  const text = String(value);
  return text === '' ? undefined : encodeIdentityValue(text);
}

function placeholder(expr: string): Part | string {
  const name = expr.trim();
  if (name.startsWith('claims.')) {
    const path = name.slice('claims.'.length);
    if (!CLAIM_PATH.test(path)) return `invalid claim path "${path}"`;
    return (ctx) => renderValue(lookupClaim(ctx.identity.claims, path));
  }
  switch (name) {
    case 'user':
      return (ctx) => renderValue(ctx.identity.user);
    case 'email':
      return (ctx) => renderValue(ctx.identity.email);
    case 'name':
      return (ctx) => renderValue(ctx.identity.name);
    case 'groups':
      return (ctx) => renderValue(ctx.identity.groups);
    case 'scopes':
      return (ctx) => renderValue(ctx.identity.scopes);
    case 'method':
      return (ctx) => ctx.identity.method;
    case 'authenticator':
      return (ctx) => renderValue(ctx.identity.authenticator);
    case 'route':
      return (ctx) => renderValue(ctx.route);
    default:
      return `unknown placeholder "{${name}}"; expected one of ${FIELDS.map((f) => `{${f}}`).join(', ')} or {claims.<path>}`;
  }
}

/** Returns the render function, or the reason the template is invalid. */
export function compileTemplate(template: string): { ok: true; render: CompiledTemplate } | { ok: false; message: string } {
  const parts: Part[] = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    const literal = template.slice(last, m.index);
    if (/[{}]/.test(literal)) return { ok: false, message: 'unbalanced "{" or "}"' };
    if (literal) parts.push(literal);
    const part = placeholder(m[1]!);
    if (typeof part === 'string') return { ok: false, message: part };
    parts.push(part);
    last = m.index + m[0].length;
  }
  const tail = template.slice(last);
  if (/[{}]/.test(tail)) return { ok: false, message: 'unbalanced "{" or "}"' };
  if (tail) parts.push(tail);
  if (/[\x00-\x1f\x7f]/.test(template) || /[^\x20-\x7e]/.test(parts.filter((p) => typeof p === 'string').join(''))) {
    return { ok: false, message: 'literal text must be printable ASCII' };
  }
  return {
    ok: true,
    render(ctx) {
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') {
          out += part;
          continue;
        }
        const value = part(ctx);
        if (value === undefined) return undefined;
        out += value;
      }
      return out;
    },
  };
}
