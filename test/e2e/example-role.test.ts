/**
 * The README's example role (examples/motd/): a folder and a playbook, nothing else. Its variables are validated by
 * the playbook it comes with, its catalog row, docs page, schema entry and tag appear by themselves, and it
 * converges a real host, idempotently, with an exact dry run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { writeInventory } from '../support/inventory.ts';
import { scratchDir } from '../support/scratch.ts';

const PLAYBOOK = 'examples/motd/playbook.ts';

describe('an example role of its own: examples/motd', () => {
  let lab: TestHosts;
  const motd = () => lab.exec('node1', ['cat', '/etc/motd']);
  before(async () => {
    lab = await startTestHosts([{ name: 'node1', group: 'nodes' }]);
  });
  after(async () => lab?.stop());

  test('a dry run changes nothing, the apply writes /etc/motd, and the second run changes nothing', async () => {
    const inventory = writeInventory(lab, { vars: { motd: { lines: ['Welcome to the lab.'], contact: 'ops@example.org' } } });
    const before = await motd();
    const dry = await runCli(['apply', inventory, '--playbook', PLAYBOOK, '--dry-run', '--no-color']);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /play: motd\n\s+would-change file \/etc\/motd/);
    assert.match(dry.stdout, /\+Welcome to the lab\./);
    assert.deepEqual(await motd(), before, 'the dry run left the host as it was');

    const applied = await runCli(['apply', inventory, '--playbook', PLAYBOOK, '--yes', '--json']);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    assert.equal(parseRun(applied).summary.changed, 1);
    assert.equal((await motd()).stdout, 'node1\n\nWelcome to the lab.\n\nContact: ops@example.org\n');

    const again = await runCli(['apply', inventory, '--playbook', PLAYBOOK, '--dry-run', '--detailed-exitcode']);
    assert.equal(again.code, 0, again.stdout + again.stderr);
  });

  test('a wrong value of its own is exit 2 with file:line, before any host is touched', async () => {
    const inventory = writeInventory(lab, { vars: { motd: { lines: ['fine'], contact: 'not an address' } } });
    const written = await motd();
    const result = await runCli(['apply', inventory, '--playbook', PLAYBOOK, '--yes']);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    const line = readFileSync(inventory, 'utf8').split('\n').findIndex((text) => text.includes('contact:')) + 1;
    assert.match(result.stderr, new RegExp(`inventory\\.yaml:${line}:\\d+: all\\.vars\\.motd\\.contact: expected an e-mail address`));
    assert.deepEqual(await motd(), written);
    const misspelt = writeInventory(lab, { vars: { motd: { line: ['x'] } } });
    const validated = await runCli(['validate', misspelt, '--playbook', PLAYBOOK]);
    assert.equal(validated.code, 2);
    assert.match(validated.stderr, /all\.vars\.motd\.line: unknown key 'line'; did you mean 'lines'\?/);
  });

  test('its catalog row, docs page, schema entry and tag come from the role itself', async () => {
    const catalog = JSON.parse((await runCli(['tasks', '--playbook', PLAYBOOK, '--json'])).stdout) as { role: string; namespace: string; parameters: { name: string; description?: string }[] }[];
    assert.deepEqual(catalog.map((entry) => [entry.role, entry.namespace]), [['motd', 'motd']]);
    assert.equal(catalog[0]!.parameters.find((parameter) => parameter.name === 'motd.contact')?.description, 'Who to ask about this host; shown under the message.');
    const docs = scratchDir('provision-motd-docs-');
    assert.equal((await runCli(['tasks', '--playbook', PLAYBOOK, '--docs', docs])).code, 0);
    assert.match(readFileSync(join(docs, 'motd.md'), 'utf8'), /\| `motd\.lines` \| list of string \| .* \| The message, one list item per line\. \|/);
    const schema = JSON.parse((await runCli(['schema', '--playbook', PLAYBOOK])).stdout) as { $defs: { vars: { properties: Record<string, { additionalProperties?: boolean }> } } };
    assert.equal(schema.$defs.vars.properties.motd?.additionalProperties, false);
    assert.equal(schema.$defs.vars.properties.ssh, undefined, 'only the playbook\'s own namespaces');
    const skipped = await runCli(['apply', lab.inventoryFile, '--playbook', PLAYBOOK, '--list-tasks', '--skip-tags', 'motd']);
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.doesNotMatch(skipped.stdout, /play #/, 'no play is left');
    const listed = await runCli(['apply', lab.inventoryFile, '--playbook', PLAYBOOK, '--list-tasks', '--tags', 'motd']);
    assert.match(listed.stdout, /play #1 \(all\): motd\tTAGS: \[motd\]\n {4}node1 \(1 task\):\n {6}file \/etc\/motd\n/);
  });

  test('with the site playbook\'s variables beside it, the example playbook ignores them and says so', async () => {
    const inventory = writeInventory(lab, { vars: { ssh: { port: 2222 } } });
    const result = await runCli(['validate', inventory, '--playbook', PLAYBOOK]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /not provision's variables \(loaded and ignored\): 1\n {2}.*inventory\.yaml:\d+:\d+: ssh/);
  });
});
