/** The run's side of the connection keeper (see server.ts): one socket per run, a lease per host. */
import net from 'node:net';
import type { ConnectionSettings } from '../../inventory/types.ts';
import { UnreachableError } from '../../errors.ts';
import { redact } from '../../report/redact.ts';
import type { HostConnection } from '../connection.ts';
import type { ShellCommand } from '../shell.ts';
import { describe, tallyCommand, type ExecOptions, type ExecResult, type TransportStats } from '../remote-command.ts';
import { decodeError, readMessages, sendMessage, type KeeperReply, type KeeperRequest, type OpenedLease } from './protocol.ts';

type RequestBody = KeeperRequest extends infer R ? (R extends KeeperRequest ? Omit<R, 'id'> : never) : never;

/** The keeper could not be asked (gone, or never answered): nothing was sent to the host. */
export class KeeperUnavailableError extends Error {}

export class KeeperClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    readMessages(socket, (message) => {
      const reply = message as KeeperReply;
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      this.idleWhenDone();
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(decodeError(reply.error));
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.closed = true;
      for (const waiter of this.pending.values()) waiter.reject(new KeeperUnavailableError('the connection keeper went away'));
      this.pending.clear();
    });
    // The socket holds the run open only while a reply is awaited.
    socket.unref();
  }

  /** A client of the keeper at `socketPath`, or undefined when none listens there. */
  static connect(socketPath: string): Promise<KeeperClient | undefined> {
    return new Promise((resolve) => {
      const socket = net.connect(socketPath);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new KeeperClient(socket));
      });
      socket.once('error', () => resolve(undefined));
    });
  }

  get usable(): boolean {
    return !this.closed;
  }

  /**
   * Sends a request and waits for its reply. `timeoutMs` is a safety net for a keeper that hangs: the keeper applies
   * the run's own timeouts, so it is well past them.
   */
  request<T>(body: RequestBody, timeoutMs: number): Promise<T> {
    if (this.closed) return Promise.reject(new KeeperUnavailableError('the connection keeper went away'));
    const id = this.nextId++;
    this.socket.ref();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.idleWhenDone();
        reject(new KeeperUnavailableError(`the connection keeper did not answer in ${Math.round(timeoutMs / 1000)}s`));
      }, timeoutMs);
      const settle = (done: () => void) => {
        clearTimeout(timer);
        done();
      };
      this.pending.set(id, { resolve: (value) => settle(() => resolve(value as T)), reject: (error) => settle(() => reject(error)) });
      sendMessage(this.socket, { ...body, id } as KeeperRequest);
    });
  }

  private idleWhenDone(): void {
    if (this.pending.size === 0) this.socket.unref();
  }

  /** Ends the run's socket; the keeper closes whatever this run still leases. */
  end(): void {
    this.socket.end();
  }
}

/** A host connection held by the keeper: commands go through it, and close() hands it back. */
export class KeptConnection implements HostConnection {
  readonly stats: TransportStats;
  private released = false;

  private constructor(
    private readonly client: KeeperClient,
    private readonly lease: number,
    readonly settings: ConnectionSettings,
    readonly authenticatedWith: 'publickey' | 'agent' | 'password',
    readonly usesSudo: boolean,
    opened: boolean,
    readonly loginPublicKeys: readonly string[] | undefined,
  ) {
    this.stats = { connections: opened ? 1 : 0, commands: 0, commandMs: 0 };
  }

  /** Leases a connection for `settings`; `key` names what it must match to be reused (see open-connection.ts). */
  static async open(client: KeeperClient, settings: ConnectionSettings, key: string): Promise<KeptConnection> {
    // Past the keeper's own attempts: on every port, each try's connect and handshake (each jump host's too) and the
    // backoff between tries, sudo's two checks, and the check of a kept connection.
    const retries = settings.connectRetries ?? 0;
    const ports = (1 + (settings.fallbackPorts?.length ?? 0)) * (1 + (settings.jump?.length ?? 0));
    const openMs = (2 * settings.connectTimeout * (retries + 1) * ports + 2 ** retries + 2 * settings.commandTimeout + settings.connectTimeout + 10) * 1000;
    const lease = await client.request<OpenedLease>({ op: 'open', key, settings, persist: settings.persist ?? 0, authSock: process.env.SSH_AUTH_SOCK ?? null }, openMs);
    // Where the keeper's login landed, which a fallback port or user may have moved from what was asked.
    const landed: ConnectionSettings = { ...settings, user: lease.login.user, port: lease.login.port, become: lease.login.become };
    return new KeptConnection(client, lease.lease, landed, lease.authenticatedWith, lease.usesSudo, lease.opened, lease.publicKeys);
  }

  async exec(command: ShellCommand, options: ExecOptions = {}): Promise<ExecResult> {
    const started = performance.now();
    let result: ExecResult | undefined;
    try {
      // Past the command's timeout and the stop of its process group that may follow it.
      const timeoutMs = options.timeoutMs ?? this.settings.commandTimeout * 1000;
      result = await this.client.request<ExecResult>({ op: 'exec', lease: this.lease, command: command.text, options }, 2 * timeoutMs + 30_000);
      return result;
    } catch (error) {
      if (error instanceof KeeperUnavailableError) {
        throw new UnreachableError(`${error.message} while a command ran on ${describe(this.settings)}: ${redact(command.text.split('\n')[0] ?? '')}`);
      }
      throw error;
    } finally {
      tallyCommand(this.stats, this.settings, command, result, started);
    }
  }

  async close(options: { keep?: boolean } = {}): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.client.request({ op: 'release', lease: this.lease, keep: options.keep === true }, 30_000).catch(() => undefined);
  }
}
