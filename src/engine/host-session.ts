/**
 * One host's run, by phase: connect and gather (host-connect.ts), plan and check candidates (host-plan.ts), apply and
 * handlers (host-apply.ts). The session holds the three together for the run over many hosts.
 */
import type { Host, Inventory } from '../inventory/types.ts';
import type { HostConnection } from '../transport/connection.ts';
import type { FactCache } from './fact-cache.ts';
import { HostApply, type HostEvents } from './host-apply.ts';
import { HostLink, errorText } from './host-connect.ts';
import { HostPlan, type PeerLookup, type ScheduledTask } from './host-plan.ts';
import type { HostResult } from './results.ts';
import type { Fact, LoginInfo } from './types.ts';
import type { Digester } from './digest.ts';
import { gatherFacts } from './gather.ts';
import type { Precondition } from './preconditions.ts';
import type { TaskRecord } from './plan-record.ts';

export type { HostEvents, PeerLookup, ScheduledTask };

/** Connects to, plans and applies one host. */
export class HostSession<Vars> {
  private readonly link: HostLink<Vars>;
  private readonly planned: HostPlan<Vars>;

  constructor(
    readonly host: Host<Vars>,
    readonly inventory: Inventory<Vars>,
    readonly schedule: ScheduledTask<Vars>[],
  ) {
    this.link = new HostLink(host);
    this.planned = new HostPlan(this.link, inventory, schedule);
  }

  /** The host's connection, once open. */
  get connection(): HostConnection | undefined {
    return this.link.connection;
  }

  set connection(connection: HostConnection | undefined) {
    this.link.connection = connection;
  }

  /** How this run logged in. */
  get login(): LoginInfo | undefined {
    return this.link.login;
  }

  /** The facts gathered on the host. */
  get gathered(): FactCache {
    return this.link.gathered;
  }

  /** The host's result so far. */
  get result(): HostResult {
    return this.link.result;
  }

  /** Why the connection could not be opened, as thrown. */
  get connectError(): unknown {
    return this.link.connectError;
  }

  /** True once the host is known to be unreachable or failed. */
  get failed(): boolean {
    return this.link.failed;
  }

  /** Marks the host unreachable with the error's message. */
  markUnreachable(error: unknown): void {
    this.link.markUnreachable(error);
  }

  /** Marks the host stale: `moved` says what moved since the plan; nothing is applied there. */
  markStale(moved: readonly string[]): void {
    this.link.markStale(moved);
  }

  /** True when a task failed to plan or a candidate failed its check: nothing is applied on the host. */
  get planFailed(): boolean {
    return this.planned.failed;
  }

  /** The gathered facts (this host's and other hosts') the plan read. */
  get preconditions(): Precondition[] {
    return this.planned.preconditions;
  }

  /** Each task's plan as data, its changes' digests made with `digester`. */
  records(digester: Digester): TaskRecord[] {
    return this.planned.records(digester);
  }

  /** Reads `facts` again, in one round trip: their values by key, or why they could not be read. */
  async readAgain(facts: Fact<unknown>[]): Promise<Map<string, unknown> | string> {
    if (!this.link.connection || this.link.failed) return this.link.result.error ?? 'the host is not connected';
    try {
      return await gatherFacts(this.link.connection, facts);
    } catch (error) {
      return errorText(error);
    }
  }

  /** The facts this host's own tasks read. */
  ownFacts(): Fact<unknown>[] {
    return this.schedule.flatMap(({ task }) => task.facts(this.host));
  }

  /** Opens the connection and gathers `facts` in one round trip (see HostLink.connectAndGather). */
  connectAndGather(facts: Fact<unknown>[]): Promise<void> {
    return this.link.connectAndGather(facts);
  }

  /** Plans every task against the gathered facts. */
  plan(peers: PeerLookup): void {
    this.planned.plan(peers);
  }

  /** Validates every candidate file of the plan on the host. */
  checkCandidates(): Promise<void> {
    return this.planned.checkCandidates();
  }

  /** The dry run's report. */
  planReport(): HostResult {
    return this.planned.report();
  }

  /** True when the plan has at least one change. */
  get hasChanges(): boolean {
    return this.planned.hasChanges;
  }

  /** Applies the plan; see HostApply. */
  apply(peers: PeerLookup, events: HostEvents, shouldStop: () => boolean): Promise<HostResult> {
    return new HostApply(this.link, this.inventory, this.planned).apply(peers, events, shouldStop);
  }

  /** Closes the connection (kept for the next run only after a run that changed nothing there). */
  close(): Promise<void> {
    return this.link.close();
  }
}
