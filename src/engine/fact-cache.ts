/** A host's facts during a run: gathered values, predicted values after planned changes, and stale keys. */
import type { Fact, FactReader } from './types.ts';

/** Thrown when a task reads a fact it did not declare; a bug in the task, caught by tests. */
export class UndeclaredFactError extends Error {
  constructor(key: string) {
    super(`fact '${key}' was read but not declared by the task`);
    this.name = 'UndeclaredFactError';
  }
}

/** Fact values keyed by fact key, with staleness tracking. */
export class FactCache implements FactReader {
  private readonly values = new Map<string, unknown>();
  private readonly stale = new Set<string>();

  /** An independent copy, so planning and applying each carry their own predicted state. */
  clone(): FactCache {
    const copy = new FactCache();
    for (const [key, value] of this.values) copy.values.set(key, value);
    for (const key of this.stale) copy.stale.add(key);
    return copy;
  }

  /** Stores gathered values; they are fresh. */
  store(values: Map<string, unknown>): void {
    for (const [key, value] of values) {
      this.values.set(key, value);
      this.stale.delete(key);
    }
  }

  /** True when the value is known (gathered or predicted) and not stale. */
  has(key: string): boolean {
    return this.values.has(key) && !this.stale.has(key);
  }

  get<T>(fact: Fact<T>): T {
    if (!this.values.has(fact.key)) throw new UndeclaredFactError(fact.key);
    return this.values.get(fact.key) as T;
  }

  isStale(fact: Fact<unknown>): boolean {
    return this.stale.has(fact.key);
  }

  /** Records a value a planned change will produce. */
  predict(key: string, value: unknown): void {
    this.values.set(key, value);
    this.stale.delete(key);
  }

  /** Marks facts as changed by a step whose result is not predicted. A key ending in `*` is a prefix. */
  invalidate(pattern: string): void {
    const prefix = pattern.endsWith('*') ? pattern.slice(0, -1) : undefined;
    for (const key of this.values.keys()) {
      if (prefix !== undefined ? key.startsWith(prefix) : key === pattern) this.stale.add(key);
    }
  }

  /** The keys among `keys` whose values are stale. */
  staleAmong(keys: readonly string[]): string[] {
    return keys.filter((key) => this.stale.has(key) || !this.values.has(key));
  }
}
