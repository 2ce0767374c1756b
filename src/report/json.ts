/** The --json document: the plan on a dry run, the results after an apply; secrets masked by value. */
import type { RunResult } from '../engine/results.ts';
import { redact } from './redact.ts';

/** Measurements of the whole CLI process, for benchmarks and capacity planning. */
export interface ProcessStats {
  wallMs: number;
  /** Peak resident memory of the provision process, in kilobytes. */
  peakRssKb: number;
  forks: number;
}

/** Serialises a run as one JSON document: `hosts.<name>.tasks[]`, `summary`, and the process's `stats`. */
export function runToJson(run: RunResult, stats?: ProcessStats): string {
  const hosts = Object.fromEntries(
    run.hosts.map((host) => [
      host.name,
      {
        status: host.status,
        ...(host.error ? { error: host.error } : {}),
        tasks: host.tasks,
        handlers: host.handlers,
        stats: host.stats,
      },
    ]),
  );
  const document = { mode: run.mode, hosts, summary: run.summary, ...(stats ? { stats } : {}) };
  // Secret file contents never enter the document; every other string is masked by value.
  return redact(JSON.stringify(document, (key, value: unknown) => (key === 'diff' && isSecretDiff(value) ? { ...value, before: null, after: null } : value), 2));
}

function isSecretDiff(value: unknown): value is { secret: true } & Record<string, unknown> {
  return typeof value === 'object' && value !== null && (value as { secret?: unknown }).secret === true;
}
