/**
 * One SSH login over a stream, to a host or to a jump host on the way to it: the key exchange, the host key check
 * (decided before any credential is sent), authentication, and what went wrong in words an operator can act on.
 * A failure that passes (the port did not answer, sshd reset the connection before its banner) is a
 * PortUnansweredError, worth another try; the others are not.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import type { ConnectConfig } from 'ssh2';
import type { ConnectionSettings } from '../inventory/types.ts';
import { UnreachableError } from '../errors.ts';
import { redact } from '../report/redact.ts';
import { PortUnansweredError } from './remote-command.ts';
import { hostKeyAlgorithms, verifyHostKey } from './verify-host-key.ts';

/** How a connection that sshd never greeted ends: reset, broken pipe, or closed (ssh2's words for an EOF). */
export const PRE_BANNER_ENDS = /ECONNRESET|EPIPE|ECONNABORTED|connection lost before handshake|socket hang up/i;

/** sshd refused every credential this run has: never retried on the same login. */
export class AuthenticationFailedError extends UnreachableError {}

/** The way a login proved who it is. */
export type AuthMethodName = 'publickey' | 'agent' | 'password';

/** One authentication method, as ssh2's auth handler takes it. */
export type AuthMethod = { type: string; username: string } & Record<string, unknown>;

/** Opens a TCP socket with Nagle's algorithm off: ssh2 leaves it on, costing ~40 ms per command. `where` names it in errors. */
export function openSocket(address: string, port: number, connectTimeout: number, where: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new PortUnansweredError(`connect to ${where} timed out after ${connectTimeout}s`));
    }, connectTimeout * 1000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = error.code ?? error.message;
      // A reset while connecting is a proxy that accepted and dropped it: for the operator, the same as one after.
      const message = PRE_BANNER_ENDS.test(why) ? `${where} closed the connection before sshd's banner (${why})` : `cannot connect to ${where}: ${why}`;
      reject(new PortUnansweredError(message, { cause: error }));
    });
  });
}

/** The auth methods to try, key (file or agent) first, then the password, so hardened hosts use the key. */
export function authMethods(user: string, privateKey: string | undefined, password: string | undefined): AuthMethod[] {
  const methods: AuthMethod[] = [];
  if (privateKey) methods.push({ type: 'publickey', username: user, key: privateKey });
  else if (process.env.SSH_AUTH_SOCK) methods.push({ type: 'agent', username: user, agent: process.env.SSH_AUTH_SOCK });
  if (password) {
    methods.push({ type: 'password', username: user, password });
    methods.push({
      type: 'keyboard-interactive',
      username: user,
      prompt: (_name: string, _instructions: string, _lang: string, prompts: unknown[], finish: (answers: string[]) => void) => finish(prompts.map(() => password)),
    });
  }
  return methods;
}

/** What one login needs. */
export interface LoginRequest {
  /** Where it goes and how its key is checked: address, port, user, timeouts, known_hosts, checking, pins. */
  settings: ConnectionSettings;
  /** The port whose known key vouches for the server (the inventory's, when sshd moved; see verify-host-key.ts). */
  trustedPort: number;
  /** The server as messages name it, e.g. `root@10.0.0.5:22` or `jump host admin@203.0.113.1:22`. */
  where: string;
  /** The stream to the server: a TCP socket, or a channel forwarded by a jump host. */
  sock: Duplex;
  methods: AuthMethod[];
  /** known_hosts as read for this login ('' when unchecked). */
  knownHosts: string;
  /** False behind a jump host, where ssh-keyscan cannot reach the server for its certificates. */
  certificates: boolean;
  /** Turns a refused host key into the error to report (a jump host's says so). */
  hostKeyError?: (error: UnreachableError) => UnreachableError;
}

/** Logs in, or throws what went wrong; the stream is destroyed on failure. */
export async function sshLogin(request: LoginRequest): Promise<{ ssh: NodeSSH; method: AuthMethodName }> {
  const { settings, trustedPort, where, sock, methods, knownHosts } = request;
  let hostKeyProblem: UnreachableError | undefined;
  let lastMethod: AuthMethodName = 'publickey';
  const serverHostKey = hostKeyAlgorithms(settings, trustedPort, knownHosts);
  const ssh = new NodeSSH();
  let index = 0;
  const connecting = ssh.connect({
    sock: sock as never,
    host: settings.address,
    port: settings.port,
    username: settings.user,
    readyTimeout: settings.connectTimeout * 1000,
    keepaliveInterval: 15_000,
    // The key types already trusted for the host are asked for first, so a known host is never taken for a changed one.
    ...(serverHostKey ? { algorithms: { serverHostKey: serverHostKey as never } } : {}),
    authHandler: ((_left: unknown, _partial: unknown, next: (method: unknown) => void) => {
      const method = methods[index++];
      if (method) lastMethod = method.type === 'keyboard-interactive' ? 'password' : (method.type as AuthMethodName);
      next(method ?? false);
    }) as never,
    hostVerifier: ((key: Buffer, verify: (ok: boolean) => void) => {
      // Decided before any auth method runs: a refused key has been sent nothing but the key exchange.
      verifyHostKey(settings, trustedPort, knownHosts, key, { certificates: request.certificates }).then(
        (problem) => {
          hostKeyProblem = problem && (request.hostKeyError?.(problem) ?? problem);
          verify(problem === undefined);
        },
        (error: Error) => {
          hostKeyProblem = new UnreachableError(`cannot check the host key of ${where}: ${error.message}`);
          verify(false);
        },
      );
    }) as never,
  } satisfies ConnectConfig & Record<string, unknown>);
  // Counted from here on: ssh2 reads the stream from its own listener, attached by connect() above.
  const received = byteCounter(sock);
  try {
    await connecting;
  } catch (error) {
    // Read before destroy: a connection that ended with nothing received never saw sshd's banner.
    const beforeBanner = received() === 0;
    sock.destroy();
    if (hostKeyProblem) throw hostKeyProblem;
    const message = error instanceof Error ? error.message : String(error);
    if (beforeBanner && PRE_BANNER_ENDS.test(message)) {
      // Accepted, then reset or closed without a word from sshd: a port proxy in front of a listener that is being
      // reopened (sshd re-executes on reload) or is not there yet. Worth another try, as a refused port is.
      throw new PortUnansweredError(`${where} closed the connection before sshd's banner (${redact(message)})`);
    }
    // sshd ends the connection itself once MaxAuthTries methods failed, before the client runs out of them.
    if (/authentication methods failed|too many authentication failures/i.test(message)) {
      throw new AuthenticationFailedError(`authentication failed for ${where} (tried: ${methods.map((m) => m.type).join(', ') || 'nothing'})`);
    }
    if (/connection lost before handshake/i.test(message)) {
      // The port answered and sshd closed it at once: it is re-executing itself after a reload (SIGHUP closes and
      // reopens its socket) or dropping connections past MaxStartups. Both pass: worth another try.
      throw new PortUnansweredError(`${where} closed the connection before the SSH handshake (sshd reloading or busy)`);
    }
    if (/timed out while waiting for handshake/i.test(message)) {
      // The port answered but sshd never completed the handshake (hung or overloaded): worth another try.
      throw new PortUnansweredError(`no SSH handshake from ${where}: timed out after ${settings.connectTimeout}s`);
    }
    throw new UnreachableError(`cannot open SSH session to ${where}: ${redact(message)}`, { cause: error });
  }
  return { ssh, method: lastMethod };
}

/** Bytes received on the stream: a socket counts them itself; a forwarded channel is counted here. */
function byteCounter(sock: Duplex): () => number {
  if (sock instanceof net.Socket) return () => sock.bytesRead;
  let count = 0;
  // Paused first: listening must not start the flow before ssh2's own listener is there (ssh2 resumes the stream then).
  sock.pause();
  sock.on('data', (chunk: Buffer) => (count += chunk.length));
  return () => count;
}
