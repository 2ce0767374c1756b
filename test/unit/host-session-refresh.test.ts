/** The apply's re-reads: facts a change made stale are read again in one round trip for the tasks ahead. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostSession, type ScheduledTask } from '../../src/engine/host-session.ts';
import { sh } from '../../src/transport/shell.ts';
import type { Fact, Play, Task } from '../../src/engine/types.ts';
import type { Inventory } from '../../src/inventory/types.ts';
import { fakeHost } from '../support/fake-context.ts';
import { localConnection } from '../support/local-runner.ts';

const echoFact = (key: string, text: string, staleAfter: Fact<string>['staleAfter'] = ['packages']): Fact<string> => ({ key, command: sh`echo ${text}`, parse: (output) => output.stdout.trim(), staleAfter });

/** A task that reads `facts` and is in place; it records what it saw. */
function reader(name: string, facts: Fact<unknown>[], seen: Map<string, unknown[]>): Task {
  return {
    kind: 'reader',
    target: name,
    facts: () => facts,
    plan: (context) => {
      seen.set(name, facts.map((fact) => context.facts.get(fact)));
      return { status: 'ok', reason: 'read' };
    },
  };
}

/** A task that installs packages: every fact that a package install can change goes stale. */
const installer: Task = {
  kind: 'installer',
  target: 'packages',
  facts: () => [],
  plan: () => ({ status: 'change', changes: [{ summary: 'install', steps: [{ kind: 'run', command: sh`true` }], affects: ['packages'] }] }),
};

function session(tasks: Task[]) {
  const host = fakeHost<Record<string, unknown>>({});
  const inventory: Inventory<Record<string, unknown>> = { file: '/x.yaml', hosts: [host], groups: new Map([['all', ['h1']]]) };
  const play: Play = { name: 'play', hosts: 'all', tasks: () => tasks };
  const schedule: ScheduledTask<Record<string, unknown>>[] = tasks.map((task) => ({ play, task }));
  return new HostSession(host, inventory, schedule);
}

test('facts a change made stale are read again in one round trip for every task ahead', async () => {
  const seen = new Map<string, unknown[]>();
  const a = echoFact('file:/a', 'a-now');
  const b = echoFact('file:/b', 'b-now');
  const other = echoFact('systemd:x', 'never-read-again', []);
  const tasks = [installer, reader('first', [a], seen), reader('second', [b, other], seen), reader('third', [a, b], seen)];
  const host = session(tasks);
  const connection = localConnection();
  Object.assign(host, { connection });
  host['gathered'].store(new Map<string, unknown>([['file:/a', 'a-before'], ['file:/b', 'b-before'], ['systemd:x', 'x-before']]), [a, b, other]);
  host.plan(() => undefined);
  const result = await host.apply(() => undefined, {}, () => false);
  assert.equal(result.status, 'changed');
  assert.deepEqual(seen.get('first'), ['a-now']);
  assert.deepEqual(seen.get('second'), ['b-now', 'x-before'], 'a fact nothing made stale is not read again');
  assert.deepEqual(seen.get('third'), ['a-now', 'b-now']);
  // The install's command, then one batch with both stale facts: not one round trip per task.
  assert.equal(connection.commands.length, 2, connection.commands.join('\n---\n'));
  assert.match(connection.commands[1]!, /echo a-now[\s\S]*echo b-now/);
  assert.doesNotMatch(connection.commands[1]!, /never-read-again/);
});

test('when a fact of a later task cannot be read yet, the task reads its own alone', async () => {
  const seen = new Map<string, unknown[]>();
  const a = echoFact('file:/a', 'a-now');
  const notYet: Fact<string> = { key: 'file:/later', command: sh`echo missing`, parse: () => { throw new Error('the tool that reads this is not installed yet'); } };
  const tasks = [installer, reader('first', [a], seen), { ...reader('later', [], seen), facts: () => [notYet], plan: () => ({ status: 'ok' as const, reason: 'skipped' }) }];
  const host = session(tasks);
  const connection = localConnection();
  Object.assign(host, { connection });
  host['gathered'].store(new Map<string, unknown>([['file:/a', 'a-before'], ['file:/later', 'x']]), [a, notYet]);
  host.plan(() => undefined);
  const result = await host.apply(() => undefined, {}, () => false);
  assert.deepEqual(seen.get('first'), ['a-now']);
  assert.equal(result.tasks[1]!.status, 'ok');
  assert.equal(result.tasks[2]!.status, 'failed', 'the later task fails on its own fact, when it runs');
});
