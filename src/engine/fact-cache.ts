/** A host's facts during a run: gathered values, predicted values after planned changes, and stale keys. */
import type { Change, Fact, FactReader, Staleness } from './types.ts';

/** Thrown when a task reads a fact it did not declare; a bug in the task, caught by tests. */
export class UndeclaredFactError extends Error {
  constructor(key: string) {
    super(`fact '${key}' was read but not declared by the task`);
    this.name = 'UndeclaredFactError';
  }
}

/** What makes a fact stale when it does not say (see Fact.staleAfter). */
const DEFAULT_STALE_AFTER: readonly Staleness[] = ['packages'];

/** True when `change` (a path written, or packages) is one of the things that make a fact declaring `staleAfter` stale. */
function makesStale(change: Staleness, staleAfter: readonly Staleness[]): boolean {
  return staleAfter.some((when) => {
    if (when === 'packages' || change === 'packages') return when === change;
    const under = when.path.replace(/\/+$/, '');
    return change.path === under || change.path.startsWith(`${under}/`);
  });
}

/** Fact values keyed by fact key, with staleness tracking. */
export class FactCache implements FactReader {
  private readonly values = new Map<string, unknown>();
  private readonly stale = new Set<string>();
  /** The facts behind the values, for what makes each stale. */
  private readonly facts = new Map<string, Fact<unknown>>();
  /** Keys whose values a planned change predicts, rather than the host said. */
  private readonly predicted = new Set<string>();

  /** An independent copy, so planning and applying each carry their own predicted state. */
  clone(): FactCache {
    const copy = new FactCache();
    for (const [key, value] of this.values) copy.values.set(key, value);
    for (const key of this.stale) copy.stale.add(key);
    for (const [key, fact] of this.facts) copy.facts.set(key, fact);
    for (const key of this.predicted) copy.predicted.add(key);
    return copy;
  }

  /** Stores gathered values (of these facts, when given); they are fresh. */
  store(values: Map<string, unknown>, facts: readonly Fact<unknown>[] = []): void {
    for (const fact of facts) if (values.has(fact.key)) this.facts.set(fact.key, fact);
    for (const [key, value] of values) {
      this.values.set(key, value);
      this.stale.delete(key);
      this.predicted.delete(key);
    }
  }

  /** True when the value is the one the host gave (stale or not), not one a planned change predicts. */
  isGathered(key: string): boolean {
    return this.values.has(key) && !this.predicted.has(key);
  }

  /** True when the value is known (gathered or predicted) and not stale. */
  has(key: string): boolean {
    return this.values.has(key) && !this.stale.has(key);
  }

  /** The value under `key` (stale or not), when there is one. */
  lookup(key: string): { value: unknown } | undefined {
    return this.values.has(key) ? { value: this.values.get(key) } : undefined;
  }

  get<T>(fact: Fact<T>): T {
    if (!this.values.has(fact.key)) throw new UndeclaredFactError(fact.key);
    return this.values.get(fact.key) as T;
  }

  isStale(fact: Fact<unknown>): boolean {
    return this.stale.has(fact.key);
  }

  /** Records a value a planned change will produce. */
  predict<T>(fact: Fact<T>, value: T): void {
    this.facts.set(fact.key, fact);
    this.values.set(fact.key, value);
    this.stale.delete(fact.key);
    this.predicted.add(fact.key);
  }

  /** Marks a fact as changed by a step whose result is not predicted. */
  invalidate(fact: Fact<unknown>): void {
    if (this.values.has(fact.key)) this.stale.add(fact.key);
  }

  /** Marks every fact stale that `change` makes stale by what it says about itself (see Fact.staleAfter). */
  affect(change: Staleness | 'everything'): void {
    for (const key of this.values.keys()) {
      const staleAfter = this.facts.get(key)?.staleAfter ?? DEFAULT_STALE_AFTER;
      if (change === 'everything' || makesStale(change, staleAfter)) this.stale.add(key);
    }
  }

  /** Carries a change's known effects in: what it affects and invalidates goes stale, then what it predicts is set. */
  applyEffects(change: Pick<Change, 'affects' | 'invalidates' | 'predicts'>): void {
    for (const affected of change.affects ?? []) this.affect(affected);
    for (const fact of change.invalidates ?? []) this.invalidate(fact);
    for (const { fact, value } of change.predicts ?? []) this.predict(fact, value);
  }

  /** The keys among `keys` whose values are stale. */
  staleAmong(keys: readonly string[]): string[] {
    return keys.filter((key) => this.stale.has(key) || !this.values.has(key));
  }
}
