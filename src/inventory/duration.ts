/** Durations in the inventory (`10s`, `5m`, `1h`, `2d`), always as seconds inside the program. */

import { z } from 'zod';

/** The message for a value that is not a duration. */
export const DURATION_HINT = 'expected a duration like 10s, 10m or 1h (or a whole number of seconds)';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * Seconds in a duration: `10s`, `10m`, `1h`, `2d`, a combination such as `1h30m`, or a bare non-negative
 * integer meaning seconds. Undefined for anything else, so callers choose how to report it.
 */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text >= 0 ? text : undefined;
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return checked(Number(trimmed));
  if (!/^(\d+[smhd])+$/.test(trimmed)) return undefined;
  let seconds = 0;
  for (const [, amount = '', unit = ''] of trimmed.matchAll(/(\d+)([smhd])/g)) {
    seconds += Number(amount) * (UNIT_SECONDS[unit] ?? 0);
  }
  return checked(seconds);
}

/** Refuses durations too large to be exact (only reachable through absurd input). */
function checked(seconds: number): number | undefined {
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}

/** Zod schema for a duration written as `10s`/`10m`/`1h`/`2d` or an integer; the output is seconds. */
export const duration = z.union([z.number(), z.string()], { error: DURATION_HINT }).transform((value, ctx) => {
  const seconds = parseDuration(value);
  if (seconds === undefined) {
    ctx.issues.push({ code: 'custom', message: DURATION_HINT, input: value });
    return z.NEVER;
  }
  return seconds;
});
