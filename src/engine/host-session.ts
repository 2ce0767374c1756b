/** One host's run: connect, gather, plan, check candidates, apply, handlers. */
import type { Host, Inventory } from '../inventory/types.ts';
import { UnreachableError } from '../errors.ts';
import { redact } from '../report/redact.ts';
import type { SshConnection } from '../transport/ssh.ts';
import type { HostConnection } from '../transport/connection.ts';
import { openHostConnection, releaseHostConnection } from '../transport/open-connection.ts';
import { sh } from '../transport/shell.ts';
import { FactCache } from './fact-cache.ts';
import { gatherFacts } from './gather.ts';
import type { ChangeReport, HandlerResult, HostResult, TaskResult } from './results.ts';
import { checkCandidates, performStep, type StepEnvironment } from './steps.ts';
import { applyChange } from './apply-change.ts';
import { leaveStartToHandler } from './handler-start.ts';
import { discoverLogin, sshConnectionFact } from './login.ts';
import { roleContext } from './role.ts';
import { playHandlers, type Change, type Fact, type FactReader, type Handler, type LoginInfo, type Plan, type Play, type PlanContext, type Task, type VerifyLoginStep, type WriteFileStep } from './types.ts';
import type { ConnectionSettings } from '../inventory/types.ts';

/** A task in the order it runs on a host, with the play it belongs to. */
export interface ScheduledTask<Vars> {
  play: Play<Vars>;
  task: Task<Vars>;
}

/** Progress callbacks, for the live display. */
export interface HostEvents {
  taskStarted?(host: string, task: string): void;
  taskFinished?(host: string, result: TaskResult): void;
}

/** Finds other hosts' gathered facts during planning. */
export type PeerLookup = (hostName: string) => FactReader | undefined;

function taskName(task: Pick<Task, 'kind' | 'target'>): string {
  return `${task.kind} ${task.target}`;
}

/** Renders any error as one line of text for the report, secrets masked. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return redact(error.message);
  return redact(String(error));
}

function reportChange(change: Change): ChangeReport {
  const report: ChangeReport = { summary: change.summary };
  if (change.details?.length) report.details = change.details;
  if (change.notice) report.notice = change.notice;
  if (change.diff) report.diff = change.diff;
  if (change.packages) report.packages = change.packages;
  if (change.services) report.services = change.services;
  return report;
}

/** Connects to, plans and applies one host. */
export class HostSession<Vars> {
  connection: HostConnection | undefined;
  /** How this run logged in; tasks that could lock the operator out check it. */
  login: LoginInfo | undefined;
  /** Where new connections go: the inventory's settings, updated when a change moves SSH (port, user). */
  private loginSettings: ConnectionSettings;
  readonly gathered = new FactCache();
  private plans: Array<Plan | Error> = [];
  /** Dry-run notes from candidate validation, by change (e.g. the validator is not installed yet). */
  private readonly validationNotes = new Map<Change, string>();
  /** Tasks planned on facts an earlier change alters unpredictably: the dry run says so. */
  private provisional = new Set<number>();
  private planFailed = false;
  readonly result: HostResult;

  constructor(
    readonly host: Host<Vars>,
    readonly inventory: Inventory<Vars>,
    readonly schedule: ScheduledTask<Vars>[],
  ) {
    this.result = { name: host.name, status: 'ok', tasks: [], handlers: [], stats: { connections: 0, commands: 0, commandMs: 0 } };
    this.loginSettings = { ...host.connection };
  }

  /** Why the connection could not be opened, as thrown (a new host key is settled by the run: see new-host-keys.ts). */
  connectError: unknown;

  /** True once the host is known to be unreachable or failed. */
  get failed(): boolean {
    return this.result.status === 'failed' || this.result.status === 'unreachable';
  }

  /**
   * Opens the SSH connection, then finds out how this run logged in while it gathers `facts`. Without sudo the login
   * probe is one more fact of the gather; through sudo it is a command of its own as the login user, on a second
   * channel at the same time. An error marks the host unreachable.
   */
  async connectAndGather(facts: Fact<unknown>[]): Promise<void> {
    try {
      this.connection = await openHostConnection(this.host.connection);
    } catch (error) {
      this.markUnreachable(error);
      this.connectError = error;
      return;
    }
    // New logins (the lock-out guards') go where this one landed: a fallback port or user, after an earlier run moved SSH.
    const { user, port, become } = this.connection.settings;
    this.loginSettings = { ...this.loginSettings, user, port, become };
    const probeInGather = !this.connection.usesSudo;
    const gathering = this.gather(probeInGather ? [...facts, sshConnectionFact] : facts);
    const gathered = probeInGather ? gathering.then(() => (this.gathered.has(sshConnectionFact.key) ? this.gathered.get(sshConnectionFact) : undefined)) : undefined;
    const [login] = await Promise.allSettled([discoverLogin(this.connection, gathered), gathering]);
    if (login.status === 'fulfilled') this.login = login.value;
    else if (!this.failed) this.markUnreachable(login.reason);
  }

  /**
   * Opens a second, independent connection and runs `true` on it, through sudo when the run uses sudo or the step asks
   * to prove it (the connection checks sudo as it opens). Resets before sshd's banner are retried for a while: the
   * change may just have made sshd re-execute.
   */
  private async verifyLogin(step: VerifyLoginStep): Promise<void> {
    const settings: ConnectionSettings = { ...this.loginSettings, ...(step.user ? { user: step.user } : {}), ...(step.port ? { port: step.port } : {}) };
    const withKey = (step.with ?? 'key') === 'key';
    if (withKey) delete settings.password;
    if (step.sudo) settings.become = true;
    const what = `a new SSH login as ${settings.user} on port ${settings.port} ${withKey ? 'with the key' : 'as this run logged in'}${step.sudo && settings.user !== 'root' ? ', then sudo,' : ''}`;
    let probe: SshConnection | undefined;
    try {
      const { SshConnection } = await import('../transport/ssh.ts');
      probe = await SshConnection.open(settings, { retryWindowMs: VERIFY_LOGIN_WINDOW_MS });
      this.extraConnections += 1;
      const result = await probe.exec(sh`true`);
      if (result.code !== 0) throw new Error(`exit code ${result.code}`);
    } catch (error) {
      throw new Error(`${what} failed: ${errorText(error)}`);
    } finally {
      await probe?.close();
    }
  }

  private get environment(): StepEnvironment {
    return { verifyLogin: (step) => this.verifyLogin(step), validatedScopes: this.validatedScopes };
  }

  /** Validation scopes that passed in this run's apply (see WriteFileStep.validationScope). */
  private readonly validatedScopes = new Set<string>();

  private extraConnections = 0;

  /** Marks the host unreachable with the error's message. */
  markUnreachable(error: unknown): void {
    this.result.status = 'unreachable';
    this.result.error = errorText(error);
  }

  /** The facts this host's own tasks read. */
  ownFacts(): Fact<unknown>[] {
    return this.schedule.flatMap(({ task }) => task.facts(this.host));
  }

  /** Gathers the given facts in one round trip. */
  async gather(facts: Fact<unknown>[]): Promise<void> {
    if (!this.connection || this.failed) return;
    try {
      this.gathered.store(await gatherFacts(this.connection, facts), facts);
    } catch (error) {
      this.markUnreachable(error instanceof UnreachableError ? error : new UnreachableError(`fact gathering failed: ${errorText(error)}`));
    }
  }

  private context(play: Play<Vars>, facts: FactReader, peers: PeerLookup): PlanContext<Vars> {
    const roles = play.roles?.(this.inventory) ?? roleContext(this.inventory);
    return { host: this.host, inventory: this.inventory, facts, factsOf: peers, roles, ...(this.login ? { login: this.login } : {}) };
  }

  /** Plans every task in order against the gathered facts, carrying predicted effects forward. */
  plan(peers: PeerLookup): void {
    if (this.failed) return;
    const cache = this.gathered.clone();
    const notifiedIn = new Map<Play<Vars>, Set<string>>();
    this.plans = this.schedule.map(({ play, task }, index) => {
      if (cache.staleAmong(task.facts(this.host).map((fact) => fact.key)).length > 0) this.provisional.add(index);
      const notified = notifiedIn.get(play) ?? notifiedIn.set(play, new Set()).get(play)!;
      try {
        const plan = this.asRun(play, task.plan(this.context(play, cache, peers)), notified);
        if (plan.status === 'change') {
          for (const change of plan.changes) {
            cache.applyEffects(change);
            for (const handler of change.notify ?? []) notified.add(handler);
          }
        }
        return plan;
      } catch (error) {
        this.planFailed = true;
        return error instanceof Error ? error : new Error(String(error));
      }
    });
  }

  /** Validates every candidate file of the plan (dry run and apply alike), so a bad candidate stops the host before any write. */
  async checkCandidates(): Promise<void> {
    if (!this.connection || this.failed) return;
    // Every candidate of the host in one command (see checkCandidates); the verdicts are then read in plan order.
    const checks: { index: number; change: Change; step: WriteFileStep }[] = [];
    for (const [index, plan] of this.plans.entries()) {
      if (plan instanceof Error || plan.status !== 'change') continue;
      for (const change of plan.changes) {
        for (const step of change.steps) if (step.kind === 'write-file' && step.validate) checks.push({ index, change, step });
      }
    }
    if (checks.length === 0) return;
    const verdicts = await checkCandidates(this.connection, checks.map((check) => check.step));
    for (const [at, { index, change, step }] of checks.entries()) {
      const verdict = verdicts[at]!;
      if (verdict.ok) continue;
      if (verdict.missingValidator) {
        this.validationNotes.set(change, 'not validated yet: the validator is not installed before this run installs it');
        continue;
      }
      this.planFailed = true;
      this.plans[index] = new Error(`candidate ${step.path} fails validation (${step.validate}):\n${verdict.message}`);
    }
  }

  /** The dry run's report: what each task would do. Built fresh, so the apply's results start clean. */
  planReport(): HostResult {
    const base = this.finish();
    if (this.failed) return { ...base, tasks: [], handlers: [] };
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
    if (this.planFailed) return { ...base, status: 'failed', error: 'planning failed; nothing was changed on this host', tasks, handlers };
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
    const handlers = [...new Set(this.schedule.map(({ play }) => play))].flatMap((play) => playHandlers(play, this.host));
    return [...new Map(handlers.map((handler) => [handler.name, handler])).values()].filter((h) => notified.has(h.name));
  }

  /**
   * Applies the plan task by task. Facts made stale by an applied change are re-read and the task re-planned.
   * Handlers run once at the end of each play, in their declared order, also after a failure (so a written
   * config is never left unloaded).
   */
  async apply(peers: PeerLookup, events: HostEvents, shouldStop: () => boolean): Promise<HostResult> {
    const connection = this.connection;
    if (!connection || this.failed) return this.finish();
    if (this.planFailed) {
      // Never half-apply: a host whose plan has an error changes nothing at all.
      const report = this.planReport();
      const skip = (task: TaskResult): TaskResult =>
        task.status === 'would-change' ? { ...task, status: 'skipped', reason: 'another task on this host failed to plan' } : task;
      return { ...report, tasks: report.tasks.map(skip), handlers: [] };
    }
    const cache = this.gathered.clone();
    let stopped: string | undefined;
    const plays = [...new Set(this.schedule.map(({ play }) => play))];
    for (const play of plays) {
      const notified = new Set<string>();
      for (const entry of this.schedule.filter((scheduled) => scheduled.play === play)) {
        const { task } = entry;
        const name = taskName(task);
        if (!stopped && shouldStop()) stopped = 'the run was interrupted';
        if (stopped) {
          this.result.tasks.push({ play: play.name, name, status: 'skipped', reason: stopped, changes: [] });
          continue;
        }
        events.taskStarted?.(this.host.name, name);
        const later = this.schedule.slice(this.schedule.indexOf(entry) + 1).map((next) => next.task);
        const result = await this.applyTask(play, task, later, cache, peers, notified);
        this.result.tasks.push(result);
        events.taskFinished?.(this.host.name, result);
        if (result.status === 'failed') {
          stopped = this.result.status === 'unreachable' ? 'the host became unreachable' : `an earlier task failed (${name})`;
          if (this.result.status !== 'unreachable') this.result.status = 'failed';
        }
      }
      if (this.result.status !== 'unreachable') await this.runHandlers(play, notified);
    }
    if (this.result.status === 'ok' && this.result.tasks.some((task) => task.status === 'changed')) this.result.status = 'changed';
    return this.finish();
  }

  private async applyTask(play: Play<Vars>, task: Task<Vars>, later: Task<Vars>[], cache: FactCache, peers: PeerLookup, notified: Set<string>): Promise<TaskResult> {
    const connection = this.connection!;
    const name = taskName(task);
    try {
      const stale = cache.staleAmong(task.facts(this.host).map((fact) => fact.key));
      if (stale.length > 0) await this.refresh(task, later, cache);
      const plan = this.asRun(play, task.plan(this.context(play, cache, peers)), notified);
      if (plan.status === 'ok') return { play: play.name, name, status: 'ok', reason: plan.reason, changes: [] };
      for (const change of plan.changes) {
        await applyChange(connection, change, this.environment);
        cache.applyEffects(change);
        for (const handler of change.notify ?? []) notified.add(handler);
        if (change.movesLogin) this.loginSettings = { ...this.loginSettings, ...change.movesLogin };
        if (change.notice) (this.result.notices ??= []).push(change.notice);
      }
      return { play: play.name, name, status: 'changed', changes: plan.changes.map(reportChange) };
    } catch (error) {
      if (error instanceof UnreachableError) this.markUnreachable(error);
      return { play: play.name, name, status: 'failed', changes: [], error: errorText(error) };
    }
  }

  /**
   * Re-reads the task's stale facts, and with them the stale facts of the tasks after it: a package install makes
   * most facts stale at once, and one round trip then does for all of them. What a later change alters it predicts
   * or makes stale again, as after the first gather. Should a later task's fact not read yet (its command may need
   * what an earlier task installs), only the task's own are read.
   */
  private async refresh(task: Task<Vars>, later: Task<Vars>[], cache: FactCache): Promise<void> {
    const staleOf = (facts: Fact<unknown>[]) => {
      const stale = new Set(cache.staleAmong(facts.map((fact) => fact.key)));
      return [...new Map(facts.filter((fact) => stale.has(fact.key)).map((fact) => [fact.key, fact])).values()];
    };
    const own = staleOf(task.facts(this.host));
    const ahead = staleOf([...own, ...later.flatMap((next) => next.facts(this.host))]);
    if (ahead.length > own.length) {
      try {
        cache.store(await gatherFacts(this.connection!, ahead), ahead);
        return;
      } catch (error) {
        if (error instanceof UnreachableError) throw error;
      }
    }
    cache.store(await gatherFacts(this.connection!, own), own);
  }

  /** The plan as it runs in this play: starts that a notified restart handler does anyway are left to it. */
  private asRun(play: Play<Vars>, plan: Plan, notified: ReadonlySet<string>): Plan {
    if (plan.status !== 'change') return plan;
    const handlers = playHandlers(play, this.host);
    const [first, ...rest] = plan.changes.map((change) => leaveStartToHandler(change, notified, handlers));
    return { status: 'change', changes: [first!, ...rest] };
  }

  private async runHandlers(play: Play<Vars>, notified: Set<string>): Promise<void> {
    for (const handler of playHandlers(play, this.host)) {
      if (!notified.has(handler.name)) continue;
      try {
        for (const step of handler.steps) await performStep(this.connection!, step, this.environment);
        this.result.handlers.push({ name: handler.name, status: 'changed' });
      } catch (error) {
        this.result.handlers.push({ name: handler.name, status: 'failed', error: errorText(error) } satisfies HandlerResult);
        this.result.status = 'failed';
      }
    }
  }

  private finish(): HostResult {
    if (this.connection) {
      const { connections, commands, commandMs } = this.connection.stats;
      this.result.stats = { connections: connections + this.extraConnections, commands, commandMs: Math.round(commandMs) };
    }
    return this.result;
  }

  /**
   * Closes the connection. One may be kept for the next run only when this run changed nothing on the host and
   * nothing failed: a run after a change always logs in afresh, so that no kept login hides what the change did to
   * SSH, the firewall or the login user.
   */
  async close(): Promise<void> {
    if (this.connection) await releaseHostConnection(this.connection, this.result.status === 'ok');
  }
}

/** How long a fresh-login check keeps trying while sshd, just reloaded or restarted, resets connections before its banner. */
const VERIFY_LOGIN_WINDOW_MS = 10_000;

/** Shown on dry-run tasks whose facts an earlier change (such as a package install) alters first. */
const PROVISIONAL_NOTE = 'planned on the current state; an earlier change in this run (e.g. a package install) may alter it before this task runs';



