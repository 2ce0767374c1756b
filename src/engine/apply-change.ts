/** Applies one change: its steps in order, and its rollback when a step fails. */
import { redact } from '../report/redact.ts';
import type { CommandRunner } from './gather.ts';
import { performStep, type StepEnvironment } from './steps.ts';
import type { Change } from './types.ts';

/** A change that failed; says whether its rollback restored the previous state. */
export class ChangeFailedError extends Error {
  constructor(summary: string, cause: unknown, rollback: 'none' | 'restored' | { failed: string }) {
    const reason = redact(cause instanceof Error ? cause.message : String(cause));
    const after =
      rollback === 'none' ? '' : rollback === 'restored' ? '\nthe previous state was restored' : `\nROLLBACK FAILED: ${redact(rollback.failed)}`;
    super(`${summary}: ${reason}${after}`, { cause });
    this.name = 'ChangeFailedError';
  }
}

/** Performs the change's steps; on failure runs its rollback steps (all of them, best effort) and throws. */
export async function applyChange(runner: CommandRunner, change: Change, environment: StepEnvironment): Promise<void> {
  try {
    for (const step of change.steps) await performStep(runner, step, environment);
  } catch (error) {
    if (!change.rollback?.length) throw error;
    const failures: string[] = [];
    for (const step of change.rollback) {
      try {
        await performStep(runner, step, environment);
      } catch (rollbackError) {
        failures.push(rollbackError instanceof Error ? rollbackError.message : String(rollbackError));
      }
    }
    throw new ChangeFailedError(change.summary, error, failures.length ? { failed: failures.join('; ') } : 'restored');
  }
}
