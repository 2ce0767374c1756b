/** A command guarded by `creates` / `unless`, so that it is idempotent. */
import { sh, type ShellCommand } from '../../src/transport/shell.ts';
import { type Fact, type Task, predict } from '../../src/engine/types.ts';

/** Options of `command`. */
export interface CommandOptions {
  /** A description for the report, e.g. `generate the TLS certificate`. */
  description: string;
  /** Skip when this path exists. */
  creates?: string;
  /** Skip when this command succeeds. */
  unless?: ShellCommand;
  /** Facts the command changes, re-read before later tasks plan (default: every fact, as nothing says what it does). */
  invalidates?: Fact<unknown>[];
  notify?: string[];
  /** Sent to the command's stdin (kept off the command line, for secrets). */
  stdin?: string;
}

function exitCodeFact(key: string, command: ShellCommand, description: string): Fact<number> {
  return { key, description, command: sh`${command} >/dev/null 2>&1; echo $?`, parse: (output) => Number(output.stdout.trim()) };
}

/** Runs `run` unless the guard says it is done already. */
export function command(run: ShellCommand, options: CommandOptions): Task {
  const creates = options.creates ? exitCodeFact(`command:creates:${options.creates}`, sh`test -e ${options.creates}`, `whether ${options.creates} exists`) : undefined;
  const unless = options.unless ? exitCodeFact(`command:unless:${options.unless.text}`, options.unless, `whether \`${options.unless.text}\` succeeds`) : undefined;
  return {
    kind: 'command',
    target: options.description,
    facts: () => [creates, unless].filter((fact): fact is Fact<number> => fact !== undefined),
    plan: ({ facts }) => {
      if (creates && facts.get(creates) === 0 && !facts.isStale(creates)) return { status: 'ok', reason: `${options.creates} exists` };
      if (unless && facts.get(unless) === 0 && !facts.isStale(unless)) return { status: 'ok', reason: `\`${options.unless!.text}\` succeeds` };
      return {
        status: 'change',
        changes: [
          {
            summary: options.description,
            steps: [{ kind: 'run', command: run, ...(options.stdin !== undefined ? { stdin: options.stdin } : {}) }],
            ...(options.invalidates ? { invalidates: options.invalidates } : { affects: ['everything' as const] }),
            predicts: [...(creates ? [predict(creates, 0)] : []), ...(unless ? [predict(unless, 0)] : [])],
            ...(options.notify ? { notify: options.notify } : {}),
          },
        ],
      };
    },
  };
}
