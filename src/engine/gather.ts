/** Gathers many facts in one round trip: one shell script, outputs split by a per-run marker. */
import { randomBytes } from 'node:crypto';
import { ShellCommand, sh, join } from '../transport/shell.ts';
import type { Fact, FactOutput } from './types.ts';

/** Something that can run a command on a host (the SSH connection, or a fake in unit tests). */
export interface CommandRunner {
  exec(command: ShellCommand, options?: { stdin?: string }): Promise<{ stdout: string; stderr: string; code: number }>;
}

/** Builds the batch script; each fact's stdout is followed by a marker line with its index and exit code. */
export function batchScript(facts: readonly Fact<unknown>[], marker: string): ShellCommand {
  const parts = facts.map((fact, index) =>
    // A subshell, so a fact's `exit` ends only itself; stdin from /dev/null, so no fact swallows the script.
    sh`( ${fact.command}\n) </dev/null 2>/dev/null; printf '\n%s %d %d\n' ${marker} ${index} "$?"`,
  );
  return join(parts, '\n');
}

/** Splits the batch output back into one FactOutput per fact. */
export function splitBatchOutput(stdout: string, count: number, marker: string): FactOutput[] {
  const outputs: FactOutput[] = [];
  let rest = stdout;
  for (let index = 0; index < count; index++) {
    const tag = `\n${marker} ${index} `;
    const at = rest.indexOf(tag);
    if (at < 0) throw new Error(`fact output ${index} is missing (the batch stopped early)`);
    const lineEnd = rest.indexOf('\n', at + tag.length);
    const code = Number(rest.slice(at + tag.length, lineEnd < 0 ? undefined : lineEnd));
    outputs.push({ stdout: rest.slice(0, at), code });
    rest = lineEnd < 0 ? '' : rest.slice(lineEnd + 1);
  }
  return outputs;
}

/** Runs every fact in one command and parses each output; the result is keyed by fact key. */
export async function gatherFacts(runner: CommandRunner, facts: readonly Fact<unknown>[]): Promise<Map<string, unknown>> {
  const unique = [...new Map(facts.map((fact) => [fact.key, fact])).values()];
  const values = new Map<string, unknown>();
  if (unique.length === 0) return values;
  const marker = `--provision-fact-${randomBytes(8).toString('hex')}--`;
  const result = await runner.exec(batchScript(unique, marker));
  const outputs = splitBatchOutput(result.stdout, unique.length, marker);
  unique.forEach((fact, index) => values.set(fact.key, fact.parse(outputs[index]!)));
  return values;
}
