/** The balancer role: HAProxy in front of the hosts that run the node role. */
import { defineRole } from '../../src/engine/role.ts';
import { nodeNamespace } from '../node/vars.ts';
import { haproxyTasks, reloadHaproxy } from './tasks.ts';
import { haproxyNamespace } from './vars.ts';
import { haproxyDrain } from './drain.ts';

/** HAProxy with TLS, source lists, rate limits and authorization, weighted by each node's usable CPUs. */
export const balancerRole = defineRole({
  name: 'balancer',
  title: 'HAProxy in front of the nodes',
  summary: 'TLS 1.2+, allow/deny lists, per-source rate limits and bans, basic auth or bearer tokens on write routes, leastconn weighted by each node’s usable CPUs.',
  hosts: 'balancers',
  vars: haproxyNamespace,
  uses: [nodeNamespace],
  tags: ['haproxy'],
  tasks: (host, roles) => haproxyTasks(host, roles),
  handlers: [reloadHaproxy],
  // Changes that restart a node drain it on every balancer first (src/engine/rolling).
  balances: haproxyDrain,
});
