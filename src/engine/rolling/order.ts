/**
 * The apply's order (pure): hosts with nothing to roll go first, in parallel (up to --forks); then each rolling group,
 * batch after batch. Gathering and planning are never batched: only the apply is.
 */
import { describeCount, resolveCount, type HostCount, type RollingSettings } from './settings.ts';
import type { RollingGroupReport } from './report.ts';

/** A planned host, as the order sees it. */
export interface HostToOrder {
  name: string;
  /** The plan changes something on the host (a host that changes nothing is never batched nor drained). */
  changes: boolean;
  /** The play the host is batched in: the last play of the playbook that runs on it (e.g. `node`). */
  play: string;
  /** That play's place in the playbook. */
  playIndex: number;
  settings: RollingSettings;
  /** A backend of a balancer in this inventory: one at a time unless told otherwise. */
  behindBalancer: boolean;
  /** A balancer of a backend in this inventory: its batches come before the backends' (its config may add the socket). */
  balancer: boolean;
}

/** Hosts of one play with the same settings, taken batch after batch (as the plan shows it). */
export type RollingGroup = RollingGroupReport;

/** The whole apply's order. */
export interface ApplyOrder {
  /** Applied first, in parallel up to --forks: hosts with no batch, and hosts that change nothing. */
  parallel: string[];
  groups: RollingGroup[];
}

/** What the operator asked for this run. */
export interface OrderOptions {
  /** `--batch`: overrides every play's batch size for this run. */
  batch?: HostCount;
}

function batchOf(host: HostToOrder, options: OrderOptions): { size: HostCount; source: string } | undefined {
  if (options.batch) return { size: options.batch, source: `--batch ${describeCount(options.batch)}` };
  if (host.settings.batch) return { size: host.settings.batch, source: `rolling.batch ${describeCount(host.settings.batch)}` };
  if (host.behindBalancer) return { size: { count: 1 }, source: 'behind a balancer: one at a time by default' };
  return undefined;
}

/** Orders the apply of `hosts` (given in inventory order). */
export function orderApply(hosts: readonly HostToOrder[], options: OrderOptions = {}): ApplyOrder {
  const parallel: string[] = [];
  const groups = new Map<string, { play: string; playIndex: number; balancer: boolean; size: HostCount; sizeSource: string; maxFail: HostCount; hosts: string[] }>();
  for (const host of hosts) {
    const batch = host.changes ? batchOf(host, options) : undefined;
    if (!batch) {
      parallel.push(host.name);
      continue;
    }
    const maxFail = host.settings.max_fail;
    const key = `${host.play}\n${batch.source}\n${describeCount(maxFail)}`;
    const group = groups.get(key) ?? groups.set(key, { play: host.play, playIndex: host.playIndex, balancer: false, size: batch.size, sizeSource: batch.source, maxFail, hosts: [] }).get(key)!;
    group.hosts.push(host.name);
    group.balancer ||= host.balancer;
  }
  const ordered = [...groups.values()].sort((a, b) => Number(b.balancer) - Number(a.balancer) || a.playIndex - b.playIndex);
  return {
    parallel,
    groups: ordered.map((group) => {
      const size = resolveCount(group.size, group.hosts.length, 1);
      const batches: string[][] = [];
      for (let at = 0; at < group.hosts.length; at += size) batches.push(group.hosts.slice(at, at + size));
      return {
        play: group.play,
        size,
        sizeSource: group.sizeSource,
        maxFail: resolveCount(group.maxFail, group.hosts.length, 0),
        maxFailSource: `rolling.max_fail ${describeCount(group.maxFail)}`,
        batches,
      };
    }),
  };
}

/** Why the batches after a failure are not started: more hosts failed than the group tolerates. */
export function thresholdPassed(group: RollingGroup, failed: number): boolean {
  return failed > group.maxFail;
}
