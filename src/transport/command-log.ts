/** Observers of every remote command: `-v` prints them, `--log FILE` keeps them. Secrets are masked by the observers. */

/** One finished remote command. */
export interface CommandRecord {
  /** `user@address:port`. */
  target: string;
  command: string;
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

type Observer = (record: CommandRecord) => void;
const observers: Observer[] = [];

/** Adds an observer of remote commands; returns a function that removes it. */
export function observeCommands(observer: Observer): () => void {
  observers.push(observer);
  return () => {
    const at = observers.indexOf(observer);
    if (at >= 0) observers.splice(at, 1);
  };
}

/** Reports a finished command to every observer. */
export function recordCommand(record: CommandRecord): void {
  for (const observer of observers) observer(record);
}
