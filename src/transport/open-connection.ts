/**
 * Opens a host's connection for a run: through the connection keeper when `ssh_persist` allows (see
 * keeper/server.ts), else directly. The keeper is a convenience, never a condition: when it is missing, refuses,
 * or its socket's directory is unsafe, the run connects directly, and starts a keeper for the runs that follow.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { ConnectionSettings } from '../inventory/types.ts';
import { InputError } from '../errors.ts';
import { parseDuration } from '../inventory/duration.ts';
import { projectPath } from '../project-root.ts';
import type { HostConnection } from './connection.ts';
import { KeeperClient, KeeperUnavailableError, KeptConnection } from './keeper/client.ts';
import { keeperSocket } from './keeper/paths.ts';
import { targetOf } from './keeper/protocol.ts';

/**
 * Seconds a connection may be kept after a run: `PROVISION_SSH_PERSIST` (a duration; 0 turns keeping off) when set,
 * else the host's `ssh_persist`.
 */
export function persistSeconds(settings: ConnectionSettings, env: NodeJS.ProcessEnv = process.env): number {
  const override = env.PROVISION_SSH_PERSIST;
  if (override !== undefined && override !== '') {
    const seconds = parseDuration(override);
    if (seconds === undefined) throw new InputError(`PROVISION_SSH_PERSIST=${override}: expected a duration like 60s or 0`);
    return seconds;
  }
  return settings.persist ?? 0;
}

/**
 * What a kept connection must match to serve a run: every setting (the password and sudo's among them, as a hash
 * only; the jump hosts, in order), the private keys' contents and the known_hosts file's, so that a changed key,
 * user, port, password or way through the jump hosts, or a host key removed or revoked since, gets a login (and a
 * host key check) of its own.
 */
export function connectionKey(settings: ConnectionSettings, keyContents: string | undefined, knownHosts: string | undefined): string {
  // Plain code-unit order: localeCompare would load ICU's collator, ~10 ms of every start.
  const fields = Object.entries({ ...settings, persist: undefined }).filter(([, value]) => value !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify([fields, keyContents ?? null, knownHosts ?? null])).digest('hex');
}

/** The run's client of the keeper, asked for once: undefined when none answers (one is then started). */
let client: Promise<KeeperClient | undefined> | undefined;

function keeperClient(socketPath: string, persist: number): Promise<KeeperClient | undefined> {
  client ??= KeeperClient.connect(socketPath).then((found) => {
    if (!found) startKeeper(socketPath, persist);
    return found;
  });
  return client;
}

/** Starts a keeper in the background, detached from this run: the next run finds it. */
function startKeeper(socketPath: string, persist: number): void {
  try {
    const child = spawn(process.execPath, [projectPath('bin', 'provision.js'), 'keep-connections', socketPath, String(persist)], {
      detached: true,
      stdio: 'ignore',
      cwd: '/',
      env: keeperEnvironment(process.env),
    });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // Only the next run's speed depends on it.
  }
}

/**
 * What the keeper inherits of the run's environment: no more than it needs to find programs and the SSH agent. It
 * outlives the run, and the run's environment may hold the secrets an inventory names as `${NAME}`.
 */
export function keeperEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'TZ', 'SSH_AUTH_SOCK', 'XDG_RUNTIME_DIR', 'PROVISION_KEEPER_DIR']) {
    if (env[name] !== undefined) kept[name] = env[name];
  }
  return kept;
}

/** Ends this run's socket to the keeper, if it has one (connections still leased close with it). */
export async function endKeeperClient(): Promise<void> {
  const found = await client;
  found?.end();
  client = undefined;
}

/**
 * A connection of the run's own. The SSH library is loaded only then: a run on kept connections needs none of it,
 * and loading it is a tenth of the CLI's start.
 */
async function openDirect(settings: ConnectionSettings): Promise<HostConnection> {
  const { SshConnection } = await import('./ssh.ts');
  return SshConnection.open(settings);
}

/** The host's connection for this run. */
export async function openHostConnection(settings: ConnectionSettings): Promise<HostConnection> {
  const persist = persistSeconds(settings);
  const socketPath = persist > 0 ? keeperSocket() : undefined;
  const keeper = socketPath ? await keeperClient(socketPath, persist) : undefined;
  if (!keeper?.usable) return openDirect(settings);
  const keyContents = keyFilesContents(settings);
  const knownHosts = settings.hostKeyChecking === 'off' ? undefined : readText(settings.knownHostsFile);
  try {
    return await KeptConnection.open(keeper, { ...settings, persist }, connectionKey(settings, keyContents, knownHosts));
  } catch (error) {
    if (error instanceof KeeperUnavailableError || (error instanceof Error && error.constructor === Error)) return openDirect(settings);
    throw error;
  }
}

/**
 * Ends the run's use of a host's connection. A kept connection goes back to the keeper (kept only with `keep`); after a
 * run that changed the host over a connection of its own, a keeper that holds connections to it is told to close them.
 */
export async function releaseHostConnection(connection: HostConnection, keep: boolean): Promise<void> {
  await connection.close({ keep });
  if (keep || connection instanceof KeptConnection) return;
  const socketPath = keeperSocket();
  if (!socketPath || !existsSync(socketPath)) return;
  const keeper = await KeeperClient.connect(socketPath);
  if (!keeper) return;
  await keeper.request({ op: 'forget', target: targetOf(connection.settings) }, 10_000).catch(() => undefined);
  keeper.end();
}

/** The contents of the host's key file, and of the jump hosts' own keys when they have some (for connectionKey). */
export function keyFilesContents(settings: ConnectionSettings): string | undefined {
  const own = settings.privateKeyFile ? readText(settings.privateKeyFile) : undefined;
  const hops = (settings.jump ?? []).map((hop) => (hop.privateKeyFile ? (readText(hop.privateKeyFile) ?? null) : null));
  return hops.some((contents) => contents !== null) ? JSON.stringify([own ?? null, ...hops]) : own;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    // SshConnection.open names an unreadable key; a missing known_hosts file is one with no entries.
    return undefined;
  }
}
