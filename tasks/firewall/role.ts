/** The firewall role: a default-deny nftables table of provision's own, loaded with an automatic rollback. */
import { defineRole } from '../../src/engine/role.ts';
import { nodeNamespace } from '../node/vars.ts';
import { sshNamespace } from '../ssh/vars.ts';
import { firewall } from './tasks.ts';
import { firewallNamespace } from './vars.ts';

/** Runs before the SSH role, so that a new ssh.port is open before sshd moves to it. */
export const firewallRole = defineRole({
  name: 'firewall',
  title: 'Firewall (nftables)',
  summary: 'Default deny in its own table inet provision: SSH, the roles’ ports, the node API only from balancers; loaded with an automatic rollback unless a new SSH login confirms it.',
  hosts: 'all',
  vars: firewallNamespace,
  uses: [sshNamespace, nodeNamespace],
  tasks: (host, roles) => firewall(host, roles),
});
