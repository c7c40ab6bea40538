// `match.path` segment patterns (config.md "Route matching"). A pattern is compiled
// once into segment arrays; `test` then walks the (already normalized) request path
// without regexes and without splitting it.
import { normalizeConfigPath, type TargetRefusal } from '../normalize/target.js';

export type PathSegment = { readonly kind: 'literal'; readonly value: string } | { readonly kind: 'star' };

export interface PathPattern {
  /** The pattern after normalization (what `gatehouse explain` shows). */
  readonly source: string;
  /** Segments before a final `**`; a trailing slash is a final empty literal. */
  readonly segments: readonly PathSegment[];
  /** Ends with `**`: zero or more further segments. */
  readonly tail: boolean;
  readonly caseSensitive: boolean;
  /** `path` must be normalized (normalizeTarget): matching relies on it. */
  test(path: string): boolean;
}

export type PathPatternResult = { ok: true; pattern: PathPattern } | { ok: false; message: string };

const REFUSAL_TEXT: Readonly<Record<TargetRefusal | 'query', string>> = {
  empty: 'is empty',
  'asterisk-form': "must start with '/'",
  'not-origin-form': "must start with '/'",
  'bad-absolute-form': "must start with '/'",
  'authority-mismatch': "must start with '/'",
  fragment: "must not contain '#'",
  backslash: "must not contain '\\'",
  'control-char': 'must not contain spaces or control characters',
  'non-ascii': 'must be ASCII; percent-encode other characters as UTF-8 (%C3%A9)',
  'bad-percent-encoding': "has a '%' not followed by two hex digits",
  'invalid-utf8': 'percent-encodes bytes that are not valid UTF-8',
  'encoded-slash': 'must not contain %2F: requests with an encoded slash are refused',
  'encoded-backslash': 'must not contain %5C: requests with an encoded backslash are refused',
  'encoded-control': 'must not contain an encoded control character: such requests are refused',
  'double-encoded': 'must not contain %252E, %252F or %255C: such requests are refused',
  'dot-segment-params': "must not contain '.;' or '..;' segments: such requests are refused",
  'above-root': "has a '..' segment above the root",
  query: "must not contain '?': routes never match the query string",
};

/** Human text for a normalization refusal, for config diagnostics. */
export function describePathRefusal(reason: TargetRefusal | 'query'): string {
  return REFUSAL_TEXT[reason];
}

/** A raw segment that decodes to '..' (`%2e` is unreserved, security.md §2). */
function isDotDot(raw: string): boolean {
  return raw.replace(/%2e/gi, '.') === '..';
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** Compare `lit` (lower case) with path[pos, end), folding ASCII upper case of the path. */
function equalsFolded(path: string, pos: number, end: number, lit: string): boolean {
  if (end - pos !== lit.length) return false;
  for (let i = 0; i < lit.length; i++) {
    let c = path.charCodeAt(pos + i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lit.charCodeAt(i)) return false;
  }
  return true;
}

function makeTest(segments: readonly PathSegment[], tail: boolean, caseSensitive: boolean): (path: string) => boolean {
  const count = segments.length;
  // Parallel arrays: literal value (lower-cased when case-insensitive) or null for `*`.
  const lits: (string | null)[] = segments.map((s) =>
    s.kind === 'star' ? null : caseSensitive ? s.value : lowerAscii(s.value),
  );
  if (count === 0) return (path) => path.charCodeAt(0) === 0x2f; // `/**`
  return (path) => {
    if (path.charCodeAt(0) !== 0x2f) return false;
    const n = path.length;
    let end = 0;
    for (let k = 0; k < count; k++) {
      if (k > 0 && end === n) return false; // the path has fewer segments than the pattern
      const pos = end + 1;
      end = path.indexOf('/', pos);
      if (end === -1) end = n;
      const lit = lits[k];
      if (lit === null) {
        if (end === pos) return false; // `*` is exactly one non-empty segment
      } else if (caseSensitive) {
        if (end - pos !== lit!.length || !path.startsWith(lit!, pos)) return false;
      } else if (!equalsFolded(path, pos, end, lit!)) {
        return false;
      }
    }
    // `/a/**` matches `/a`, `/a/` and `/a/x/y`, never `/ab` (that segment ended above).
    return end === n || (tail && path.charCodeAt(end) === 0x2f);
  };
}

/** Compile a `match.path` pattern. `caseSensitive: false` folds ASCII case on both sides. */
export function compilePathPattern(raw: string, caseSensitive = true): PathPatternResult {
  // Refuse '..' after a glob before normalization would silently cancel the glob
  // (`/a/*/..` would become `/a`).
  const rawSegments = raw.split('/');
  const firstGlob = rawSegments.findIndex((s) => s === '*' || s === '**');
  if (firstGlob !== -1 && rawSegments.slice(firstGlob + 1).some(isDotDot)) {
    return { ok: false, message: "must not have a '..' segment after '*' or '**'" };
  }
  const normalized = normalizeConfigPath(raw);
  if (!normalized.ok) return { ok: false, message: describePathRefusal(normalized.reason) };
  const source = normalized.path;
  const parts = source.slice(1).split('/');
  const segments: PathSegment[] = [];
  let tail = false;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p === '**') {
      if (i !== parts.length - 1) return { ok: false, message: "'**' is only allowed as the last segment" };
      tail = true;
    } else if (p === '*') {
      segments.push({ kind: 'star' });
    } else if (p.includes('*')) {
      return {
        ok: false,
        message: "'*' and '**' must be a whole segment (use match.regex to match a literal '*')",
      };
    } else {
      segments.push({ kind: 'literal', value: p });
    }
  }
  Object.freeze(segments);
  const test = makeTest(segments, tail, caseSensitive);
  return { ok: true, pattern: Object.freeze({ source, segments, tail, caseSensitive, test }) };
}
