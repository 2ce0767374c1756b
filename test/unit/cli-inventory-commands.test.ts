/** `provision validate` and `provision schema`: outputs and exit codes, no host contacted. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.ts';
import { inventoryJsonSchema } from '../../src/inventory/json-schema.ts';
import { hostVarsSchema } from '../../playbooks/site.ts';
import { scratchDir } from '../support/scratch.ts';

const HOME = fileURLToPath(new URL('../fixtures/inventory/home', import.meta.url));

test('validate accepts the example inventory and lists its groups', async () => {
  const result = await runCli(['validate', 'inventory/example.yaml'], { env: { HOME } });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /valid — 4 hosts/);
  assert.match(result.stdout, /nodes: node1, node2, node3/);
});

test('validate reports a misspelt key with its position and a suggestion, exit 2', async () => {
  const result = await runCli(['validate', 'test/fixtures/cli/misspelt.yaml']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /misspelt\.yaml:5:7: all\.vars\.updates\.reboot_tme: unknown key 'reboot_tme'; did you mean 'reboot_time'\?/);
});

test('the committed JSON Schema is the one the schemas generate, and the example points editors at it', async () => {
  const committed = JSON.parse(readFileSync(fileURLToPath(new URL('../../schema/inventory.schema.json', import.meta.url)), 'utf8')) as { $defs: { vars: { properties: object; additionalProperties: boolean } } };
  assert.deepEqual(committed, inventoryJsonSchema(hostVarsSchema(process.cwd())), 'run: npx provision schema -o schema/inventory.schema.json');
  const vars = committed.$defs.vars.properties;
  for (const key of ['ansible_host', 'ansible_port', 'ssh', 'updates', 'node']) assert.ok(key in vars, key);
  // Other projects' variables are allowed beside provision's (and ignored); provision's namespaces stay strict.
  assert.equal(committed.$defs.vars.additionalProperties, true);
  assert.equal((committed.$defs.vars.properties as Record<string, { additionalProperties?: boolean }>).updates?.additionalProperties, false);
  assert.match(readFileSync(fileURLToPath(new URL('../../inventory/example.yaml', import.meta.url)), 'utf8'), /^# yaml-language-server: \$schema=\.\.\/schema\/inventory\.schema\.json/);
  const printed = await runCli(['schema']);
  assert.equal(printed.code, 0);
  assert.deepEqual(JSON.parse(printed.stdout), committed);
});

test('tasks lists every task of the site playbook with its parameters and defaults, and the docs pages are current', async () => {
  const result = await runCli(['tasks']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^ssh — Key-only SSH \(hosts: all\)/m);
  assert.match(result.stdout, /ssh\.max_auth_tries +integer +\(default 3\)/);
  assert.match(result.stdout, /node\.pow\.min_cpus +integer +\(default 2\)/);
  const json = JSON.parse((await runCli(['tasks', '--json'])).stdout) as { namespace: string; parameters: { name: string }[] }[];
  const { catalogOf } = await import('../../src/engine/catalog.ts');
  const { default: site } = await import('../../playbooks/site.ts');
  assert.deepEqual(json.map((entry) => entry.namespace), catalogOf(site).map((entry) => entry.namespace));
  const { mkdtempSync, readdirSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const fresh = scratchDir('provision-docs-');
  assert.equal((await runCli(['tasks', '--docs', fresh])).code, 0);
  const committed = fileURLToPath(new URL('../../docs/tasks/', import.meta.url));
  for (const page of readdirSync(fresh)) {
    assert.equal(readFileSync(join(committed, page), 'utf8'), readFileSync(join(fresh, page), 'utf8'), `docs/tasks/${page} is stale: run provision tasks --docs docs/tasks`);
  }
  assert.deepEqual(readdirSync(committed).sort(), readdirSync(fresh).sort());
});

test('init writes a starter inventory that validates, with its schema beside it, and never overwrites by accident', async () => {
  const { mkdtempSync, existsSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = scratchDir('provision-init-');
  const output = join(dir, 'hosts.yaml');
  const key = join(HOME, '.ssh/id_ed25519');
  const args = ['init', '-o', output, '--nodes', 'n1=10.0.0.1,n2=10.0.0.2', '--balancers', 'lb=10.0.0.10', '--key', key, '--domain', 'api.example.org'];
  const first = await runCli(args);
  assert.equal(first.code, 0, first.stderr);
  assert.ok(existsSync(join(dir, 'hosts.schema.json')));
  assert.match(readFileSync(output, 'utf8'), /^# yaml-language-server: \$schema=\.\/hosts\.schema\.json/);
  const valid = await runCli(['validate', output]);
  assert.equal(valid.code, 0, valid.stderr);
  assert.match(valid.stdout, /nodes: n1, n2/);
  assert.match(valid.stdout, /balancers: lb/);
  const again = await runCli(args);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /exists; use --force/);
  const bad = await runCli(['init', '-o', join(dir, 'x.yaml'), '--nodes', 'has space=1.2.3.4', '--balancers', 'lb=1', '--user', 'root', '--key', key, '--domain', 'd']);
  assert.equal(bad.code, 2);
});
