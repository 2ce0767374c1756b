/**
 * Where the connection keeper listens: a Unix socket in a directory only this user can enter, as OpenSSH's
 * ControlPath and Ansible's ~/.ansible/cp are. Whoever can open the socket can run commands as the hosts' login
 * user, so a directory that another user owns or can enter is never used: the run then connects directly.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { KEEPER_PROTOCOL } from './protocol.ts';

/** The directory for the keeper's socket: `$PROVISION_KEEPER_DIR`, else `$XDG_RUNTIME_DIR/provision`, else one in the temp dir per user. */
export function keeperDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PROVISION_KEEPER_DIR) return env.PROVISION_KEEPER_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'provision');
  return join(tmpdir(), `provision-${userInfo().uid}`);
}

/** Why `dir` may not hold the keeper's socket, or undefined when it may (it is made, mode 0700, when missing). */
export function unsafeKeeperDir(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    return `cannot make ${dir}: ${(error as Error).message}`;
  }
  const stats = lstatSync(dir);
  if (!stats.isDirectory()) return `${dir} is not a directory`;
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) return `${dir} belongs to uid ${stats.uid}, not to this user (${uid})`;
  if ((stats.mode & 0o077) !== 0) return `${dir} is open to other users (mode ${(stats.mode & 0o777).toString(8)}; 700 is needed)`;
  return undefined;
}

/** The socket of the keeper for this protocol, or undefined when its directory is not safe to use. */
export function keeperSocket(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = keeperDir(env);
  if (unsafeKeeperDir(dir)) return undefined;
  return join(dir, `keeper-${KEEPER_PROTOCOL}.sock`);
}
