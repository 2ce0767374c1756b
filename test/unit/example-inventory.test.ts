import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../../src/inventory/load.ts';
import { hostVarsSchema } from '../../playbooks/site.ts';

const EXAMPLE = fileURLToPath(new URL('../../inventory/example.yaml', import.meta.url));

test('inventory/example.yaml is a valid inventory of 3 nodes and 1 balancer', async () => {
  // The key file it names (~/.ssh/id_ed25519) need not exist on the test machine: point HOME at one that does.
  const home = process.env.HOME;
  process.env.HOME = fileURLToPath(new URL('../fixtures/inventory/home', import.meta.url));
  const inventory = await loadInventory(EXAMPLE, { vars: hostVarsSchema }).finally(() => {
    process.env.HOME = home;
  });
  assert.deepEqual(inventory.groups.get('nodes'), ['node1', 'node2', 'node3']);
  assert.deepEqual(inventory.groups.get('balancers'), ['balancer1']);
  const balancer = inventory.hosts.find((host) => host.name === 'balancer1')!;
  assert.equal(balancer.privateIp, '10.0.0.10');
  assert.equal(balancer.vars.updates.reboot_time, '03:30');
  assert.equal(inventory.hosts.find((host) => host.name === 'node1')!.vars.updates.reboot, false);
  assert.equal(balancer.connection.commandTimeout, 300);
});
