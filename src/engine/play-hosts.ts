/** Which hosts a play runs on: its pattern, like --limit, but a pattern that matches nothing is just empty. */
import { InputError } from '../errors.ts';
import { selectHosts } from '../inventory/limit.ts';
import type { Host, Inventory } from '../inventory/types.ts';

/** The hosts a play's pattern selects; none when the inventory has no such group (e.g. no balancers). */
export function playHosts<Vars>(inventory: Inventory<Vars>, pattern: string): Host<Vars>[] {
  try {
    return selectHosts(inventory, pattern);
  } catch (error) {
    if (error instanceof InputError) return [];
    throw error;
  }
}
