/**
 * Hosts whose state moved since their plan: before a run's changes are applied, the facts each changing host's plan
 * rests on are read again (or, for a saved plan, compared with the ones just gathered, and the plan made again compared
 * with the saved one). A host where anything moved is marked stale, with what moved in words; nothing is applied there.
 */
import { mapLimit } from './limit-concurrency.ts';
import { sha256, type Digester } from './digest.ts';
import { digestPreconditions, movedSincePlan, type PreconditionDigest, type ReadAgain } from './preconditions.ts';
import { planDifference, type TaskRecord } from './plan-record.ts';
import type { HostSession } from './host-session.ts';
import type { Fact } from './types.ts';

/** A host's plan as saved: the digests of the facts it rests on, and its tasks' records. */
export interface SavedHostPlan {
  preconditions: readonly PreconditionDigest[];
  tasks: readonly TaskRecord[];
}

/**
 * Reads again, in one round trip per host (`forks` hosts at a time), the facts each changing host's plan rests on (its
 * own, and those it read on other hosts), and marks stale every host whose facts moved since the plan. Called after the
 * prompt, just before the apply.
 */
export async function leaveOutStaleHosts<Vars>(sessions: readonly HostSession<Vars>[], forks: number): Promise<void> {
  const changing = sessions.filter((session) => !session.failed && !session.planFailed && session.hasChanges);
  if (changing.length === 0) return;
  const byName = new Map(sessions.map((session) => [session.host.name, session]));
  const wanted = new Map<string, Map<string, Fact<unknown>>>();
  for (const session of changing) {
    for (const { host, fact } of session.preconditions) (wanted.get(host) ?? wanted.set(host, new Map()).get(host)!).set(fact.key, fact);
  }
  const fresh = new Map<string, Map<string, unknown> | string>();
  await mapLimit([...wanted], forks, async ([host, facts]) => {
    const session = byName.get(host);
    fresh.set(host, session ? await session.readAgain([...facts.values()]) : 'the host is not in this run');
  });
  const readAgain = (host: string, key: string): ReadAgain => {
    const values = fresh.get(host);
    if (typeof values === 'string') return { error: values };
    return values?.has(key) ? { value: values.get(key) } : undefined;
  };
  for (const session of changing) {
    const planned = digestPreconditions(session.preconditions, (host, fact) => byName.get(host)!.gathered.get(fact), sha256);
    const moved = movedSincePlan(session.host.name, planned, readAgain, sha256);
    if (moved.length > 0) session.markStale(moved);
  }
}

/**
 * Compares every host with its saved plan, on the facts just gathered: a host whose facts moved, or whose plan now
 * differs from the saved one, is marked stale (with what moved), and nothing will be applied there.
 */
export function compareWithSaved<Vars>(sessions: readonly HostSession<Vars>[], saved: ReadonlyMap<string, SavedHostPlan>, digester: Digester): void {
  const byName = new Map(sessions.map((session) => [session.host.name, session]));
  const readNow = (host: string, key: string): ReadAgain => {
    const session = byName.get(host);
    if (!session) return { error: 'the host is not in this run' };
    if (session.failed) return { error: session.result.error ?? 'the host is unreachable' };
    return session.gathered.lookup(key);
  };
  for (const session of sessions) {
    const plan = saved.get(session.host.name);
    if (session.failed || !plan) continue;
    const moved = movedSincePlan(session.host.name, plan.preconditions, readNow, digester);
    if (moved.length > 0) session.markStale(moved);
    else if (!session.planFailed) {
      const differs = planDifference(plan.tasks, session.records(digester));
      if (differs.length > 0) session.markStale(differs);
    }
  }
}
