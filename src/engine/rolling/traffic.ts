/**
 * What a balancer role tells the engine so that changes behind it go without a failed request: which role's hosts it
 * sends traffic to, what each one is called there, which services take one out of service, and how to drain one,
 * return it, and ask whether it is healthy. The engine decides when; the role knows how (tasks/haproxy/drain.ts).
 */
import type { Host } from '../../inventory/types.ts';
import type { CommandRunner } from '../gather.ts';
import type { Fact, RoleRef } from '../types.ts';

/** A server an earlier run drained and did not return (its run was interrupted, or the node's change failed). */
export interface LeftDrained {
  server: string;
  /** The server is still drained on the balancer (a reload of the balancer returns it by itself). */
  drained: boolean;
  /** The balancer's own health check sees the node up. */
  up: boolean;
}

/** How draining one server went. */
export interface DrainOutcome {
  /** False when the balancer does not know the server (it sends it nothing): nothing to drain there. */
  known: boolean;
  /** Sessions still open when the wait ended (0 unless the drain timed out). */
  sessionsLeft: number;
}

/** How a balancer role drains and returns the hosts behind it. */
export interface TrafficBalancer<Vars = Record<string, unknown>> {
  /** The product, for messages: `HAProxy`. */
  readonly product: string;
  /** The role whose hosts the balancer's hosts send traffic to. */
  readonly backends: RoleRef;
  /** Each backend's server name on the balancer, by host name (the same on every balancer). */
  serverNames(backends: readonly Host<Vars>[]): Map<string, string>;
  /** The services on a backend whose restart or stop takes it out of service. */
  services(backend: Host<Vars>): string[];
  /** Read on each balancer with its other facts: the servers an earlier run left drained there. */
  leftDrained(balancer: Host<Vars>): Fact<LeftDrained[]>;
  /**
   * Read on each balancer with its other facts: whether it sends its backends any traffic yet. A balancer not running
   * yet (a first converge) sends none, so its backends' changes need neither batches nor drains.
   */
  serving(balancer: Host<Vars>): Fact<boolean>;
  /** Marks the server as drained by provision, sets it to drain, and waits at most `timeoutSeconds` for its sessions to end. */
  drain(balancer: CommandRunner, server: string, timeoutSeconds: number): Promise<DrainOutcome>;
  /** Sets the server back to ready and waits at most `timeoutSeconds` for the balancer's health check to see it up; clears the mark. */
  ready(balancer: CommandRunner, server: string, timeoutSeconds: number): Promise<{ up: boolean }>;
  /** Waits on the backend itself, at most `timeoutSeconds`, until it answers its health route; false if it never did. */
  healthy(backend: CommandRunner, host: Host<Vars>, timeoutSeconds: number): Promise<boolean>;
}

/** A balancer role of the playbook with how it drains. */
export interface TrafficRoute<Vars = Record<string, unknown>> {
  /** The balancer role. */
  readonly balancers: RoleRef;
  readonly balancer: TrafficBalancer<Vars>;
}
