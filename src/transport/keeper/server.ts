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
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { ShellCommand } from '../shell.ts';
import { SshConnection } from '../ssh.ts';
import { loginPublicKeys } from '../login-keys.ts';
import { encodeError, readMessages, sendMessage, targetOf, type KeeperRequest, type OpenedLease } from './protocol.ts';

/** A connection as the keeper holds it. */
interface Held {
  /** What a run's settings must match to lease it (see connectionKey). */
  key: string;
  /** `address:port`: a run that changed the host drops every connection to it. */
  target: string;
  connection: SshConnection;
  /** When it logged in (performance.now()). */
  born: number;
}

interface Lease extends Held {
  persist: number;
  running: number;
}

interface Idle extends Held {
  timer: NodeJS.Timeout;
}

/** A run's socket: the leases it holds, and whether it went away. */
interface Client {
  owned: Set<number>;
  gone: boolean;
}

/** How long the keeper waits, holding nothing and serving no run, before it exits. */
const EMPTY_GRACE_MS = 2_000;

/**
 * The longest a connection is kept from its login, and a keeper serves new runs from its start: a change made
 * outside the keeper's view (another run at the same time, a run without it) is hidden no longer than this, and a
 * keeper of an older build gives way to the current one.
 */
const MAX_AGE_MS = 10 * 60_000;

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
  let retired = false;

  const checkEmpty = (waitMs = EMPTY_GRACE_MS) => {
    clearTimeout(exitTimer);
    if (clients.size > 0 || leases.size > 0 || idle.size > 0) return;
    exitTimer = setTimeout(() => shutDown(), waitMs);
  };

  /** Takes an idle connection out of the list (its timer stopped). */
  const unlist = (entry: Idle) => {
    clearTimeout(entry.timer);
    const left = (idle.get(entry.key) ?? []).filter((other) => other !== entry);
    if (left.length > 0) idle.set(entry.key, left);
    else idle.delete(entry.key);
  };

  const keep = (held: Held, persist: number) => {
    const entry: Idle = {
      ...held,
      timer: setTimeout(() => {
        unlist(entry);
        void held.connection.close();
        checkEmpty();
      }, Math.min(persist * 1000, MAX_AGE_MS - (performance.now() - held.born))),
    };
    idle.set(held.key, [...(idle.get(held.key) ?? []), entry]);
  };

  /** Closes every idle connection to `target`, whatever settings it logged in with. */
  const dropTarget = (target: string) => {
    for (const list of [...idle.values()]) {
      for (const entry of list.filter((candidate) => candidate.target === target)) {
        unlist(entry);
        void entry.connection.close();
      }
    }
  };

  /**
   * An idle connection for `key` that still answers, taken out of the idle list. A host that went away without a word
   * (no reset) leaves a connection that looks open: a question to sshd, answered within the connect timeout, tells.
   */
  const takeIdle = async (key: string, answerMs: number): Promise<Idle | undefined> => {
    for (;;) {
      const entry = idle.get(key)?.at(-1);
      if (!entry) return undefined;
      unlist(entry);
      if (entry.connection.alive && (await entry.connection.answers(answerMs))) return entry;
      void entry.connection.close();
    }
  };

  const handle = async (request: KeeperRequest, client: Client): Promise<unknown> => {
    switch (request.op) {
      case 'open': {
        if ((request.authSock ?? null) !== (process.env.SSH_AUTH_SOCK ?? null)) {
          throw new Error('the keeper was started with another SSH agent');
        }
        const target = targetOf(request.settings);
        // Read while the connection is found or opened; a failure is the run's to meet and report, reading them itself.
        const publicKeys = loginPublicKeys(request.settings, process.env.SSH_AUTH_SOCK).catch(() => undefined);
        const kept = await takeIdle(request.key, request.settings.connectTimeout * 1000);
        const held: Held = kept ?? { key: request.key, target, connection: await SshConnection.open(request.settings), born: performance.now() };
        if (client.gone) {
          // The run went away while its connection was being opened: nobody will hand it back.
          void held.connection.close();
          throw new Error('the run went away');
        }
        const lease = nextLease++;
        leases.set(lease, { ...held, persist: request.persist, running: 0 });
        client.owned.add(lease);
        const { connection } = held;
        const keys = await publicKeys;
        const login = { user: connection.settings.user, port: connection.settings.port, become: connection.settings.become };
        return { lease, authenticatedWith: connection.authenticatedWith, usesSudo: connection.usesSudo, opened: !kept, login, ...(keys ? { publicKeys: keys } : {}) } satisfies OpenedLease;
      }
      case 'exec': {
        const lease = leases.get(request.lease);
        if (!lease || !client.owned.has(request.lease)) throw new Error(`no lease ${request.lease}`);
        lease.running += 1;
        try {
          return await lease.connection.exec(ShellCommand.fromQuoted(request.command), request.options);
        } finally {
          lease.running -= 1;
        }
      }
      case 'release': {
        const lease = leases.get(request.lease);
        if (!lease || !client.owned.has(request.lease)) return undefined;
        leases.delete(request.lease);
        client.owned.delete(request.lease);
        const young = performance.now() - lease.born < MAX_AGE_MS;
        if (request.keep && !retired && young && lease.persist > 0 && lease.running === 0 && lease.connection.alive) {
          keep(lease, lease.persist);
          return undefined;
        }
        // A run that changed the host (or failed on it): no connection to it, of this run or another, is kept.
        if (!request.keep) dropTarget(lease.target);
        await lease.connection.close();
        checkEmpty();
        return undefined;
      }
      case 'forget': {
        dropTarget(request.target);
        checkEmpty();
        return undefined;
      }
    }
  };

  const server = net.createServer((socket) => {
    clients.add(socket);
    clearTimeout(exitTimer);
    const client: Client = { owned: new Set(), gone: false };
    readMessages(socket, (message) => {
      const request = message as KeeperRequest;
      handle(request, client).then(
        (value) => sendMessage(socket, { id: request.id, ok: true, value }),
        (error: unknown) => sendMessage(socket, { id: request.id, ok: false, error: encodeError(error) }),
      );
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clients.delete(socket);
      client.gone = true;
      // A run that went away without handing its connections back: they close, and commands still running on them
      // end as they would had the run's own connection dropped.
      for (const id of client.owned) {
        const lease = leases.get(id);
        leases.delete(id);
        void lease?.connection.close();
      }
      checkEmpty();
    });
  });

  /** Removes the socket and pid files, unless another keeper has taken the socket over since. */
  const removeFiles = () => {
    if (!ownsSocket(socketPath)) return;
    rmSync(socketPath, { force: true });
    rmSync(`${socketPath}.pid`, { force: true });
  };

  const shutDown = () => {
    server.close();
    for (const list of idle.values()) for (const entry of list) void entry.connection.close();
    for (const lease of leases.values()) void lease.connection.close();
    removeFiles();
    process.exit(0);
  };

  // Past its age the keeper takes no new runs: the next run starts a new one. It exits once its leases are back.
  setTimeout(() => {
    retired = true;
    server.close();
    removeFiles();
    for (const list of [...idle.values()]) for (const entry of list) {
      unlist(entry);
      void entry.connection.close();
    }
    checkEmpty();
  }, MAX_AGE_MS).unref();
  process.on('SIGTERM', shutDown);
  process.on('SIGINT', shutDown);

  await listen(server, socketPath);
  chmodSync(socketPath, 0o600);
  writeFileSync(`${socketPath}.pid`, `${process.pid}\n`, { mode: 0o600 });
  checkEmpty(Math.max(firstWait * 1000, EMPTY_GRACE_MS));
}

/** True when the pid file beside the socket names this process. */
function ownsSocket(socketPath: string): boolean {
  try {
    return Number(readFileSync(`${socketPath}.pid`, 'utf8')) === process.pid;
  } catch {
    return false;
  }
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
