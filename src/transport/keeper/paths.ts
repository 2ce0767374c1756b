/**
 * Where the connection keeper listens: a Unix socket in a directory only this user can enter, as OpenSSH's
 * ControlPath and Ansible's ~/.ansible/cp are. Whoever can open the socket can run commands as the hosts' login
 * user, so a directory that another user owns or can enter is never used: the run then connects directly. Every
 * directory above it counts too: whoever can rename an entry on the way (an `XDG_RUNTIME_DIR` that root kept from a
 * user after `su` or `sudo -E`) could swap the socket's directory for one of their own, with a fake keeper in it.
 */
import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { KEEPER_PROTOCOL } from './protocol.ts';

/** The current user's uid (undefined where there are none). */
function currentUid(): number | undefined {
  return process.getuid?.();
}

/** `$XDG_RUNTIME_DIR` when it is a directory of the current user's own, else undefined (after `su`, it may be another's). */
function ownRuntimeDir(env: NodeJS.ProcessEnv): string | undefined {
  const dir = env.XDG_RUNTIME_DIR;
  if (!dir) return undefined;
  try {
    const stats = lstatSync(dir);
    return stats.isDirectory() && stats.uid === currentUid() ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** The directory for the keeper's socket: `$PROVISION_KEEPER_DIR`, else `$XDG_RUNTIME_DIR/provision` (when the user's own), else one in the temp dir per user. */
export function keeperDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PROVISION_KEEPER_DIR) return env.PROVISION_KEEPER_DIR;
  const runtime = ownRuntimeDir(env);
  if (runtime) return join(runtime, 'provision');
  return join(tmpdir(), `provision-${userInfo().uid}`);
}

/** `path` and every directory above it, root last. */
function withAncestors(path: string): string[] {
  const paths = [path];
  while (dirname(paths.at(-1)!) !== paths.at(-1)) paths.push(dirname(paths.at(-1)!));
  return paths;
}

/**
 * Why a directory above the socket's lets another user change what the path leads to, or undefined. It must belong to
 * root or this user, and others may not write to it, unless it is sticky (as /tmp is): there only an entry's owner
 * may rename it. A link on the way must be root's or this user's; where it leads is checked as the resolved path.
 */
function unsafeAncestor(path: string, uid: number): string | undefined {
  const stats = lstatSync(path);
  if (stats.uid !== 0 && stats.uid !== uid) return `${path} belongs to uid ${stats.uid}, neither root nor this user (${uid})`;
  if (stats.isSymbolicLink()) return undefined;
  if (!stats.isDirectory()) return `${path} is not a directory`;
  const sticky = (stats.mode & 0o1000) !== 0;
  if ((stats.mode & 0o022) !== 0 && !sticky) return `${path} is writable by other users (mode ${(stats.mode & 0o777).toString(8)})`;
  return undefined;
}

/** Why `dir` may not hold the keeper's socket, or undefined when it may (it is made, mode 0700, when missing). */
export function unsafeKeeperDir(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    return `cannot make ${dir}: ${(error as Error).message}`;
  }
  const uid = currentUid();
  try {
    const stats = lstatSync(dir);
    if (!stats.isDirectory()) return `${dir} is not a directory`;
    if (uid === undefined) return undefined;
    if (stats.uid !== uid) return `${dir} belongs to uid ${stats.uid}, not to this user (${uid})`;
    if ((stats.mode & 0o077) !== 0) return `${dir} is open to other users (mode ${(stats.mode & 0o777).toString(8)}; 700 is needed)`;
    // The path as given and as it resolves: both lead through directories only root and this user can change.
    const above = new Set([...withAncestors(dirname(resolve(dir))), ...withAncestors(dirname(realpathSync(dir)))]);
    for (const path of above) {
      const problem = unsafeAncestor(path, uid);
      if (problem) return problem;
    }
  } catch (error) {
    return `cannot check ${dir}: ${(error as Error).message}`;
  }
  return undefined;
}

/** The socket of the keeper for this protocol, or undefined when its directory is not safe to use. */
export function keeperSocket(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = keeperDir(env);
  if (unsafeKeeperDir(dir)) return undefined;
  return join(dir, `keeper-${KEEPER_PROTOCOL}.sock`);
}
