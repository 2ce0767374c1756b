/**
 * One host's plan phase: every task planned in order against the gathered facts (each change's predicted effects
 * carried forward), the candidate files validated on the host, and the dry run's report.
 */
import type { Inventory } from '../inventory/types.ts';
import { declarePlanSecrets, whilePlanning } from '../inventory/secret.ts';
import type { ChangeReport, HandlerResult, HostResult, TaskResult } from './results.ts';
import { checkCandidates } from './steps.ts';
import { leaveStartToHandler } from './handler-start.ts';
import { roleContext } from './role.ts';
import { errorText, type HostLink } from './host-connect.ts';
import { playHandlers, type Change, type FactReader, type Handler, type Plan, type Play, type PlanContext, type Task, type WriteFileStep } from './types.ts';
import { PreconditionRecorder, type Precondition } from './preconditions.ts';
import { taskRecord, type TaskRecord } from './plan-record.ts';
import type { Digester } from './digest.ts';

/** A task in the order it runs on a host, with the play it belongs to. */
export interface ScheduledTask<Vars> {
  play: Play<Vars>;
  task: Task<Vars>;
}

/** Finds other hosts' gathered facts during planning. */
export type PeerLookup = (hostName: string) => FactReader | undefined;

/** Shown on dry-run tasks whose facts an earlier change (such as a package install) alters first. */
export const PROVISIONAL_NOTE = 'planned on the current state; an earlier change in this run (e.g. a package install) may alter it before this task runs';

/** How a task is named in reports: its kind and target. */
export function taskName(task: Pick<Task, 'kind' | 'target'>): string {
  return `${task.kind} ${task.target}`;
}

/** A change as the report shows it. */
export function reportChange(change: Change): ChangeReport {
  const report: ChangeReport = { summary: change.summary };
  if (change.details?.length) report.details = change.details;
  if (change.notice) report.notice = change.notice;
  if (change.diff) report.diff = change.diff;
  if (change.packages) report.packages = change.packages;
  if (change.services) report.services = change.services;
  return report;
}

/** What a task of `play` sees while planning on the link's host. */
export function planContext<Vars>(link: HostLink<Vars>, inventory: Inventory<Vars>, play: Play<Vars>, facts: FactReader, peers: PeerLookup): PlanContext<Vars> {
  const roles = play.roles?.(inventory) ?? roleContext(inventory);
  return { host: link.host, inventory, facts, factsOf: peers, roles, ...(link.login ? { login: link.login } : {}) };
}

/**
 * Plans `task` as it runs in its play: `secret()` is closed meanwhile, the values its changes declare secret are
 * masked from here on, and starts that a notified restart handler does anyway are left to it.
 */
export function planTask<Vars>(link: HostLink<Vars>, play: Play<Vars>, task: Task<Vars>, context: PlanContext<Vars>, notified: ReadonlySet<string>): Plan {
  const plan = whilePlanning(() => task.plan(context));
  if (plan.status === 'change') declarePlanSecrets(plan.changes.flatMap((change) => change.secrets ?? []));
  return asRun(link, play, plan, notified);
}

/** The plan as it runs in its play: starts that a notified restart handler does anyway are left to it. */
export function asRun<Vars>(link: HostLink<Vars>, play: Play<Vars>, plan: Plan, notified: ReadonlySet<string>): Plan {
  if (plan.status !== 'change') return plan;
  const handlers = playHandlers(play, link.host);
  const [first, ...rest] = plan.changes.map((change) => leaveStartToHandler(change, notified, handlers));
  return { status: 'change', changes: [first!, ...rest] };
}

/** The plan of one host's tasks, its candidate checks and its report. */
export class HostPlan<Vars> {
  /** Each task's plan as shown (and as it runs, unless it is provisional), by schedule index; an Error when it failed. */
  plans: Array<Plan | Error> = [];
  /** Dry-run notes from candidate validation, by change (e.g. the validator is not installed yet). */
  private readonly validationNotes = new Map<Change, string>();
  /** Tasks planned on facts an earlier change alters unpredictably: the dry run says so, and the apply plans them again. */
  readonly provisional = new Set<number>();
  /** The gathered facts (this host's and other hosts') the plan read: what must not move before it is applied. */
  preconditions: Precondition[] = [];
  /** True when a task failed to plan or a candidate failed its check: then nothing is applied on the host. */
  failed = false;

  constructor(
    private readonly link: HostLink<Vars>,
    private readonly inventory: Inventory<Vars>,
    readonly schedule: ScheduledTask<Vars>[],
  ) {}

  /** Plans every task in order against the gathered facts, carrying predicted effects forward. */
  plan(peers: PeerLookup): void {
    if (this.link.failed) return;
    const cache = this.link.gathered.clone();
    const recorder = new PreconditionRecorder(this.link.host.name);
    const facts = recorder.reader(cache);
    const recordedPeers: PeerLookup = (name) => {
      const found = peers(name);
      return found && recorder.peerReader(name, found);
    };
    const notifiedIn = new Map<Play<Vars>, Set<string>>();
    this.plans = this.schedule.map(({ play, task }, index) => {
      if (cache.staleAmong(task.facts(this.link.host).map((fact) => fact.key)).length > 0) this.provisional.add(index);
      const notified = notifiedIn.get(play) ?? notifiedIn.set(play, new Set()).get(play)!;
      try {
        const plan = planTask(this.link, play, task, planContext(this.link, this.inventory, play, facts, recordedPeers), notified);
        if (plan.status === 'change') {
          for (const change of plan.changes) {
            cache.applyEffects(change);
            for (const handler of change.notify ?? []) notified.add(handler);
          }
        }
        return plan;
      } catch (error) {
        this.failed = true;
        return error instanceof Error ? error : new Error(String(error));
      }
    });
    this.preconditions = recorder.list();
  }

  /** Each task's plan as data (see plan-record.ts), its changes' digests made with `digester`. */
  records(digester: Digester): TaskRecord[] {
    return this.schedule.map(({ play, task }, index) =>
      taskRecord(play.name, taskName(task), this.plans[index]!, digester, { provisional: this.provisional.has(index), notes: this.validationNotes }),
    );
  }

  /** Validates every candidate file of the plan (dry run and apply alike), so a bad candidate stops the host before any write. */
  async checkCandidates(): Promise<void> {
    const connection = this.link.connection;
    if (!connection || this.link.failed) return;
    // Every candidate of the host in one command (see checkCandidates); the verdicts are then read in plan order.
    const checks: { index: number; change: Change; step: WriteFileStep }[] = [];
    for (const [index, plan] of this.plans.entries()) {
      if (plan instanceof Error || plan.status !== 'change') continue;
      for (const change of plan.changes) {
        for (const step of change.steps) if (step.kind === 'write-file' && step.validate) checks.push({ index, change, step });
      }
    }
    if (checks.length === 0) return;
    const verdicts = await checkCandidates(connection, checks.map((check) => check.step));
    for (const [at, { index, change, step }] of checks.entries()) {
      const verdict = verdicts[at]!;
      if (verdict.ok) continue;
      if (verdict.missingValidator) {
        this.validationNotes.set(change, 'not validated yet: the validator is not installed before this run installs it');
        continue;
      }
      this.failed = true;
      this.plans[index] = new Error(`candidate ${step.path} fails validation (${step.validate}):\n${verdict.message}`);
    }
  }

  /** The dry run's report: what each task would do. Built fresh, so the apply's results start clean. */
  report(): HostResult {
    const base = this.link.finish();
    if (this.link.failed) return { ...base, tasks: [], handlers: [] };
    const tasks: TaskResult[] = this.schedule.map(({ play, task }, index) => {
      const plan = this.plans[index]!;
      if (plan instanceof Error) return { play: play.name, name: taskName(task), status: 'failed', changes: [], error: errorText(plan) };
      const provisional = this.provisional.has(index) ? { note: PROVISIONAL_NOTE } : {};
      if (plan.status === 'ok') return { play: play.name, name: taskName(task), status: 'ok', reason: plan.reason, changes: [], ...provisional };
      return {
        play: play.name,
        name: taskName(task),
        status: 'would-change',
        ...provisional,
        changes: plan.changes.map((change) => {
          const note = this.validationNotes.get(change);
          return { ...reportChange(change), ...(note ? { note } : {}) };
        }),
      };
    });
    const handlers: HandlerResult[] = this.notifiedHandlers().map((handler) => ({ name: handler.name, status: 'would-change' }));
    if (this.failed) return { ...base, status: 'failed', error: 'planning failed; nothing was changed on this host', tasks, handlers };
    return { ...base, status: tasks.some((task) => task.status === 'would-change') ? 'changed' : 'ok', tasks, handlers };
  }

  /** True when the plan has at least one change. */
  get hasChanges(): boolean {
    return this.plans.some((plan) => !(plan instanceof Error) && plan.status === 'change');
  }

  private notifiedHandlers(): Handler[] {
    const notified = new Set<string>();
    for (const plan of this.plans) {
      if (plan instanceof Error || plan.status !== 'change') continue;
      for (const change of plan.changes) for (const name of change.notify ?? []) notified.add(name);
    }
    const handlers = [...new Set(this.schedule.map(({ play }) => play))].flatMap((play) => playHandlers(play, this.link.host));
    return [...new Map(handlers.map((handler) => [handler.name, handler])).values()].filter((h) => notified.has(h.name));
  }
}
