import parseDuration from 'parse-duration';

/**
 * Durations in rule and scenario files: "30s", "5m", "1h30m", "2d", "250ms". parse-duration
 * is lenient ("5m hello" is 5 minutes), so the shape is checked first: a typo in a rule must be
 * an error, not a different rule.
 */
const SHAPE = /^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d)\s*)+$/;

export const DURATION_HINT = 'a duration such as "30s", "5m", "1h30m" (units ms, s, m, h, d)';

/** Milliseconds, or undefined when `text` is not a duration. */
export function parseDurationMs(text: unknown): number | undefined {
  if (typeof text !== 'string' || !SHAPE.test(text)) return undefined;
  const ms = parseDuration(text);
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? Math.round(ms) : undefined;
}

/** A relative time for people: "0s", "4m59s", "1h05m00s", "-30s". */
export function formatOffset(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(Math.round(ms));
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  const milli = rest - s * 1000;
  const sec = milli > 0 ? `${s}.${String(milli).padStart(3, '0')}s` : `${s}s`;
  if (h > 0) return `${sign}${h}h${String(m).padStart(2, '0')}m${sec.padStart(milli > 0 ? 8 : 3, '0')}`;
  if (m > 0) return `${sign}${m}m${sec.padStart(milli > 0 ? 8 : 3, '0')}`;
  return `${sign}${sec}`;
}
