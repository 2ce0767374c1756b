/**
 * The way to a host through its jump hosts (`ssh_jump`, ProxyJump): a login to the first hop over TCP (Nagle off), then
 * to each next hop over a channel the previous one forwards, as `ssh -J` does. The last hop forwards the connection
 * to the host, whose login then runs over that channel. Each hop's key is checked like a host's, against the host's
 * known_hosts and checking mode, before anything is sent to it; a hop logs in with its own key (an IdentityFile of
 * ~/.ssh/config), the host's key file or the SSH agent, never with the host's password.
 */
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { NodeSSH } from 'node-ssh';
import type { Client } from 'ssh2';
import type { ConnectionSettings, JumpHost } from '../inventory/types.ts';
import { UnreachableError } from '../errors.ts';
import { PortUnansweredError } from './remote-command.ts';
import { readKnownHosts } from './known-hosts.ts';
import { UnknownHostKeyError } from './host-key-policy.ts';
import { AuthenticationFailedError, openSocket, sshLogin, type AuthMethod } from './ssh-login.ts';
import { formatHop } from '../inventory/jump-hosts.ts';

/** A jump host did not answer (or could not reach the next one): worth another try, but not on another port of the host. */
export class JumpHostUnansweredError extends PortUnansweredError {}

/** A jump host as messages name it: `jump host admin@203.0.113.1:22`. */
export function jumpHostLabel(hop: JumpHost): string {
  return `jump host ${formatHop({ host: hop.address, port: hop.port, user: hop.user })}`;
}

/** The settings a hop is reached and checked with: the host's timeouts and host key rules, the hop's address and user. */
function hopSettings(settings: ConnectionSettings, hop: JumpHost): ConnectionSettings {
  return {
    address: hop.address,
    port: hop.port,
    user: hop.user,
    become: false,
    knownHostsFile: settings.knownHostsFile,
    hostKeyChecking: settings.hostKeyChecking,
    hostKeyPort: hop.port,
    connectTimeout: settings.connectTimeout,
    commandTimeout: settings.commandTimeout,
  };
}

/** Open logins to every hop, the last of which forwards connections to the host. */
export class JumpRoute {
  private lost = false;

  private constructor(
    private readonly logins: NodeSSH[],
    private readonly hops: readonly JumpHost[],
  ) {
    for (const login of logins) {
      const client = login.connection;
      const markLost = () => {
        this.lost = true;
      };
      client?.on('close', markLost);
      client?.on('end', markLost);
      client?.on('error', markLost);
    }
  }

  /** Logs in to each hop in turn; throws the first hop's failure, naming that hop (its port unanswered: worth a retry). */
  static async open(settings: ConnectionSettings): Promise<JumpRoute> {
    const hops = settings.jump ?? [];
    const logins: NodeSSH[] = [];
    try {
      for (const [index, hop] of hops.entries()) {
        const where = jumpHostLabel(hop);
        const sock: Duplex =
          index === 0
            ? await openSocket(hop.address, hop.port, settings.connectTimeout, where)
            : await forwardThrough(logins[index - 1]!.connection, jumpHostLabel(hops[index - 1]!), hop.address, hop.port, settings.connectTimeout);
        const reached = hopSettings(settings, hop);
        const knownHosts = settings.hostKeyChecking === 'off' ? '' : await readKnownHosts(settings.knownHostsFile);
        try {
          const { ssh } = await sshLogin({
            settings: reached,
            trustedPort: hop.port,
            where,
            sock,
            methods: await hopMethods(hop, settings, where),
            knownHosts,
            certificates: index === 0,
            hostKeyError: (error) => (error instanceof UnknownHostKeyError ? error.asJumpHost() : new UnreachableError(`${where}: ${error.message}`)),
          });
          logins.push(ssh);
        } catch (error) {
          // The host's fallback user is for the host: a jump host refusing the key is that hop's failure alone.
          if (error instanceof AuthenticationFailedError) throw new UnreachableError(error.message);
          throw error;
        }
      }
    } catch (error) {
      for (const login of logins.reverse()) login.dispose();
      // The host's other ports are no help when the way to it is down.
      if (error instanceof PortUnansweredError && !(error instanceof JumpHostUnansweredError)) throw new JumpHostUnansweredError(error.message, { cause: error });
      throw error;
    }
    return new JumpRoute(logins, hops);
  }

  /** False once any hop's connection ended. */
  get alive(): boolean {
    return !this.lost && this.logins.every((login) => login.connection !== null);
  }

  /** A channel to `address:port`, opened by the last hop; a refused or unanswered port is a PortUnansweredError. */
  forward(address: string, port: number, connectTimeout: number): Promise<Duplex> {
    const last = this.logins.at(-1)!;
    return forwardThrough(last.connection, jumpHostLabel(this.hops.at(-1)!), address, port, connectTimeout);
  }

  /** Closes every hop, the last first. */
  close(): void {
    this.lost = true;
    for (const login of [...this.logins].reverse()) login.dispose();
  }
}

/** Asks a hop to connect to `address:port`, within the connect timeout. */
function forwardThrough(client: Client | null, via: string, address: string, port: number, connectTimeout: number): Promise<Duplex> {
  const target = formatHop({ host: address, port });
  if (!client) return Promise.reject(new PortUnansweredError(`${via} closed the connection before it could forward to ${target}`));
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new PortUnansweredError(`${via} could not connect to ${target}: timed out after ${connectTimeout}s`));
    }, connectTimeout * 1000);
    const done = (error: Error | undefined, channel: Duplex | undefined) => {
      if (settled) {
        channel?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (!error && channel) return resolve(channel);
      const reason = (error as { reason?: number } | undefined)?.reason;
      const why = (error?.message ?? 'no channel').replace(/^\(SSH\) Channel open failure: /, '') || 'refused';
      // 1: administratively prohibited, sshd's answer when AllowTcpForwarding (or PermitOpen) forbids it.
      if (reason === 1) reject(new UnreachableError(`${via} refuses to forward connections to ${target} (${why}): its sshd needs AllowTcpForwarding yes (ssh.allow_forwarding: true, where provision manages it)`));
      else reject(new PortUnansweredError(`${via} could not connect to ${target}: ${why}`));
    };
    try {
      client.forwardOut('127.0.0.1', 0, address, port, (error, channel) => done(error, channel));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

/** A hop's ways to log in: its own key, the host's key file, then the SSH agent. */
async function hopMethods(hop: JumpHost, settings: ConnectionSettings, where: string): Promise<AuthMethod[]> {
  const methods: AuthMethod[] = [];
  for (const file of new Set([hop.privateKeyFile, settings.privateKeyFile].filter((path): path is string => path !== undefined))) {
    try {
      methods.push({ type: 'publickey', username: hop.user, key: await readFile(file, 'utf8') });
    } catch (error) {
      throw new UnreachableError(`cannot read the private key ${file} for ${where}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  if (process.env.SSH_AUTH_SOCK) methods.push({ type: 'agent', username: hop.user, agent: process.env.SSH_AUTH_SOCK });
  if (methods.length === 0) throw new UnreachableError(`no credentials for ${where}: set ansible_ssh_private_key_file, an IdentityFile for it in ~/.ssh/config, or run an SSH agent`);
  return methods;
}
