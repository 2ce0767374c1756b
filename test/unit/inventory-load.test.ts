import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadInventory } from '../../src/inventory/load.ts';
import { clearSecrets, containsSecret } from '../../src/report/redact.ts';
import { FIXTURES, loadText, problemsOf, summarize, testVars, writeInventory } from './inventory-helpers.ts';

const load = (name: string, env: Record<string, string | undefined> = {}) => loadInventory(join(FIXTURES, name), { vars: testVars, env });
const byName = async (name: string, env: Record<string, string | undefined> = {}) => {
  const inventory = await load(name, env);
  return { inventory, host: (host: string) => inventory.hosts.find((h) => h.name === host) ?? assert.fail(`no host ${host}`) };
};

describe('variable precedence', () => {
  test('all < parent group < child group < host', async () => {
    const { host } = await byName('precedence.yaml');
    assert.equal(host('solo').vars.level, 'all');
    assert.equal(host('par1').vars.level, 'paris'); // deepest group wins over france, europe and all
    assert.equal(host('par2').vars.level, 'host'); // host vars win over every group
    assert.equal(host('db1').vars.level, 'db');
  });

  test('sibling groups at the same depth: the alphabetically later name wins, whatever the file order', async () => {
    const { host } = await byName('precedence.yaml');
    // beta is written before alpha in the file; beta still wins because 'beta' > 'alpha'.
    assert.equal(host('par1').vars.tie, 'beta');
  });

  test('ansible_group_priority beats the name order among groups of the same depth', async () => {
    const { host } = await byName('precedence.yaml');
    // 'zeta' > 'low' by name, but low has priority 10 (default 1).
    assert.equal(host('par1').vars.prio, 'low');
  });

  test('depth comes before ansible_group_priority: a child beats its parent of higher priority', async () => {
    const inventory = await loadText(`
all:
  children:
    parent:
      vars: {level: parent, ansible_group_priority: 99}
      children:
        child:
          vars: {level: child}
          hosts: {h1: }
`);
    assert.equal(inventory.hosts[0]?.vars.level, 'child');
  });

  test('replace semantics: a host mapping replaces the whole group mapping', async () => {
    const { host } = await byName('replace.yaml');
    assert.deepEqual(host('web1').vars.ssh, { port: 2222, user: 'deploy' });
    // Not merged: the group's user: deploy is gone, the schema default applies.
    assert.deepEqual(host('web2').vars.ssh, { port: 2200, user: 'admin' });
  });
});

describe('groups and hosts', () => {
  test('hosts in file order; groups include ancestors with all first', async () => {
    const { inventory, host } = await byName('precedence.yaml');
    assert.deepEqual(
      inventory.hosts.map((h) => h.name),
      ['solo', 'par1', 'par2', 'db1'],
    );
    assert.deepEqual(host('par1').groups, ['all', 'alpha', 'beta', 'europe', 'zeta', 'low', 'france', 'paris']);
    assert.deepEqual(host('solo').groups, ['all', 'ungrouped']);
  });

  test('a top-level group outside all is a child of all', async () => {
    const { inventory, host } = await byName('precedence.yaml');
    assert.deepEqual(host('db1').groups, ['all', 'db']);
    assert.deepEqual(inventory.groups.get('db'), ['par2', 'db1']);
    assert.deepEqual(inventory.groups.get('all'), ['solo', 'par1', 'par2', 'db1']);
  });

  test('a host in several groups is in each group, and groups list members through children', async () => {
    const { inventory, host } = await byName('precedence.yaml');
    assert.deepEqual(host('par2').groups, ['all', 'db', 'europe', 'france', 'paris']);
    assert.deepEqual(inventory.groups.get('europe'), ['par1', 'par2']);
    assert.deepEqual(inventory.groups.get('alpha'), ['par1']);
    assert.deepEqual(inventory.groups.get('ungrouped'), ['solo']);
  });

  test('children nested four deep, a group defined in two places, anchors and << merge keys', async () => {
    const { inventory, host } = await byName('nested.yaml');
    assert.deepEqual(host('deep1').groups, ['all', 'region', 'zone', 'rack', 'shelf']);
    assert.equal(host('deep1').vars.role, 'deep');
    // rack's vars are defined where rack is mentioned the second time, and still apply to r1; rack's depth
    // is its longest chain from all (all > region > zone > rack), so it sorts after region and zone.
    assert.deepEqual(host('r1').groups, ['all', 'region', 'zone', 'rack']);
    assert.equal(host('r1').vars.role, 'rack');
    assert.deepEqual(host('o1').vars, { ssh: { port: 22, user: 'admin' }, role: 'deep', extra: 'x' });
    assert.deepEqual(inventory.groups.get('region'), ['deep1', 'r1']);
  });

  test('host ranges expand like Ansible', async () => {
    const inventory = await loadText('all:\n  hosts:\n    web[08:10].example.com:\n      level: x\n');
    assert.deepEqual(
      inventory.hosts.map((h) => [h.name, h.vars.level]),
      [
        ['web08.example.com', 'x'],
        ['web09.example.com', 'x'],
        ['web10.example.com', 'x'],
      ],
    );
  });
});

describe('connection variables', () => {
  test('defaults', async () => {
    const { inventory, host } = await byName('connection.yaml');
    assert.deepEqual(host('bare').connection, {
      address: 'bare',
      port: 22,
      user: 'root',
      become: false,
      knownHostsFile: join(homedir(), '.ssh/known_hosts'),
      hostKeyChecking: 'ask',
      hostKeyPort: 22,
      connectTimeout: 10,
      commandTimeout: 300,
      connectRetries: 2,
      persist: 60,
    });
    assert.equal(host('bare').privateIp, 'bare');
    assert.equal(inventory.file, join(FIXTURES, 'connection.yaml'));
  });

  test('every variable set, paths resolved against the inventory directory, yes/no booleans', async () => {
    const { host } = await byName('connection.yaml');
    assert.deepEqual(host('full').connection, {
      address: '203.0.113.7',
      port: 2222,
      user: 'admin',
      privateKeyFile: join(FIXTURES, 'keys/id_test'),
      become: true,
      knownHostsFile: join(FIXTURES, 'known_hosts'),
      hostKeyChecking: 'strict',
      hostKeyPort: 2222,
      connectTimeout: 30,
      commandTimeout: 3600,
      connectRetries: 5,
      persist: 300,
    });
    assert.equal(host('full').privateIp, '10.0.0.7');
    assert.equal(host('no_become').connection.become, false);
    // Connection variables are not task variables.
    assert.deepEqual(host('full').vars, { ssh: { port: 22, user: 'admin' } });
  });

  test('an unquoted off, which YAML 1.1 reads as false (as Ansible does), still turns host key checking off', async () => {
    const inventory = await loadText('all:\n  vars:\n    ssh_host_key_checking: off\n  hosts:\n    a: {}\n');
    assert.equal(inventory.hosts[0]?.connection.hostKeyChecking, 'off');
  });

  test('private_ip defaults to ansible_host', async () => {
    const inventory = await loadText('all:\n  hosts:\n    h:\n      ansible_host: 192.0.2.1\n');
    assert.equal(inventory.hosts[0]?.privateIp, '192.0.2.1');
  });

  test('a missing private key file is a problem at its value', async () => {
    const problems = await problemsOf(loadText('all:\n  hosts:\n    h:\n      ansible_ssh_private_key_file: keys/nope\n'));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.path, 'all.hosts.h.ansible_ssh_private_key_file');
    assert.deepEqual([problems[0]?.position?.line, problems[0]?.position?.column], [4, 37]);
    assert.match(problems[0]?.message ?? '', /private key file not found: .*keys\/nope$/);
  });

  test('~ in the key path is the home directory', async () => {
    const problems = await problemsOf(loadText('all:\n  hosts:\n    h:\n      ansible_ssh_private_key_file: ~/no-such-key-for-tests\n'));
    assert.equal(problems[0]?.message, `private key file not found: ${join(homedir(), 'no-such-key-for-tests')}`);
  });

  test('port must be an integer; a quoted port and other bad values are named clearly', async () => {
    const problems = await problemsOf(
      loadText(`all:
  hosts:
    a: {ansible_port: "22"}
    b: {ansible_port: 70000}
    c: {ansible_become: maybe, ssh_host_key_checking: loose, ssh_connect_timeout: soon, ansible_connection: local}
`),
    );
    assert.deepEqual(summarize(problems), [
      '3:23 all.hosts.a.ansible_port: expected a port number from 1 to 65535, not the string "22" (write it without quotes)',
      '4:23 all.hosts.b.ansible_port: expected a port number from 1 to 65535',
      '5:25 all.hosts.c.ansible_become: expected true or false (yes/no also accepted)',
      '5:55 all.hosts.c.ssh_host_key_checking: expected strict, ask, accept-new or off',
      '5:83 all.hosts.c.ssh_connect_timeout: expected a duration like 10s, 10m or 1h (or a whole number of seconds)',
      "5:109 all.hosts.c.ansible_connection: ansible_connection: local is not supported: provision reaches every host over SSH, this machine too. To manage this machine, remove ansible_connection and write ansible_host: 127.0.0.1 (sshd must accept the key); to leave it alone, leave it out of the hosts provision runs on (--limit '!NAME')",
    ]);
  });
});

describe('${ENV} references', () => {
  beforeEach(() => clearSecrets());

  test('expanded anywhere in strings, with $${X} as a literal', async () => {
    const env = { SUDO_PASSWORD: 's3cret-pw', DEPLOY_USER: 'deploy', USER_HOME: '/home/op' };
    const { host } = await byName('env.yaml', env);
    const app = host('app1');
    assert.equal(app.connection.user, 'deploy');
    assert.equal(app.connection.becomePassword, 's3cret-pw');
    assert.deepEqual(app.vars.paths, { key: '/home/op/.ssh/id', literal: '${USER_HOME}/x', list: ['deploy', 'plain'] });
  });

  test('passwords from the environment are registered as secrets', async () => {
    await byName('env.yaml', { SUDO_PASSWORD: 'hunter2-very-secret', DEPLOY_USER: 'deploy', USER_HOME: '/h' });
    assert.ok(containsSecret('sudo said hunter2-very-secret'));
    assert.ok(!containsSecret('deploy'));
  });

  test('an unset variable is a problem at the scalar, reported once though used by several hosts', async () => {
    const problems = await problemsOf(
      loadText(`all:
  vars:
    level: "pre-\${NOT_SET}-post"
  hosts:
    a:
    b:
`),
    );
    assert.deepEqual(summarize(problems), [
      '3:12 all.vars.level: environment variable NOT_SET is not set (referenced as ${NOT_SET}; write $${NOT_SET} for a literal)',
    ]);
  });

  test('process.env is the default environment', async () => {
    process.env.PROVISION_TEST_LEVEL = 'from-process-env';
    try {
      const inventory = await loadInventory(writeInventory('all:\n  hosts:\n    h: {level: "${PROVISION_TEST_LEVEL}"}\n'), { vars: testVars });
      assert.equal(inventory.hosts[0]?.vars.level, 'from-process-env');
    } finally {
      delete process.env.PROVISION_TEST_LEVEL;
    }
  });
});
