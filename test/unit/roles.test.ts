/** Roles and playbooks: what the engine derives from a playbook's roles, and how tags select them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { catalogOf } from '../../src/engine/catalog.ts';
import { applyLoginFallbacks } from '../../src/engine/login-fallbacks.ts';
import { definePlaybook, selectTags } from '../../src/engine/playbook.ts';
import { defineNamespace, defineRole, onHosts, roleContext } from '../../src/engine/role.ts';
import { InputError } from '../../src/errors.ts';
import type { Host, Inventory } from '../../src/inventory/types.ts';
import type { Task } from '../../src/engine/types.ts';
import site from '../../playbooks/site.ts';
import { nodeRole } from '../../tasks/node/role.ts';
import { balancerRole } from '../../tasks/haproxy/role.ts';
import { fakeHost } from '../support/fake-context.ts';

const colour = defineNamespace('colour', z.object({ name: z.string().default('blue').describe('The colour.') }).strict().prefault({}));
const shape = defineNamespace('shape', z.object({ sides: z.number().default(4) }).strict().prefault({}));

const marker = (target: string): Task => ({ kind: 'marker', target, facts: () => [], plan: () => ({ status: 'ok', reason: 'in place' }) });

const painter = defineRole({
  name: 'painter',
  title: 'Painter',
  summary: 'Paints in the colour of the host.',
  hosts: 'walls',
  vars: colour,
  uses: [shape],
  tags: ['paint'],
  tasks: (host) => [marker(`${host.vars.colour.name} ${host.vars.shape.sides}`)],
});

const framer = defineRole({ name: 'framer', title: 'Framer', summary: 'Frames.', hosts: 'all', vars: shape, tasks: () => [marker('frame')] });

function inventory(groups: Record<string, string[]>): Inventory {
  const names = [...new Set(Object.values(groups).flat())];
  const hosts: Host[] = names.map((name) => fakeHost({}, name, ['all', ...Object.keys(groups).filter((group) => groups[group]!.includes(name))]));
  return { file: '/x.yaml', hosts, groups: new Map([['all', names], ...Object.entries(groups)]) };
}

test('a playbook\'s schema holds every namespace its roles own or use, once, strict, with their defaults, and the engine\'s `rolling`', () => {
  const playbook = definePlaybook({ roles: [painter, framer] });
  assert.deepEqual(playbook.namespaces.map((namespace) => namespace.name), ['colour', 'shape', 'rolling']);
  const schema = playbook.varsSchema('/inventory');
  assert.deepEqual(schema.parse({}), { colour: { name: 'blue' }, shape: { sides: 4 }, rolling: { max_fail: 0, drain_timeout: 30, ready_timeout: 60 } });
  assert.equal(schema.safeParse({ colour: { nmae: 'red' } }).success, false, 'a misspelt key inside a namespace is an error');
  assert.equal(schema.safeParse({ other: 1 }).success, false, 'a namespace no role reads is not in the schema');
});

test('two different namespaces of one name, or two roles of one name, are refused when the playbook is defined', () => {
  const impostor = defineNamespace('colour', z.object({}).strict());
  assert.throws(() => definePlaybook({ roles: [painter, defineRole({ name: 'other', title: 'x', summary: 'x', hosts: 'all', vars: impostor, tasks: () => [] })] }), /two different namespaces are called 'colour'/);
  assert.throws(() => definePlaybook({ roles: [framer, framer] }), /two roles called 'framer'/);
  assert.throws(() => defineRole({ name: 'Bad Name', title: 'x', summary: 'x', hosts: 'all', tasks: () => [] }), /role name/);
});

test('the catalog is the roles themselves: name, namespace, hosts, tags and each parameter with its description', () => {
  const [entry] = catalogOf(definePlaybook({ roles: [painter] }));
  assert.deepEqual({ ...entry, parameters: undefined }, { role: 'painter', namespace: 'colour', title: 'Painter', hosts: 'walls', summary: 'Paints in the colour of the host.', tags: ['painter', 'paint'], parameters: undefined });
  assert.deepEqual(entry!.parameters, [{ name: 'colour.name', type: 'string', default: 'blue', constraints: [], description: 'The colour.' }]);
  assert.deepEqual(catalogOf(site).map((row) => row.role), ['packages', 'firewall', 'ssh', 'fail2ban', 'sysctl', 'base', 'node', 'balancer', 'acme']);
});

test('a role learns which hosts run another role from the playbook\'s group expression for it, not from a group name of its own', () => {
  const hosts = inventory({ nodes: ['n1', 'n2'], hornets: ['h1'], balancers: ['b1'] });
  const standard = roleContext(hosts, [nodeRole, balancerRole]);
  assert.deepEqual(standard.hostsOf(nodeRole).map((host) => host.name), ['n1', 'n2']);
  assert.equal(standard.runs(hosts.hosts.find((host) => host.name === 'b1')!, balancerRole), true);
  const moved = roleContext(hosts, [onHosts(nodeRole, 'hornets'), balancerRole]);
  assert.deepEqual(moved.hostsOf(nodeRole).map((host) => host.name), ['h1']);
  assert.equal(moved.patternOf(nodeRole), 'hornets');
  assert.equal(moved.runs(hosts.hosts[0]!, nodeRole), false);
  // A role the playbook leaves out keeps its own group expression.
  assert.deepEqual(roleContext(hosts).hostsOf(nodeRole).map((host) => host.name), ['n1', 'n2']);
});

test('--tags and --skip-tags select roles by name and declared tags; `always` runs unless skipped; an unknown tag is an input error', () => {
  const always = defineRole({ name: 'first', title: 'x', summary: 'x', hosts: 'all', tags: ['always'], tasks: () => [] });
  const playbook = definePlaybook({ roles: [always, painter, framer] });
  const names = (tags: string[], skip: string[] = []) => selectTags(playbook, tags, skip).plays.map((play) => play.name);
  assert.deepEqual(names([]), ['first', 'painter', 'framer']);
  assert.deepEqual(names(['paint']), ['first', 'painter']);
  assert.deepEqual(names(['framer']), ['first', 'framer']);
  assert.deepEqual(names([], ['painter']), ['first', 'framer']);
  assert.deepEqual(names(['all'], ['always']), ['painter', 'framer']);
  assert.throws(() => names(['paintr']), (error: unknown) => error instanceof InputError && /no role or play of the playbook has the tag paintr/.test(error.message));
  assert.equal(selectTags(playbook, ['framer'], []).varsSchema, playbook.varsSchema, 'the inventory is checked against the whole playbook');
});

test('the packages role installs, in one task, the packages of the roles that run on the host, and only those the tags select', () => {
  const hosts = inventory({ nodes: ['n1'], balancers: ['b1'] });
  const balancer = hosts.hosts.find((host) => host.name === 'b1')!;
  const host = { ...balancer, vars: site.varsSchema('/inventory').parse({}) };
  const first = (playbook: typeof site) => playbook.plays[0]!.tasks(host, { ...hosts, hosts: hosts.hosts.map((candidate) => (candidate.name === 'b1' ? host : candidate)) });
  assert.deepEqual(first(site).map((task) => task.target), ['nftables, fail2ban, python3-systemd, unattended-upgrades, haproxy, openssl, socat']);
  assert.deepEqual(first(selectTags(site, ['firewall'], [])).map((task) => task.target), ['nftables']);
  assert.deepEqual(first(selectTags(site, ['firewall', 'balancer'], [])).map((task) => task.target), ['nftables, haproxy, openssl, socat']);
});

test('a role that moves SSH tells the next run where to find the host, whatever the tags select', () => {
  const hosts = inventory({ nodes: ['n1'] });
  const host = { ...hosts.hosts[0]!, vars: site.varsSchema('/inventory').parse({ ssh: { port: 2222, admin_user: 'ops' } }) };
  applyLoginFallbacks(site, { ...hosts, hosts: [host] }, [host]);
  assert.deepEqual(host.connection.fallbackPorts, [2222]);
  assert.equal(host.connection.fallbackUser, 'ops');
});
