/** The site playbook: what `provision apply` runs by default on every host of the inventory. */
import { definePlaybook, type Play } from '../src/engine/types.ts';
import { fail2ban, restartFail2ban } from '../tasks/fail2ban/tasks.ts';
import { firewall, firewallAfterSshMove } from '../tasks/firewall/tasks.ts';
import { haproxyTasks, reloadHaproxy } from '../tasks/haproxy/tasks.ts';
import { nodeHandlers, nodePowTasks } from '../tasks/node/pow.ts';
import { installPackagesFirst } from '../tasks/core/packages-first.ts';
import { sshAccess } from '../tasks/ssh/tasks.ts';
import { automaticUpdates } from '../tasks/updates/tasks.ts';
import type { HostVars } from '../tasks/vars.ts';

const plays: Play<HostVars>[] = [
  // Before SSH, so that a new ssh.port is open before sshd moves to it.
  { name: 'firewall', hosts: 'all', tasks: (host, inventory) => firewall(host, inventory) },
  { name: 'ssh', hosts: 'all', tasks: (host, inventory) => [...sshAccess(host), ...firewallAfterSshMove(host, inventory)] },
  { name: 'fail2ban', hosts: 'all', tasks: () => fail2ban(), handlers: [restartFail2ban] },
  { name: 'base', hosts: 'all', tasks: (host) => [...automaticUpdates(host)] },
  { name: 'node', hosts: 'nodes', tasks: (host) => nodePowTasks(host), handlers: (host) => nodeHandlers(host) },
  { name: 'balancer', hosts: 'balancers', tasks: (host, inventory) => haproxyTasks(host, inventory), handlers: [reloadHaproxy] },
];

export default definePlaybook<HostVars>({
  // One apt-get install per host, before the plays that need the packages.
  plays: [installPackagesFirst(plays), ...plays],
});
