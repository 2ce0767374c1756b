/** `provision lab up` and `lab down` through the real CLI. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseRun, runCli } from '../support/cli.ts';

const LAB_INVENTORY = fileURLToPath(new URL('../../inventory/lab.yaml', import.meta.url));
const labContainers = () =>
  execFileSync('docker', ['ps', '-a', '--filter', 'label=provision.lab=1', '--format', '{{.Names}}'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();

test('lab up starts reachable hosts and writes their inventory; lab down removes them', async (t) => {
  if (labContainers().length > 0) {
    t.skip('a lab is already running here; this test would replace it');
    return;
  }
  try {
    const up = await runCli(['lab', 'up', '--nodes', '2', '--balancers', '1']);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(labContainers(), ['provision-lab-balancer1', 'provision-lab-node1', 'provision-lab-node2']);
    const inventory = readFileSync(LAB_INVENTORY, 'utf8');
    assert.match(inventory, /nodes:[\s\S]*node1:[\s\S]*node2:[\s\S]*balancers:[\s\S]*balancer1:/);
    assert.match(inventory, /ssh_host_key_checking: strict/);
    const plan = parseRun(await runCli(['apply', LAB_INVENTORY, '--dry-run', '--json']));
    assert.deepEqual(Object.keys(plan.hosts), ['node1', 'node2', 'balancer1']);
    assert.equal(plan.summary.unreachable, 0);
    assert.equal(plan.summary.failed, 0);
  } finally {
    const down = await runCli(['lab', 'down']);
    assert.equal(down.code, 0, down.stderr);
  }
  assert.deepEqual(labContainers(), []);
  assert.equal(existsSync(LAB_INVENTORY), false);
});
