/**
 * The facts a plan rests on: every value a task read while planning as the host gave it (not as an earlier change
 * predicts it), on its own host or on another (a peer's CPUs). Before a host's changes are applied, those facts are
 * read again and compared; a host whose facts moved is stale, and nothing is applied there.
 */
import { valueDigest, type Digester } from './digest.ts';
import type { FactCache } from './fact-cache.ts';
import type { Fact, FactReader } from './types.ts';

/** A fact a plan rests on, and the host it was read on. */
export interface Precondition {
  host: string;
  fact: Fact<unknown>;
}

/** How a precondition is named to people: its fact's description, or its key. */
export function describeFact(fact: Pick<Fact<unknown>, 'key' | 'description'>): string {
  return fact.description ?? `the fact ${fact.key}`;
}

/** Records the gathered values the tasks of one host read while planning. */
export class PreconditionRecorder {
  private readonly read = new Map<string, Precondition>();

  constructor(private readonly hostName: string) {}

  /** A reader over `cache` that records each gathered value read; volatile facts and predicted values are not recorded. */
  reader(cache: FactCache): FactReader {
    return {
      get: <T>(fact: Fact<T>): T => {
        const value = cache.get(fact);
        if (!fact.volatile && cache.isGathered(fact.key)) this.add(this.hostName, fact as Fact<unknown>);
        return value;
      },
      isStale: (fact) => cache.isStale(fact),
    };
  }

  /** A reader over another host's gathered facts that records each value read. */
  peerReader(host: string, facts: FactReader): FactReader {
    return {
      get: <T>(fact: Fact<T>): T => {
        const value = facts.get(fact);
        if (!fact.volatile) this.add(host, fact as Fact<unknown>);
        return value;
      },
      isStale: (fact) => facts.isStale(fact),
    };
  }

  /** Every precondition recorded, each once, in the order first read. */
  list(): Precondition[] {
    return [...this.read.values()];
  }

  private add(host: string, fact: Fact<unknown>): void {
    const id = preconditionId(host, fact.key);
    if (!this.read.has(id)) this.read.set(id, { host, fact });
  }
}

/** One precondition's identity: its host and fact key. */
export function preconditionId(host: string, key: string): string {
  return `${host}\n${key}`;
}

/** A precondition as a digest of the value the plan read (what a saved plan keeps, and what is compared). */
export interface PreconditionDigest {
  host: string;
  key: string;
  /** What the fact is about, for the message when it moves. */
  about: string;
  digest: string;
}

/** The digests of the values `preconditions` had when planned: `valueOf` gives a host's value of a fact. */
export function digestPreconditions(preconditions: readonly Precondition[], valueOf: (host: string, fact: Fact<unknown>) => unknown, digester: Digester): PreconditionDigest[] {
  return preconditions.map(({ host, fact }) => ({ host, key: fact.key, about: describeFact(fact), digest: factDigest(host, fact.key, valueOf(host, fact), digester) }));
}

/** The digest of a fact's value on a host: the host and key go in too, so equal values elsewhere do not show as equal. */
function factDigest(host: string, key: string, value: unknown, digester: Digester): string {
  return valueDigest({ host, key, value }, digester);
}

/** A value read again, or why it could not be. */
export type ReadAgain = { value: unknown } | { error: string } | undefined;

/**
 * What moved since the plan, in words ("/etc/motd changed since the plan"; another host's facts are named with it):
 * empty when every precondition reads the same. `self` is the host whose plan it is.
 */
export function movedSincePlan(self: string, expected: readonly PreconditionDigest[], readAgain: (host: string, key: string) => ReadAgain, digester: Digester): string[] {
  const moved: string[] = [];
  for (const precondition of expected) {
    const where = precondition.host === self ? '' : `${precondition.host}: `;
    const now = readAgain(precondition.host, precondition.key);
    if (now === undefined) moved.push(`${where}${precondition.about} was not read again`);
    else if ('error' in now) moved.push(`${where}${precondition.about} could not be read again (${now.error})`);
    else if (factDigest(precondition.host, precondition.key, now.value, digester) !== precondition.digest) moved.push(`${where}${precondition.about} changed since the plan`);
  }
  return moved;
}
