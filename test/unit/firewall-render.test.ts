/**
 * The rendered ruleset. The `*.listing.nft` fixtures are what `nft list table inet provision` printed on Debian 12
 * (nft 1.0.6) after loading the rendered file for these same hosts: the render must match them byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SafetyError } from '../../src/errors.ts';
import type { Host, Inventory } from '../../src/inventory/types.ts';
import {
  BASE_RULES,
  controllerAddressOf,
  firewallInputs,
  inputRules,
  renderConfigFile,
  renderRestoreRuleset,
  renderTable,
  tableOfConfigFile,
  type RunView,
} from '../../tasks/firewall/render.ts';
import { hostVarsSchema, type HostVars } from '../../playbooks/site.ts';
import { fakeHost } from '../support/fake-context.ts';
import { roleContext } from '../../src/engine/role.ts';

const schema = hostVarsSchema('/inventory');

function host(name: string, groups: string[], privateIp: string, vars: object = {}): Host<HostVars> {
  return { ...fakeHost<HostVars>(schema.parse(vars), name, ['all', ...groups]), privateIp };
}

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/firewall/${name}`, import.meta.url), 'utf8');
}

const node1 = host('node1', ['nodes'], '10.0.0.11', {
  firewall: {
    ssh_from: ['203.0.113.0/24', '2001:db8::/32', '::ffff:10.1.0.0/112'],
    allow: [{ port: 9000, protocol: 'udp' }, { port: '9100-9110', source: '2001:db8:0:1::/64', comment: 'metrics (ops)' }],
  },
});
const balancer1 = host('balancer1', ['balancers'], '10.0.0.10');
const balancer2 = host('balancer2', ['balancers'], '2001:db8::10');
const edge1 = host('edge1', ['nodes', 'balancers'], '10.0.0.12', { node: { api_port: 14266, ports: { gossip: 15601, autopeering: 14627 } } });
const inventory: Inventory<HostVars> = {
  file: '/inventory/site.yaml',
  hosts: [node1, balancer1, balancer2, edge1],
  groups: new Map([
    ['all', ['node1', 'balancer1', 'balancer2', 'edge1']],
    ['nodes', ['node1', 'edge1']],
    ['balancers', ['balancer1', 'balancer2', 'edge1']],
  ]),
};

function tableFor(target: Host<HostVars>, run: RunView, within: Inventory<HostVars> = inventory): string {
  return renderTable(inputRules(firewallInputs(target, roleContext(within), run)));
}

test('a node: SSH from ssh_from and the controller on every sshd port, gossip, autopeering, the API from each balancer, firewall.allow', () => {
  assert.equal(tableFor(node1, { sshPorts: [2222, 22], controllerAddress: '198.51.100.7' }), fixture('node.listing.nft'));
});

test('a balancer: SSH from anywhere, 80 and 443; no node ports and no API', () => {
  assert.equal(tableFor(balancer1, { sshPorts: [22], controllerAddress: '198.51.100.7' }), fixture('balancer.listing.nft'));
});

test('a host in both groups opens both roles, with its own node ports, and its API to every balancer (itself included)', () => {
  assert.equal(tableFor(edge1, { sshPorts: [22], controllerAddress: '2001:db8:ffff::1' }), fixture('edge.listing.nft'));
});

test('a host in neither group opens only SSH; dashboard and metrics ports are never opened', () => {
  const plain = host('plain', [], '10.0.0.20');
  const table = tableFor(plain, { sshPorts: [22] }, { ...inventory, hosts: [...inventory.hosts, plain] });
  assert.deepEqual(table.split('\n').filter((line) => / dport /.test(line) && !line.includes('udp sport 547')), ['\t\ttcp dport 22 accept comment "ssh"']);
  const nodeTable = tableFor(node1, { sshPorts: [22], controllerAddress: '10.9.9.9' });
  for (const closed of [8081, 9311]) assert.ok(!nodeTable.includes(`dport ${closed} `), `the dashboard/metrics port ${closed} stays closed`);
  const apiRules = nodeTable.split('\n').filter((line) => line.includes('dport 14265 '));
  assert.ok(apiRules.length > 0 && apiRules.every((line) => line.includes(' saddr ')), 'the node API is open only to given sources');
});

test('the controller keeps SSH even when ssh_from excludes it; it gets no rule of its own when ssh_from covers it', () => {
  const restricted = host('r', [], '10.0.0.30', { firewall: { ssh_from: ['192.0.2.0/24'] } });
  const within = { ...inventory, hosts: [restricted] };
  assert.match(tableFor(restricted, { sshPorts: [22], controllerAddress: '172.18.0.1' }, within), /\t\tip saddr 172\.18\.0\.1 tcp dport 22 accept comment "ssh from the controller"\n/);
  assert.match(tableFor(restricted, { sshPorts: [22], controllerAddress: '::ffff:172.18.0.1' }, within), /ip saddr 172\.18\.0\.1 tcp dport 22/);
  assert.ok(!tableFor(restricted, { sshPorts: [22], controllerAddress: '192.0.2.99' }, within).includes('the controller'));
  assert.throws(() => tableFor(restricted, { sshPorts: [22] }, within), (error: unknown) => error instanceof SafetyError && /address this run connects from is unknown/.test(error.message));
  assert.throws(() => tableFor(restricted, { sshPorts: [22], controllerAddress: 'bogus' }, within), SafetyError);
  // With SSH open to anywhere, no controller rule is needed (so moving the controller changes nothing).
  assert.ok(!tableFor(balancer1, { sshPorts: [22], controllerAddress: '172.18.0.1' }).includes('172.18.0.1'));
});

test('a balancer whose private_ip is a host name stops the node plan: the API rule needs an address', () => {
  const named = host('balancer9', ['balancers'], 'lb9.internal');
  const within: Inventory<HostVars> = { ...inventory, hosts: [node1, named], groups: new Map([['balancers', ['balancer9']]]) };
  assert.throws(() => tableFor(node1, { sshPorts: [22], controllerAddress: '198.51.100.7' }, within), /balancer9's private_ip \(lb9\.internal\) is not an IP address/);
});

test('controllerAddressOf reads SSH_CONNECTION addresses: IPv4-mapped becomes IPv4, zones are dropped', () => {
  assert.equal(controllerAddressOf('::ffff:203.0.113.5'), '203.0.113.5');
  assert.equal(controllerAddressOf('fe80::1%eth0'), 'fe80::1');
  assert.equal(controllerAddressOf('2001:DB8::0:1'), '2001:db8::1');
  assert.equal(controllerAddressOf('not-an-address'), null);
  assert.equal(controllerAddressOf(undefined), null);
});

test('the file replaces only provision\'s table, atomically, and never flushes the ruleset', () => {
  const table = renderTable(BASE_RULES);
  const file = renderConfigFile(table);
  assert.ok(!/^\s*flush\s+ruleset/m.test(file));
  assert.match(file, /^table inet provision \{\}\ndelete table inet provision\ntable inet provision \{\n/m);
  assert.equal(tableOfConfigFile(file), table);
  assert.equal(tableOfConfigFile('table inet filter {}\n'), null);
  assert.equal(renderRestoreRuleset(null), 'table inet provision {}\ndelete table inet provision\n');
  assert.ok(!table.includes('hook forward') && !table.includes('hook output'), 'only the input hook is filtered');
});
