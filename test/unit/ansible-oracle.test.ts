/**
 * Differential test against Ansible itself: for an Ansible project (INI inventory, a directory of inventory files,
 * group_vars/ and host_vars/ as files and directories, vault values and files made with ansible-vault, host ranges,
 * children, group priorities), every host's variables as `provision inventory --list` resolves them equal what
 * `ansible-inventory --list` reports. Runs where Debian's ansible-core is installed (.ci/run installs it).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.ts';
import { scratchDir } from '../support/scratch.ts';
import { listHostVariables, listingSchemas } from '../../src/inventory/listing.ts';
import { hostVarsSchema } from '../../playbooks/site.ts';

const PROJECT = fileURLToPath(new URL('../fixtures/ansible-project/', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/provision.js', import.meta.url));
const VAULT_ARGS = ['--vault-password-file', join(PROJECT, 'vault-pass.txt'), '--vault-id', `prod@${join(PROJECT, 'prod-pass.txt')}`];
const hasAnsible = spawnSync('ansible-inventory', ['--version'], { encoding: 'utf8' }).status === 0;

/** A directory of Ansible's own, so no ansible.cfg and no group_vars/ of the working directory (Ansible's playbook directory) take part. */
const ANSIBLE_HOME = scratchDir('provision-ansible-home-');
const ANSIBLE_ENV = { ...process.env, HOME: ANSIBLE_HOME, ANSIBLE_CONFIG: join(ANSIBLE_HOME, 'none.cfg'), ANSIBLE_HOME: join(ANSIBLE_HOME, '.ansible'), ANSIBLE_LOCAL_TEMP: join(ANSIBLE_HOME, 'tmp') };

type Listing = { _meta: { hostvars: Record<string, Record<string, unknown>> } } & Record<string, { hosts?: string[]; children?: string[] }>;

function ansibleInventory(inventory: string): Listing {
  const run = spawnSync('ansible-inventory', ['-i', inventory, '--list', ...VAULT_ARGS], { cwd: ANSIBLE_HOME, env: ANSIBLE_ENV, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Listing;
}

/** ansible-vault's own decryption of one value that ansible-inventory printed still encrypted. */
const decrypted = new Map<string, string>();
function ansibleVaultDecrypt(text: string): string {
  const known = decrypted.get(text);
  if (known !== undefined) return known;
  const file = join(ANSIBLE_HOME, `vault-${decrypted.size}.txt`);
  writeFileSync(file, text);
  const run = spawnSync('ansible-vault', ['decrypt', ...VAULT_ARGS, '--output', '-', file], { cwd: ANSIBLE_HOME, env: ANSIBLE_ENV, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  decrypted.set(text, run.stdout);
  return run.stdout;
}

/** Ansible's JSON with vault values decrypted (by ansible-vault) and `!unsafe` strings unwrapped. */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record.__ansible_vault === 'string') return ansibleVaultDecrypt(record.__ansible_vault);
    if (typeof record.__ansible_unsafe === 'string') return record.__ansible_unsafe;
    return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, plain(item)]));
  }
  return value;
}

/** `provision inventory --list --show-secrets`, run on a terminal (`script` gives it one), as JSON. */
function provisionOnTerminal(inventory: string): Listing {
  const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, BIN, 'inventory', inventory, '--list', '--show-secrets', ...VAULT_ARGS].map(quote).join(' ');
  const run = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: ANSIBLE_HOME, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  return JSON.parse(run.stdout.replace(/\r/g, '')) as Listing;
}

for (const [name, inventory, inventoryDir] of [
  ['an INI inventory with group_vars/ and host_vars/ beside it', join(PROJECT, 'hosts.ini'), PROJECT],
  ['an inventory directory of INI and YAML files, with its own group_vars/ and host_vars/', join(PROJECT, 'inventory-dir'), join(PROJECT, 'inventory-dir')],
] as const) {
  describe(`provision inventory --list equals ansible-inventory --list: ${name}`, { skip: hasAnsible ? false : 'ansible-core is not installed (apt-get install ansible-core)' }, () => {
    test('every host has the variables Ansible resolves, provision\'s own ones with their defaults filled in', () => {
      const ansible = ansibleInventory(inventory);
      const provision = provisionOnTerminal(inventory);
      const schemas = listingSchemas(inventoryDir, hostVarsSchema);
      const hosts = Object.keys(ansible._meta.hostvars).sort();
      assert.ok(hosts.length >= 3);
      assert.deepEqual(Object.keys(provision._meta.hostvars).sort(), hosts);
      for (const host of hosts) {
        const theirs = plain(ansible._meta.hostvars[host]) as Record<string, unknown>;
        const ours = provision._meta.hostvars[host]!;
        // Every variable Ansible resolves, with the value Ansible gives it (vault values decrypted by ansible-vault).
        for (const [variable, value] of Object.entries(theirs)) {
          assert.ok(variable in ours, `${host}: ${variable} is missing`);
          if (schemas.names.classify(variable, 'other').kind === 'foreign') assert.deepEqual(ours[variable], value, `${host}: ${variable}`);
        }
        // And as a whole: Ansible's variables with provision's defaults filled in are exactly what provision lists.
        assert.deepEqual(ours, listHostVariables(host, theirs, schemas), host);
      }
    });

    test('groups, their hosts and children are the same', () => {
      const { _meta: _theirs, ...theirs } = ansibleInventory(inventory);
      const { _meta: _ours, ...ours } = provisionOnTerminal(inventory);
      assert.deepEqual(ours, theirs);
    });
  });
}

describe('without a terminal, the vault values are masked in the listing', { skip: hasAnsible ? false : 'ansible-core is not installed' }, () => {
  test('no decrypted value appears, and each vault value shows as ********', async () => {
    const result = await runCli(['inventory', join(PROJECT, 'hosts.ini'), '--list', ...VAULT_ARGS]);
    assert.equal(result.code, 0, result.stderr);
    const secrets = ['swordfish-become-password', 'prod-api-key-0123456789', 'token-abcdefghijklmnopqrstuvwxyz-0123456789', 'dashboard-secret-value'];
    for (const secret of secrets) assert.ok(!result.stdout.includes(secret), secret);
    const lb1 = (JSON.parse(result.stdout) as Listing)._meta.hostvars.lb1!;
    assert.equal(lb1.ansible_become_password, '********');
    assert.equal(lb1.hornet_api_key, '********');
    assert.deepEqual((lb1.haproxy as { auth: { tokens: unknown[] } }).auth.tokens, [{ name: 'monitoring', token: '********' }]);
    const node01 = (JSON.parse(result.stdout) as Listing)._meta.hostvars.node01!;
    // Every value of a vault-encrypted vars file is a secret, numbers too.
    assert.equal(node01.hornet_dashboard_password, '********');
    assert.equal(node01.hornet_peers, '********');
    const refused = await runCli(['inventory', join(PROJECT, 'hosts.ini'), '--list', '--show-secrets', ...VAULT_ARGS]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--show-secrets prints secrets only to a terminal/);
  });
});
