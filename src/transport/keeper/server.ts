/**
 * The connection keeper: a background process that holds SSH connections between runs, so that a run soon after
 * another logs in no more (what OpenSSH's ControlPersist does for Ansible). A run leases a connection, sends its
 * commands through the keeper, and hands the connection back when it is done; the keeper closes it `persist`
 * seconds later unless a run leases it again, and exits once it holds nothing.
 *
 * A lease is never shared: a second run asking for the same host at the same time gets a login of its own. A run
 * that ends without handing a connection back (killed) has it closed, and with it any command still running, as
 * a run's own connection would be.
 */
import net from 'node:net';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { ShellCommand } from '../shell.ts';
import { SshConnection } from '../ssh.ts';
import { encodeError, readMessages, sendMessage, type KeeperRequest, type OpenedLease } from './protocol.ts';

interface Lease {
  key: string;
  persist: number;
  connection: SshConnection;
  running: number;
}

interface Idle {
  connection: SshConnection;
  timer: NodeJS.Timeout;
}

/** How long the keeper waits, holding nothing and serving no run, before it exits. */
const EMPTY_GRACE_MS = 2_000;

/**
 * Serves runs on `socketPath`. The run that started the keeper connected directly; the keeper waits `firstWait`
 * seconds (that run's ssh_persist) for the next.
 */
export async function runKeeper(socketPath: string, firstWait: number): Promise<void> {
  const idle = new Map<string, Idle[]>();
  const leases = new Map<number, Lease>();
  const clients = new Set<net.Socket>();
  let nextLease = 1;
  let exitTimer: NodeJS.Timeout | undefined;

  const checkEmpty = (waitMs = EMPTY_GRACE_MS) => {
    clearTimeout(exitTimer);
    if (clients.size > 0 || leases.size > 0 || idle.size > 0) return;
    exitTimer = setTimeout(() => shutDown(), waitMs);
  };

  const keep = (key: string, connection: SshConnection, persist: number) => {
    const list = idle.get(key) ?? [];
    const entry: Idle = {
      connection,
      timer: setTimeout(() => {
        const left = (idle.get(key) ?? []).filter((other) => other !== entry);
        if (left.length > 0) idle.set(key, left);
        else idle.delete(key);
        void connection.close();
        checkEmpty();
      }, persist * 1000),
    };
    list.push(entry);
    idle.set(key, list);
  };

  /**
   * An idle connection for `key` that still answers, taken out of the idle list. A host that went away without a word
   * (no reset) leaves a connection that looks open: a question to sshd, answered within the connect timeout, tells.
   */
  const takeIdle = async (key: string, answerMs: number): Promise<SshConnection | undefined> => {
    for (;;) {
      const list = idle.get(key) ?? [];
      const entry = list.pop();
      if (list.length === 0) idle.delete(key);
      if (!entry) return undefined;
      clearTimeout(entry.timer);
      if (entry.connection.alive && (await entry.connection.answers(answerMs))) return entry.connection;
      void entry.connection.close();
    }
  };

  const handle = async (request: KeeperRequest, owned: Set<number>): Promise<unknown> => {
    switch (request.op) {
      case 'open': {
        if ((request.authSock ?? null) !== (process.env.SSH_AUTH_SOCK ?? null)) {
          throw new Error('the keeper was started with another SSH agent');
        }
        let connection = await takeIdle(request.key, request.settings.connectTimeout * 1000);
        const opened = connection === undefined;
        connection ??= await SshConnection.open(request.settings);
        const lease = nextLease++;
        leases.set(lease, { key: request.key, persist: request.persist, connection, running: 0 });
        owned.add(lease);
        return { lease, authenticatedWith: connection.authenticatedWith, usesSudo: connection.usesSudo, opened } satisfies OpenedLease;
      }
      case 'exec': {
        const lease = leases.get(request.lease);
        if (!lease || !owned.has(request.lease)) throw new Error(`no lease ${request.lease}`);
        lease.running += 1;
        try {
          return await lease.connection.exec(ShellCommand.fromQuoted(request.command), request.options);
        } finally {
          lease.running -= 1;
        }
      }
      case 'release': {
        const lease = leases.get(request.lease);
        if (!lease || !owned.has(request.lease)) return undefined;
        leases.delete(request.lease);
        owned.delete(request.lease);
        if (request.keep && lease.persist > 0 && lease.running === 0 && lease.connection.alive) keep(lease.key, lease.connection, lease.persist);
        else await lease.connection.close();
        return undefined;
      }
    }
  };

  const server = net.createServer((socket) => {
    clients.add(socket);
    clearTimeout(exitTimer);
    const owned = new Set<number>();
    readMessages(socket, (message) => {
      const request = message as KeeperRequest;
      handle(request, owned).then(
        (value) => sendMessage(socket, { id: request.id, ok: true, value }),
        (error: unknown) => sendMessage(socket, { id: request.id, ok: false, error: encodeError(error) }),
      );
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clients.delete(socket);
      // A run that went away without handing its connections back: they close, and commands still running on them
      // end as they would had the run's own connection dropped.
      for (const id of owned) {
        const lease = leases.get(id);
        leases.delete(id);
        void lease?.connection.close();
      }
      checkEmpty();
    });
  });

  const shutDown = () => {
    server.close();
    for (const list of idle.values()) for (const entry of list) void entry.connection.close();
    for (const lease of leases.values()) void lease.connection.close();
    rmSync(socketPath, { force: true });
    rmSync(`${socketPath}.pid`, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', shutDown);
  process.on('SIGINT', shutDown);

  await listen(server, socketPath);
  chmodSync(socketPath, 0o600);
  writeFileSync(`${socketPath}.pid`, `${process.pid}\n`, { mode: 0o600 });
  checkEmpty(Math.max(firstWait * 1000, EMPTY_GRACE_MS));
}

/**
 * Listens on the socket. A socket file left by a keeper that died is removed; one that answers belongs to a keeper
 * already running (started by another run at the same moment), and this one exits.
 */
async function listen(server: net.Server, socketPath: string): Promise<void> {
  const attempt = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await attempt();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    if (await answers(socketPath)) process.exit(0);
    rmSync(socketPath, { force: true });
    await attempt();
  }
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
