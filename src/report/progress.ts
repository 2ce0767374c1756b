/** Live progress: listr2 on a terminal, plain lines otherwise; always on stderr so stdout stays the report. */
import { Listr, type ListrTaskWrapper } from 'listr2';
import type { RunEvents } from '../engine/run.ts';
import type { TaskResult } from '../engine/results.ts';
import { printable } from './printable.ts';

/** A progress display for the apply phase. */
export interface Progress {
  events: RunEvents;
  /** Starts showing progress for these hosts. */
  start(hosts: string[]): void;
  /** Marks a host done. */
  hostDone(host: string, status: string): void;
  stop(): Promise<void>;
}

/** Plain progress lines, one per finished task, for logs and pipes. */
export function lineProgress(write: (line: string) => void): Progress {
  return {
    events: {
      phase: (name) => write(`== ${name}`),
      hostUnreachable: (host, error) => write(`[${host}] unreachable: ${printable(String(error))}`),
      taskFinished: (host: string, result: TaskResult) => {
        if (result.status !== 'ok') write(`[${host}] ${result.status}: ${result.name}`);
      },
      hostNote: (host, note) => write(`[${host}] ${printable(note)}`),
    },
    start: () => undefined,
    hostDone: (host, status) => write(`[${host}] done: ${status}`),
    stop: async () => undefined,
  };
}

/** listr2 progress: one line per host showing the task in flight. */
export function listrProgress(): Progress {
  const wrappers = new Map<string, ListrTaskWrapper<unknown, never, never>>();
  const finishers = new Map<string, (status: string) => void>();
  /** Hosts done before listr started their line (a host with nothing to do, or a stale one, takes no time at all). */
  const finishedEarly = new Map<string, string>();
  let running: Promise<void> = Promise.resolve();
  return {
    events: {
      taskStarted: (host, task) => {
        const wrapper = wrappers.get(host);
        if (wrapper) wrapper.output = task;
      },
      hostNote: (host, note) => {
        const wrapper = wrappers.get(host);
        if (wrapper) wrapper.output = printable(note);
      },
    },
    start(hosts) {
      const list = new Listr(
        hosts.map((host) => ({
          title: host,
          task: (_context: unknown, wrapper: ListrTaskWrapper<unknown, never, never>) =>
            new Promise<void>((resolve) => {
              wrappers.set(host, wrapper);
              const finish = (status: string) => {
                wrapper.title = `${host}: ${status}`;
                resolve();
              };
              const early = finishedEarly.get(host);
              if (early !== undefined) finish(early);
              else finishers.set(host, finish);
            }),
        })),
        { concurrent: true, exitOnError: false, rendererOptions: { collapseSubtasks: false }, renderer: 'default' } as never,
      );
      running = list.run().then(() => undefined);
    },
    hostDone(host, status) {
      const finish = finishers.get(host);
      if (finish) finish(status);
      else finishedEarly.set(host, status);
    },
    stop: () => running,
  };
}
