/** `-v` (remote commands on stderr) and `--log FILE` (a full run log): both masked by value, like every output. */
import { createHash } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { observeCommands, type CommandRecord } from '../transport/command-log.ts';
import { redact } from './redact.ts';

/** Prints each remote command, its exit code and time, to `write`. */
export function echoCommands(write: (line: string) => void): () => void {
  return observeCommands((record) => {
    write(`[${record.target}] $ ${redact(firstLines(record.command, 6))}  → exit ${record.code} (${Math.round(record.ms)} ms)`);
  });
}

/** Appends every remote command with its full output to `file` (created 0600: outputs may hold host details). */
export function logToFile(file: string): { line(text: string): void; stop(): void } {
  writeFileSync(file, '', { mode: 0o600 });
  const append = (text: string) => appendFileSync(file, `${redact(text)}\n`);
  append(`# provision run log, started ${new Date().toISOString()}`);
  const stop = observeCommands((record: CommandRecord) => {
    append(
      [
        `## ${new Date().toISOString()} ${record.target} exit ${record.code} in ${Math.round(record.ms)} ms`,
        record.command,
        ...(record.stdout ? ['-- stdout', elideBase64(record.stdout.replace(/\n$/, ''))] : []),
        ...(record.stderr ? ['-- stderr', elideBase64(record.stderr.replace(/\n$/, ''))] : []),
      ].join('\n'),
    );
  });
  return { line: append, stop };
}

/**
 * File contents travel base64-encoded in fact output, where redaction by value cannot see a secret: the log keeps
 * only the length and a digest of long base64 runs.
 */
export function elideBase64(text: string): string {
  return text.replace(/[A-Za-z0-9+/]{80,}={0,2}/g, (blob) => `<base64: ${blob.length} chars, sha256 ${createHash('sha256').update(blob).digest('hex').slice(0, 12)}>`);
}

function firstLines(text: string, count: number): string {
  const lines = text.split('\n');
  return lines.length <= count ? text : `${lines.slice(0, count).join('\n')}\n… (${lines.length - count} more lines)`;
}
