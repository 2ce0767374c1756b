/** HAProxy's side of draining: the socket and backend it relies on, server names, and what an earlier run left drained. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_SOCKET, NODES_BACKEND, drainScript, leftDrainedFact, nodeServerNames, parseLeftDrained, readyScript } from '../../tasks/haproxy/drain.ts';
import { renderHaproxyConfig, type HaproxyConfigSettings } from '../../tasks/haproxy/render.ts';
import { fakeHost } from '../support/fake-context.ts';
import { nodeVars } from '../../tasks/node/vars.ts';

const SETTINGS: HaproxyConfigSettings = {
  httpPort: 80,
  httpsPort: 443,
  ipv6: false,
  maxconn: 2000,
  maxBodyBytes: 1024,
  hstsMaxAge: 0,
  allowListActive: false,
  denyListActive: false,
  rateLimit: { requests: 10, window: 10, banAfter: 10, ban: 60, connections: 10 },
  servers: [{ name: 'node1', address: '10.0.0.2', port: 14265, weight: 1 }],
};

test('the rendered config has the admin socket and the backend the drain speaks to', () => {
  const lines = renderHaproxyConfig(SETTINGS).split('\n').map((line) => line.trim());
  assert.ok(lines.includes(`stats socket ${ADMIN_SOCKET} mode 660 level admin`));
  assert.ok(lines.includes(`backend ${NODES_BACKEND}`));
});

test('server names match the config: made safe, a second one of the same name told apart', () => {
  const node = (name: string) => fakeHost({ node: nodeVars.parse({}) }, name);
  assert.deepEqual([...nodeServerNames([node('node 1'), node('node_1'), node('n2')])], [['node 1', 'node_1'], ['node_1', 'node_1_'], ['n2', 'n2']]);
});

test('what an earlier run left drained: marks joined with the servers’ admin (drain bit) and operational state', () => {
  const stdout = [
    'M node1',
    'M node2',
    'M gone',
    'S 1',
    'S # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight',
    'S 3 nodes 1 node1 10.0.0.2 2 8 1 1 30 6 3 4 6 0 0 0 - 14265 -',
    'S 3 nodes 2 node2 10.0.0.3 0 8 1 1 30 6 3 4 6 0 0 0 - 14265 -',
    'S 3 nodes 3 node3 10.0.0.4 2 0 1 1 30 6 3 4 6 0 0 0 - 14265 -',
  ].join('\n');
  assert.deepEqual(parseLeftDrained({ stdout, code: 0 }), [
    { server: 'node1', drained: true, up: true },
    { server: 'node2', drained: true, up: false },
    { server: 'gone', drained: false, up: false },
  ]);
  assert.deepEqual(parseLeftDrained({ stdout: '', code: 0 }), []);
  assert.deepEqual(leftDrainedFact.staleAfter, [], 'no package install changes it');
});

test('the scripts quote the server name and bound their waits', () => {
  const drain = drainScript("node'1", 30).text;
  assert.match(drain, /'node'\\''1'/);
  assert.match(drain, /-ge 150 \]/, '30 s at five asks a second');
  assert.match(readyScript('node1', 60).text, /-ge 300 \]/);
});
