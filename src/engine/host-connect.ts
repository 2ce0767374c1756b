/**
 * One host's connection phase: open the connection, find out how this run logged in, gather facts in one round trip;
 * later, prove fresh logins (the lock-out guards) and close. What the run learns of the host is kept here.
 */
import type { ConnectionSettings, Host } from '../inventory/types.ts';
import { UnreachableError } from '../errors.ts';
import { redact } from '../report/redact.ts';
import type { SshConnection } from '../transport/ssh.ts';
import type { HostConnection } from '../transport/connection.ts';
import { openHostConnection, releaseHostConnection } from '../transport/open-connection.ts';
import { sh } from '../transport/shell.ts';
import { FactCache } from './fact-cache.ts';
import { gatherFacts } from './gather.ts';
import type { HostResult } from './results.ts';
import { discoverLogin, sshConnectionFact } from './login.ts';
import { checkHostKey, fingerprint, keyType, readKnownHosts, recordHostKey } from '../transport/known-hosts.ts';
import type { Fact, LoginInfo, LoginUpdate, TrustHostKeyStep, VerifyLoginStep } from './types.ts';

/** Renders any error as one line of text for the report, secrets masked. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return redact(error.message);
  return redact(String(error));
}

/** How long a fresh-login check keeps trying while sshd, just reloaded or restarted, resets connections before its banner. */
const VERIFY_LOGIN_WINDOW_MS = 10_000;

/** The connection to one host and what the run learns there: its login, its facts, its result so far. */
export class HostLink<Vars> {
  connection: HostConnection | undefined;
  /** How this run logged in; tasks that could lock the operator out check it. */
  login: LoginInfo | undefined;
  /** Where new connections go: the inventory's settings, updated when a change moves SSH (port, user). */
  private loginSettings: ConnectionSettings;
  /** The facts gathered on the host. */
  readonly gathered = new FactCache();
  readonly result: HostResult;
  /** Why the connection could not be opened, as thrown (a new host key is settled by the run: see new-host-keys.ts). */
  connectError: unknown;
  /** Connections opened besides the run's own (fresh-login checks), for the stats. */
  private extraConnections = 0;

  constructor(readonly host: Host<Vars>) {
    this.result = { name: host.name, status: 'ok', tasks: [], handlers: [], stats: { connections: 0, commands: 0, commandMs: 0 } };
    this.loginSettings = { ...host.connection };
  }

  /** True once the host is known to be unreachable or failed. */
  get failed(): boolean {
    return this.result.status === 'failed' || this.result.status === 'unreachable';
  }

  /** Marks the host stale: facts its plan rests on moved (`moved` says which), so nothing is applied there. */
  markStale(moved: readonly string[]): void {
    if (this.failed) return;
    this.result.status = 'stale';
    this.result.stale = moved.map((reason) => errorText(reason));
  }

  /** True once the host is known to be stale. */
  get stale(): boolean {
    return this.result.status === 'stale';
  }

  /** Marks the host unreachable with the error's message. */
  markUnreachable(error: unknown): void {
    this.result.status = 'unreachable';
    this.result.error = errorText(error);
  }

  /**
   * Opens the SSH connection, then finds out how this run logged in while it gathers `facts`. Without sudo the login
   * probe is one more fact of the gather; through sudo it is a command of its own as the login user, on a second
   * channel at the same time. An error marks the host unreachable.
   */
  async connectAndGather(facts: Fact<unknown>[]): Promise<void> {
    try {
      this.connection = await openHostConnection(this.host.connection);
    } catch (error) {
      this.markUnreachable(error);
      this.connectError = error;
      return;
    }
    // New logins (the lock-out guards') go where this one landed: a fallback port or user, after an earlier run moved SSH.
    const { user, port, become } = this.connection.settings;
    this.loginSettings = { ...this.loginSettings, user, port, become };
    const probeInGather = !this.connection.usesSudo;
    const gathering = this.gather(probeInGather ? [...facts, sshConnectionFact] : facts);
    const gathered = probeInGather ? gathering.then(() => (this.gathered.has(sshConnectionFact.key) ? this.gathered.get(sshConnectionFact) : undefined)) : undefined;
    const [login] = await Promise.allSettled([discoverLogin(this.connection, gathered), gathering]);
    if (login.status === 'fulfilled') this.login = login.value;
    else if (!this.failed) this.markUnreachable(login.reason);
  }

  /**
   * Opens a second, independent connection and runs `true` on it, through sudo when the run uses sudo or the step asks
   * to prove it (the connection checks sudo as it opens). Resets before sshd's banner are retried for a while: the
   * change may just have made sshd re-execute.
   */
  async verifyLogin(step: VerifyLoginStep): Promise<void> {
    const settings: ConnectionSettings = { ...this.loginSettings, ...(step.user ? { user: step.user } : {}), ...(step.port ? { port: step.port } : {}) };
    const withKey = (step.with ?? 'key') === 'key';
    if (withKey) delete settings.password;
    if (step.sudo) settings.become = true;
    // Through the same jump hosts as the run's own login: the settings carry them.
    const through = settings.jump?.length ? ` through ${settings.jump.map((hop) => `${hop.user}@${hop.address}:${hop.port}`).join(', ')}` : '';
    const what = `a new SSH login as ${settings.user} on port ${settings.port}${through} ${withKey ? 'with the key' : 'as this run logged in'}${step.sudo && settings.user !== 'root' ? ', then sudo,' : ''}`;
    let probe: SshConnection | undefined;
    try {
      const { SshConnection } = await import('../transport/ssh.ts');
      probe = await SshConnection.open(settings, { retryWindowMs: VERIFY_LOGIN_WINDOW_MS });
      this.extraConnections += 1;
      const result = await probe.exec(sh`true`);
      if (result.code !== 0) throw new Error(`exit code ${result.code}`);
    } catch (error) {
      throw new Error(`${what} failed: ${errorText(error)}`);
    } finally {
      await probe?.close();
    }
  }

  /**
   * Records the host key in `step.path` in known_hosts, for the inventory's port and the one this run logged in on,
   * unless it is known there already. The file is read over this run's connection, whose host key was verified: what
   * it says is the host's own (OpenSSH's UpdateHostKeys trusts keys learnt after a login in the same way).
   */
  async trustHostKey(step: TrustHostKeyStep): Promise<void> {
    if (!this.connection) throw new Error('no connection to read the host key over');
    const read = await this.connection.exec(sh`cat -- ${step.path}`);
    const [type = '', data = ''] = read.stdout.trim().split(/\s+/);
    const blob = Buffer.from(data, 'base64');
    let offered: string;
    try {
      offered = keyType(blob);
    } catch {
      offered = '';
    }
    if (read.code !== 0 || offered === '' || offered !== type) throw new Error(`cannot read a public key from ${step.path}: ${errorText(read.stderr.trim() || read.stdout.trim() || `exit code ${read.code}`)}`);
    const settings = this.host.connection;
    const ports = [...new Set([settings.port, this.loginSettings.port])];
    const known = await readKnownHosts(settings.knownHostsFile);
    const recorded: number[] = [];
    for (const port of ports) {
      if (checkHostKey(known, settings.address, port, blob).status === 'match') continue;
      await recordHostKey(settings.knownHostsFile, settings.address, port, blob);
      recorded.push(port);
    }
    if (recorded.length === 0) return;
    (this.result.notices ??= []).push(
      `recorded ${this.host.name}'s ${type} host key ${fingerprint(blob)} in ${settings.knownHostsFile} (port ${recorded.join(', ')}), read over this run's verified connection: ` +
        `sshd no longer offers the key type known there before. Compare it on the host: ssh-keygen -lf ${step.path}`,
    );
  }

  /** New connections of this run go where a change moved SSH. */
  moveLogin(update: LoginUpdate): void {
    this.loginSettings = { ...this.loginSettings, ...update };
  }

  /** Gathers the given facts in one round trip. */
  async gather(facts: Fact<unknown>[]): Promise<void> {
    if (!this.connection || this.failed) return;
    try {
      this.gathered.store(await gatherFacts(this.connection, facts), facts);
    } catch (error) {
      this.markUnreachable(error instanceof UnreachableError ? error : new UnreachableError(`fact gathering failed: ${errorText(error)}`));
    }
  }

  /** The result with the connection's figures. */
  finish(): HostResult {
    if (this.connection) {
      const { connections, commands, commandMs } = this.connection.stats;
      this.result.stats = { connections: connections + this.extraConnections, commands, commandMs: Math.round(commandMs) };
    }
    return this.result;
  }

  /**
   * Closes the connection. One may be kept for the next run only when this run changed nothing on the host and
   * nothing failed: a run after a change always logs in afresh, so that no kept login hides what the change did to
   * SSH, the firewall or the login user.
   */
  async close(): Promise<void> {
    if (this.connection) await releaseHostConnection(this.connection, this.result.status === 'ok');
  }
}
