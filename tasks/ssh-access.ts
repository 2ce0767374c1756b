/** The SSH play: the operator's keys first, then the admin user, then key-only sshd. */
import type { Task } from '../src/engine/types.ts';
import type { Host } from '../src/inventory/types.ts';
import { authorizedKeys } from './authorized-keys.ts';
import { sshdHardening } from './sshd.ts';
import { adminUser, passwordlessSudo } from './users.ts';
import type { HostVars } from './vars.ts';

/** Keys, admin user and sshd hardening, in the order that keeps a way in at every step. */
export function sshAccess(host: Host<HostVars>): Task<HostVars>[] {
  const ssh = host.vars.ssh;
  const tasks: Task<HostVars>[] = [authorizedKeys(host.connection.user, ssh.authorized_keys, { exclusive: ssh.exclusive_keys })];
  if (ssh.admin_user && ssh.admin_user !== host.connection.user) {
    tasks.push(adminUser(ssh.admin_user), authorizedKeys(ssh.admin_user, ssh.authorized_keys, { exclusive: ssh.exclusive_keys }));
    if (ssh.admin_sudo_nopasswd) tasks.push(passwordlessSudo(ssh.admin_user));
  }
  tasks.push(sshdHardening(host));
  return tasks;
}
