/** The site playbook: what `provision apply` runs by default on every host of the inventory. */
import { definePlaybook } from '../src/engine/types.ts';
import { fail2ban, restartFail2ban } from '../tasks/fail2ban.ts';
import { firewall } from '../tasks/firewall.ts';
import { haproxyTasks, reloadHaproxy } from '../tasks/haproxy.ts';
import { nodeHandlers, nodePowTasks } from '../tasks/node-pow.ts';
import { sshAccess } from '../tasks/ssh-access.ts';
import { automaticUpdates } from '../tasks/updates.ts';
import type { HostVars } from '../tasks/vars.ts';

export default definePlaybook<HostVars>({
  plays: [
    // First, so that a new ssh.port is open before sshd moves to it.
    { name: 'firewall', hosts: 'all', tasks: (host, inventory) => firewall(host, inventory) },
    {
      name: 'ssh',
      hosts: 'all',
      tasks: (host) => sshAccess(host),
    },
    {
      name: 'fail2ban',
      hosts: 'all',
      tasks: () => fail2ban(),
      handlers: [restartFail2ban],
    },
    {
      name: 'base',
      hosts: 'all',
      tasks: (host) => [...automaticUpdates(host)],
    },
    {
      name: 'node',
      hosts: 'nodes',
      tasks: (host) => nodePowTasks(host),
      handlers: (host) => nodeHandlers(host),
    },
    {
      name: 'balancer',
      hosts: 'balancers',
      tasks: (host, inventory) => haproxyTasks(host, inventory),
      handlers: [reloadHaproxy],
    },
  ],
});
