/** Performs steps on a host: the one place in the engine that writes. */
import { randomBytes } from 'node:crypto';
import { CommandError } from '../errors.ts';
import { redact } from '../report/redact.ts';
import { ShellCommand, join, sh } from '../transport/shell.ts';
import { splitMarkedOutput, type CommandRunner } from './gather.ts';
import type { RunStep, Step, TrustHostKeyStep, VerifyLoginStep, WriteFileStep } from './types.ts';
import { CONFLICT, CONFLICT_EXIT, candidateCheck, writeFileScript } from './write-script.ts';

export { writeFileScript };

/** A write refused by its compare-and-swap check: the file is no longer what the plan saw, and nothing was written. */
export class WriteConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriteConflictError';
  }
}

/** What steps need beyond running commands: opening a fresh SSH connection to prove a login still works. */
export interface StepEnvironment {
  verifyLogin(step: VerifyLoginStep): Promise<void>;
  /** Records a host key read over the run's verified connection in the run's known_hosts. */
  trustHostKey?(step: TrustHostKeyStep): Promise<void>;
  /** Validation scopes that passed in this apply; a write of such a scope is not validated again. */
  validatedScopes?: Set<string>;
}

/**
 * Every candidate check of a host in one command: each reads its own bytes from stdin, in order, and ends with a
 * marker line with its index and exit code. A check whose validation scope already passed only skips its bytes.
 */
export function validateCandidatesScript(steps: readonly WriteFileStep[], marker: string): ShellCommand {
  const scopes = new Map<string, number>();
  const parts = steps.map((step, index) => {
    const bytes = Buffer.byteLength(step.content);
    const check = sh`( ${candidateCheck(step, bytes)}
) 2>&1`;
    const done = sh`printf '\n%s %d %d\n' ${marker} ${index} "$code"`;
    if (step.validationScope === undefined) return sh`${check}
code=$?
${done}`;
    if (!scopes.has(step.validationScope)) scopes.set(step.validationScope, scopes.size);
    const passed = ShellCommand.fromQuoted(`passed_${scopes.get(step.validationScope)}`);
    // Skipped: the scope's earlier candidate passed, which vouches for this one too.
    return sh`if [ -n "$${passed}" ]; then head -c ${bytes} >/dev/null; code=0
else
${check}
code=$?
if [ "$code" = 0 ]; then ${passed}=1; fi
fi
${done}`;
  });
  return join(parts, '\n');
}

/** The outcome of a dry-run validation. */
export type ValidationResult = { ok: true } | { ok: false; missingValidator: boolean; message: string };

/** Validates write steps' candidates without installing them: one command for all, the candidates on its stdin. */
export async function checkCandidates(runner: CommandRunner, steps: readonly WriteFileStep[]): Promise<ValidationResult[]> {
  const checked = steps.filter((step) => step.validate);
  if (checked.length === 0) return steps.map(() => ({ ok: true }));
  const marker = `--provision-check-${randomBytes(8).toString('hex')}--`;
  const result = await runner.exec(validateCandidatesScript(checked, marker), { stdin: checked.map((step) => step.content).join('') });
  const outputs = splitMarkedOutput(result.stdout, checked.length, marker);
  const verdicts = checked.map((_, index): ValidationResult => {
    const output = outputs[index];
    // A script that stopped early (the connection went, say) leaves later checks unanswered: they fail, unchecked.
    if (!output) return { ok: false, missingValidator: false, message: redact(`the check did not finish: ${(result.stderr.trim() || `exit code ${result.code}`).split('\n').slice(-4).join('\n')}`) };
    if (output.code === 0) return { ok: true };
    return { ok: false, missingValidator: output.code === 127, message: redact(output.stdout.trim().split('\n').slice(-8).join('\n')) };
  });
  // `checked` keeps the steps' order: each validated step takes the next verdict.
  let next = 0;
  return steps.map((step) => (step.validate ? verdicts[next++]! : { ok: true }));
}

async function runStep(runner: CommandRunner, step: RunStep): Promise<void> {
  const result = await runner.exec(step.command, step.stdin === undefined ? {} : { stdin: step.stdin });
  if (!(step.okCodes ?? [0]).includes(result.code)) {
    throw new CommandError(redact(step.description ?? step.command.text), result.code, redact(result.stderr), redact(result.stdout));
  }
}

async function writeFile(runner: CommandRunner, step: WriteFileStep, validatedScopes?: Set<string>): Promise<void> {
  const scope = step.validate ? step.validationScope : undefined;
  const validated = scope !== undefined && validatedScopes?.has(scope) === true;
  const result = await runner.exec(writeFileScript(validated ? { ...step, validate: undefined } : step), { stdin: step.content });
  const conflict = result.stderr.split('\n').find((row) => row.startsWith(CONFLICT));
  if (result.code === CONFLICT_EXIT && conflict) throw new WriteConflictError(redact(conflict.slice(CONFLICT.length).trim()));
  if (result.code !== 0) {
    const what = step.validate && !validated ? `write ${step.path} (validated by: ${step.validate})` : `write ${step.path}`;
    throw new CommandError(what, result.code, redact(result.stderr), redact(result.stdout));
  }
  if (scope !== undefined) validatedScopes?.add(scope);
}

/** Performs one step; throws CommandError (with secrets redacted) when it fails. */
export async function performStep(runner: CommandRunner, step: Step, environment?: StepEnvironment): Promise<void> {
  if (step.kind === 'write-file') return writeFile(runner, step, environment?.validatedScopes);
  if (step.kind === 'verify-login') {
    if (!environment) throw new Error('verify-login needs a connection environment');
    return environment.verifyLogin(step);
  }
  if (step.kind === 'trust-host-key') {
    if (!environment?.trustHostKey) throw new Error('trust-host-key needs a connection environment');
    return environment.trustHostKey(step);
  }
  return runStep(runner, step);
}
