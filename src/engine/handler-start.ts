/**
 * A service start that a notified restart handler does anyway. When a play has written a service's configuration
 * (notifying its restart handler) and a later task would start the stopped service, the start is left to the handler
 * at the end of the play: a restart starts a stopped service too. Starting it and then restarting it at once would
 * cost a second start-up, and some daemons (fail2ban) stall a stop that arrives while they are still starting.
 */
import type { Change, Handler } from './types.ts';

/** The notified handler that restarts `service`, if any. */
function restartingHandler(service: string, notified: ReadonlySet<string>, handlers: readonly Handler[]): Handler | undefined {
  return handlers.find(
    (handler) => notified.has(handler.name) && (handler.services ?? []).some((entry) => entry.name === service && entry.action === 'restart'),
  );
}

/**
 * The change as it runs: unchanged, or, when it only starts services that notified handlers restart, without steps
 * and saying which handler starts them. Pure, so that the dry run and the apply agree.
 */
export function leaveStartToHandler(change: Change, notified: ReadonlySet<string>, handlers: readonly Handler[]): Change {
  const services = change.services ?? [];
  if (services.length === 0 || services.some((entry) => entry.action !== 'start')) return change;
  const by = services.map((entry) => restartingHandler(entry.name, notified, handlers));
  if (by.some((handler) => handler === undefined)) return change;
  const names = [...new Set(by.map((handler) => handler!.name))].map((name) => `"${name}"`).join(', ');
  return { ...change, summary: `${change.summary} (by the handler ${names} at the end of the play)`, steps: [], rollback: [] };
}
