/** Secrets a plan makes travel in the plan itself: the engine masks what a change declares, and tasks cannot mark values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostLink } from '../../src/engine/host-connect.ts';
import { planTask } from '../../src/engine/host-plan.ts';
import type { Plan, PlanContext, Play, Task } from '../../src/engine/types.ts';
import { secret } from '../../src/inventory/secret.ts';
import { containsSecret, redact } from '../../src/report/redact.ts';
import { factReader, fakeHost } from '../support/fake-context.ts';

const host = fakeHost({});
const link = { host } as unknown as HostLink<Record<string, unknown>>;
const play: Play = { name: 'p', hosts: 'all', tasks: () => [] };
const context = { host, facts: factReader({}), factsOf: () => undefined } as unknown as PlanContext;

function taskPlanning(plan: () => Plan): Task {
  return { kind: 'file', target: '/etc/x', facts: () => [], plan };
}

test('a value a change declares secret is masked in every output from the moment the engine receives the plan', () => {
  const derived = `$6$derivedsalt$${'Q'.repeat(86)}`;
  const task = taskPlanning(() => ({
    status: 'change',
    changes: [{ summary: 'write /etc/x', diff: { path: '/etc/x', before: null, after: `user a password ${derived}\n` }, steps: [], secrets: [derived] }],
  }));
  assert.equal(containsSecret(derived), false);
  planTask(link, play, task, context, new Set());
  assert.equal(containsSecret(derived), true);
  assert.equal(redact(`user a password ${derived}`), 'user a password ********');
});

test('a task cannot make secrets while it plans: the values reach the masks through its changes only', () => {
  const task = taskPlanning(() => {
    secret('made-while-planning-1234');
    return { status: 'ok', reason: 'nothing' };
  });
  assert.throws(() => planTask(link, play, task, context, new Set()), /secret\(\) was called while a task planned/);
  assert.equal(containsSecret('made-while-planning-1234'), false);
  // Planning is over: the loader and the gather may make secrets again.
  secret('made-after-planning-1234');
  assert.equal(containsSecret('made-after-planning-1234'), true);
});
