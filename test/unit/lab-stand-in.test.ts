import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STAND_IN_LAYOUT } from '../../src/lab/node-service.ts';
import { FLAVOR_LAYOUT, NODE_FLAVORS } from '../../tasks/node/vars.ts';

test('the lab installs its stand-in node where the node role looks for each flavor: the same config path and unit', () => {
  assert.deepEqual(Object.keys(STAND_IN_LAYOUT).sort(), [...NODE_FLAVORS].sort());
  for (const flavor of NODE_FLAVORS) {
    assert.deepEqual(STAND_IN_LAYOUT[flavor], { configPath: FLAVOR_LAYOUT[flavor].configPath, service: FLAVOR_LAYOUT[flavor].service }, flavor);
  }
});
