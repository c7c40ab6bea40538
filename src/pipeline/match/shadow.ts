// "A route that can never match because an earlier route shadows it is an error"
// (config.md). The check is sound, not complete: a route reported here truly can never
// match, but a route covered only by the UNION of several earlier routes (e.g. GET on
// one and POST on another) is not detected, nor is one regex covering another unless
// they are identical. First match wins, so a false report would reject a valid config;
// a missed one only leaves a dead route.
import { parseMatchSpec, type ParsedMatch, type RouteMatchSpec } from './compile-match.js';
import { hostPatternCovers } from './host-pattern.js';
import type { PathPattern, PathSegment } from './path-pattern.js';

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** ASCII letters outside percent-escapes (the hex of an escape is always upper case in a normalized path). */
function hasLetterOutsideEscapes(s: string): boolean {
  return /[A-Za-z]/.test(s.replace(/%[0-9A-F]{2}/g, ''));
}

function segmentCovers(a: PathSegment, aCs: boolean, b: PathSegment, bCs: boolean): boolean {
  if (a.kind === 'star') return b.kind === 'star' || b.value !== ''; // `*` never matches an empty segment
  if (b.kind === 'star') return false;
  if (!aCs) return lowerAscii(a.value) === lowerAscii(b.value);
  // A case-sensitive literal covers a case-insensitive one only when B has one spelling.
  // Normalized paths carry escapes in upper case only, so letters inside them do not
  // multiply B's spellings.
  return a.value === b.value && (bCs || !hasLetterOutsideEscapes(b.value));
}

function pathCovers(a: PathPattern, b: PathPattern): boolean {
  const n = a.segments.length;
  const m = b.segments.length;
  // A with `**` covers any remainder (including B's own `**`), so B needs at least A's
  // fixed segments; without `**`, A matches one depth only and B must too.
  if (a.tail ? m < n : b.tail || m !== n) return false;
  for (let i = 0; i < n; i++) {
    if (!segmentCovers(a.segments[i]!, a.caseSensitive, b.segments[i]!, b.caseSensitive)) return false;
  }
  return true;
}

function methodsCover(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (a === undefined) return true;
  if (b === undefined) return false;
  for (const m of b) if (!a.has(m)) return false;
  return true;
}

function matchCovers(a: ParsedMatch, b: ParsedMatch): boolean {
  if (!methodsCover(a.methods, b.methods)) return false;
  if (!hostPatternCovers(a.host?.pattern, b.host?.pattern)) return false;
  if (a.regex !== undefined) {
    // A case-insensitive regex matches a superset of the same case-sensitive one.
    return b.regex !== undefined && b.regex.source === a.regex.source && (a.regex.ignoreCase || !b.regex.ignoreCase);
  }
  const ap = a.path!;
  if (b.regex !== undefined) return ap.tail && ap.segments.length === 0; // only `/**` covers a regex
  return pathCovers(ap, b.path!);
}

/**
 * Routes that can never match because an earlier one matches everything they would.
 * Each shadowed route is reported once, with the first route that covers it. Specs that
 * do not compile are skipped (compileMatch reports them).
 */
export function findShadowed(specs: readonly RouteMatchSpec[]): Array<{ index: number; by: number }> {
  const parsed = specs.map((s) => {
    const r = parseMatchSpec(s);
    return r.ok ? r.parsed : undefined;
  });
  const out: Array<{ index: number; by: number }> = [];
  for (let b = 1; b < parsed.length; b++) {
    const pb = parsed[b];
    if (pb === undefined) continue;
    for (let a = 0; a < b; a++) {
      const pa = parsed[a];
      if (pa !== undefined && matchCovers(pa, pb)) {
        out.push({ index: b, by: a });
        break;
      }
    }
  }
  return out;
}
