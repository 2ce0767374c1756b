/**
 * The apply in batches, with nodes drained on their balancers around changes that restart them, and a failure
 * threshold: the order is planned with the run (orderApply), shown by the dry run, and followed by the apply.
 */
import type { Host, Inventory } from '../../inventory/types.ts';
import { HostLink, errorText } from '../host-connect.ts';
import type { HostSession } from '../host-session.ts';
import { mapLimit } from '../limit-concurrency.ts';
import type { Playbook } from '../playbook.ts';
import type { HostResult, TaskResult } from '../results.ts';
import { roleContext } from '../role.ts';
import { playHandlers, type Fact } from '../types.ts';
import type { CommandRunner } from '../gather.ts';
import { orderApply, thresholdPassed, type ApplyOrder, type HostToOrder } from './order.ts';
import type { HostRollingReport, RollingPlanReport } from './report.ts';
import { rollingSettings, type HostCount, type RollingSettings } from './settings.ts';
import { servicesTakenDown } from './takes-down.ts';
import type { LeftDrained, TrafficRoute } from './traffic.ts';

/** What the rolling run needs of the whole run. */
export interface RollingOptions<Vars> {
  inventory: Inventory<Vars>;
  playbook: Playbook<Vars>;
  forks: number;
  /** `--batch`: every play's batch size for this run. */
  batch?: HostCount;
}

/** Progress of the rolling parts, for the live display. */
export interface RollingEvents {
  /** A step around a host's change: drained, healthy, ready. */
  hostNote?(host: string, note: string): void;
  hostFinished?(host: string, status: string): void;
}

/** A node's drain around its change: on which balancers, under which server name, and why. */
interface DrainPlan<Vars> {
  route: TrafficRoute<Vars>;
  server: string;
  balancers: Host<Vars>[];
  /** `restart hornet`. */
  takesDown: string[];
  settings: RollingSettings;
}

/** The balancers of `route` and the hosts behind them, in this inventory. */
function routeHosts<Vars>(options: RollingOptions<Vars>, route: TrafficRoute<Vars>): { balancers: Host<Vars>[]; backends: Host<Vars>[] } {
  const context = roleContext(options.inventory, options.playbook.roles);
  return { balancers: context.hostsOf(route.balancers), backends: context.hostsOf(route.balancer.backends) };
}

/** The facts the run reads on each balancer for the rolling apply: the servers an earlier run left drained, and whether it serves yet. */
export function rollingFacts<Vars>(options: RollingOptions<Vars>): { host: string; fact: Fact<unknown> }[] {
  return options.playbook.traffic.flatMap((route) => {
    const { balancers, backends } = routeHosts(options, route);
    return backends.length === 0
      ? []
      : balancers.flatMap((balancer) => [route.balancer.leftDrained(balancer) as Fact<unknown>, route.balancer.serving(balancer) as Fact<unknown>].map((fact) => ({ host: balancer.name, fact })));
  });
}

/** Renders a list of names: `a, b and c`. */
function names(list: readonly string[]): string {
  return list.length <= 1 ? (list[0] ?? '') : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`;
}

/** The apply of a planned run, in batches, with drains. */
export class RollingRun<Vars> {
  private readonly notes: string[] = [];
  private readonly drains = new Map<string, DrainPlan<Vars>>();
  /** Balancer connections this module opened itself (balancers outside the run's hosts). */
  private readonly ownLinks = new Map<string, HostLink<Vars>>();
  readonly order: ApplyOrder;

  constructor(
    private readonly options: RollingOptions<Vars>,
    private readonly sessions: readonly HostSession<Vars>[],
  ) {
    const { playbook } = options;
    const routes = playbook.traffic.map((route) => ({ route, ...routeHosts(options, route) })).filter((entry) => entry.backends.length > 0 && entry.balancers.length > 0);
    const hosts: HostToOrder[] = sessions.map((session) => {
      const last = session.schedule.at(-1)?.play;
      return {
        name: session.host.name,
        // A host whose plan failed changes nothing (never half-applied): nothing to batch or drain.
        changes: !session.failed && session.hasChanges && session.planReport().status !== 'failed',
        play: last?.name ?? '',
        playIndex: last ? playbook.plays.indexOf(last) : -1,
        settings: rollingSettings(session.host.vars),
        // Behind a balancer that sends it traffic: one that does not run yet (a first converge) sends none.
        behindBalancer: routes.some((entry) => entry.backends.some((host) => host.name === session.host.name) && entry.balancers.some((balancer) => this.serving(entry.route, balancer.name))),
        balancer: routes.some((entry) => entry.balancers.some((host) => host.name === session.host.name)),
      };
    });
    this.order = orderApply(hosts, options.batch ? { batch: options.batch } : {});
    const idle = routes.filter((entry) => !entry.balancers.some((balancer) => this.serving(entry.route, balancer.name)));
    for (const { route, balancers, backends } of idle) {
      const going = backends.filter((host) => this.order.parallel.includes(host.name) && hosts.find((one) => one.name === host.name)?.changes);
      if (going.length > 0) this.notes.push(`${names(balancers.map((host) => host.name))} ${balancers.length === 1 ? 'sends' : 'send'} no traffic yet (${route.balancer.product} not running): ${names(going.map((host) => host.name))} take their changes in parallel, without draining`);
    }
    const batchOf = new Map(this.order.groups.flatMap((group) => group.batches.flatMap((batch) => batch.map((name) => [name, batch] as const))));
    const rolled = new Set(this.order.groups.flatMap((group) => group.batches.flat()));
    for (const session of sessions) {
      if (!rolled.has(session.host.name)) continue;
      for (const { route, balancers, backends } of routes) {
        if (!backends.some((host) => host.name === session.host.name)) continue;
        const handlers = [...new Set(session.schedule.map(({ play }) => play))].flatMap((play) => playHandlers(play, session.host));
        const takesDown = servicesTakenDown(session.planReport(), handlers, route.balancer.services(session.host));
        if (takesDown.length === 0) continue;
        const batch = new Set(batchOf.get(session.host.name) ?? []);
        const serving = backends.filter((host) => !batch.has(host.name));
        if (serving.length === 0) {
          const why = backends.length === 1 ? `it is the only node behind ${names(balancers.map((host) => host.name))}` : `its batch takes every node behind ${names(balancers.map((host) => host.name))} out at once`;
          this.notes.push(`${session.host.name} cannot be drained without an outage (${why}): its change (${takesDown.join(', ')}) goes ahead without draining`);
          continue;
        }
        const server = route.balancer.serverNames(backends).get(session.host.name) ?? session.host.name;
        this.drains.set(session.host.name, { route, server, balancers, takesDown, settings: rollingSettings(session.host.vars) });
      }
    }
    for (const { route, balancers } of routes) {
      for (const balancer of balancers) {
        for (const left of this.leftDrained(route, balancer.name)) {
          this.notes.push(
            left.drained
              ? `${left.server} was left drained on ${balancer.name} by an earlier run that did not finish: ${left.up ? 'it is up, and the apply returns it to ready' : `it is not up on ${balancer.name}; it stays drained until it is`}`
              : `${balancer.name} holds a drain mark for ${left.server} from an earlier run, but it is no longer drained there: the apply clears the mark`,
          );
        }
      }
    }
  }

  /** Whether a balancer sends its backends traffic yet (read in the gather); one outside the run, or not read, is taken to. */
  private serving(route: TrafficRoute<Vars>, balancer: string): boolean {
    const session = this.sessions.find((candidate) => candidate.host.name === balancer);
    if (!session || session.failed) return true;
    const fact = route.balancer.serving(session.host);
    return session.gathered.has(fact.key) ? session.gathered.get(fact) : true;
  }

  /** The servers an earlier run left drained on a balancer of this run (read in the gather). */
  private leftDrained(route: TrafficRoute<Vars>, balancer: string): LeftDrained[] {
    const session = this.sessions.find((candidate) => candidate.host.name === balancer);
    if (!session || session.failed) return [];
    const fact = route.balancer.leftDrained(session.host);
    return session.gathered.has(fact.key) ? session.gathered.get(fact) : [];
  }

  /** The plan's part: batches and drains; undefined when nothing is batched, drained or left drained. */
  report(): RollingPlanReport | undefined {
    if (this.order.groups.length === 0 && this.notes.length === 0) return undefined;
    const steps: Record<string, string> = {};
    for (const [host, drain] of this.drains) {
      steps[host] = `drain on ${drain.balancers.map((balancer) => balancer.name).join(', ')} → ${drain.takesDown.join(', ')} → ready`;
    }
    return { parallel: this.order.parallel, groups: this.order.groups, steps, notes: this.notes };
  }

  /**
   * Applies every host: first those not batched (in parallel), then, once the balancers are done and any server an
   * earlier run left drained is back, each group batch by batch. Results in the sessions' order.
   */
  async apply(applyOne: (session: HostSession<Vars>) => Promise<HostResult>, events: RollingEvents, shouldStop: () => boolean): Promise<HostResult[]> {
    const byName = new Map(this.sessions.map((session) => [session.host.name, session]));
    const results = new Map<string, HostResult>();
    const first = this.order.parallel.map((name) => byName.get(name)!);
    const finished = (name: string, result: HostResult) => {
      results.set(name, result);
      events.hostFinished?.(name, result.status);
    };
    await mapLimit(first, this.options.forks, async (session) => finished(session.host.name, await applyOne(session)));
    await this.returnLeftDrained(results, events);
    for (const group of this.order.groups) {
      let failed = 0;
      for (const batch of group.batches) {
        const stop = shouldStop()
          ? 'the run was interrupted'
          : thresholdPassed(group, failed)
            ? `${failed} host${failed === 1 ? '' : 's'} of ${group.play} failed, more than ${group.maxFailSource} allows: the batches after it were not started`
            : undefined;
        if (stop) {
          for (const name of batch) finished(name, this.skipped(byName.get(name)!, stop));
          continue;
        }
        await mapLimit(batch, this.options.forks, async (name) => {
          const result = await this.applyDrained(byName.get(name)!, applyOne, events);
          finished(name, result);
          if (result.status === 'failed' || result.status === 'unreachable') failed += 1;
        });
      }
    }
    return this.sessions.map((session) => results.get(session.host.name)!);
  }

  /** A host whose batch was not started: its plan, every change reported skipped with the reason. */
  private skipped(session: HostSession<Vars>, reason: string): HostResult {
    const plan = session.planReport();
    const skip = (task: TaskResult): TaskResult => (task.status === 'would-change' ? { ...task, status: 'skipped', reason } : task);
    return { ...plan, status: 'skipped', tasks: plan.tasks.map(skip), handlers: [], rolling: { steps: [], skipped: reason } };
  }

  /** A command runner on a balancer: the run's own connection, or one opened for the drain. */
  private async balancerRunner(balancer: Host<Vars>): Promise<CommandRunner> {
    const session = this.sessions.find((candidate) => candidate.host.name === balancer.name);
    if (session) {
      if (!session.connection || session.result.status === 'unreachable') throw new Error(`${balancer.name} is unreachable: ${session.result.error ?? 'no connection'}`);
      return session.connection;
    }
    let link = this.ownLinks.get(balancer.name);
    if (!link) {
      link = new HostLink(balancer);
      this.ownLinks.set(balancer.name, link);
      await link.connectAndGather([]);
    }
    if (!link.connection || link.failed) throw new Error(`${balancer.name} is unreachable: ${link.result.error ?? 'no connection'}`);
    return link.connection;
  }

  /** Returns to ready what an earlier run left drained, on the balancers of this run, once the node is up. */
  private async returnLeftDrained(results: Map<string, HostResult>, events: RollingEvents): Promise<void> {
    const routes = this.options.playbook.traffic.map((route) => ({ route, ...routeHosts(this.options, route) }));
    for (const { route, balancers } of routes) {
      for (const balancer of balancers) {
        const left = this.leftDrained(route, balancer.name);
        const result = results.get(balancer.name);
        if (left.length === 0 || !result) continue;
        const report = (result.rolling ??= { steps: [] });
        for (const entry of left) {
          if (entry.drained && !entry.up) {
            report.steps.push(`${entry.server} stays drained: an earlier run drained it and it is not up yet`);
            (report.stillDrained ??= []).push(entry.server);
            continue;
          }
          try {
            const { up } = await route.balancer.ready(await this.balancerRunner(balancer), entry.server, rollingSettings(balancer.vars).ready_timeout);
            const line = entry.drained ? `returned ${entry.server} to ready (an earlier run had drained it and did not finish)${up ? '' : `; ${route.balancer.product} does not see it up yet`}` : `cleared the drain mark of ${entry.server} (no longer drained)`;
            report.steps.push(line);
            events.hostNote?.(balancer.name, line);
          } catch (error) {
            report.steps.push(`could not return ${entry.server} to ready: ${errorText(error)}`);
            (report.stillDrained ??= []).push(entry.server);
          }
        }
      }
    }
  }

  /** One host's apply, drained around it when it restarts a node behind a balancer. */
  private async applyDrained(session: HostSession<Vars>, applyOne: (session: HostSession<Vars>) => Promise<HostResult>, events: RollingEvents): Promise<HostResult> {
    const drain = this.drains.get(session.host.name);
    // A host marked before its apply (left alone: its state moved since the plan) changes nothing: no drain.
    if (!drain || session.result.status !== 'ok') return applyOne(session);
    const host = session.host.name;
    const note = (report: HostRollingReport, line: string) => {
      report.steps.push(line);
      events.hostNote?.(host, line);
    };
    const report: HostRollingReport = { steps: [] };
    const { balancer } = drain.route;
    const drained: Host<Vars>[] = [];
    try {
      await Promise.all(
        drain.balancers.map(async (target) => {
          const outcome = await balancer.drain(await this.balancerRunner(target), drain.server, drain.settings.drain_timeout);
          if (!outcome.known) return note(report, `not a server on ${target.name}: nothing to drain there`);
          drained.push(target);
          note(
            report,
            outcome.sessionsLeft === 0
              ? `drained on ${target.name}`
              : `drained on ${target.name}; ${outcome.sessionsLeft} session${outcome.sessionsLeft === 1 ? '' : 's'} still open after rolling.drain_timeout ${drain.settings.drain_timeout}s: went ahead`,
          );
        }),
      );
    } catch (error) {
      // The node is untouched: where it was drained, it goes back to ready at once.
      await this.returnToReady(drain, drained, report, note);
      const error_ = `not applied: draining it failed (${errorText(error)})`;
      return { ...this.skipped(session, 'draining the node failed'), status: 'failed', error: error_, rolling: { ...report, skipped: 'draining the node failed' } };
    }
    const result = await applyOne(session);
    result.rolling = report;
    if (drained.length === 0) return result;
    const stayDrained = (why: string) => {
      report.stillDrained = drained.map((target) => target.name);
      note(report, `stays drained on ${names(report.stillDrained)}: ${why}`);
    };
    if (result.status === 'failed' || result.status === 'unreachable') {
      stayDrained(result.status === 'failed' ? 'its change failed' : 'it became unreachable');
      return result;
    }
    let healthy = false;
    try {
      healthy = session.connection !== undefined && (await balancer.healthy(session.connection, session.host, drain.settings.ready_timeout));
    } catch {
      healthy = false;
    }
    if (!healthy) {
      result.status = 'failed';
      result.error = `it did not answer its health route within rolling.ready_timeout ${drain.settings.ready_timeout}s after the change`;
      stayDrained('it is not healthy');
      return result;
    }
    note(report, 'answers its health route');
    await this.returnToReady(drain, drained, report, note);
    if (report.stillDrained?.length) {
      result.status = 'failed';
      result.error = `it is healthy, but ${names(report.stillDrained)} did not see it up within rolling.ready_timeout ${drain.settings.ready_timeout}s`;
    }
    return result;
  }

  /** Sets the server ready on each balancer it was drained on, and waits for each to see it up. */
  private async returnToReady(drain: DrainPlan<Vars>, drained: readonly Host<Vars>[], report: HostRollingReport, note: (report: HostRollingReport, line: string) => void): Promise<void> {
    await Promise.all(
      drained.map(async (target) => {
        try {
          const { up } = await drain.route.balancer.ready(await this.balancerRunner(target), drain.server, drain.settings.ready_timeout);
          if (up) return note(report, `ready and up on ${target.name}`);
          (report.stillDrained ??= []).push(target.name);
          note(report, `set ready on ${target.name}, but its health check does not see it up yet`);
        } catch (error) {
          (report.stillDrained ??= []).push(target.name);
          note(report, `could not return it to ready on ${target.name}: ${errorText(error)}`);
        }
      }),
    );
  }

  /** Closes the connections opened only for draining. */
  async close(): Promise<void> {
    await Promise.all([...this.ownLinks.values()].map((link) => link.close()));
  }
}
