/** Makes a Docker engine answer on this machine: install Debian's docker.io and start dockerd when needed. */
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { $ } from 'zx';

/** Receives one human-readable progress line. */
export type LabLog = (line: string) => void;

/** Where the dockerd we start writes its output; its tail goes into the error when it doesn't come up. */
export const DOCKERD_LOG_FILE = '/var/log/provision-dockerd.log';

const ENGINE_START_TIMEOUT_MS = 60_000;

/** Finds an executable on PATH, then in the sbin/bin directories a non-login PATH may lack. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** The docker client to run: the one on PATH, else the one Debian's docker.io installs. */
export function dockerCommand(): string {
  return findExecutable('docker') ?? '/usr/bin/docker';
}

/** True when a Docker engine answers `docker info`. */
export async function dockerAnswers(): Promise<boolean> {
  const client = findExecutable('docker');
  if (!client) return false;
  // A stale socket can make the client hang; a short timeout keeps the fast path fast.
  const result = await $({ quiet: true, nothrow: true, timeout: '20s' })`${client} info --format '{{.ServerVersion}}'`;
  return result.exitCode === 0;
}

/**
 * Runs `task` while holding a machine-wide lock file, so that two processes never set up the same thing at once.
 * A lock left by a dead process is taken over.
 */
export async function withMachineLock<T>(name: string, task: () => Promise<T>, waitMs = 20 * 60_000): Promise<T> {
  const file = join(tmpdir(), `provision-${name}.lock`);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (!lockHolderAlive(file)) {
        unlinkSafe(file);
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${file}`);
      await sleep(500);
    }
  }
  try {
    return await task();
  } finally {
    unlinkSafe(file);
  }
}

function lockHolderAlive(file: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return true; // being written right now: treat as held
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function unlinkSafe(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/** Installs Debian packages non-interactively (we run as root on a Debian machine). */
export async function aptInstall(packages: readonly string[], log: LabLog): Promise<void> {
  const apt = $({ quiet: true, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  log(`apt-get install ${packages.join(' ')}`);
  // Another apt (e.g. a daily timer) may hold the lock for a while: wait for it instead of failing.
  await apt`apt-get -o DPkg::Lock::Timeout=300 update -q`;
  await apt`apt-get -o DPkg::Lock::Timeout=300 install -y -q ${packages}`;
}

/**
 * Makes sure a Docker engine answers: returns at once if `docker info` works; otherwise installs docker.io
 * when dockerd is missing, starts dockerd detached (it outlives this process) and waits for it.
 */
export async function ensureDockerEngine(log: LabLog = () => {}): Promise<void> {
  if (await dockerAnswers()) return;
  await withMachineLock('docker-engine', async () => {
    if (await dockerAnswers()) return; // another process started it while we waited
    if (!findExecutable('dockerd')) {
      await aptInstall(['docker.io'], log);
      // On a machine run by systemd the package starts the engine itself.
      if (await dockerAnswers()) return;
    }
    const started = startDockerd(log);
    await waitForEngine(started);
    log('docker engine is up');
  });
}

const LOG_HEADER = '--- provision starts dockerd';

/** Starts dockerd in the background; the returned state says whether it has exited already. */
function startDockerd(log: LabLog): { exited: boolean } {
  const dockerd = findExecutable('dockerd');
  if (!dockerd) throw new Error('dockerd is missing even after installing docker.io');
  log(`starting ${dockerd} (log: ${DOCKERD_LOG_FILE})`);
  const out = openSync(DOCKERD_LOG_FILE, 'a');
  writeFileSync(out, `${LOG_HEADER} at ${new Date().toISOString()}\n`);
  // Own session and no pipes to us: the engine keeps running after this process exits, and a CI log isn't held open.
  const child = spawn(dockerd, [], { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  const state = { exited: false };
  child.on('exit', () => (state.exited = true));
  child.on('error', () => (state.exited = true));
  child.unref();
  return state;
}

async function waitForEngine(dockerd: { exited: boolean }): Promise<void> {
  let deadline = Date.now() + ENGINE_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await dockerAnswers()) return;
    // Ours died (e.g. another dockerd holds the pid file): give that other one a few seconds, not the full minute.
    if (dockerd.exited) deadline = Math.min(deadline, Date.now() + 10_000);
    await sleep(500);
  }
  throw new Error(`dockerd did not answer${dockerd.exited ? ' and exited' : ''}; ${DOCKERD_LOG_FILE} says:\n${logTail(DOCKERD_LOG_FILE, 20)}`);
}

/** The last lines that our latest start of dockerd wrote. */
function logTail(file: string, lines: number): string {
  try {
    const text = readFileSync(file, 'utf8');
    const ours = text.slice(Math.max(0, text.lastIndexOf(LOG_HEADER)));
    return ours.trimEnd().split('\n').slice(-lines).join('\n');
  } catch (error) {
    return `(cannot read: ${(error as Error).message})`;
  }
}
