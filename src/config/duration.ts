// Durations in gatehouse.yaml: `30s`, `5m`, `12h`, `7d`, `250ms`, or a number of seconds
// (config.md, "Values"). A bare numeric string ("30") also means seconds, so that a value
// substituted from `${env:...}` (always a string) can carry a duration.

/** The JSON Schema pattern of a duration string (also what editors check against). */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)?$';

// Same language as DURATION_PATTERN, with the number captured whole.
const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)?$/;

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Milliseconds for a duration string or a number of seconds, rounded to a whole
 * millisecond (timers and Redis PX want integers); `undefined` when the value is not a
 * duration: bad syntax, negative, NaN or infinite. Range checks belong to the caller.
 */
export function parseDuration(v: string | number): number | undefined {
  let ms: number;
  if (typeof v === 'number') {
    ms = v * 1_000;
  } else {
    const m = DURATION.exec(v);
    if (m === null) return undefined;
    ms = Number(m[1]) * (UNIT_MS[m[2] ?? 's'] as number);
  }
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  // `|| 0` folds -0 (from -0 seconds) into 0.
  return Math.round(ms) || 0;
}
