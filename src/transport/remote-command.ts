/**
 * What running a command on a host gives and how it can fail, whichever way the command went (this run's connection,
 * or one kept by the connection keeper). Kept apart from ssh.ts, so that a run on kept connections loads no SSH library.
 */
import type { ConnectionSettings } from '../inventory/types.ts';
import { UnreachableError } from '../errors.ts';
import { redact } from '../report/redact.ts';
import type { ShellCommand } from './shell.ts';
import { recordCommand } from './command-log.ts';
import { formatHop } from '../inventory/jump-hosts.ts';

/** What a remote command returned; stdout and stderr exactly as the host sent them. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Per-command options. */
export interface ExecOptions {
  /** Fed to the command's stdin; the only way secrets travel to a host. */
  stdin?: string;
  /** Overrides the connection's command timeout, in milliseconds. */
  timeoutMs?: number;
  /** Run as the login user even when `ansible_become` is set (sudo would drop the SSH session's environment). */
  asLoginUser?: boolean;
}

/** Counters for the recap and the benchmark. */
export interface TransportStats {
  connections: number;
  commands: number;
  /** Sum of command wall times, in milliseconds. */
  commandMs: number;
}

/** A command that ran past its timeout; the channel was closed. */
export class CommandTimeoutError extends Error {
  constructor(
    readonly command: string,
    readonly timeoutMs: number,
    /** The command's process group on the host, to be stopped; 0 when unknown. */
    readonly processGroup = 0,
  ) {
    super(`command timed out after ${Math.round(timeoutMs / 1000)}s: ${redact(command)}`);
    this.name = 'CommandTimeoutError';
  }
}

/**
 * The most output one command may send back, stdout and stderr together. Facts and checks print kilobytes; a host that
 * streams without end (a compromised one, say) would otherwise cost the controller memory until the command's timeout.
 */
export const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** A command that sent more than MAX_OUTPUT_BYTES: its channel was closed, and its process group is to be stopped. */
export class OutputLimitError extends Error {
  constructor(
    readonly command: string,
    /** The command's process group on the host; 0 when unknown. */
    readonly processGroup = 0,
  ) {
    super(`the host sent more than ${MAX_OUTPUT_BYTES / 1024 / 1024} MiB of output for one command, which was stopped: ${redact(command.split('\n')[0] ?? '')}`);
    this.name = 'OutputLimitError';
  }
}

/** Nothing answered on the port (refused or timed out): another port may still work. */
export class PortUnansweredError extends UnreachableError {}

/**
 * Counts a finished command (`started` from performance.now()) and hands it to the command log, as written (before
 * sudo wrapping): what the task asked for.
 */
export function tallyCommand(stats: TransportStats, settings: ConnectionSettings, command: ShellCommand, result: ExecResult | undefined, started: number): void {
  const ms = performance.now() - started;
  stats.commands += 1;
  stats.commandMs += ms;
  recordCommand({ target: describe(settings), command: command.text, code: result?.code ?? -1, stdout: result?.stdout ?? '', stderr: result?.stderr ?? '', ms });
}

/** The address and port string used in messages, e.g. `root@10.0.0.5:22`, and the jump hosts on the way, if any. */
export function describe(settings: ConnectionSettings): string {
  const target = `${settings.user}@${formatHop({ host: settings.address })}:${settings.port}`;
  if (!settings.jump?.length) return target;
  return `${target} via ${settings.jump.map((hop) => formatHop({ host: hop.address, port: hop.port, user: hop.user })).join(', ')}`;
}
