/** The fail2ban role: bans brute force against sshd everywhere, and abuse of HAProxy on balancers. */
import { defineRole } from '../../src/engine/role.ts';
import { haproxyNamespace } from '../haproxy/vars.ts';
import { sshNamespace } from '../ssh/vars.ts';
import { fail2ban, restartFail2ban } from './tasks.ts';
import { fail2banNamespace } from './vars.ts';

/** fail2ban installed, configured from `fail2ban.*`, and running; restarted once when its files change. */
export const fail2banRole = defineRole({
  name: 'fail2ban',
  title: 'fail2ban',
  summary: 'Bans brute force against key-only sshd (invalid users, rejected keys, pre-auth drops) and, on balancers, sources that keep getting 429/401 from HAProxy, in nftables, never the controller.',
  hosts: 'all',
  vars: fail2banNamespace,
  uses: [sshNamespace, haproxyNamespace],
  tasks: () => fail2ban(),
  handlers: [restartFail2ban],
});
