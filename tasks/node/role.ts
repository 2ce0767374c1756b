/** The node role: remote proof of work on each node, from the CPUs it can use. */
import { defineRole } from '../../src/engine/role.ts';
import { nodeHandlers, nodePowTasks } from './pow.ts';
import { nodeNamespace } from './vars.ts';

/** Remote PoW set in the node's own config file; the node restarts only when the setting changes. */
export const nodeRole = defineRole({
  name: 'node',
  title: 'Remote proof of work',
  summary: 'Enables remote PoW and sets its workers from the CPUs the node can use; restarts the node only when the setting changes.',
  hosts: 'nodes',
  vars: nodeNamespace,
  tasks: (host) => nodePowTasks(host),
  handlers: (host) => nodeHandlers(host),
});
