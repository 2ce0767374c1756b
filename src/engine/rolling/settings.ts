/**
 * `rolling.*`: how the hosts of a play take their changes: how many at a time, how many may fail before the rest are
 * left alone, and how long a node's draining may take. Set per group in the inventory; `--batch` overrides the size.
 */
import { z } from 'zod';
import { duration } from '../../inventory/duration.ts';
import { defineNamespace } from '../role.ts';

/** A number of hosts, or a share of them. */
export type HostCount = { count: number } | { percent: number };

const COUNT_HINT = 'expected a whole number of hosts (e.g. 1) or a percentage (e.g. 25%)';

/** Reads `3`, `"3"` or `"25%"`; undefined for anything else. */
export function parseHostCount(value: unknown, min: number): HostCount | undefined {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(text);
  if (percent) {
    const share = Number(percent[1]);
    return share >= min && share <= 100 ? { percent: share } : undefined;
  }
  if (!/^\d+$/.test(text)) return undefined;
  const count = Number(text);
  return Number.isSafeInteger(count) && count >= min ? { count } : undefined;
}

/** A count or a percentage, checked and kept as written (so `provision inventory` shows `25%`, not its parse). */
function hostCount(min: number, hint: string) {
  return z.union([z.number(), z.string()], { error: hint }).refine((value) => parseHostCount(value, min) !== undefined, hint);
}

/** The `rolling` namespace. */
export const rollingVars = z
  .object({
    batch: hostCount(1, `${COUNT_HINT}, at least 1`)
      .optional()
      .describe('Hosts of the play that take their changes at once: a count or a percentage. Default: one at a time for nodes behind a balancer of this inventory, else --forks.'),
    max_fail: hostCount(0, COUNT_HINT)
      .default(0)
      .describe('Once more hosts of the play have failed than this (a count or a percentage), the batches not started yet are skipped. Default 0.'),
    drain_timeout: duration.default(30).describe("How long to wait for a drained node's open sessions to end before its change goes ahead anyway. Default 30s."),
    ready_timeout: duration
      .default(60)
      .describe('How long to wait, after the change, for the node to answer its health route and for every balancer to see it up again. Default 60s.'),
  })
  .strict()
  .prefault({});

/** The validated `rolling` namespace, as the inventory holds it. */
export type RollingVars = z.output<typeof rollingVars>;

/** A host's rolling settings, parsed. */
export interface RollingSettings {
  batch?: HostCount;
  max_fail: HostCount;
  /** Seconds. */
  drain_timeout: number;
  /** Seconds. */
  ready_timeout: number;
}

/** The `rolling` namespace: batches, failure threshold and drain waits. */
export const rollingNamespace = defineNamespace('rolling', rollingVars);

/** A host's rolling settings, from its variables (validated again: a playbook's own schema may not have filled them in). */
export function rollingSettings(vars: unknown): RollingSettings {
  const own = rollingVars.parse((vars as { rolling?: unknown } | undefined)?.rolling ?? {});
  const batch = own.batch === undefined ? undefined : parseHostCount(own.batch, 1);
  return { ...(batch ? { batch } : {}), max_fail: parseHostCount(own.max_fail, 0)!, drain_timeout: own.drain_timeout, ready_timeout: own.ready_timeout };
}

/** How many hosts `size` means out of `total`: a percentage rounds down, but never below 1 (batches) or 0 (failures). */
export function resolveCount(size: HostCount, total: number, min: number): number {
  const raw = 'count' in size ? size.count : Math.floor((total * size.percent) / 100);
  return Math.max(min, Math.min(total, raw));
}

/** `1`, `25%`: a size as the operator wrote it. */
export function describeCount(size: HostCount): string {
  return 'count' in size ? String(size.count) : `${size.percent}%`;
}
