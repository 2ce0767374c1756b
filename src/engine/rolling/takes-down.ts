/** Which of a host's services its planned apply restarts or stops (pure): a change's own services, or a notified handler's. */
import type { HostResult } from '../results.ts';
import type { Handler } from '../types.ts';

/** Actions that take a service out for a moment. A reload keeps it serving. */
const DOWN_ACTIONS = new Set(['restart', 'stop']);

/** `restart hornet`, once each, in the order the apply does them; only for `services`. */
export function servicesTakenDown(plan: HostResult, handlers: readonly Handler[], services: readonly string[]): string[] {
  const wanted = new Set(services);
  const found: string[] = [];
  const add = (entry: { name: string; action: string }) => {
    const text = `${entry.action} ${entry.name}`;
    if (wanted.has(entry.name) && DOWN_ACTIONS.has(entry.action) && !found.includes(text)) found.push(text);
  };
  for (const task of plan.tasks) {
    if (task.status !== 'would-change') continue;
    for (const change of task.changes) for (const entry of change.services ?? []) add(entry);
  }
  const notified = new Set(plan.handlers.filter((handler) => handler.status === 'would-change').map((handler) => handler.name));
  for (const handler of handlers) if (notified.has(handler.name)) for (const entry of handler.services ?? []) add(entry);
  return found;
}
