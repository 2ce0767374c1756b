/**
 * The pure parts of the approved plan: canonical digests, the key of a saved plan, the preconditions a plan records
 * and how they are compared, a plan's records and its file (no secret in it, an altered one refused), and the
 * inputs a saved plan is checked against.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, keyedDigester, sha256, valueDigest } from '../../src/engine/digest.ts';
import { planKey } from '../../src/engine/plan-key.ts';
import { planRandomBytes, planSeed, usePlanSeed } from '../../src/engine/plan-random.ts';
import { digestPreconditions, movedSincePlan } from '../../src/engine/preconditions.ts';
import { changeRecord, planDifference, taskRecord } from '../../src/engine/plan-record.ts';
import { documentDigest, looksLikePlan, parsePlan, planResult, type SavedPlan } from '../../src/engine/plan-file.ts';
import { HostSession, type ScheduledTask } from '../../src/engine/host-session.ts';
import { sh } from '../../src/transport/shell.ts';
import { predict, type Change, type Fact, type Play, type Task } from '../../src/engine/types.ts';
import type { Inventory } from '../../src/inventory/types.ts';
import { secret } from '../../src/inventory/secret.ts';
import { renderRun } from '../../src/report/text.ts';
import { palette } from '../../src/report/palette.ts';
import { checkPlanHeader } from '../../src/cli/apply-plan.ts';
import { fileDifferences, inventoryDifferences, playbookInputs, relativeImports } from '../../src/cli/plan-inputs.ts';
import { fakeHost } from '../support/fake-context.ts';
import { scratchDir } from '../support/scratch.ts';

test('canonical JSON is the same text for the same value, whatever the order it was built in', () => {
  const a = { b: 1, a: [new Map([['y', 2], ['x', 1]]), new Set(['q', 'p'])], skipped: undefined, command: sh`echo ${'hi'}` };
  const b = { command: sh`echo ${'hi'}`, a: [new Map([['x', 1], ['y', 2]]), new Set(['p', 'q'])], b: 1 };
  assert.equal(canonicalJson(a), canonicalJson(b));
  assert.notEqual(canonicalJson({ a: 1 }), canonicalJson({ a: '1' }));
  assert.equal(canonicalJson({ bytes: Buffer.from('hi') }), '{"bytes":{"@bytes":"6869"}}');
  assert.notEqual(valueDigest(a), valueDigest(a, keyedDigester(Buffer.from('k'))));
});

test("a saved plan's key comes from every secret of the inventory and the seed, in any order, slowly", () => {
  const seed = 'a'.repeat(64);
  const key = planKey(['hunter2', 'token-0123'], seed);
  assert.deepEqual(planKey(['token-0123', 'hunter2', 'hunter2'], seed), key);
  assert.notDeepEqual(planKey(['hunter3', 'token-0123'], seed), key);
  assert.notDeepEqual(planKey(['hunter2', 'token-0123'], 'b'.repeat(64)), key);
  assert.equal(key.length, 32);
});

test('what a plan invents comes from its seed: the same again with a saved seed, different for each label', () => {
  const seed = planSeed();
  const first = planRandomBytes('salt\nb1\nalice', 16);
  assert.notDeepEqual(planRandomBytes('salt\nb1\nbob', 16), first);
  usePlanSeed('c'.repeat(64));
  const other = planRandomBytes('salt\nb1\nalice', 16);
  assert.notDeepEqual(other, first);
  usePlanSeed(seed);
  assert.deepEqual(planRandomBytes('salt\nb1\nalice', 16), first);
  assert.equal(planRandomBytes('long', 80).length, 80);
});

/** A fact that prints `value` (its output is its value). */
const fact = (key: string, value: string, options: Partial<Fact<string>> = {}): Fact<string> => ({ key, command: sh`echo ${value}`, parse: (output) => output.stdout.trim(), ...options });

function session(tasks: Task[], name = 'h1') {
  const host = fakeHost<Record<string, unknown>>({}, name);
  const inventory: Inventory<Record<string, unknown>> = { file: '/x.yaml', hosts: [host], groups: new Map([['all', [name]]]) };
  const play: Play = { name: 'play', hosts: 'all', tasks: () => tasks };
  const schedule: ScheduledTask<Record<string, unknown>>[] = tasks.map((task) => ({ play, task }));
  return new HostSession(host, inventory, schedule);
}

/** A task that reads `facts` and writes `path` with `content`, predicting `predicted` (when given). */
function writer(path: string, content: string, facts: Fact<unknown>[], predicted?: Fact<string>): Task {
  return {
    kind: 'file',
    target: path,
    facts: () => facts,
    plan: (context) => {
      for (const read of facts) context.facts.get(read);
      const change: Change = { summary: `write ${path}`, steps: [{ kind: 'write-file', path, content, mode: '0644', owner: 'root', group: 'root' }], diff: { path, before: null, after: content } };
      if (predicted) change.predicts = [predict(predicted, content)];
      return { status: 'change', changes: [change] };
    },
  };
}

test('a plan rests on the gathered values its tasks read: not on predicted ones, not on volatile ones, and on peers\' too', () => {
  const config = fact('file:/etc/a', 'old');
  const age = fact('apt:lists-age', '42', { volatile: true });
  const unread = fact('file:/etc/unread', 'x');
  const cpus = fact('node:cpus', '2');
  const peerReader: Task = {
    kind: 'peer',
    target: 'weights',
    facts: () => [],
    plan: (context) => ({ status: 'ok', reason: `node1 has ${context.factsOf('node1')?.get(cpus)}` }),
  };
  const host = session([writer('/etc/a', 'new', [config, age], config), writer('/etc/b', 'b', [config]), peerReader]);
  host['gathered'].store(new Map<string, unknown>([['file:/etc/a', 'old'], ['apt:lists-age', '42'], ['file:/etc/unread', 'x']]), [config, age, unread]);
  const node = session([], 'node1');
  node['gathered'].store(new Map<string, unknown>([['node:cpus', '2']]), [cpus]);
  host.plan((name) => (name === 'node1' ? node.gathered : undefined));
  // /etc/a is read twice: gathered by the first task, predicted by the time the second reads it; recorded once.
  assert.deepEqual(host.preconditions.map(({ host: where, fact: read }) => `${where} ${read.key}`), ['h1 file:/etc/a', 'node1 node:cpus']);

  const digests = digestPreconditions(host.preconditions, (where, read) => (where === 'node1' ? node.gathered : host.gathered).get(read), sha256);
  assert.deepEqual(digests.map((digest) => digest.about), ['the fact file:/etc/a', 'the fact node:cpus']);
  const same = (where: string, key: string) => ({ value: (where === 'node1' ? node.gathered : host.gathered).lookup(key)!.value });
  assert.deepEqual(movedSincePlan('h1', digests, same, sha256), []);
  const moved = movedSincePlan('h1', digests, (where, key) => (key === 'file:/etc/a' ? { value: 'edited' } : same(where, key)), sha256);
  assert.deepEqual(moved, ['the fact file:/etc/a changed since the plan']);
  const peerGone = movedSincePlan('h1', digests, (where, key) => (where === 'node1' ? { error: 'unreachable' } : same(where, key)), sha256);
  assert.deepEqual(peerGone, ['node1: the fact node:cpus could not be read again (unreachable)']);
  assert.deepEqual(movedSincePlan('h1', digests, () => undefined, sha256).length, 2);
  // Equal values of two facts do not give equal digests (a plan file shows no such likeness).
  const twin = fact('file:/etc/twin', 'old');
  const [one, two] = digestPreconditions([{ host: 'h1', fact: config }, { host: 'h1', fact: twin }], () => 'old', sha256);
  assert.notEqual(one!.digest, two!.digest);
});

test('a change record shows what the dry run shows, and a file with a secret in it only as "changes"', () => {
  const password = secret('pw-for-the-record-test');
  const digester = keyedDigester(Buffer.from('key'));
  const plain: Change = { summary: 'update /etc/a', steps: [{ kind: 'write-file', path: '/etc/a', content: 'a=2\n', mode: '0644', owner: 'root', group: 'root' }], diff: { path: '/etc/a', before: 'a=1\n', after: 'a=2\n' } };
  assert.deepEqual(changeRecord(plain, digester).diff, { path: '/etc/a', before: 'a=1\n', after: 'a=2\n' });
  const holding: Change = {
    summary: 'update /etc/b',
    details: [`password ${password}`],
    steps: [{ kind: 'write-file', path: '/etc/b', content: `pw=${password}\n`, mode: '0600', owner: 'root', group: 'root' }],
    diff: { path: '/etc/b', before: null, after: `pw=${password}\n` },
  };
  const record = changeRecord(holding, digester);
  assert.deepEqual(record.diff, { path: '/etc/b', secret: true, existed: false, changes: true });
  assert.deepEqual(record.details, ['password ********']);
  assert.doesNotMatch(JSON.stringify(record), /pw-for-the-record-test/);
  // The digest stands for the content: another password gives another digest.
  const other = changeRecord({ ...holding, steps: [{ kind: 'write-file', path: '/etc/b', content: 'pw=other\n', mode: '0600', owner: 'root', group: 'root' }] }, digester);
  assert.notEqual(other.digest, record.digest);
  // The report of it says only that it changes.
  const shown = renderRun(planResult(planWith([taskRecord('play', 'file /etc/b', { status: 'change', changes: [holding] }, digester)])), palette(false), { showOk: true, details: true });
  assert.match(shown, /secret content of \/etc\/b created; not shown/);
});

/** A minimal saved plan holding these tasks for one host. */
function planWith(tasks: ReturnType<typeof taskRecord>[]): SavedPlan {
  const document = {
    format: 'provision-plan' as const,
    version: 1 as const,
    provision: '0.1.0',
    createdAt: new Date('2025-01-01T00:00:00Z').toISOString(),
    seed: 'a'.repeat(64),
    playbook: { files: [{ path: 'playbooks/site.ts', digest: 'b'.repeat(64) }] },
    inventory: { sources: ['inv.yaml'], files: [{ path: 'inv.yaml', digest: 'c'.repeat(64) }], extraVars: [], hosts: { h1: 'd'.repeat(64) } },
    selection: { tags: [], skipTags: [] },
    hosts: [{ name: 'h1', status: 'changed' as const, preconditions: [{ host: 'h1', key: 'file:/etc/a', about: '/etc/a', digest: 'e'.repeat(64) }], tasks, handlers: [] }],
  };
  return { ...document, digest: documentDigest(document) };
}

test('a plan file reads back as written, and an altered one is refused', () => {
  const digester = keyedDigester(Buffer.from('key'));
  const change: Change = { summary: 'update /etc/a', steps: [{ kind: 'run', command: sh`true` }] };
  const plan = planWith([taskRecord('play', 'file /etc/a', { status: 'change', changes: [change] }, digester)]);
  const text = JSON.stringify(plan, null, 2);
  assert.ok(looksLikePlan(text));
  assert.deepEqual(parsePlan(text), plan);

  const edited = JSON.parse(text) as SavedPlan;
  edited.hosts[0]!.tasks[0]!.changes[0]!.summary = 'update /etc/a (harmless)';
  assert.match((parsePlan(JSON.stringify(edited)) as { problem: string }).problem, /altered after it was written/);
  const unknownMember = { ...JSON.parse(text), extra: true };
  assert.match((parsePlan(JSON.stringify(unknownMember)) as { problem: string }).problem, /altered or damaged/);
  assert.match((parsePlan(JSON.stringify({ ...plan, version: 2 })) as { problem: string }).problem, /format version 2/);
  assert.match((parsePlan('all:\n  hosts: {}\n') as { problem: string }).problem, /not JSON/);
  assert.equal(looksLikePlan('{"all": {"hosts": {}}}'), false);
});

test('how a plan made now differs from the saved one, in words', () => {
  const digester = keyedDigester(Buffer.from('key'));
  const write = (content: string): Change => ({ summary: 'update /etc/a', steps: [{ kind: 'write-file', path: '/etc/a', content, mode: '0644', owner: 'root', group: 'root' }] });
  const saved = [taskRecord('play', 'file /etc/a', { status: 'change', changes: [write('1')] }, digester)];
  assert.deepEqual(planDifference(saved, [taskRecord('play', 'file /etc/a', { status: 'change', changes: [write('1')] }, digester)]), []);
  assert.match(planDifference(saved, [taskRecord('play', 'file /etc/a', { status: 'change', changes: [write('2')] }, digester)])[0]!, /now does something other than the saved plan shows/);
  assert.match(planDifference(saved, [taskRecord('play', 'file /etc/a', { status: 'ok', reason: 'in place' }, digester)])[0]!, /planned differently now: the saved plan shows update \/etc\/a; now: ok \(in place\)/);
  assert.match(planDifference(saved, [])[0]!, /the tasks differ/);
});

test('a saved plan is refused when it is too old, from the future, or made by another version', () => {
  const plan = planWith([]);
  const made = Date.parse(plan.createdAt);
  assert.doesNotThrow(() => checkPlanHeader(plan, 'p.json', undefined, new Date(made + 3600_000), '0.1.0'));
  assert.throws(() => checkPlanHeader(plan, 'p.json', undefined, new Date(made + 25 * 3600_000), '0.1.0'), /made 1d 1h ago .* longer than --max-age 24h/);
  assert.doesNotThrow(() => checkPlanHeader(plan, 'p.json', '2d', new Date(made + 25 * 3600_000), '0.1.0'));
  assert.throws(() => checkPlanHeader(plan, 'p.json', '30m', new Date(made + 3600_000), '0.1.0'), /longer than --max-age 30m/);
  assert.throws(() => checkPlanHeader(plan, 'p.json', 'soon', new Date(made), '0.1.0'), /expected a duration/);
  assert.throws(() => checkPlanHeader(plan, 'p.json', undefined, new Date(made - 3600_000), '0.1.0'), /after this machine's time/);
  assert.throws(() => checkPlanHeader(plan, 'p.json', undefined, new Date(made), '0.2.0'), /made by provision 0\.1\.0, and this is 0\.2\.0/);
});

test("a plan's inputs: the playbook's modules by their imports, and what differs named file by file", () => {
  assert.deepEqual(relativeImports("import { a } from './a.ts';\nimport type { B } from '../b.ts';\nexport * from './c.ts';\nawait import('./d.ts');\nimport 'zod';\n"), ['./a.ts', '../b.ts', './c.ts', './d.ts']);
  const site = playbookInputs(undefined).files.map((file) => file.path);
  assert.ok(site.includes('playbooks/site.ts') && site.includes('tasks/ssh/render.ts') && site.includes('tasks/core/files.ts'), site.join(' '));

  const dir = scratchDir('provision-playbook-');
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'mine.ts'), "import { x } from './lib/x.ts';\nexport default x;\n");
  writeFileSync(join(dir, 'lib', 'x.ts'), 'export const x = 1;\n');
  const before = playbookInputs(join(dir, 'mine.ts')).files;
  assert.deepEqual(before.map((file) => file.path), ['lib/x.ts', 'mine.ts']);
  writeFileSync(join(dir, 'lib', 'x.ts'), 'export const x = 2;\n');
  assert.deepEqual(fileDifferences('playbook module', before, playbookInputs(join(dir, 'mine.ts')).files), ['playbook module lib/x.ts changed since the plan']);

  const inventory = { sources: ['inv.yaml'], files: [{ path: 'inv.yaml', digest: '1' }], extraVars: ['e'], hosts: { a: '1', b: '2' } };
  assert.deepEqual(inventoryDifferences(inventory, structuredClone(inventory)), []);
  assert.deepEqual(
    inventoryDifferences(inventory, { ...inventory, files: [{ path: 'inv.yaml', digest: '2' }, { path: 'group_vars/all.yml', digest: '3' }], extraVars: [], hosts: { a: '1', b: '3', c: '4' } }),
    [
      'inventory file inv.yaml changed since the plan',
      'inventory file group_vars/all.yml is new since the plan',
      'the -e/--extra-vars differ from the plan\'s (it was made with 1, this run has 0); give the same ones',
      'the variables of b differ from the plan\'s (an environment variable, a key file, a vault password?)',
      'host c is new since the plan',
    ],
  );
});
