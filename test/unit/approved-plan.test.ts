/**
 * The apply runs the plan that was shown: tasks are not planned again, except those planned on facts an earlier change
 * alters (provisional), which are, with a word on whether that plan is the one shown; a stale host runs nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostSession, type ScheduledTask } from '../../src/engine/host-session.ts';
import { sh } from '../../src/transport/shell.ts';
import type { Change, Fact, Play, Task } from '../../src/engine/types.ts';
import type { Inventory } from '../../src/inventory/types.ts';
import { renderRun } from '../../src/report/text.ts';
import { palette } from '../../src/report/palette.ts';
import { summarize } from '../../src/engine/results.ts';
import { fakeHost } from '../support/fake-context.ts';
import { localConnection } from '../support/local-runner.ts';
import { leaveOutStaleHosts } from '../../src/engine/stale-hosts.ts';

function session(tasks: Task[], name = 'h1') {
  const host = fakeHost<Record<string, unknown>>({}, name);
  const inventory: Inventory<Record<string, unknown>> = { file: '/x.yaml', hosts: [host], groups: new Map([['all', ['h1']]]) };
  const play: Play = { name: 'play', hosts: 'all', tasks: () => tasks };
  const schedule: ScheduledTask<Record<string, unknown>>[] = tasks.map((task) => ({ play, task }));
  const planned = new HostSession(host, inventory, schedule);
  const connection = localConnection();
  Object.assign(planned, { connection });
  return { planned, connection };
}

/** A fact whose value on the "host" is what `echo` prints. */
const echoFact = (key: string, text: string): Fact<string> => ({ key, command: sh`echo ${text}`, parse: (output) => output.stdout.trim() });

/** A task that runs `echo WORD` as its change, where WORD comes from its fact; counts how often it is planned. */
function echoing(name: string, fact: Fact<string>, plans: string[]): Task {
  return {
    kind: 'echo',
    target: name,
    facts: () => [fact],
    plan: (context) => {
      const word = context.facts.get(fact);
      plans.push(`${name}:${word}`);
      const change: Change = { summary: `echo ${word}`, steps: [{ kind: 'run', command: sh`echo ${word}` }] };
      return { status: 'change', changes: [change] };
    },
  };
}

/** A task whose change makes every fact stale (as a package install does). */
const installer: Task = {
  kind: 'installer',
  target: 'packages',
  facts: () => [],
  plan: () => ({ status: 'change', changes: [{ summary: 'install', steps: [{ kind: 'run', command: sh`true` }], affects: ['packages'] }] }),
};

test('the apply runs the changes that were shown: a task not planned on an earlier change is not planned again', async () => {
  const plans: string[] = [];
  const word = echoFact('word', 'now');
  const { planned, connection } = session([echoing('a', word, plans)]);
  planned['gathered'].store(new Map([['word', 'shown']]), [word]);
  planned.plan(() => undefined);
  const result = await planned.apply(() => undefined, {}, () => false);
  assert.deepEqual(plans, ['a:shown'], 'planned once, for the dry run');
  assert.deepEqual(connection.commands, ['echo shown']);
  assert.equal(result.tasks[0]!.replanned, undefined);
});

test('a provisional task is planned again after the change before it, and says whether that plan is the one shown', async () => {
  const plans: string[] = [];
  const same = echoFact('same', 'kept');
  const moved = echoFact('moved', 'after-install');
  const later = echoFact('later', 'later-now');
  const { planned, connection } = session([installer, echoing('same', same, plans), echoing('moved', moved, plans), echoing('after', later, plans)]);
  planned['gathered'].store(new Map([['same', 'kept'], ['moved', 'before-install'], ['later', 'later-now']]), [same, moved, later]);
  planned.plan(() => undefined);
  plans.length = 0;
  const result = await planned.apply(() => undefined, {}, () => false);
  const [, first, second, third] = result.tasks;
  assert.equal(first!.replanned, 'same');
  assert.match(first!.note!, /planned again after an earlier change of this run: the same as shown/);
  assert.equal(second!.replanned, 'differs');
  assert.match(second!.note!, /this differs from what was shown/);
  assert.deepEqual(second!.changes.map((change) => change.summary), ['echo after-install'], 'what runs is the new plan');
  // Once a plan differs from the one shown, the tasks after it are planned again too.
  assert.equal(third!.replanned, 'same');
  assert.ok(connection.commands.includes('echo after-install'));
  // What was never shown is shown in the results, even where diffs are not.
  const text = renderRun({ mode: 'apply', hosts: [result], summary: summarize([result]) }, palette(false), { showOk: false, details: false });
  assert.match(text, /- echo after-install/);
  assert.doesNotMatch(text, /- echo kept/);
});

test('a stale host runs nothing, and says what moved', async () => {
  const plans: string[] = [];
  const word = echoFact('word', 'now');
  const { planned, connection } = session([echoing('a', word, plans)]);
  planned['gathered'].store(new Map([['word', 'shown']]), [word]);
  planned.plan(() => undefined);
  planned.markStale(['/etc/a changed since the plan']);
  const result = await planned.apply(() => undefined, {}, () => false);
  assert.equal(result.status, 'stale');
  assert.deepEqual(result.stale, ['/etc/a changed since the plan']);
  assert.deepEqual(connection.commands, []);
  assert.equal(result.tasks[0]!.status, 'skipped');
  const text = renderRun({ mode: 'apply', hosts: [result], summary: summarize([result]) }, palette(false), { showOk: false, details: false });
  assert.match(text, /stale: nothing was applied on this host/);
  assert.match(text, /\/etc\/a changed since the plan/);
  assert.match(text, /h1 +ok=0 +changed=0 +failed=0 +skipped=1 +unreachable=0 +stale=1/);
});

test('the facts a plan rests on are read again in one round trip', async () => {
  const word = echoFact('word', 'moved');
  const other = echoFact('other', 'same');
  const { planned, connection } = session([echoing('a', word, []), echoing('b', other, [])]);
  planned['gathered'].store(new Map([['word', 'shown'], ['other', 'same']]), [word, other]);
  planned.plan(() => undefined);
  const again = await planned.readAgain(planned.preconditions.map(({ fact }) => fact));
  assert.equal(connection.commands.length, 1);
  assert.deepEqual(again, new Map([['word', 'moved'], ['other', 'same']]));
});

test('before the apply, a changing host whose facts moved since the plan is marked stale, with what moved; one whose facts hold is not', async () => {
  const moved = { ...echoFact('moved', 'edited'), description: '/etc/moved.conf' };
  const held = echoFact('held', 'same');
  const stale = session([echoing('a', moved, [])]);
  stale.planned['gathered'].store(new Map([['moved', 'planned']]), [moved]);
  stale.planned.plan(() => undefined);
  const fine = session([echoing('b', held, [])], 'h2');
  fine.planned['gathered'].store(new Map([['held', 'same']]), [held]);
  fine.planned.plan(() => undefined);
  await leaveOutStaleHosts([stale.planned, fine.planned], 2);
  assert.equal(stale.connection.commands.length, 1, 'one round trip');
  const result = await stale.planned.apply(() => undefined, {}, () => false);
  assert.equal(result.status, 'stale');
  assert.deepEqual(result.stale, ['/etc/moved.conf changed since the plan']);
  assert.deepEqual(stale.connection.commands.slice(1), [], 'nothing run after the re-read');
  assert.equal((await fine.planned.apply(() => undefined, {}, () => false)).status, 'changed');
});
