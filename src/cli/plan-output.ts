/** Writes a saved plan: mode 0600 from the first byte, atomically (a temp file beside it, renamed over it). */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../errors.ts';

/**
 * Writes `text` to `file`, readable by its owner alone. A temp file made beside it (never through a link) is renamed
 * over it, so a reader sees the old plan or the new one, never half of one, and a link at `file` is replaced, not followed.
 */
export function writePlanFile(file: string, text: string): void {
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    throw new InputError(`cannot write the plan to ${file}: ${(error as Error).message}`);
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw new InputError(`cannot write the plan to ${file}: ${(error as Error).message}`);
  }
}
