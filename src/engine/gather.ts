/** Gathers many facts in one round trip: one shell script, outputs split by a per-run marker. */
import { randomBytes } from 'node:crypto';
import { ShellCommand, sh, join } from '../transport/shell.ts';
import type { Fact, FactOutput } from './types.ts';
import { secret } from '../inventory/secret.ts';

/** Something that can run a command on a host (the SSH connection, or a fake in unit tests). */
export interface CommandRunner {
  exec(command: ShellCommand, options?: { stdin?: string }): Promise<{ stdout: string; stderr: string; code: number }>;
}

/** Builds the batch script; each fact's stdout is followed by a marker line with its index and exit code. */
export function batchScript(questions: readonly { command: ShellCommand }[], marker: string): ShellCommand {
  const parts = questions.map((question, index) =>
    // A subshell, so a fact's `exit` ends only itself; stdin from /dev/null, so no fact swallows the script.
    sh`( ${question.command}\n) </dev/null 2>/dev/null; printf '\n%s %d %d\n' ${marker} ${index} "$?"`,
  );
  return join(parts, '\n');
}

/** Splits the batch output back into one FactOutput per fact. */
export function splitBatchOutput(stdout: string, count: number, marker: string): FactOutput[] {
  const outputs = splitMarkedOutput(stdout, count, marker);
  if (outputs.length < count) throw new Error(`fact output ${outputs.length} is missing (the batch stopped early)`);
  return outputs;
}

/**
 * Splits a script's output at its marker lines (`MARKER INDEX CODE`, see batchScript) into each part's output and
 * exit code: as many parts as the script got through.
 */
export function splitMarkedOutput(stdout: string, count: number, marker: string): FactOutput[] {
  const outputs: FactOutput[] = [];
  let rest = stdout;
  for (let index = 0; index < count; index++) {
    const tag = `\n${marker} ${index} `;
    const at = rest.indexOf(tag);
    if (at < 0) break;
    const lineEnd = rest.indexOf('\n', at + tag.length);
    const code = Number(rest.slice(at + tag.length, lineEnd < 0 ? undefined : lineEnd));
    outputs.push({ stdout: rest.slice(0, at), code });
    rest = lineEnd < 0 ? '' : rest.slice(lineEnd + 1);
  }
  return outputs;
}

/** One command of the gather script: a fact's own, or one for every fact of a batch kind. */
interface Question {
  command: ShellCommand;
  /** Parses the command's output into each fact's value. */
  answer(output: FactOutput, values: Map<string, unknown>): void;
}

/** The questions for these facts: facts of a batch kind are asked together, in the place of the first of them. */
export function questionsFor(facts: readonly Fact<unknown>[]): Question[] {
  // Groups in order of first appearance: a fact without a batch is a group of its own, under its key.
  const groups = new Map<string, Fact<unknown>[]>();
  for (const fact of facts) {
    const id = fact.batch ? `batch:${fact.batch.kind}` : `fact:${fact.key}`;
    groups.set(id, [...(groups.get(id) ?? []), fact]);
  }
  return [...groups.values()].map((group): Question => {
    const batch = group[0]!.batch;
    if (!batch) {
      const fact = group[0]!;
      return { command: fact.command, answer: (output, values) => void values.set(fact.key, fact.parse(output)) };
    }
    const items = [...new Set(group.map((member) => member.batch!.item))];
    return {
      command: batch.command(items),
      answer: (output, values) => {
        const outputs = batch.split(output, items);
        for (const member of group) values.set(member.key, member.parse(outputs[items.indexOf(member.batch!.item)]!));
      },
    };
  });
}

/** Runs every fact in one command and parses each output; the result is keyed by fact key. */
export async function gatherFacts(runner: CommandRunner, facts: readonly Fact<unknown>[]): Promise<Map<string, unknown>> {
  const unique = [...new Map(facts.map((fact) => [fact.key, fact])).values()];
  const values = new Map<string, unknown>();
  if (unique.length === 0) return values;
  const questions = questionsFor(unique);
  const marker = `--provision-fact-${randomBytes(8).toString('hex')}--`;
  const result = await runner.exec(batchScript(questions, marker));
  const outputs = splitBatchOutput(result.stdout, questions.length, marker);
  questions.forEach((question, index) => question.answer(outputs[index]!, values));
  // Every fact asked under a key says what of its value is secret, also one whose question another fact's answered.
  for (const fact of facts) if (fact.secrets && values.has(fact.key)) for (const value of fact.secrets(values.get(fact.key))) secret(value);
  return values;
}
