/** `-v` (remote commands on stderr) and `--log FILE` (a full run log): both masked by value, like every output. */
import { createHash } from 'node:crypto';
import { closeSync, constants, fchmodSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { InputError } from '../errors.ts';
import { observeCommands, type CommandRecord } from '../transport/command-log.ts';
import { printable } from './printable.ts';
import { redact } from './redact.ts';

/** Prints each remote command, its exit code and time, to `write`. */
export function echoCommands(write: (line: string) => void): () => void {
  return observeCommands((record) => {
    write(`[${record.target}] $ ${redact(firstLines(record.command, 6))}  → exit ${record.code} (${Math.round(record.ms)} ms)`);
  });
}

/**
 * Opens the log for writing, 0600 and the user's own: a new file is made so (never through a link), and an existing
 * one must be a regular file of this user's, which is set to 0600 before it is emptied. Anything else is refused, so
 * a log never lands in a file that others can read, or in another user's file. Writes go through this descriptor only.
 */
export function openLogFile(file: string): number {
  const flags = constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  let fd: number;
  try {
    fd = openSync(file, flags | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new InputError(`--log ${file}: ${(error as Error).message}`);
    try {
      fd = openSync(file, flags);
    } catch (reopen) {
      const code = (reopen as NodeJS.ErrnoException).code;
      throw new InputError(`--log ${file}: ${code === 'ELOOP' ? 'is a symbolic link; give the file itself' : (reopen as Error).message}`);
    }
  }
  const stats = fstatSync(fd);
  const uid = process.getuid?.();
  const problem = !stats.isFile() ? 'is not a regular file' : uid !== undefined && stats.uid !== uid ? `belongs to uid ${stats.uid}, not to this user (${uid})` : undefined;
  if (problem) {
    closeSync(fd);
    throw new InputError(`--log ${file}: ${problem}; a run log may hold host details, so it is written only to a file of your own`);
  }
  fchmodSync(fd, 0o600);
  ftruncateSync(fd, 0);
  return fd;
}

/** Appends every remote command with its full output to `file` (0600, the user's own: outputs may hold host details). */
export function logToFile(file: string): { line(text: string): void; stop(): void } {
  const fd = openLogFile(file);
  let open = true;
  const append = (text: string) => {
    if (open) writeSync(fd, `${redact(text)}\n`);
  };
  append(`# provision run log, started ${new Date().toISOString()}`);
  const stopObserving = observeCommands((record: CommandRecord) => {
    append(
      [
        `## ${new Date().toISOString()} ${record.target} exit ${record.code} in ${Math.round(record.ms)} ms`,
        record.command,
        ...(record.stdout ? ['-- stdout', printable(elideContents(record.stdout.replace(/\n$/, '')))] : []),
        ...(record.stderr ? ['-- stderr', printable(elideContents(record.stderr.replace(/\n$/, '')))] : []),
      ].join('\n'),
    );
  });
  return {
    line: append,
    stop() {
      stopObserving();
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** The marker before the files' contents in the path-state batch's output (tasks/core/files.facts.ts). */
const CONTENTS_MARKER = '\n--contents--\n';

function digestOf(blob: string): string {
  return `<base64: ${blob.length} chars, sha256 ${createHash('sha256').update(blob).digest('hex').slice(0, 12)}>`;
}

/**
 * File contents travel base64-encoded in fact output, where redaction by value cannot see a secret the run does not
 * know: the log keeps only the length and a digest of each. The files' batch is cut where its contents begin, however
 * short they are; elsewhere, any long base64 run.
 */
export function elideContents(text: string): string {
  const at = text.indexOf(CONTENTS_MARKER);
  const head = at < 0 ? text : text.slice(0, at + CONTENTS_MARKER.length);
  // The names read (absolute paths, one a line), a blank line, then every file's bytes in one base64 run.
  const tail = at < 0 ? '' : text.slice(at + CONTENTS_MARKER.length).replace(/^((?:\/[^\n]*\n)+\n)([A-Za-z0-9+/]+={0,2})/, (_, names: string, blob: string) => names + digestOf(blob));
  return elideBase64(head) + elideBase64(tail);
}

/** Long base64 runs (80 characters or more) become their length and a digest. */
export function elideBase64(text: string): string {
  return text.replace(/[A-Za-z0-9+/]{80,}={0,2}/g, digestOf);
}

function firstLines(text: string, count: number): string {
  const lines = text.split('\n');
  return lines.length <= count ? text : `${lines.slice(0, count).join('\n')}\n… (${lines.length - count} more lines)`;
}
