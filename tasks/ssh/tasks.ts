/** The SSH play: the operator's keys first, then the admin user, then the host keys and groups, then hardened sshd. */
import type { Task } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { authorizedKeys } from '../core/authorized-keys.ts';
import { sshdHardening } from './sshd.ts';
import { hostKeysPresent } from './host-keys.ts';
import { prunedModuli } from './moduli.ts';
import { adminUser, passwordlessSudo } from '../core/users.ts';
import type { SshHostVars } from './vars.ts';

/** Keys, admin user and sshd hardening, in the order that keeps a way in at every step. */
export function sshAccess(host: Host<SshHostVars>): Task<SshHostVars>[] {
  const ssh = host.vars.ssh;
  // The user runs log in as from now on (the admin user once root's logins end) must not lose the run's key.
  const admin = ssh.admin_user && ssh.admin_user !== host.connection.user ? ssh.admin_user : undefined;
  const keys = { exclusive: ssh.exclusive_keys };
  const tasks: Task<SshHostVars>[] = [authorizedKeys(host.connection.user, ssh.authorized_keys, { ...keys, guardsLogin: admin === undefined })];
  if (admin) {
    tasks.push(adminUser(admin), authorizedKeys(admin, ssh.authorized_keys, { ...keys, guardsLogin: true }));
    if (ssh.admin_sudo_nopasswd) tasks.push(passwordlessSudo(admin));
  }
  // What the hardened block names must exist before sshd reads it: the host keys and the pruned groups.
  tasks.push(hostKeysPresent(host), prunedModuli(host), sshdHardening(host));
  return tasks;
}
