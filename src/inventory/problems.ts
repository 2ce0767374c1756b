/** Collects the problems of one inventory so the user sees all of them in one run, each once. */

import { InputError, type InputProblem } from '../errors.ts';

/** An ordered, de-duplicated list of input problems; a group var shared by many hosts is reported once. */
export class ProblemList {
  readonly #seen = new Set<string>();
  readonly #items: InputProblem[] = [];

  /** Adds a problem unless an identical one (same place, path and message) is already there. */
  add(problem: InputProblem): void {
    const { position: p } = problem;
    const key = JSON.stringify([p?.file, p?.line, p?.column, problem.path, problem.message]);
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#items.push(problem);
  }

  /** Adds several problems. */
  addAll(problems: Iterable<InputProblem>): void {
    for (const problem of problems) this.add(problem);
  }

  /** The problems so far, in the order they were added. */
  get items(): readonly InputProblem[] {
    return this.#items;
  }

  /** Number of distinct problems so far. */
  get size(): number {
    return this.#items.length;
  }

  /** Throws one InputError with every problem, in file order, when there is any. */
  throwIfAny(): void {
    if (this.#items.length === 0) return;
    // Stable sort: problems without a position (e.g. a missing file) first, then by line and column.
    const sorted = [...this.#items].sort(
      (a, b) =>
        (a.position?.line ?? 0) - (b.position?.line ?? 0) ||
        (a.position?.column ?? 0) - (b.position?.column ?? 0),
    );
    throw new InputError(sorted);
  }
}
