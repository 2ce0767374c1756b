/**
 * Everything an Ansible project keeps its variables in: group_vars/ and host_vars/ (files and directories),
 * inventory directories, several inventories, `-e`, Ansible Vault; and variables that are not provision's.
 */
import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadInventory, resolveInventory } from '../../src/inventory/load.ts';
import { vaultSecrets } from '../../src/inventory/vault-secrets.ts';
import { inventorySourceFiles } from '../../src/inventory/inventory-files.ts';
import { decryptVault } from '../../src/inventory/vault.ts';
import { clearSecrets, containsSecret, redact } from '../../src/report/redact.ts';
import { problemsOf, summarize, testVars, writeProject } from './inventory-helpers.ts';
import { ANSIBLE_PROJECT, fixtureVaultBlock, tamperVaultBlock } from '../support/vault.ts';

const PROJECT = ANSIBLE_PROJECT;
const PASSWORD = { label: 'default', password: Buffer.from('fixture-vault-password') };
const PROD = { label: 'prod', password: Buffer.from('prod-fixture-password') };

const inlineVault = (name: string, indent: string) => fixtureVaultBlock('host_vars/lb1/vault.yml', name, `${indent}  `);
const BECOME = inlineVault('ansible_become_password', '      ');
const WHOLE_FILE = readFileSync(join(PROJECT, 'group_vars/nodes/vault.yml'), 'utf8');

const load = (dir: string, file = 'hosts', options: { extraVars?: string[]; secrets?: (typeof PASSWORD)[] } = {}) =>
  loadInventory(join(dir, file), { vars: testVars, env: {}, vaultSecrets: options.secrets ?? [], ...(options.extraVars ? { extraVars: options.extraVars } : {}) });

describe('group_vars/ and host_vars/', () => {
  test("Ansible's precedence: inventory group vars < group_vars/all < group_vars/GROUP < inventory host vars < host_vars/HOST < -e", async () => {
    const dir = writeProject({
      hosts: '[web]\nw1 level=inventory-host extra=inventory-host\nw2\nw3\n[web:vars]\nlevel=inventory-group\nextra=inventory-group\nrole=inventory-group\nprio=inventory-group\n',
      'group_vars/all.yml': 'level: group_vars/all\nrole: group_vars/all\nprio: group_vars/all\ntie: group_vars/all\n',
      'group_vars/web.yml': 'level: group_vars/web\nrole: group_vars/web\n',
      'host_vars/w2.yml': 'level: host_vars/w2\n',
      'host_vars/w3.yml': 'level: host_vars/w3\n',
    });
    const inventory = await load(dir, 'hosts', { extraVars: ['level=extra'] });
    const vars = (name: string) => inventory.hosts.find((host) => host.name === name)!.vars;
    assert.equal(vars('w1').level, 'extra');
    assert.equal(vars('w1').extra, 'inventory-host');
    assert.equal(vars('w1').role, 'group_vars/web');
    assert.equal(vars('w1').prio, 'group_vars/all');
    const without = await load(dir);
    const plain = (name: string) => without.hosts.find((host) => host.name === name)!.vars;
    assert.equal(plain('w1').level, 'inventory-host');
    assert.equal(plain('w2').level, 'host_vars/w2');
    assert.equal(plain('w3').level, 'host_vars/w3');
  });

  test('NAME/ beats NAME.yml; its files apply in name order, subdirectories too; hidden, backup and other files are skipped', async () => {
    const dir = writeProject({
      hosts: '[web]\nw1\n',
      'group_vars/web.yml': 'level: web.yml\n',
      'group_vars/web/a.yml': 'level: a\nrole: a\n',
      'group_vars/web/b.yaml': 'level: b\n',
      'group_vars/web/c/d.json': '{"prio": "c/d"}',
      'group_vars/web/e': 'extra: e-without-extension\n',
      'group_vars/web/z.yml~': 'level: backup\n',
      'group_vars/web/.hidden.yml': 'level: hidden\n',
      'group_vars/web/notes.txt': 'level: txt\n',
    });
    const resolved = await resolveInventory(join(dir, 'hosts'), { vars: testVars, env: {} });
    assert.deepEqual(resolved.inventory.hosts[0]!.vars, { ssh: { port: 22, user: 'admin' }, level: 'b', role: 'a', prio: 'c/d', extra: 'e-without-extension' });
    assert.deepEqual(resolved.unusedVarsFiles.map((file) => file.path), [join(dir, 'group_vars/web.yml')]);
  });

  test('a bad value in a vars file is reported in that file, with line, column and key path', async () => {
    const dir = writeProject({ hosts: '[web]\nw1\n', 'group_vars/web.yml': '# web servers\nssh:\n  port: twenty-two\n', 'host_vars/w1.yml': '- not\n- a mapping\n' });
    const problems = await problemsOf(load(dir));
    assert.deepEqual(
      problems.map((problem) => `${problem.position?.file.replace(dir, '')}:${problem.position?.line}:${problem.position?.column} ${problem.message}`),
      ['/host_vars/w1.yml:1:1 a vars file must be a mapping of variable names to values'],
    );
    writeFileSync(join(dir, 'host_vars/w1.yml'), 'level: fine\n');
    const typed = await problemsOf(load(dir));
    assert.deepEqual(summarize(typed), ['3:9 ssh.port: Invalid input: expected number, received string']);
    assert.equal(typed[0]?.position?.file, join(dir, 'group_vars/web.yml'));
  });

  test('an inventory directory: its files merged in name order, subdirectories too, .ini and .md skipped as Ansible skips them', async () => {
    const dir = writeProject({
      'inv/01-web': '[web]\nw1 level=first\n[web:vars]\nrole=first\n',
      'inv/02-more.yml': 'web:\n  hosts:\n    w1: {level: second}\n    w2:\n  vars: {role: second}\n',
      'inv/sub/03-db': '[db]\nd1\n',
      'inv/ignored.ini': '[web]\nskipped\n',
      'inv/README.md': '[web]\nskipped-too\n',
      'inv/group_vars/db.yml': 'level: db\n',
    });
    const resolved = await resolveInventory(join(dir, 'inv'), { vars: testVars, env: {} });
    assert.deepEqual(resolved.inventory.hosts.map((host) => [host.name, host.vars.level, host.vars.role]), [
      ['w1', 'second', 'second'],
      ['w2', undefined, 'second'],
      ['d1', 'db', undefined],
    ]);
    assert.deepEqual(resolved.skippedFiles, [join(dir, 'inv/README.md'), join(dir, 'inv/ignored.ini')]);
    // A link back up the tree is walked once.
    symlinkSync('..', join(dir, 'inv/sub/loop'));
    assert.deepEqual(inventorySourceFiles(join(dir, 'inv')).files, ['01-web', '02-more.yml', 'sub/03-db'].map((file) => join(dir, 'inv', file)));
  });

  test('several inventories are merged in order, each with its own group_vars/', async () => {
    const dir = writeProject({ 'a/hosts': '[web]\nw1\n', 'a/group_vars/web.yml': 'level: a\nrole: a\n', 'b/hosts': '[web]\nw2\n', 'b/group_vars/web.yml': 'level: b\n' });
    const inventory = await loadInventory([join(dir, 'a/hosts'), join(dir, 'b/hosts')], { vars: testVars, env: {} });
    assert.deepEqual(inventory.hosts.map((host) => [host.name, host.vars.level, host.vars.role]), [
      ['w1', 'b', 'a'],
      ['w2', 'b', 'a'],
    ]);
  });
});

describe('-e / --extra-vars', () => {
  test('key=value (typed as YAML scalars), JSON, YAML and @FILE; later ones win; above every other source', async () => {
    const dir = writeProject({ hosts: '[web]\nw1 ansible_port=22 level=host\n', 'extra.yml': 'role: from-file\nprio: from-file\n' });
    const inventory = await load(dir, 'hosts', { extraVars: ['ansible_port=2222 level="two words"', '{"ssh": {"port": 2200}}', `@${join(dir, 'extra.yml')}`, 'prio=last'] });
    const [host] = inventory.hosts;
    assert.equal(host!.connection.port, 2222);
    assert.deepEqual([host!.vars.level, host!.vars.role, host!.vars.prio, host!.vars.ssh], ['two words', 'from-file', 'last', { port: 2200, user: 'admin' }]);
  });

  test('a bad -e value is an input error that says where', async () => {
    const dir = writeProject({ hosts: '[web]\nw1\n' });
    assert.deepEqual(summarize(await problemsOf(load(dir, 'hosts', { extraVars: ['ansible_port=abc'] }))), [
      '1:14 ansible_port: expected a port number from 1 to 65535, not the string "abc" (write it without quotes)',
    ]);
    assert.match(summarize(await problemsOf(load(dir, 'hosts', { extraVars: ['justaword'] })))[0] ?? '', /-e takes key=value pairs/);
    assert.match(summarize(await problemsOf(load(dir, 'hosts', { extraVars: ['[1, 2]'] })))[0] ?? '', /-e takes a mapping/);
    assert.match((await problemsOf(load(dir, 'hosts', { extraVars: ['@/no/such/file.yml'] })))[0]?.message ?? '', /extra-vars file not found/);
  });
});

describe('Ansible Vault', () => {
  beforeEach(() => clearSecrets());

  test('decryption matches ansible-vault: inline 1.1, 1.2 with a vault id, and a whole file', () => {
    const lines = (text: string) => text.replace(/^!vault \|\n/, '').split('\n').map((line) => line.trim()).join('\n');
    assert.equal(decryptVault(lines(BECOME), [PASSWORD]).toString(), 'swordfish-become-password');
    assert.equal(decryptVault(lines(inlineVault('hornet_api_key', '')), [PASSWORD, PROD]).toString(), 'prod-api-key-0123456789');
    assert.match(decryptVault(WHOLE_FILE, [PROD, PASSWORD]).toString(), /^hornet_dashboard_password: dashboard-secret-value\n/);
  });

  test('inline values and whole vars files are decrypted, and become secrets', async () => {
    const dir = writeProject({ hosts: `[web]\nw1\n`, 'host_vars/w1.yml': `ansible_become_password: ${BECOME}\n`, 'group_vars/web.yml': WHOLE_FILE.replace('hornet', 'hornet') });
    const resolved = await resolveInventory(join(dir, 'hosts'), { vars: testVars, env: {}, vaultSecrets: [PASSWORD] });
    assert.equal(resolved.inventory.hosts[0]!.connection.becomePassword, 'swordfish-become-password');
    assert.ok(containsSecret('swordfish-become-password'));
    assert.equal(redact('sudo: swordfish-become-password'), 'sudo: ********');
    // Values of an encrypted file are secrets when read: the foreign ones stay unread by a run.
    assert.equal(resolved.hosts[0]!.definitions.get('hornet_dashboard_password')?.source.secret, true);
    assert.match(resolved.hosts[0]!.definitions.get('hornet_dashboard_password')?.source.file ?? '', /group_vars\/web\.yml \(decrypted\)$/);
  });

  test('a wrong password or an altered value is exit-2 input naming the file and line; nothing is decrypted', async () => {
    const dir = writeProject({ hosts: '[web]\nw1\n', 'host_vars/w1.yml': `# the become password\nansible_become_password: ${BECOME}\n` });
    const wrong = await problemsOf(load(dir, 'hosts', { secrets: [{ label: 'default', password: Buffer.from('not-the-password') }] }));
    assert.deepEqual(summarize(wrong), ['2:33 ansible_become_password: cannot decrypt this vault value: wrong vault password, or the encrypted text was altered (its HMAC does not match)']);
    assert.equal(wrong[0]?.position?.file, join(dir, 'host_vars/w1.yml'));
    // One digit of the ciphertext changed, the envelope kept well-formed: the HMAC no longer matches.
    const tampered = tamperVaultBlock(BECOME);
    assert.notEqual(tampered, BECOME);
    writeFileSync(join(dir, 'host_vars/w1.yml'), `# the become password\nansible_become_password: ${tampered}\n`);
    assert.deepEqual(summarize(await problemsOf(load(dir, 'hosts', { secrets: [PASSWORD] }))), [
      '2:33 ansible_become_password: cannot decrypt this vault value: wrong vault password, or the encrypted text was altered (its HMAC does not match)',
    ]);
    const whole = writeProject({ hosts: '[web]\nw1\n', 'group_vars/web.yml': WHOLE_FILE });
    const fileProblems = await problemsOf(load(whole, 'hosts', { secrets: [{ label: 'default', password: Buffer.from('nope') }] }));
    assert.deepEqual(fileProblems, [{ message: 'cannot decrypt this vault-encrypted vars file: wrong vault password, or the encrypted text was altered (its HMAC does not match)', position: { file: join(whole, 'group_vars/web.yml'), line: 1, column: 1 } }]);
    assert.ok(!containsSecret('swordfish-become-password'));
  });

  test("another project's vault values are not decrypted by a run, so their passwords are not needed", async () => {
    const dir = writeProject({ hosts: '[web]\nw1\n', 'group_vars/web.yml': `other_role_secret: ${inlineVault('hornet_api_key', '')}\n` });
    const inventory = await load(dir);
    assert.deepEqual(inventory.ignored?.map((variable) => variable.name), ['other_role_secret']);
  });

  test('passwords from a file (trimmed), an executable that prints it, a vault id, and ANSIBLE_VAULT_PASSWORD_FILE', async () => {
    const dir = writeProject({ 'pass.txt': '  from-file  \n', 'pass.sh': '#!/bin/sh\necho from-script\n', 'prod.txt': 'prod\n', 'env.txt': 'from-env\n', 'empty.txt': '\n' });
    chmodSync(join(dir, 'pass.sh'), 0o700);
    const secrets = await vaultSecrets({ passwordFiles: [join(dir, 'pass.txt'), join(dir, 'pass.sh')], vaultIds: [`prod@${join(dir, 'prod.txt')}`], env: { ANSIBLE_VAULT_PASSWORD_FILE: join(dir, 'env.txt') } });
    assert.deepEqual(secrets.map((secret) => [secret.label, secret.password.toString()]), [
      ['prod', 'prod'],
      ['default', 'from-file'],
      ['default', 'from-script'],
      ['default', 'from-env'],
    ]);
    assert.ok(containsSecret('from-script'));
    await assert.rejects(vaultSecrets({ passwordFiles: [join(dir, 'empty.txt')], env: {} }), /vault password from .*empty\.txt is empty/);
    await assert.rejects(vaultSecrets({ passwordFiles: [join(dir, 'missing.txt')], env: {} }), /vault password file not found/);
    await assert.rejects(vaultSecrets({ askVaultPass: true, env: {} }), /--ask-vault-pass needs a terminal/);
  });
});

describe("variables that are not provision's", () => {
  test('are loaded and ignored, and listed with where they are set', async () => {
    const dir = writeProject({ hosts: '[nodes]\nn1 hornet_version=2.0\n', 'group_vars/all.yml': 'docker_compose_version: v2\nnodes: [a, b]\nssl: true\nansible_ssh_pipelining: true\n' });
    const inventory = await load(dir);
    assert.deepEqual(
      inventory.ignored?.map((variable) => `${variable.name} ${variable.position.file.replace(dir, '')}:${variable.position.line}`),
      ['ansible_ssh_pipelining /group_vars/all.yml:4', 'docker_compose_version /group_vars/all.yml:1', 'hornet_version /hosts:2', 'nodes /group_vars/all.yml:2', 'ssl /group_vars/all.yml:3'],
    );
  });

  test("a likely misspelling of provision's own stays an error with a suggestion", async () => {
    const dir = writeProject({ hosts: '[nodes]\nn1 ssh_port=2222\n', 'group_vars/all.yml': 'fail2bann:\n  bantime: 1h\nansible_prot: 22\nssh.user: admin\n' });
    assert.deepEqual(summarize(await problemsOf(load(dir))), [
      "1:1 fail2bann: unknown variable 'fail2bann'; did you mean 'fail2ban'?",
      "2:4 : unknown variable 'ssh_port'; did you mean 'ssh.port'? (write it as ssh: {port: …})",
      "3:1 ansible_prot: unknown variable 'ansible_prot'; did you mean 'ansible_port'?",
      "4:1 ssh.user: unknown variable 'ssh.user': a dot in a name is not a path; write it as ssh: {user: …}",
    ]);
  });
});
