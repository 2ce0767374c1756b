/** What the engine needs of a host's connection, whether this run opened it or it was kept from an earlier run. */
import type { ConnectionSettings } from '../inventory/types.ts';
import type { ShellCommand } from './shell.ts';
import type { ExecOptions, ExecResult, TransportStats } from './remote-command.ts';

export interface HostConnection {
  readonly settings: ConnectionSettings;
  /** The auth method that succeeded, for safety checks (e.g. never disable passwords when we logged in with one). */
  readonly authenticatedWith: 'publickey' | 'agent' | 'password';
  /** True when commands go through sudo. */
  readonly usesSudo: boolean;
  /** The public keys this login can use (see login-keys.ts), when the connection knows them already: a kept one does. */
  readonly loginPublicKeys?: readonly string[];
  /** This run's counters: `connections` is 0 for a connection kept from an earlier run. */
  readonly stats: TransportStats;
  /** Runs a command (through sudo when `ansible_become` is set); never throws on a non-zero exit. */
  exec(command: ShellCommand, options?: ExecOptions): Promise<ExecResult>;
  /**
   * Ends this run's use of the connection. With `keep`, a connection that may outlive the run (`ssh_persist`) is
   * handed back for the next run; otherwise, and always for one this run opened directly, it closes.
   */
  close(options?: { keep?: boolean }): Promise<void>;
}
