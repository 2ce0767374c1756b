/**
 * One host's apply phase: the plan that was shown, applied task by task; a task planned on facts an earlier change
 * alters (provisional) is planned again once that change is made, on those facts read again, and the result says
 * whether that plan is the one shown. Handlers run once at the end of each play.
 */
import type { Inventory } from '../inventory/types.ts';
import { UnreachableError } from '../errors.ts';
import type { FactCache } from './fact-cache.ts';
import { gatherFacts } from './gather.ts';
import type { HandlerResult, HostResult, TaskResult } from './results.ts';
import { performStep, type StepEnvironment } from './steps.ts';
import { applyChange } from './apply-change.ts';
import { errorText, type HostLink } from './host-connect.ts';
import { planContext, planTask, reportChange, taskName, type HostPlan, type PeerLookup } from './host-plan.ts';
import { samePlan, taskRecord } from './plan-record.ts';
import { sha256 } from './digest.ts';
import { playHandlers, type Fact, type Plan, type Play, type Task } from './types.ts';

/** What a task planned again during the apply says, by whether its plan is the one shown. */
const REPLANNED_NOTE = {
  same: 'planned again after an earlier change of this run: the same as shown',
  differs: 'planned again after an earlier change of this run: this differs from what was shown',
} as const;

/** Why a stale host's tasks were not applied. */
const STALE_REASON = 'not applied: facts the plan rests on changed since the plan';

/** Progress callbacks, for the live display. */
export interface HostEvents {
  taskStarted?(host: string, task: string): void;
  taskFinished?(host: string, result: TaskResult): void;
}

/** Applies one host's plan, over its link; the link's result is the host's result. */
export class HostApply<Vars> {
  /** Validation scopes that passed in this apply (see WriteFileStep.validationScope). */
  private readonly validatedScopes = new Set<string>();
  /** Set once a task planned again differs from what was shown: every later task is then planned again too. */
  private diverged = false;

  constructor(
    private readonly link: HostLink<Vars>,
    private readonly inventory: Inventory<Vars>,
    private readonly planned: HostPlan<Vars>,
  ) {}

  private get environment(): StepEnvironment {
    return { verifyLogin: (step) => this.link.verifyLogin(step), trustHostKey: (step) => this.link.trustHostKey(step), validatedScopes: this.validatedScopes };
  }

  /**
   * Applies the plan task by task: each as shown, except provisional ones, planned again on the facts an earlier
   * change made stale, read again. Handlers run once at the end of each play, in their declared order, also after a
   * failure (so a written config is never left unloaded).
   */
  async apply(peers: PeerLookup, events: HostEvents, shouldStop: () => boolean): Promise<HostResult> {
    const { link, planned } = this;
    const result = link.result;
    if (!link.connection || link.failed) return link.finish();
    if (link.stale) {
      // Nothing at all on a host whose facts moved: the plan shown is not the one its state would give now.
      const report = planned.report();
      // What the tasks would do now is not what was approved: they are listed as not applied, without it.
      const skip = (task: TaskResult): TaskResult => (task.status === 'would-change' ? { play: task.play, name: task.name, status: 'skipped', reason: STALE_REASON, changes: [] } : task);
      return { ...report, status: 'stale', tasks: report.tasks.map(skip), handlers: [] };
    }
    if (planned.failed) {
      // Never half-apply: a host whose plan has an error changes nothing at all.
      const report = planned.report();
      const skip = (task: TaskResult): TaskResult =>
        task.status === 'would-change' ? { ...task, status: 'skipped', reason: 'another task on this host failed to plan' } : task;
      return { ...report, tasks: report.tasks.map(skip), handlers: [] };
    }
    const cache = link.gathered.clone();
    const schedule = planned.schedule;
    let stopped: string | undefined;
    for (const play of [...new Set(schedule.map(({ play }) => play))]) {
      const notified = new Set<string>();
      for (const entry of schedule.filter((scheduled) => scheduled.play === play)) {
        const { task } = entry;
        const name = taskName(task);
        if (!stopped && shouldStop()) stopped = 'the run was interrupted';
        if (stopped) {
          result.tasks.push({ play: play.name, name, status: 'skipped', reason: stopped, changes: [] });
          continue;
        }
        events.taskStarted?.(link.host.name, name);
        const index = schedule.indexOf(entry);
        const later = schedule.slice(index + 1).map((next) => next.task);
        const done = await this.applyTask(index, play, task, later, cache, peers, notified);
        result.tasks.push(done);
        events.taskFinished?.(link.host.name, done);
        if (done.status === 'failed') {
          stopped = result.status === 'unreachable' ? 'the host became unreachable' : `an earlier task failed (${name})`;
          if (result.status !== 'unreachable') result.status = 'failed';
        }
      }
      if (result.status !== 'unreachable') await this.runHandlers(play, notified);
    }
    if (result.status === 'ok' && result.tasks.some((task) => task.status === 'changed')) result.status = 'changed';
    return link.finish();
  }

  private async applyTask(index: number, play: Play<Vars>, task: Task<Vars>, later: Task<Vars>[], cache: FactCache, peers: PeerLookup, notified: Set<string>): Promise<TaskResult> {
    const { link } = this;
    const name = taskName(task);
    let replanned: TaskResult['replanned'];
    try {
      const shown = this.planned.plans[index]!;
      let plan: Plan;
      if (!(shown instanceof Error) && !this.planned.provisional.has(index) && !this.diverged) plan = shown;
      else {
        const stale = cache.staleAmong(task.facts(link.host).map((fact) => fact.key));
        if (stale.length > 0) await this.refresh(task, later, cache);
        plan = planTask(link, play, task, planContext(link, this.inventory, play, cache, peers), notified);
        replanned = !(shown instanceof Error) && samePlan(taskRecord(play.name, name, shown, sha256), taskRecord(play.name, name, plan, sha256)) ? 'same' : 'differs';
        if (replanned === 'differs') this.diverged = true;
      }
      const again = replanned ? { replanned, note: REPLANNED_NOTE[replanned] } : {};
      if (plan.status === 'ok') return { play: play.name, name, status: 'ok', reason: plan.reason, changes: [], ...again };
      for (const change of plan.changes) {
        await applyChange(link.connection!, change, this.environment);
        cache.applyEffects(change);
        for (const handler of change.notify ?? []) notified.add(handler);
        if (change.movesLogin) link.moveLogin(change.movesLogin);
        if (change.notice) (link.result.notices ??= []).push(change.notice);
      }
      return { play: play.name, name, status: 'changed', changes: plan.changes.map(reportChange), ...again };
    } catch (error) {
      if (error instanceof UnreachableError) link.markUnreachable(error);
      return { play: play.name, name, status: 'failed', changes: [], error: errorText(error), ...(replanned ? { replanned, note: REPLANNED_NOTE[replanned] } : {}) };
    }
  }

  /**
   * Re-reads the task's stale facts, and with them the stale facts of the tasks after it: a package install makes
   * most facts stale at once, and one round trip then does for all of them. What a later change alters it predicts
   * or makes stale again, as after the first gather. Should a later task's fact not read yet (its command may need
   * what an earlier task installs), only the task's own are read.
   */
  private async refresh(task: Task<Vars>, later: Task<Vars>[], cache: FactCache): Promise<void> {
    const host = this.link.host;
    const staleOf = (facts: Fact<unknown>[]) => {
      const stale = new Set(cache.staleAmong(facts.map((fact) => fact.key)));
      return [...new Map(facts.filter((fact) => stale.has(fact.key)).map((fact) => [fact.key, fact])).values()];
    };
    const own = staleOf(task.facts(host));
    const ahead = staleOf([...own, ...later.flatMap((next) => next.facts(host))]);
    if (ahead.length > own.length) {
      try {
        cache.store(await gatherFacts(this.link.connection!, ahead), ahead);
        return;
      } catch (error) {
        if (error instanceof UnreachableError) throw error;
      }
    }
    cache.store(await gatherFacts(this.link.connection!, own), own);
  }

  private async runHandlers(play: Play<Vars>, notified: Set<string>): Promise<void> {
    const { link } = this;
    for (const handler of playHandlers(play, link.host)) {
      if (!notified.has(handler.name)) continue;
      try {
        for (const step of handler.steps) await performStep(link.connection!, step, this.environment);
        link.result.handlers.push({ name: handler.name, status: 'changed' });
      } catch (error) {
        link.result.handlers.push({ name: handler.name, status: 'failed', error: errorText(error) } satisfies HandlerResult);
        link.result.status = 'failed';
      }
    }
  }
}
