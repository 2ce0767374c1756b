/**
 * The --json document (and the run log's copy of it): the plan on a dry run, the results after an apply. Secrets are
 * masked before the document is serialised, and files' contents are left out unless asked for: a file diff carries
 * its path, owner and mode, and each side's size and SHA-256 (no digest of a file with a secret in it).
 */
import { createHash } from 'node:crypto';
import type { RunResult } from '../engine/results.ts';
import type { FileDiff } from '../engine/types.ts';
import { containsSecret, redact, redactDeep } from './redact.ts';

/** Measurements of the whole CLI process, for benchmarks and capacity planning. */
export interface ProcessStats {
  wallMs: number;
  /** Peak resident memory of the provision process, in kilobytes. */
  peakRssKb: number;
  forks: number;
}

/** What the document holds beyond the outcome. */
export interface JsonOptions {
  /** Files' whole contents before and after (masked by value), instead of their sizes and digests. */
  showContents?: boolean;
}

/** One side of a file diff without its content: its size, and its digest unless a secret is in it. */
export interface ContentSummary {
  bytes: number;
  sha256?: string;
}

function summary(content: string | null): ContentSummary | null {
  if (content === null) return null;
  // A digest of a file whose every other byte is known would let a weak secret in it be guessed offline.
  if (containsSecret(content)) return { bytes: Buffer.byteLength(content) };
  return { bytes: Buffer.byteLength(content), sha256: createHash('sha256').update(content).digest('hex') };
}

/** A diff as the document shows it: secret files as neither content nor digest, others by content only when asked. */
function shownDiff(diff: FileDiff, options: JsonOptions): object {
  if (diff.secret) return { ...diff, before: null, after: null };
  if (options.showContents) return diff;
  return { ...diff, before: summary(diff.before), after: summary(diff.after) };
}

/** Serialises a run as one JSON document: `hosts.<name>.tasks[]`, `summary`, and the process's `stats`. */
export function runToJson(run: RunResult, stats?: ProcessStats, options: JsonOptions = {}): string {
  const hosts = Object.fromEntries(
    run.hosts.map((host) => [
      host.name,
      {
        status: host.status,
        ...(host.error ? { error: host.error } : {}),
        ...(host.stale ? { stale: host.stale } : {}),
        tasks: host.tasks.map((task) => ({ ...task, changes: task.changes.map((change) => (change.diff ? { ...change, diff: shownDiff(change.diff, options) } : change)) })),
        handlers: host.handlers,
        ...(host.rolling ? { rolling: host.rolling } : {}),
        stats: host.stats,
      },
    ]),
  );
  const document = { mode: run.mode, hosts, summary: run.summary, ...(run.rolling ? { rolling: run.rolling } : {}), ...(stats ? { stats } : {}) };
  // Masked while still strings (a secret with a quote or a backslash is escaped once serialised), and once more after.
  return redact(JSON.stringify(redactDeep(document), null, 2));
}
