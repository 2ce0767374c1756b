/** The SSH role: the operator's keys, an optional admin user, key-only sshd; and the firewall's old SSH port closed after a move. */
import { defineRole, type LoginFallbacks } from '../../src/engine/role.ts';
import type { Host } from '../../src/inventory/types.ts';
import { firewallAfterSshMove } from '../firewall/tasks.ts';
import { firewallNamespace } from '../firewall/vars.ts';
import { nodeNamespace } from '../node/vars.ts';
import { sshAccess } from './tasks.ts';
import { sshNamespace, type SshHostVars } from './vars.ts';

/**
 * Where the run still finds a host after an earlier run moved sshd to `ssh.port`, or ended root's logins for the
 * admin user, while the inventory lags behind.
 */
export function sshLoginFallbacks(host: Host<SshHostVars>): LoginFallbacks {
  const moved = host.vars.ssh.port;
  const admin = host.vars.ssh.admin_user;
  return {
    ...(moved !== undefined && moved !== host.connection.port ? { ports: [moved] } : {}),
    ...(admin !== undefined && host.connection.user === 'root' && admin !== 'root' ? { user: admin } : {}),
  };
}

/** Keys, admin user and sshd hardening, in the order that keeps a way in at every step. */
export const sshRole = defineRole({
  name: 'ssh',
  title: 'Key-only SSH',
  summary: 'Installs the operator’s keys, optionally an admin user, and makes sshd key-only; proves a new key login before and after, or rolls back.',
  hosts: 'all',
  vars: sshNamespace,
  uses: [firewallNamespace, nodeNamespace],
  tasks: (host, roles) => [...sshAccess(host), ...firewallAfterSshMove(host, roles)],
  loginFallbacks: sshLoginFallbacks,
});
