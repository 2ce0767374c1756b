/** The CLI's exit codes, and the code a run's result gives. */
import type { RunResult } from '../engine/results.ts';

/**
 * 0 success; 1 a host failed, was unreachable or was stale; 2 invalid input, nothing touched (a saved plan that does
 * not match included); 3 changes pending (`--dry-run --detailed-exitcode`); 130 interrupted.
 */
export const EXIT = { ok: 0, failed: 1, input: 2, pending: 3, interrupted: 130 } as const;

/** The exit code of a run's result; with `detailedExitcode`, a dry run with changes pending gives 3. */
export function exitCodeFor(run: RunResult, flags: { detailedExitcode?: boolean }): number {
  if (run.summary.failed > 0 || run.summary.unreachable > 0 || run.summary.stale > 0) return EXIT.failed;
  if (run.mode === 'dry-run' && flags.detailedExitcode && run.summary.changed > 0) return EXIT.pending;
  return EXIT.ok;
}
