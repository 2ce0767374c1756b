/** `-v` (remote commands on stderr) and `--log FILE` (a full run log): both masked by value, like every output. */
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
        ...(record.stdout ? ['-- stdout', record.stdout.replace(/\n$/, '')] : []),
        ...(record.stderr ? ['-- stderr', record.stderr.replace(/\n$/, '')] : []),
      ].join('\n'),
    );
  });
  return { line: append, stop };
}

function firstLines(text: string, count: number): string {
  const lines = text.split('\n');
  return lines.length <= count ? text : `${lines.slice(0, count).join('\n')}\n… (${lines.length - count} more lines)`;
}
