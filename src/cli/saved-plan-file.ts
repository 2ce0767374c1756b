/** Tells a saved plan from an inventory by its content, and reads it. */
import { closeSync, openSync, readSync, readFileSync, statSync } from 'node:fs';
import { looksLikePlan } from '../engine/plan-file.ts';

/** The start of a file, enough to see whether it is a JSON document at all. */
function head(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(64);
    return buffer.subarray(0, readSync(fd, buffer, 0, 64, 0)).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The file and its text when `file` is a saved plan; undefined for anything else (an inventory, a directory, nothing). */
export function readSavedPlanFile(file: string): { file: string; text: string } | undefined {
  const stats = statSync(file, { throwIfNoEntry: false });
  if (!stats?.isFile() || !head(file).trimStart().startsWith('{')) return undefined;
  const text = readFileSync(file, 'utf8');
  return looksLikePlan(text) ? { file, text } : undefined;
}
