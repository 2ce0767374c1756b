/**
 * Values never become config directives: a newline in `private_ip` (say from `${ENV}`) used to add `http-request`
 * rules and a `server backdoor …` line to haproxy.cfg. The inventory refuses such values, and every renderer refuses
 * a control character in anything it writes (one guard for all of them), whatever path the value took.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigValueError, plainConfigValues } from '../../src/engine/config-values.ts';
import { SafetyError } from '../../src/errors.ts';
import { loadInventory } from '../../src/inventory/load.ts';
import type { PlanContext } from '../../src/engine/types.ts';
import { haproxyConfig } from '../../tasks/haproxy/tasks.ts';
import { HAPROXY_FILES, renderHaproxyConfig, renderSourceList, renderTokenMap, type HaproxyConfigSettings } from '../../tasks/haproxy/render.ts';
import { renderJail, renderServerSettings, type JailSettings } from '../../tasks/fail2ban/render.ts';
import { renderBlock } from '../../tasks/ssh/render.ts';
import { renderTable } from '../../tasks/firewall/render.ts';
import { renderRebootPolicy } from '../../tasks/updates/tasks.ts';
import { usableCpusOfNode } from '../../tasks/node/facts.ts';
import { hostVarsSchema, type HostVars } from '../../playbooks/site.ts';
import { factReader } from '../support/fake-context.ts';
import { problemsOf, summarize, writeInventory } from './inventory-helpers.ts';
import { roleContext } from '../../src/engine/role.ts';

const INJECTED = '10.0.0.5:14265\n    http-request set-header X-Admin yes\n    server backdoor 203.0.113.66';

const inventoryText = `all:
  children:
    balancers:
      hosts:
        lb1: {ansible_host: 192.0.2.10}
    nodes:
      hosts:
        n1: {ansible_host: 192.0.2.11, private_ip: "\${NODE_IP}"}
`;

test('a newline in private_ip from ${ENV} is refused at load, at its line, and never reaches haproxy.cfg', async () => {
  const problems = await problemsOf(loadInventory(writeInventory(inventoryText), { vars: hostVarsSchema, env: { NODE_IP: INJECTED } }));
  assert.deepEqual(summarize(problems), [
    `8:52 all.children.nodes.hosts.n1.private_ip: expected an IP address or DNS name (letters, digits, dots, - and _), not ${JSON.stringify(`${INJECTED.slice(0, 60)}…`)}`,
  ]);
  // The same inventory with a plain address renders the one server line.
  const inventory = await loadInventory(writeInventory(inventoryText), { vars: hostVarsSchema, env: { NODE_IP: '10.0.0.5' } });
  const balancer = inventory.hosts.find((host) => host.name === 'lb1')!;
  const node = inventory.hosts.find((host) => host.name === 'n1')!;
  const context: PlanContext<HostVars> = {
    host: balancer,
    inventory,
    facts: factReader({ [`file:${HAPROXY_FILES.config}`]: { type: 'absent' } }),
    factsOf: () => factReader({ [usableCpusOfNode(node).key]: { usable: 1, nproc: 1 } }),
    roles: roleContext(inventory),
  };
  const plan = haproxyConfig(balancer, roleContext(inventory)).plan(context);
  const step = plan.status === 'change' ? plan.changes[0].steps[0] : undefined;
  const config = step?.kind === 'write-file' ? step.content : '';
  assert.match(config, /^ {4}server n1 10\.0\.0\.5:14265 weight 1$/m);
  assert.doesNotMatch(config, /backdoor|X-Admin/);
});

test('ansible_host, private_ip and ansible_user take addresses, DNS names and login names only', async () => {
  const hostile = [
    ['ansible_host', '"192.0.2.1\\nProxyCommand x"'],
    ['ansible_host', '"-oProxyCommand=x"'],
    ['ansible_host', '"two words"'],
    ['private_ip', '"10.0.0.1 backup"'],
    ['private_ip', '"10.0.0.1\\t"'],
    ['private_ip', '"[::1]"'],
    ['private_ip', '"a..b"'],
    ['ansible_user', '"-oProxyCommand=x"'],
    ['ansible_user', '"root\\nx"'],
    ['ansible_user', '"a b"'],
    ['ansible_user', '"../x"'],
  ];
  for (const [name, value] of hostile) {
    const problems = await problemsOf(loadInventory(writeInventory(`all:\n  hosts:\n    h1:\n      ${name}: ${value}\n`), { vars: hostVarsSchema }));
    assert.equal(problems.length, 1, `${name}: ${value}`);
    assert.equal(problems[0]!.path, `all.hosts.h1.${name}`);
  }
  const fine = 'all:\n  hosts:\n    h1: {ansible_host: node-1.example.com., private_ip: "fe80::1%eth0", ansible_user: john.doe@corp}\n    h2: {ansible_host: 2001:db8::7, private_ip: 10.0.0.7, ansible_user: deploy_2}\n    web_3:\n';
  const inventory = await loadInventory(writeInventory(fine), { vars: hostVarsSchema });
  assert.deepEqual(inventory.hosts.map((host) => [host.connection.address, host.privateIp, host.connection.user]), [
    ['node-1.example.com.', 'fe80::1%eth0', 'john.doe@corp'],
    ['2001:db8::7', '10.0.0.7', 'deploy_2'],
    ['web_3', 'web_3', 'root'],
  ]);
});

test('a host name that is not an address needs ansible_host, since it would be the address', async () => {
  const problems = await problemsOf(loadInventory(writeInventory('all:\n  hosts:\n    "node 1":\n    "-x":\n    "ok-name":\n'), { vars: hostVarsSchema }));
  assert.deepEqual(summarize(problems), [
    '3:5 all.hosts.node 1: this host name is not an IP address or DNS name, so it cannot be the address: set ansible_host (and private_ip)',
    '4:5 all.hosts.-x: this host name is not an IP address or DNS name, so it cannot be the address: set ansible_host (and private_ip)',
  ]);
  await loadInventory(writeInventory('all:\n  hosts:\n    "node 1": {ansible_host: 10.0.0.1}\n'), { vars: hostVarsSchema });
});

test('node.service may not start with -: it is an operand of systemctl', async () => {
  const problems = await problemsOf(loadInventory(writeInventory('all:\n  hosts:\n    h1:\n      node: {service: "-H attacker@evil"}\n'), { vars: hostVarsSchema }));
  assert.match(summarize(problems).join('\n'), /all\.hosts\.h1\.node\.service: expected a systemd unit name/);
  await problemsOf(loadInventory(writeInventory('all:\n  hosts:\n    h1:\n      node: {service: "--help"}\n'), { vars: hostVarsSchema }));
});

const SERVER = { name: 'n1', address: '10.0.0.5', port: 14265, weight: 1 };
const HAPROXY: HaproxyConfigSettings = {
  httpPort: 80,
  httpsPort: 443,
  ipv6: true,
  maxconn: 100,
  maxBodyBytes: 1000,
  hstsMaxAge: 0,
  allowListActive: false,
  denyListActive: false,
  rateLimit: { requests: 1, window: 1, banAfter: 1, ban: 1, connections: 1 },
  auth: { users: [{ name: 'alice', hash: '$6$x$y' }], tokens: false, protectedMethods: ['POST'], protectedPaths: ['/a'], publicPaths: ['/health'] },
  servers: [SERVER],
};
const JAIL: JailSettings = {
  bantime: 1,
  findtime: 1,
  maxretry: 1,
  increment: null,
  ignoreip: ['127.0.0.1/8'],
  banaction: 'nftables-multiport',
  sshd: { ports: [22], mode: 'aggressive' },
  haproxy: null,
};

test('every renderer refuses a control character in any value it writes, naming the file and the value', () => {
  const renders: [string, () => string, RegExp][] = [
    ['server address', () => renderHaproxyConfig({ ...HAPROXY, servers: [{ ...SERVER, address: INJECTED }] }), /haproxy\.cfg: servers\[0\]\.address holds a control character \("10\.0\.0\.5:14265\\n/],
    ['server name', () => renderHaproxyConfig({ ...HAPROXY, servers: [{ ...SERVER, name: 'n1\rx' }] }), /servers\[0\]\.name/],
    ['userlist', () => renderHaproxyConfig({ ...HAPROXY, auth: { ...HAPROXY.auth!, users: [{ name: 'alice', hash: '$6$x\nuser evil insecure-password x' }] } }), /auth\.users\[0\]\.hash/],
    ['paths', () => renderHaproxyConfig({ ...HAPROXY, auth: { ...HAPROXY.auth!, publicPaths: ['/health\u2028x'] } }), /auth\.publicPaths\[0\]/],
    ['allow list', () => renderSourceList('allow', ['10.0.0.0/8\n0.0.0.0/0']), /allow\.lst: \[0\]/],
    ['token map', () => renderTokenMap([{ digest: 'ab', name: 'ci\u0000' }]), /tokens\.map: \[0\]\.name/],
    ['fail2ban jail', () => renderJail({ ...JAIL, ignoreip: ['127.0.0.1/8', '10.0.0.1\n[sshd]\nenabled = false'] }), /jail\.d\/provision\.local: ignoreip\[1\]/],
    ['fail2ban server', () => renderServerSettings({ bantime: 1, increment: null, ...({ extra: 'x\u0085y' } as object) }), /fail2ban\.d\/provision\.local: extra/],
    ['sshd block', () => renderBlock([['AllowUsers', ['alice\nPermitRootLogin yes']]]), /sshd_config: \[0\]\[1\]\[0\]/],
    ['firewall', () => renderTable(['tcp dport 22 accept\n\t\tpolicy accept']), /the firewall table: \[0\]/],
    ['apt', () => renderRebootPolicy(true, '04:00"\nAPT::x "1'), /52provision-reboot/],
  ];
  for (const [what, render, message] of renders) {
    assert.throws(render, (error: unknown) => {
      assert.ok(error instanceof ConfigValueError && error instanceof SafetyError, what);
      assert.match(error.message, message, what);
      return true;
    });
  }
  // Plain values pass through, tabs and newlines of the renderers' own making included.
  assert.match(renderHaproxyConfig(HAPROXY), /\n {4}server n1 10\.0\.0\.5:14265 weight 1\n/);
  assert.match(renderTable(['tcp dport 22 accept']), /^table inet provision \{\n\tchain input/);
  assert.deepEqual(plainConfigValues('x', { a: ['b', 1, null, true] }), { a: ['b', 1, null, true] });
});

test('fuzz: any value with a control character anywhere is refused by every renderer; printable ones never are', () => {
  let state = 20240917;
  const next = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296);
  const controls = ['\n', '\r', '\t', '\u0000', '\u001b', '\u007f', '\u0085', '\u2028', '\u2029', '\u000b', '\u000c'];
  const printableChars = 'abcXYZ019 .:/_-#;"\'{}[]$`\\ü✓';
  const word = () => Array.from({ length: 1 + Math.floor(next() * 12) }, () => printableChars[Math.floor(next() * printableChars.length)]).join('');
  const renderers: ((value: string) => unknown)[] = [
    (value) => renderHaproxyConfig({ ...HAPROXY, servers: [{ ...SERVER, address: value }] }),
    (value) => renderHaproxyConfig({ ...HAPROXY, auth: { ...HAPROXY.auth!, protectedPaths: ['/x', value] } }),
    (value) => renderSourceList('deny', [value]),
    (value) => renderTokenMap([{ digest: 'ab', name: value }]),
    (value) => renderJail({ ...JAIL, ignoreip: [value] }),
    (value) => renderBlock([['AllowUsers', ['a', value]]]),
    (value) => renderTable([value]),
    (value) => renderRebootPolicy(false, value),
  ];
  for (let round = 0; round < 300; round++) {
    const render = renderers[round % renderers.length]!;
    const plain = word();
    assert.doesNotThrow(() => render(plain), JSON.stringify(plain));
    const at = Math.floor(next() * (plain.length + 1));
    const hostile = plain.slice(0, at) + controls[Math.floor(next() * controls.length)] + plain.slice(at);
    assert.throws(() => render(hostile), ConfigValueError, JSON.stringify(hostile));
  }
});
