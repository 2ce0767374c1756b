/** What the plan and the results say about batches and draining (part of RunResult and HostResult). */

/** One rolling group as the plan shows it. */
export interface RollingGroupReport {
  play: string;
  size: number;
  sizeSource: string;
  maxFail: number;
  maxFailSource: string;
  batches: string[][];
}

/** The apply's order and what happens around each node's change. */
export interface RollingPlanReport {
  /** Applied first, in parallel up to --forks. */
  parallel: string[];
  groups: RollingGroupReport[];
  /** Per host whose change is drained: `drain on balancer1, balancer2 → restart hornet → ready`. */
  steps: Record<string, string>;
  /** Things the operator should know: a node that cannot be drained without an outage, servers an earlier run left drained. */
  notes: string[];
}

/** What happened around one host's apply. */
export interface HostRollingReport {
  /** In order: drained, sessions left, healthy, ready, up. */
  steps: string[];
  /** Balancers the host is still drained on when the run ends (its change failed, or it never came back). */
  stillDrained?: string[];
  /** Why the host's changes were not started. */
  skipped?: string;
}
