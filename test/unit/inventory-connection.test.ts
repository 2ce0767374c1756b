/**
 * The connection variables Ansible inventories carry, as the loader reads them: jump hosts (ssh_jump, ssh arguments),
 * ~/.ssh/config (here as ssh_config_file), ansible_become_user/method, ansible_connection, ansible_private_key_file;
 * each refusal placed at file:line:column, and `provision inventory` showing what a run will use.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { loadInventory } from '../../src/inventory/load.ts';
import { listHostVariables, listingSchemas } from '../../src/inventory/listing.ts';
import { loadText, problemsOf, summarize, testVars, writeInventory } from './inventory-helpers.ts';

describe('jump hosts in the inventory', () => {
  test('ssh_jump, as one string or a list, and -o ProxyJump or -J in ansible_ssh_common_args', async () => {
    const inventory = await loadText(`
all:
  vars:
    ssh_config_file: none
  hosts:
    a: {ssh_jump: 'admin@gw.example.com:2222'}
    b: {ssh_jump: [ops@gw1, 'gw2:2200']}
    c: {ansible_ssh_common_args: '-o ProxyJump=admin@10.0.0.1'}
    d: {ansible_ssh_extra_args: '-J root@[2001:db8::1]:22'}
    e: {}
`);
    const jump = (name: string) => inventory.hosts.find((host) => host.name === name)!.connection.jump;
    assert.deepEqual(jump('a'), [{ address: 'gw.example.com', port: 2222, user: 'admin' }]);
    assert.deepEqual(jump('b')?.map((hop) => [hop.user, hop.address, hop.port]), [
      ['ops', 'gw1', 22],
      [jump('b')![1]!.user, 'gw2', 2200],
    ]);
    assert.deepEqual(jump('c'), [{ address: '10.0.0.1', port: 22, user: 'admin' }]);
    assert.deepEqual(jump('d'), [{ address: '2001:db8::1', port: 22, user: 'root' }]);
    assert.equal(jump('e'), undefined);
  });

  test('an ssh option provision does not follow, and a bad jump host, are refused at their file:line:column', async () => {
    const ini = writeInventory(`[nodes]\nn1 ansible_host=10.0.0.5 ansible_ssh_common_args='-o ProxyJump=gw -o StrictHostKeyChecking=no'\nn2 ssh_jump=gw:0\n`, 'hosts');
    const problems = await problemsOf(loadInventory(ini, { vars: testVars }));
    assert.deepEqual(
      problems.map((problem) => `${problem.position?.file}:${problem.position?.line}:${problem.position?.column}: ${problem.message}`),
      [
        `${ini}:2:50: ssh option '-o StrictHostKeyChecking=no' is not supported: provision reads only the jump host (-J HOST or -o ProxyJump=HOST) and -F FILE from ssh arguments; write ssh_host_key_checking (strict, ask, accept-new or off) instead`,
        `${ini}:3:13: expected a port number from 1 to 65535 after the colon in gw:0 (in "gw:0")`,
      ],
    );
    const yaml = await problemsOf(loadText('all:\n  hosts:\n    h:\n      ssh_jump: [ok-gw, "bad gw"]\n      ansible_ssh_extra_args: -C\n'));
    assert.deepEqual(summarize(yaml), [
      '4:25 all.hosts.h.ssh_jump[1]: a jump host has no spaces: "bad gw" (in "bad gw")',
      '5:31 all.hosts.h.ansible_ssh_extra_args: ssh option -C is not supported: provision reads only the jump host (-J HOST or -o ProxyJump=HOST) and -F FILE from ssh arguments',
    ]);
  });
});

describe('the connection variables Ansible users carry', () => {
  test('ansible_become_user root and ansible_become_method sudo are accepted; anything else is refused with what to write', async () => {
    const inventory = await loadText('all:\n  hosts:\n    h: {ansible_become: yes, ansible_become_user: root, ansible_become_method: sudo, ansible_connection: smart}\n');
    assert.equal(inventory.hosts[0]!.connection.become, true);
    assert.deepEqual(summarize(await problemsOf(loadText('all:\n  hosts:\n    h: {ansible_become_user: deploy, ansible_become_method: su, ansible_connection: docker}\n'))), [
      '3:30 all.hosts.h.ansible_become_user: ansible_become_user "deploy" is not supported: provision becomes root (its tasks need root); write root or remove it',
      '3:61 all.hosts.h.ansible_become_method: ansible_become_method "su" is not supported: provision becomes root with sudo; write sudo or remove it',
      '3:85 all.hosts.h.ansible_connection: ansible_connection "docker" is not supported: provision only connects over ssh (write ansible_connection: ssh, or remove it)',
    ]);
  });

  test('ansible_private_key_file is the key file; where ansible_ssh_private_key_file is set too, that one wins', async () => {
    const file = writeInventory('all:\n  hosts:\n    a: {ansible_private_key_file: a.key}\n    b: {ansible_private_key_file: a.key, ansible_ssh_private_key_file: b.key}\n');
    for (const name of ['a.key', 'b.key']) writeFileSync(join(dirname(file), name), 'key\n');
    const inventory = await loadInventory(file, { vars: testVars });
    assert.deepEqual(
      inventory.hosts.map((host) => host.connection.privateKeyFile),
      [join(dirname(file), 'a.key'), join(dirname(file), 'b.key')],
    );
  });
});

describe('~/.ssh/config in the inventory', () => {
  const config = (text: string) => {
    const file = writeInventory(text, 'ssh_config');
    return file;
  };

  test('the host is completed by its Host block; a problem there is placed where the host address is set, naming the file', async () => {
    const sshConfig = config('Host web1\n  HostName 192.0.2.10\n  Port 2200\n  User deploy\n  ProxyJump ops@gw\nHost old\n  ProxyCommand ssh -W %h:%p gw\n');
    const inventory = await loadText(`all:\n  vars: {ssh_config_file: ${sshConfig}}\n  hosts:\n    w: {ansible_host: web1}\n`);
    const { connection, privateIp } = inventory.hosts[0]!;
    assert.deepEqual([connection.address, connection.port, connection.user, connection.jump, privateIp], ['192.0.2.10', 2200, 'deploy', [{ address: 'gw', port: 22, user: 'ops' }], '192.0.2.10']);
    const problems = await problemsOf(loadText(`all:\n  vars: {ssh_config_file: ${sshConfig}}\n  hosts:\n    o:\n      ansible_host: old\n`));
    assert.deepEqual(summarize(problems), [`5:21 all.hosts.o.ansible_host: host 'o': ${sshConfig}, Host old: ProxyCommand applies to old, and provision runs no proxy command; write ProxyJump gw instead`]);
  });

  test('a missing ssh_config_file or -F file is an error at the variable', async () => {
    assert.deepEqual(summarize(await problemsOf(loadText('all:\n  hosts:\n    h: {ssh_config_file: /nonexistent/ssh_config, ansible_ssh_common_args: -F /nonexistent/cfg}\n'))), [
      '3:26 all.hosts.h.ssh_config_file: ssh config file not found: /nonexistent/ssh_config',
      '3:76 all.hosts.h.ansible_ssh_common_args: -F: ssh config file not found: /nonexistent/cfg',
    ]);
  });

  test('provision inventory shows what a run will use: the address, port, user and jump hosts the configuration gives', () => {
    const sshConfig = config('Host web1\n  HostName 192.0.2.10\n  User deploy\n  ProxyJump ops@gw:2222\n');
    const schemas = listingSchemas('/', testVars);
    const listed = listHostVariables('w', { ansible_host: 'web1', ssh_config_file: sshConfig, ansible_ssh_common_args: '-o ProxyJump=none' }, schemas);
    assert.deepEqual(
      [listed.ansible_host, listed.ansible_port, listed.ansible_user, listed.ssh_jump, listed.ansible_ssh_common_args, listed.private_ip],
      ['192.0.2.10', 22, 'deploy', undefined, '-o ProxyJump=none', '192.0.2.10'],
    );
    const jumped = listHostVariables('w', { ansible_host: 'web1', ssh_config_file: sshConfig }, schemas);
    assert.deepEqual(jumped.ssh_jump, ['ops@gw:2222']);
  });
});
