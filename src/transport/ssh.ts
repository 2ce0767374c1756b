/** One SSH connection per host, reused by every command of the run. */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { NodeSSH } from 'node-ssh';
import type { ClientChannel } from 'ssh2';
import type { ConnectionSettings } from '../inventory/types.ts';
import { UnreachableError } from '../errors.ts';
import { redact } from '../report/redact.ts';
import { sh, type ShellCommand } from './shell.ts';
import { CommandTimeoutError, MAX_OUTPUT_BYTES, OutputLimitError, PortUnansweredError, describe, tallyCommand, type ExecOptions, type ExecResult, type TransportStats } from './remote-command.ts';
import { CommandRunner, RunnerEndedError, RunnerOutputLimitError, RunnerTimeoutError } from './command-runner.ts';
import { killGroupCommand, reportGroup, takeGroupReport } from './process-group.ts';
import type { HostConnection } from './connection.ts';
import { readKnownHosts } from './known-hosts.ts';
import { AuthenticationFailedError, authMethods, openSocket, sshLogin, type AuthMethodName } from './ssh-login.ts';
import { JumpHostUnansweredError, JumpRoute } from './jump.ts';

export { AuthenticationFailedError } from './ssh-login.ts';

/** Options of SshConnection.open. */
export interface OpenOptions {
  /**
   * Retry for up to this long while the port does not answer or closes before sshd's banner, instead of
   * `connectRetries` times: for logins right after sshd was reloaded or restarted.
   */
  retryWindowMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** sshd refused a new session channel (its MaxSessions, say) on a connection that is still up. */
class ChannelRefusedError extends UnreachableError {}

/**
 * A command run through a sudo that asked for a password when the connection opened; the password is the first line
 * of stdin. It goes to sudo only if sudo still asks (-k: cached credentials aside): a sudo that stopped asking (a
 * NOPASSWD rule written by this very run) would hand the line on to the command, into a file's content say. The
 * shell then reads the line itself, and the command gets the rest of stdin.
 */
function sudoWithPassword(command: string): string {
  return sh`if sudo -k -n true 2>/dev/null; then IFS= read -r _; exec sudo -n -- sh -c ${command}; else exec sudo -S -k -p '' -- sh -c ${command}; fi`.text;
}

/**
 * The jump hosts of one open(): logged in to once and used for every attempt (ports, users, retries) while they stay
 * up; handed to the connection that succeeds, closed otherwise.
 */
class Route {
  private route: JumpRoute | undefined;
  private taken = false;

  constructor(private readonly settings: ConnectionSettings) {}

  /** A stream to the host at `port`: a TCP socket, or a channel through the jump hosts. */
  async streamTo(settings: ConnectionSettings, where: string): Promise<Duplex> {
    if (!this.settings.jump?.length) return openSocket(settings.address, settings.port, settings.connectTimeout, where);
    if (!this.route?.alive) {
      this.route?.close();
      this.route = undefined;
      this.route = await JumpRoute.open(this.settings);
    }
    return this.route.forward(settings.address, settings.port, settings.connectTimeout);
  }

  /** The jump hosts, now the connection's to close. */
  take(): JumpRoute | undefined {
    this.taken = true;
    return this.route;
  }

  /** Closes the jump hosts unless a connection took them. */
  release(): void {
    if (!this.taken) this.route?.close();
  }
}

/** An open, authenticated connection to one host. */
export class SshConnection implements HostConnection {
  readonly stats: TransportStats = { connections: 0, commands: 0, commandMs: 0 };
  private constructor(
    private readonly ssh: NodeSSH,
    readonly settings: ConnectionSettings,
    /** The auth method that succeeded, for safety checks (e.g. never disable passwords when we logged in with one). */
    readonly authenticatedWith: AuthMethodName,
    /** The jump hosts the connection goes through: closed with it. */
    private readonly route: JumpRoute | undefined,
  ) {
    this.stats.connections = 1;
  }

  /**
   * Connects (through the jump hosts, if any), verifies the host key against known_hosts, and authenticates. When the
   * port does not answer, tries `fallbackPorts` (sshd moved by an earlier run), trusting there the key known for the
   * inventory's port.
   */
  static async open(settings: ConnectionSettings, options: OpenOptions = {}): Promise<SshConnection> {
    const route = new Route(settings);
    try {
      if (options.retryWindowMs !== undefined) return await SshConnection.openWithin(settings, options.retryWindowMs, route);
      const retries = settings.connectRetries ?? 0;
      for (let attempt = 0; ; attempt++) {
        try {
          return await SshConnection.openWithFallback(settings, route);
        } catch (error) {
          // Only a port that did not answer (refused, timed out, reset) is worth another try; auth and host keys are not.
          if (!(error instanceof PortUnansweredError) || attempt >= retries) throw error;
          await sleep(500 * 2 ** attempt);
        }
      }
    } finally {
      route.release();
    }
  }

  /**
   * Tries until `windowMs` has passed, with backoff, while the port does not answer or sshd closes the connection
   * before its banner: what a reload or restart looks like for a few seconds, behind a port proxy (Docker's, a cloud
   * load balancer) as a reset after the TCP connect. An authentication failure or a host key problem ends it at once.
   */
  private static async openWithin(settings: ConnectionSettings, windowMs: number, route: Route): Promise<SshConnection> {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await SshConnection.openWithFallback(settings, route);
      } catch (error) {
        if (!(error instanceof PortUnansweredError)) throw error;
        const elapsed = performance.now() - started;
        const pause = Math.min(100 * 2 ** (attempt - 1), 2000);
        if (elapsed + pause > windowMs) {
          const tried = attempt === 1 ? 'once' : `${attempt} times over ${(elapsed / 1000).toFixed(1)} s`;
          throw new PortUnansweredError(`${error.message} (tried ${tried}, retrying for up to ${Math.round(windowMs / 1000)} s)`, { cause: error });
        }
        await sleep(pause);
      }
    }
  }

  private static async openWithFallback(settings: ConnectionSettings, route: Route): Promise<SshConnection> {
    try {
      return await SshConnection.openOnPorts(settings, route);
    } catch (error) {
      const user = settings.fallbackUser;
      if (!(error instanceof AuthenticationFailedError) || user === undefined || user === settings.user) throw error;
      // Root's logins ended in an earlier run: its admin user, with the key, becomes root through sudo.
      const asAdmin: ConnectionSettings = { ...settings, user, become: true };
      delete asAdmin.password;
      delete asAdmin.fallbackUser;
      try {
        return await SshConnection.openOnPorts(asAdmin, route);
      } catch (fallbackError) {
        if (fallbackError instanceof AuthenticationFailedError) throw new AuthenticationFailedError(`${error.message}; also tried ${describe(asAdmin)} (ssh.admin_user) with the key`);
        throw fallbackError;
      }
    }
  }

  private static async openOnPorts(settings: ConnectionSettings, route: Route): Promise<SshConnection> {
    try {
      return await SshConnection.openOn(settings, settings.port, route);
    } catch (error) {
      const fallbacks = (settings.fallbackPorts ?? []).filter((port) => port !== settings.port);
      if (!(error instanceof PortUnansweredError) || error instanceof JumpHostUnansweredError || fallbacks.length === 0) throw error;
      for (const port of fallbacks) {
        try {
          return await SshConnection.openOn({ ...settings, port }, settings.port, route);
        } catch (fallbackError) {
          if (!(fallbackError instanceof PortUnansweredError)) throw fallbackError;
        }
      }
      throw new PortUnansweredError(`${error.message}; also tried port ${fallbacks.join(', ')}`);
    }
  }

  private static async openOn(settings: ConnectionSettings, trustedPort: number, route: Route): Promise<SshConnection> {
    const privateKey = settings.privateKeyFile ? await readFile(settings.privateKeyFile, 'utf8') : undefined;
    if (!privateKey && !process.env.SSH_AUTH_SOCK && !settings.password) {
      throw new UnreachableError(
        `no credentials for ${describe(settings)}: set ansible_ssh_private_key_file, run an SSH agent, or set ansible_password`,
      );
    }
    const knownHosts = settings.hostKeyChecking === 'off' ? '' : await readKnownHosts(settings.knownHostsFile);
    const where = describe(settings);
    const sock = await route.streamTo(settings, where);
    const { ssh, method } = await sshLogin({
      settings,
      trustedPort,
      where,
      sock,
      methods: authMethods(settings.user, privateKey, settings.password),
      knownHosts,
      certificates: !settings.jump?.length,
    });
    const connection = new SshConnection(ssh, settings, method, route.take());
    connection.watchTransport();
    try {
      await connection.checkSudo();
    } catch (error) {
      await connection.close();
      throw error;
    }
    return connection;
  }

  /** How commands get root when `usesSudo`: set by checkSudo when the connection opens. */
  private sudoNeedsPassword = false;

  /**
   * Asks sudo once whether it wants a password, so that a password is only ever sent to a sudo that reads it (a NOPASSWD
   * sudo would pass the password line on to the command's stdin), and a missing or wrong one is named at once.
   */
  private async checkSudo(): Promise<void> {
    if (!this.usesSudo) return;
    const where = describe(this.settings);
    const timeoutMs = this.settings.commandTimeout * 1000;
    const said = (result: ExecResult) =>
      redact((result.stderr.trim() || result.stdout.trim()).split('\n').map((line) => line.trim()).filter(Boolean).slice(-3).join('; ')) || `exit code ${result.code}`;
    // -k ignores cached credentials: success means this sudo never asks for a password.
    const free = await this.run(sh`sudo -k -n -- sh -c true`.text, undefined, timeoutMs);
    if (free.code === 0) return;
    if (this.settings.becomePassword === undefined) {
      throw new UnreachableError(`sudo on ${where} needs a password (ansible_become): set ansible_become_password; sudo said: ${said(free)}`);
    }
    const withPassword = await this.run(sh`sudo -S -k -p '' -- sh -c true`.text, `${this.settings.becomePassword}\n`, timeoutMs);
    if (withPassword.code !== 0) {
      throw new UnreachableError(`sudo on ${where} refused ansible_become_password (ansible_become); sudo said: ${said(withPassword)}`);
    }
    this.sudoNeedsPassword = true;
  }

  /** Set when the transport closes under us (network cut, sshd killed). */
  private lost = false;

  /** False once the transport closed under us, or was closed. */
  get alive(): boolean {
    return !this.lost && this.ssh.connection !== null;
  }

  private watchTransport(): void {
    const client = this.ssh.connection;
    const markLost = () => {
      this.lost = true;
    };
    client?.on('close', markLost);
    client?.on('end', markLost);
    client?.on('error', markLost);
  }

  /**
   * True when sshd answers on this connection within `timeoutMs`. The question is a global request that changes
   * nothing, the cancel of a port forward never asked for: sshd answers it (with a refusal) from the connection's own
   * process, without starting anything on the host, as it does OpenSSH's keepalives.
   */
  answers(timeoutMs: number): Promise<boolean> {
    const client = this.ssh.connection;
    if (!client || this.lost) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      // ssh2 also calls back, with an error, when the connection closes first: then the answer is no.
      const answered = () => {
        clearTimeout(timer);
        resolve(!this.lost && this.ssh.connection !== null);
      };
      try {
        client.unforwardIn('127.0.0.1', 0, answered);
      } catch {
        clearTimeout(timer);
        resolve(false);
      }
    });
  }

  /** True when commands go through sudo. */
  get usesSudo(): boolean {
    return this.settings.become && this.settings.user !== 'root';
  }

  /** The connection's command shell (see command-runner.ts); undefined until a command needs it, or once it failed. */
  private runner: Promise<CommandRunner | undefined> | undefined;
  /** The shell once started, for close(), which must not wait on a shell still starting. */
  private startedRunner: CommandRunner | undefined;
  /** Set when the shell could not be started: every command then gets a channel of its own. */
  private runnerRefused = false;
  /** Set at the first small command: the shell starts at the second, so a one-command connection (a login check) starts none. */
  private smallCommandSeen = false;

  /**
   * A command as the user commands run as: through sudo when become applies, with sudo's password as stdin's first
   * line. Either way it runs under /bin/sh, as through sudo: the same shell whatever the login shell is (bash for root
   * on Debian, zsh for some), and dash's forks cost half of bash's, which a fact batch makes dozens of.
   */
  private asCommandUser(text: string): { command: string; firstLine?: string } {
    if (!this.usesSudo) return { command: sh`exec /bin/sh -c ${text}`.text };
    // Only a sudo that checkSudo saw asking for a password gets one, and only while it still asks (sudoWithPassword).
    if (this.sudoNeedsPassword && this.settings.becomePassword !== undefined) {
      return { command: sudoWithPassword(text), firstLine: `${this.settings.becomePassword}\n` };
    }
    return { command: sh`sudo -n -- sh -c ${text}`.text };
  }

  /** The shell, started when first needed, as the user commands run as (through sudo, like them). */
  private commandRunner(): Promise<CommandRunner | undefined> {
    if (this.runnerRefused) return Promise.resolve(undefined);
    const client = this.ssh.connection;
    if (!client || this.lost) return Promise.resolve(undefined);
    this.runner ??= CommandRunner.open(client, (script) => this.asCommandUser(script)).then(
      (runner) => (this.startedRunner = runner),
      () => {
        this.runnerRefused = true;
        return undefined;
      },
    );
    return this.runner;
  }

  /** A small command without stdin, through the connection's shell; undefined when it has to take a channel of its own. */
  private async runInShell(text: string, timeoutMs: number): Promise<ExecResult | undefined> {
    if (!this.smallCommandSeen) {
      this.smallCommandSeen = true;
      return undefined;
    }
    const starting = this.runner;
    let runner = await this.commandRunner();
    if (runner && !runner.alive) {
      // Ended by a timeout or by a command that killed it: a new one for the commands that follow (one, even when
      // several commands find it ended at once).
      if (this.runner === starting) this.runner = undefined;
      runner = await this.commandRunner();
    }
    if (!runner || !runner.accepts(text)) return undefined;
    try {
      return await runner.run(text, timeoutMs);
    } catch (error) {
      if (error instanceof RunnerTimeoutError) throw new CommandTimeoutError(text, timeoutMs, error.processGroup);
      if (error instanceof RunnerOutputLimitError) throw new OutputLimitError(text, error.processGroup);
      if (!(error instanceof RunnerEndedError)) throw error;
      if (this.lost) throw new UnreachableError(`connection to ${describe(this.settings)} was lost while a command ran: ${redact(text.split('\n')[0] ?? '')}`);
      // Never sent (the shell ended before its turn came): it did not run, so it takes a channel of its own.
      if (!error.sent) return undefined;
      // As for a command whose channel closed without an exit status: it failed, how is unknown.
      return { stdout: '', stderr: `${error.message}\n`, code: 255 };
    }
  }

  /** Runs a command (through sudo when `ansible_become` is set); never throws on a non-zero exit. */
  async exec(command: ShellCommand, options: ExecOptions = {}): Promise<ExecResult> {
    const started = performance.now();
    const timeoutMs = options.timeoutMs ?? this.settings.commandTimeout * 1000;
    let result: ExecResult | undefined;
    try {
      // Small commands without stdin go through the connection's shell; the rest (file contents, secrets, the fact
      // batch, the login probe) each take a session channel of their own.
      if (options.stdin === undefined && !options.asLoginUser) result = await this.runInShell(command.text, timeoutMs);
      result ??= await this.execInChannel(command, options, timeoutMs);
      return result;
    } catch (error) {
      // sshd does not pass signals on: the command's process group is stopped from a channel of its own, so that it
      // does not run on, e.g. holding the dpkg lock.
      if (error instanceof CommandTimeoutError || error instanceof OutputLimitError) await this.stopGroup(error.processGroup, timeoutMs);
      throw error;
    } finally {
      tallyCommand(this.stats, this.settings, command, result, started);
    }
  }

  /** Marks the first line of stderr of a command in a channel of its own: its process group (see process-group.ts). */
  private readonly groupMarker = `--provision-group-${randomBytes(9).toString('hex')}--`;

  /** Stops a process group on the host, from a channel of its own; best effort, as the host may be going away. */
  private async stopGroup(group: number, timeoutMs: number): Promise<void> {
    if (group <= 1 || this.lost) return;
    await this.execInChannel(killGroupCommand(group), {}, timeoutMs).catch(() => undefined);
  }

  /** A command in a session channel of its own; it names its process group first, so that a timeout can stop it. */
  private async execInChannel(command: ShellCommand, options: ExecOptions, timeoutMs: number): Promise<ExecResult> {
    const reported = `${reportGroup(this.groupMarker)}\n${command.text}`;
    const { command: text, firstLine } = options.asLoginUser ? { command: reported } : this.asCommandUser(reported);
    const stdin = firstLine === undefined ? options.stdin : `${firstLine}${options.stdin ?? ''}`;
    try {
      const result = await this.run(text, stdin, timeoutMs);
      return { ...result, stderr: takeGroupReport(result.stderr, this.groupMarker).stderr };
    } catch (error) {
      // Named by the command as asked, without the group report or sudo around it.
      if (error instanceof CommandTimeoutError) throw new CommandTimeoutError(command.text, timeoutMs, error.processGroup);
      if (error instanceof OutputLimitError) throw new OutputLimitError(command.text, error.processGroup);
      if (!(error instanceof ChannelRefusedError) || this.lost || !this.runner) throw error;
      // A host that allows one session per connection: the shell's channel gives way, and commands go one by one.
      this.runnerRefused = true;
      await (await this.runner)?.close();
      this.runner = undefined;
      this.startedRunner = undefined;
      return this.run(text, stdin, timeoutMs);
    }
  }

  private run(text: string, stdin: string | undefined, timeoutMs: number): Promise<ExecResult> {
    const client = this.ssh.connection;
    if (!client || this.lost) return Promise.reject(new UnreachableError(`connection to ${describe(this.settings)} is closed`));
    return new Promise((resolve, reject) => {
      client.exec(text, (error: Error | undefined, channel: ClientChannel) => {
        if (error) return reject(new ChannelRefusedError(`cannot run a command on ${describe(this.settings)}: ${error.message}`));
        // Buffers are joined before decoding, so multi-byte characters split across packets stay intact.
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let code: number | null = null;
        const timer = setTimeout(() => {
          // No signal: ssh2 sends one only while our side of the channel is open for writing (this command's stdin is
          // ended), and Debian 12's sshd refuses them. The caller kills the process group the command named.
          channel.close();
          reject(new CommandTimeoutError(text, timeoutMs, takeGroupReport(Buffer.concat(err).toString('utf8'), this.groupMarker).group));
        }, timeoutMs);
        let bytes = 0;
        let overflowed = false;
        const take = (into: Buffer[]) => (chunk: Buffer) => {
          if (overflowed) return;
          bytes += chunk.length;
          if (bytes > MAX_OUTPUT_BYTES) {
            // As for a timeout: the channel goes, and the caller stops the process group the command named.
            overflowed = true;
            clearTimeout(timer);
            channel.close();
            reject(new OutputLimitError(text, takeGroupReport(Buffer.concat(err).toString('utf8'), this.groupMarker).group));
            return;
          }
          into.push(chunk);
        };
        channel.on('data', take(out));
        channel.stderr.on('data', take(err));
        channel.on('exit', (exitCode: number | null) => {
          code = exitCode;
        });
        channel.on('close', () => {
          clearTimeout(timer);
          // No exit status and a dead transport: the command's fate is unknown, so the host is unreachable, not failed.
          if (code === null && this.lost) {
            reject(new UnreachableError(`connection to ${describe(this.settings)} was lost while a command ran: ${redact(text.split('\n')[0] ?? '')}`));
            return;
          }
          resolve({
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
            code: code ?? 255,
          });
        });
        if (stdin !== undefined) channel.end(stdin);
        else channel.end();
      });
    });
  }

  /** Closes the connection (`keep` is for connections kept across runs; this one always closes). */
  async close(_options?: { keep?: boolean }): Promise<void> {
    this.lost = true;
    // The connection closes next: no need to wait for the shell's channel (or for a shell still starting).
    if (this.startedRunner?.alive) void this.startedRunner.close();
    this.ssh.dispose();
    this.route?.close();
  }
}
