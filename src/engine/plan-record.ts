/**
 * A host's plan as data that can be kept and compared: each task's verdict, each change as the dry run shows it
 * (secrets masked; a file with a secret in it only as "changes"), and a digest of everything the change would do
 * (its steps with their commands and contents, rollback, handlers, effects). Two plans that give the same records do
 * the same thing; a saved plan is these records, and so is what the apply compares it with.
 */
import { canonicalJson, type Digester } from './digest.ts';
import { containsSecret, redact, redactDeep } from '../report/redact.ts';
import type { ChangeReport, TaskResult } from './results.ts';
import type { Change, FileDiff, Plan, Step } from './types.ts';

/** A file diff as kept: both sides in full, or, for a file with a secret in it, only whether it existed and changes. */
export type DiffRecord = { path: string; metaBefore?: string; metaAfter?: string } & (
  | { before: string | null; after: string | null }
  | { secret: true; existed: boolean; changes: boolean }
);

/** One change as kept: what the dry run shows of it, and the digest of what it does. */
export interface ChangeRecord {
  summary: string;
  details?: string[];
  notice?: string;
  /** A note from the candidate check (e.g. the validator is not installed yet). */
  note?: string;
  packages?: { install?: string[]; remove?: string[] };
  services?: { name: string; action: string }[];
  diff?: DiffRecord;
  /** The digest of the change's steps, contents, rollback, handlers and effects. */
  digest: string;
}

/** One task's plan as kept. */
export interface TaskRecord {
  play: string;
  name: string;
  status: 'ok' | 'would-change' | 'failed';
  reason?: string;
  error?: string;
  /** Planned on facts an earlier change of the run alters: the apply plans it again after that change. */
  provisional?: true;
  changes: ChangeRecord[];
}

/** What a step does, as data: a command by its text. */
function stepData(step: Step): unknown {
  if (step.kind === 'run') return { ...step, command: step.command.text };
  return step;
}

/** Everything a change does and says, whole (secrets included): what its digest stands for. */
export function changeData(change: Change): unknown {
  return {
    summary: change.summary,
    steps: change.steps.map(stepData),
    rollback: change.rollback?.map(stepData),
    diff: change.diff,
    packages: change.packages,
    services: change.services,
    notify: change.notify,
    details: change.details,
    movesLogin: change.movesLogin,
    notice: change.notice,
    affects: change.affects,
    invalidates: change.invalidates?.map((fact) => fact.key),
    predicts: change.predicts?.map(({ key, value }) => ({ key, value })),
  };
}

/** A diff as kept: without a secret's content, and masked as the dry run masks it. */
function diffRecord(diff: FileDiff): DiffRecord {
  const meta = { path: redact(diff.path), ...(diff.metaBefore ? { metaBefore: redact(diff.metaBefore) } : {}), ...(diff.metaAfter ? { metaAfter: redact(diff.metaAfter) } : {}) };
  const hidden = diff.secret === true || [diff.before, diff.after].some((side) => side !== null && containsSecret(side));
  if (hidden) return { ...meta, secret: true, existed: diff.before !== null, changes: diff.before !== diff.after };
  return { ...meta, before: diff.before, after: diff.after };
}

/** A change as kept; `note` is the candidate check's. */
export function changeRecord(change: Change, digester: Digester, note?: string): ChangeRecord {
  const shown = redactDeep({
    summary: change.summary,
    ...(change.details?.length ? { details: change.details } : {}),
    ...(change.notice ? { notice: change.notice } : {}),
    ...(note ? { note } : {}),
    ...(change.packages ? { packages: change.packages } : {}),
    ...(change.services ? { services: change.services } : {}),
  });
  return { ...shown, ...(change.diff ? { diff: diffRecord(change.diff) } : {}), digest: digester.digest(canonicalJson(changeData(change))) };
}

/** What the report shows of a kept change. */
export function changeReport(record: ChangeRecord): ChangeReport {
  const { digest: _digest, diff, ...shown } = record;
  return { ...shown, ...(diff ? { diff: fileDiff(diff) } : {}) };
}

/** A kept diff as the report's: a secret one with stand-ins that only say whether it existed and changes. */
function fileDiff(diff: DiffRecord): FileDiff {
  const meta = { path: diff.path, ...(diff.metaBefore ? { metaBefore: diff.metaBefore } : {}), ...(diff.metaAfter ? { metaAfter: diff.metaAfter } : {}) };
  if ('secret' in diff) {
    const before = diff.existed ? '' : null;
    return { ...meta, secret: true, before, after: diff.changes ? '(changed)' : before };
  }
  return { ...meta, before: diff.before, after: diff.after };
}

/** A task's record from its plan (or the error it planned with). */
export function taskRecord(play: string, name: string, plan: Plan | Error, digester: Digester, options: { provisional?: boolean; notes?: ReadonlyMap<Change, string> } = {}): TaskRecord {
  const provisional = options.provisional ? { provisional: true as const } : {};
  if (plan instanceof Error) return { play, name, status: 'failed', error: redact(plan.message), changes: [], ...provisional };
  if (plan.status === 'ok') return { play, name, status: 'ok', reason: redact(plan.reason), changes: [], ...provisional };
  return { play, name, status: 'would-change', ...provisional, changes: plan.changes.map((change) => changeRecord(change, digester, options.notes?.get(change))) };
}

/** A kept task as the dry run reports it; `provisionalNote` is what a provisional one says. */
export function taskReport(record: TaskRecord, provisionalNote: string): TaskResult {
  return {
    play: record.play,
    name: record.name,
    status: record.status,
    ...(record.reason !== undefined ? { reason: record.reason } : {}),
    ...(record.provisional ? { note: provisionalNote } : {}),
    ...(record.error !== undefined ? { error: record.error } : {}),
    changes: record.changes.map(changeReport),
  };
}

/** True when two plans of a task do and say the same. */
export function samePlan(a: readonly ChangeRecord[] | TaskRecord, b: readonly ChangeRecord[] | TaskRecord): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** The summaries of a task's plan, for saying how two plans differ. */
export function planSummary(record: TaskRecord): string {
  if (record.status === 'ok') return `ok (${record.reason ?? 'in place'})`;
  if (record.status === 'failed') return `failed (${record.error ?? 'error'})`;
  return record.changes.map((change) => change.summary).join('; ');
}

/**
 * How the tasks of a plan made now differ from the saved ones, in words: empty when they are the same. Only the
 * first differing task is described (the rest of the host's plan follows from it).
 */
export function planDifference(saved: readonly TaskRecord[], now: readonly TaskRecord[]): string[] {
  const length = Math.max(saved.length, now.length);
  for (let index = 0; index < length; index++) {
    const before = saved[index];
    const after = now[index];
    if (before && after && samePlan(before, after)) continue;
    if (!before || !after || before.name !== after.name || before.play !== after.play) {
      return [`the tasks differ from the saved plan's from ${(before ?? after)!.play}: ${(before ?? after)!.name} on`];
    }
    const shown = planSummary(before);
    const current = planSummary(after);
    return [
      shown === current
        ? `${after.play}: ${after.name} now does something other than the saved plan shows (its commands, contents or details differ)`
        : `${after.play}: ${after.name} is planned differently now: the saved plan shows ${shown}; now: ${current}`,
    ];
  }
  return [];
}
