/**
 * What the CLI and the connection keeper say to each other over the keeper's Unix socket: one JSON object per line.
 * Requests name an id; the reply carries it back. Errors cross as their class name and fields, and are rebuilt as
 * the same classes, so the engine tells an unreachable host from a timed-out command as it does for its own
 * connections.
 */
import type { Socket } from 'node:net';
import type { ConnectionSettings } from '../../inventory/types.ts';
import { UnreachableError } from '../../errors.ts';
import { CommandTimeoutError, OutputLimitError, PortUnansweredError, type ExecOptions } from '../remote-command.ts';
import { UnknownHostKeyError } from '../host-key-policy.ts';

/**
 * Bumped whenever a message or the meaning of a setting changes: the socket's name carries it, so a CLI never talks
 * to a keeper of another build (one that would, say, check host keys by older rules).
 */
export const KEEPER_PROTOCOL = 5;

export type KeeperRequest =
  /** A connection for `settings`: a kept one for the same `key` if one is idle and alive, else a new login. */
  | { id: number; op: 'open'; key: string; settings: ConnectionSettings; persist: number; authSock: string | null }
  | { id: number; op: 'exec'; lease: number; command: string; options: ExecOptions }
  /** The run is done with the connection: kept for `persist` seconds when `keep`, else closed. */
  | { id: number; op: 'release'; lease: number; keep: boolean }
  /** A run changed the host at `target` (`address:port`) without the keeper: what is kept for it is closed. */
  | { id: number; op: 'forget'; target: string };

export interface OpenedLease {
  lease: number;
  authenticatedWith: 'publickey' | 'agent' | 'password';
  usesSudo: boolean;
  /** True when the keeper logged in for this request; false for a connection kept from an earlier run. */
  opened: boolean;
  /** The public keys the login can use, read as the run would (see loginPublicKeys); absent when they could not be. */
  publicKeys?: string[];
  /** Where the login landed: the port and user it logged in on (a fallback may differ from what was asked), and sudo. */
  login: { user: string; port: number; become: boolean };
}

export type KeeperReply = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: WireError };

export interface WireError {
  name: string;
  message: string;
  command?: string;
  timeoutMs?: number;
  processGroup?: number;
  /** An UnknownHostKeyError's key and where it was offered. */
  hostKey?: { address: string; port: number; publicKey: string; knownHostsFile: string; jumpHost?: boolean };
}

/** The host a connection goes to, as `address:port`: what a change on it drops. */
export function targetOf(settings: ConnectionSettings): string {
  return `${settings.address}:${settings.port}`;
}

/** An error as it crosses the socket. */
export function encodeError(error: unknown): WireError {
  if (error instanceof CommandTimeoutError) {
    return { name: 'CommandTimeoutError', message: error.message, command: error.command, timeoutMs: error.timeoutMs, processGroup: error.processGroup };
  }
  if (error instanceof OutputLimitError) return { name: 'OutputLimitError', message: error.message, command: error.command };
  if (error instanceof PortUnansweredError) return { name: 'PortUnansweredError', message: error.message };
  if (error instanceof UnknownHostKeyError) {
    const { address, port, publicKey, knownHostsFile, jumpHost } = error;
    return { name: 'UnknownHostKeyError', message: error.message, hostKey: { address, port, publicKey, knownHostsFile, jumpHost } };
  }
  if (error instanceof UnreachableError) return { name: 'UnreachableError', message: error.message };
  return { name: 'Error', message: error instanceof Error ? error.message : String(error) };
}

/** The error rebuilt as the class it was thrown as. */
export function decodeError(wire: WireError): Error {
  switch (wire.name) {
    case 'CommandTimeoutError':
      return new CommandTimeoutError(wire.command ?? '', wire.timeoutMs ?? 0, wire.processGroup ?? 0);
    case 'OutputLimitError':
      return new OutputLimitError(wire.command ?? '');
    case 'PortUnansweredError':
      return new PortUnansweredError(wire.message);
    case 'UnknownHostKeyError':
      if (!wire.hostKey) return new UnreachableError(wire.message);
      return new UnknownHostKeyError(wire.hostKey.address, wire.hostKey.port, wire.hostKey.publicKey, wire.hostKey.knownHostsFile, wire.message, wire.hostKey.jumpHost === true);
    case 'UnreachableError':
      return new UnreachableError(wire.message);
    default:
      return new Error(wire.message);
  }
}

/** Calls `onMessage` with each JSON line the socket receives; a line that is not JSON ends the socket. */
export function readMessages(socket: Socket, onMessage: (message: unknown) => void): void {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    let end: number;
    while ((end = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        socket.destroy();
        return;
      }
      onMessage(message);
    }
  });
}

/** Sends one message (JSON escapes newlines inside strings, so a line is a message). */
export function sendMessage(socket: Socket, message: KeeperRequest | KeeperReply): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(message)}\n`);
}
