/** The results of a run, as data: what the report prints and what --json serialises. */
import type { FileDiff } from './types.ts';
import type { HostRollingReport, RollingPlanReport } from './rolling/report.ts';

/** A task's status on one host. `would-change` is a dry run's `changed`. */
export type TaskStatus = 'ok' | 'changed' | 'would-change' | 'failed' | 'skipped';

/** One change as reported: its summary, diff, packages and services. */
export interface ChangeReport {
  summary: string;
  diff?: FileDiff;
  packages?: { install?: string[]; remove?: string[] };
  services?: { name: string; action: string }[];
  /** A note from the dry-run validation, e.g. that the validator is not installed yet. */
  note?: string;
  /** Extra lines, e.g. effective settings that change. */
  details?: string[];
  /** Something the operator must do after this change. */
  notice?: string;
}

/** One task's outcome on one host. */
export interface TaskResult {
  play: string;
  /** `kind target`, e.g. `file /etc/motd`. */
  name: string;
  status: TaskStatus;
  /** Why nothing changes (ok), or why it was skipped. */
  reason?: string;
  changes: ChangeReport[];
  /** On a dry run: the plan rests on facts an earlier change alters first, so the apply may differ. */
  note?: string;
  /** In an apply: the task was planned again after an earlier change, with the same result as shown, or another. */
  replanned?: 'same' | 'differs';
  error?: string;
}

/** A handler's outcome on one host. */
export interface HandlerResult {
  name: string;
  status: 'changed' | 'would-change' | 'failed';
  error?: string;
}

/** Per-host transport counters. */
export interface HostStats {
  connections: number;
  commands: number;
  commandMs: number;
}

/** The outcome on one host. */
export interface HostResult {
  name: string;
  /** `stale`: facts the plan rests on moved before it was applied, so nothing was applied there. `skipped`: the rolling run stopped before the host's batch (see `rolling.skipped`). */
  status: 'ok' | 'changed' | 'failed' | 'unreachable' | 'stale' | 'skipped';
  tasks: TaskResult[];
  handlers: HandlerResult[];
  error?: string;
  /** What moved since the plan, in words, when the host is stale. */
  stale?: string[];
  /** Things the operator must do (e.g. update ansible_port), collected from applied changes. */
  notices?: string[];
  /** Batches and draining around this host's changes. */
  rolling?: HostRollingReport;
  stats: HostStats;
}

/** Counts over all hosts; on a dry run `changed` counts would-change tasks. */
export interface RunSummary {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  skipped: number;
  /** Hosts not applied because their facts moved since the plan. */
  stale: number;
}

/** A whole run: a dry run's plan or an apply's results. */
export interface RunResult {
  mode: 'dry-run' | 'apply';
  hosts: HostResult[];
  summary: RunSummary;
  /** The apply's batches and drains (planned, on a dry run), when a host is batched or drained. */
  rolling?: RollingPlanReport;
}

/** Counts task statuses over every host. */
export function summarize(hosts: readonly HostResult[]): RunSummary {
  const summary: RunSummary = { ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, stale: 0 };
  for (const host of hosts) {
    if (host.status === 'unreachable') summary.unreachable += 1;
    if (host.status === 'stale') summary.stale += 1;
    for (const task of host.tasks) {
      if (task.status === 'ok') summary.ok += 1;
      else if (task.status === 'changed' || task.status === 'would-change') summary.changed += 1;
      else if (task.status === 'failed') summary.failed += 1;
      else summary.skipped += 1;
    }
    for (const handler of host.handlers) if (handler.status === 'failed') summary.failed += 1;
    if (host.status === 'failed' && !host.tasks.some((t) => t.status === 'failed') && !host.handlers.some((h) => h.status === 'failed')) {
      summary.failed += 1;
    }
  }
  return summary;
}
