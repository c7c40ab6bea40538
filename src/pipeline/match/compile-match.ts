// A route's `match` block compiled once at load (architecture.md principle 1); `test`
// runs per request on every route until one matches, so it does no parsing.
import safeRegex from 'safe-regex2';
import { compileHostPattern, type CompiledHostPattern } from './host-pattern.js';
import { compilePathPattern, type PathPattern } from './path-pattern.js';

export interface RouteMatchSpec {
  host?: string;
  path?: string;
  regex?: string;
  methods?: readonly string[];
  caseSensitive?: boolean;
}

export interface CompiledMatch {
  /** `hostname` and `path` must be normalized (RequestFacts.hostname / .path). */
  test(method: string, hostname: string, path: string): boolean;
  readonly spec: RouteMatchSpec;
}

export type MatchCompileError = {
  key: 'host' | 'path' | 'regex' | 'methods' | `methods[${number}]`;
  message: string;
};

export interface RegexMatcher {
  readonly source: string;
  readonly ignoreCase: boolean;
  readonly re: RegExp;
}

/** The parts of a valid spec, for compileMatch and for shadow analysis. */
export interface ParsedMatch {
  readonly host: CompiledHostPattern | undefined;
  /** Undefined exactly when `regex` is set. */
  readonly path: PathPattern | undefined;
  readonly regex: RegexMatcher | undefined;
  /** Upper-case; undefined = every method. */
  readonly methods: ReadonlySet<string> | undefined;
}

export const DEFAULT_PATH = '/**';

// RFC 9110 §5.6.2 token (method = token, §9.1).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function parseMatchSpec(spec: RouteMatchSpec): { ok: true; parsed: ParsedMatch } | { ok: false; errors: MatchCompileError[] } {
  const errors: MatchCompileError[] = [];
  const caseSensitive = spec.caseSensitive !== false;

  let host: CompiledHostPattern | undefined;
  if (spec.host !== undefined) {
    const h = compileHostPattern(spec.host);
    if (h.ok) host = h.host;
    else errors.push({ key: 'host', message: h.message });
  }

  let path: PathPattern | undefined;
  if (spec.regex === undefined || spec.path !== undefined) {
    const p = compilePathPattern(spec.path ?? DEFAULT_PATH, caseSensitive);
    if (p.ok) path = p.pattern;
    else errors.push({ key: 'path', message: p.message });
  }

  let regex: RegexMatcher | undefined;
  if (spec.regex !== undefined) {
    if (spec.path !== undefined) errors.push({ key: 'regex', message: 'use either path or regex, not both' });
    if (spec.regex.length === 0) {
      errors.push({ key: 'regex', message: 'must not be empty' });
    } else {
      try {
        // Compiled alone first: only a regex that is valid by itself has balanced
        // groups, so `a)|(b` cannot close our group and escape the anchors below.
        new RegExp(spec.regex);
        // Anchored on the whole normalized path; the group keeps `a|b` inside them.
        const re = new RegExp(`^(?:${spec.regex})$`, caseSensitive ? '' : 'i');
        // Nested quantifiers (`(a+)+`, star height > 1) backtrack exponentially: a client
        // could pin a core with one crafted path. Refused at load (ReDoS).
        if (!safeRegex(re)) errors.push({ key: 'regex', message: 'may take exponential time on some paths (a quantifier inside a repeated group, such as (a+)+); rewrite it without nesting' });
        else regex = { source: spec.regex, ignoreCase: !caseSensitive, re };
      } catch (err) {
        errors.push({ key: 'regex', message: `is not a valid regular expression: ${(err as Error).message}` });
      }
    }
  }

  let methods: Set<string> | undefined;
  if (spec.methods !== undefined) {
    if (spec.methods.length === 0) {
      errors.push({ key: 'methods', message: 'must list at least one method; omit methods to allow every method' });
    }
    methods = new Set();
    spec.methods.forEach((m, i) => {
      if (typeof m !== 'string' || !TOKEN.test(m)) {
        errors.push({ key: `methods[${i}]`, message: 'is not a valid HTTP method name' });
      } else {
        methods!.add(m.toUpperCase());
      }
    });
  }

  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, parsed: Object.freeze({ host, path: regex === undefined ? path : undefined, regex, methods }) };
}

function freezeSpec(spec: RouteMatchSpec): RouteMatchSpec {
  const copy: RouteMatchSpec = { ...spec };
  if (spec.methods !== undefined) copy.methods = Object.freeze([...spec.methods]);
  return Object.freeze(copy);
}

export function compileMatch(spec: RouteMatchSpec): { ok: true; match: CompiledMatch } | { ok: false; errors: MatchCompileError[] } {
  const r = parseMatchSpec(spec);
  if (!r.ok) return r;
  const { host, path, regex, methods } = r.parsed;
  const hostTest = host?.test;
  const pathTest: (p: string) => boolean = regex !== undefined ? (p) => regex.re.test(p) : path!.test;
  const test = (method: string, hostname: string, p: string): boolean =>
    (methods === undefined || methods.has(method)) && (hostTest === undefined || hostTest(hostname)) && pathTest(p);
  return { ok: true, match: Object.freeze({ test, spec: freezeSpec(spec) }) };
}
