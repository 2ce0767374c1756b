/**
 * Random values a task invents while planning (a new password hash's salt) that must come out the same when the plan
 * is made again: in the apply of a saved plan, another process plans again and must find exactly what was saved.
 * They are derived from the run's seed, random per run, or the saved plan's.
 */
import { createHmac, randomBytes } from 'node:crypto';

let seed: Buffer | undefined;

/** The seed of this run's plan (made on first use), as hex: what a saved plan keeps. */
export function planSeed(): string {
  seed ??= randomBytes(32);
  return seed.toString('hex');
}

/** Plans from now on with a saved plan's seed, so what its tasks invent is what they invented then. */
export function usePlanSeed(hex: string): void {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error('a plan seed is 64 hex digits');
  seed = Buffer.from(hex, 'hex');
}

/**
 * `length` bytes, random to anyone without the seed and the same for the same `label` in the same plan: `label` names
 * what they are for and whose (e.g. the host and user a salt is for), so no two uses share them.
 */
export function planRandomBytes(label: string, length: number): Buffer {
  planSeed();
  const out: Buffer[] = [];
  for (let block = 0; out.length * 32 < length; block++) out.push(createHmac('sha256', seed!).update(`${block}\n${label}`).digest());
  return Buffer.concat(out).subarray(0, length);
}
