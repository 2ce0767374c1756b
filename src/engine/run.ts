/** A run over many hosts: connect, gather and plan every host, then (after confirmation) apply in parallel. */
import type { Host, Inventory } from '../inventory/types.ts';
import { playHosts } from './play-hosts.ts';
import { HostSession, type HostEvents, type ScheduledTask } from './host-session.ts';
import { mapLimit } from './limit-concurrency.ts';
import { summarize, type RunResult } from './results.ts';
import type { Fact } from './types.ts';
import type { Playbook } from './playbook.ts';
import { UnknownHostKeyError } from '../transport/host-key-policy.ts';
import { settleNewHostKeys, type HostKeyConsent } from './new-host-keys.ts';
import { RollingRun, rollingFacts, type RollingEvents } from './rolling/rolling-run.ts';
import type { HostCount } from './rolling/settings.ts';

/** Rounds of first-contact questions: one for the hosts' (or their first jump hosts') keys, one more per jump host. */
const MAX_HOST_KEY_ROUNDS = 8;

/** One key offered at one place: asked about once per run. */
function hostKeyId(error: UnknownHostKeyError): string {
  return `${error.knownHostsFile}\n${error.address}\n${error.port}\n${error.publicKey}`;
}

/** What a run needs: the inventory, the selected hosts, the playbook and the parallelism. */
export interface RunOptions<Vars> {
  inventory: Inventory<Vars>;
  hosts: Host<Vars>[];
  playbook: Playbook<Vars>;
  forks: number;
  /** Asked once about the host keys first seen in this run (`ssh_host_key_checking: ask`); without it they are refused. */
  confirmHostKeys?: HostKeyConsent;
  /** `--batch`: how many hosts of a play take their changes at once, for this run (see rolling/). */
  batch?: HostCount;
}

/** Progress callbacks for the whole run. */
export interface RunEvents extends HostEvents, RollingEvents {
  phase?(name: 'connect and gather facts' | 'plan' | 'apply'): void;
  hostUnreachable?(host: string, error: string): void;
  hostFinished?(host: string, status: string): void;
}

/** Orders each host's tasks: plays in order, each play's tasks for the hosts its pattern matches. */
export function scheduleTasks<Vars>(options: RunOptions<Vars>): Map<string, ScheduledTask<Vars>[]> {
  const schedule = new Map<string, ScheduledTask<Vars>[]>(options.hosts.map((host) => [host.name, []]));
  for (const play of options.playbook.plays) {
    const matched = new Set(playHosts(options.inventory, play.hosts).map((host) => host.name));
    for (const host of options.hosts) {
      if (!matched.has(host.name)) continue;
      for (const task of play.tasks(host, options.inventory)) schedule.get(host.name)!.push({ play, task });
    }
  }
  return schedule;
}

/** A planned run: every host connected, gathered and planned; nothing written yet. */
export class PlannedRun<Vars> {
  /** The apply's batches and drains, planned with the run. */
  private rolling!: RollingRun<Vars>;

  private constructor(
    private readonly options: RunOptions<Vars>,
    readonly sessions: HostSession<Vars>[],
  ) {}

  /** Connects to every host, gathers facts (one round trip per host), plans, and validates candidates. */
  static async prepare<Vars>(options: RunOptions<Vars>, events: RunEvents = {}): Promise<PlannedRun<Vars>> {
    const schedule = scheduleTasks(options);
    const sessions = options.hosts.map((host) => new HostSession(host, options.inventory, schedule.get(host.name) ?? []));
    const byName = new Map(sessions.map((session) => [session.host.name, session]));
    const run = new PlannedRun(options, sessions);

    // Every host's facts, its own tasks' and those other hosts' tasks read from it, in one round trip per host.
    const wanted = new Map<string, Fact<unknown>[]>(sessions.map((session) => [session.host.name, session.ownFacts()]));
    for (const session of sessions) {
      for (const { task } of session.schedule) {
        for (const { host, fact } of task.peerFacts?.(session.host, options.inventory) ?? []) wanted.get(host)?.push(fact);
      }
    }
    for (const { host, fact } of rollingFacts(options)) wanted.get(host)?.push(fact);
    events.phase?.('connect and gather facts');
    const connect = async (session: HostSession<Vars>) => {
      await session.connectAndGather(wanted.get(session.host.name) ?? []);
      // A new host key is reported once the operator has been asked about it (below).
      if (session.connectError instanceof UnknownHostKeyError) return;
      if (session.result.error) events.hostUnreachable?.(session.host.name, session.result.error);
    };
    await mapLimit(sessions, options.forks, (session) => connect(session));

    // Hosts whose key is new were sent nothing: asked about all at once, the accepted ones are connected afresh. Behind
    // a jump host whose key was new, the host's own key may be new too: it is asked about in a round of its own.
    const asked = new Set<string>();
    let pending = sessions;
    for (let round = 0; round < MAX_HOST_KEY_ROUNDS; round++) {
      const found = pending.filter((session) => session.connectError instanceof UnknownHostKeyError);
      const fresh = found.filter((session) => !asked.has(hostKeyId(session.connectError as UnknownHostKeyError)));
      // A key asked about already, offered again after it was accepted: reported as it is.
      for (const session of found) if (!fresh.includes(session)) events.hostUnreachable?.(session.host.name, session.result.error ?? '');
      pending = fresh;
      if (fresh.length === 0) break;
      for (const session of fresh) asked.add(hostKeyId(session.connectError as UnknownHostKeyError));
      const settled = await settleNewHostKeys(
        fresh.map((session) => ({ host: session.host.name, error: session.connectError as UnknownHostKeyError })),
        options.confirmHostKeys,
      );
      const again: HostSession<Vars>[] = [];
      for (const session of fresh) {
        const problem = settled.get(session.host.name);
        if (problem) {
          session.markUnreachable(problem);
          events.hostUnreachable?.(session.host.name, session.result.error ?? problem.message);
          continue;
        }
        const fresher = new HostSession(session.host, options.inventory, session.schedule);
        sessions[sessions.indexOf(session)] = fresher;
        byName.set(fresher.host.name, fresher);
        again.push(fresher);
      }
      await mapLimit(again, options.forks, (session) => connect(session));
      pending = again;
    }
    // Past the last round: reported as it is.
    for (const session of pending) {
      if (session.connectError instanceof UnknownHostKeyError) events.hostUnreachable?.(session.host.name, session.result.error ?? session.connectError.message);
    }

    events.phase?.('plan');
    const peers = (name: string) => {
      const peer = byName.get(name);
      return peer && !peer.failed ? peer.gathered : undefined;
    };
    for (const session of sessions) session.plan(peers);
    await mapLimit(sessions, options.forks, (session) => session.checkCandidates());
    run.rolling = new RollingRun(options, sessions);
    return run;
  }

  /** The dry run's result: the plan of every host. */
  planResult(): RunResult {
    const hosts = this.sessions.map((session) => session.planReport());
    const rolling = this.rolling.report();
    return { mode: 'dry-run', hosts, summary: summarize(hosts), ...(rolling ? { rolling } : {}) };
  }

  /** True when any host has a change to make. */
  get hasChanges(): boolean {
    return this.sessions.some((session) => !session.failed && session.hasChanges);
  }

  /** Applies every host's plan, hosts in parallel, those of a rolling play in batches; one host's failure stops only its own play's batches. */
  async apply(events: RunEvents = {}, shouldStop: () => boolean = () => false): Promise<RunResult> {
    events.phase?.('apply');
    const byName = new Map(this.sessions.map((session) => [session.host.name, session]));
    const peers = (name: string) => byName.get(name)?.gathered;
    const applyOne = async (session: HostSession<Vars>) => session.apply(peers, events, shouldStop);
    const hosts = await this.rolling.apply(applyOne, events, shouldStop);
    const rolling = this.rolling.report();
    return { mode: 'apply', hosts, summary: summarize(hosts), ...(rolling ? { rolling } : {}) };
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    await Promise.all([...this.sessions.map((session) => session.close()), this.rolling.close()]);
  }
}
