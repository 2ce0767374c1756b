/** The rolling apply with a fake balancer: drains around restarts, the failure threshold, and what an earlier run left drained. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePlaybook } from '../../src/engine/playbook.ts';
import { defineRole } from '../../src/engine/role.ts';
import { FactCache } from '../../src/engine/fact-cache.ts';
import { RollingRun } from '../../src/engine/rolling/rolling-run.ts';
import type { TrafficBalancer, LeftDrained } from '../../src/engine/rolling/traffic.ts';
import type { HostSession } from '../../src/engine/host-session.ts';
import type { HostResult } from '../../src/engine/results.ts';
import type { Fact, Task } from '../../src/engine/types.ts';
import type { Host, Inventory } from '../../src/inventory/types.ts';
import { sh } from '../../src/transport/shell.ts';
import { fakeHost } from '../support/fake-context.ts';

const marker: Task = { kind: 'marker', target: 'x', facts: () => [], plan: () => ({ status: 'ok', reason: 'in place' }) };
const appRole = defineRole({
  name: 'app',
  title: 'App',
  summary: 'An app.',
  hosts: 'nodes',
  tasks: () => [marker],
  handlers: [{ name: 'restart app', steps: [], services: [{ name: 'app', action: 'restart' }] }],
});

const leftDrainedFact: Fact<LeftDrained[]> = { key: 'fake:left-drained', command: sh`true`, parse: () => [] };
const servingFact: Fact<boolean> = { key: 'fake:serving', command: sh`true`, parse: () => true };

/** A balancer that records what it is asked, in order. */
function fakeBalancer(log: string[], options: { sessionsLeft?: number; unhealthy?: string[] } = {}): TrafficBalancer {
  return {
    product: 'FakeProxy',
    backends: appRole,
    serverNames: (backends) => new Map(backends.map((host) => [host.name, `srv_${host.name}`])),
    services: () => ['app'],
    leftDrained: () => leftDrainedFact,
    serving: () => servingFact,
    drain: async (_runner, server) => {
      log.push(`drain ${server}`);
      return { known: true, sessionsLeft: options.sessionsLeft ?? 0 };
    },
    ready: async (_runner, server) => {
      log.push(`ready ${server}`);
      return { up: true };
    },
    healthy: async (_runner, host) => {
      log.push(`healthy? ${host.name}`);
      return !(options.unhealthy ?? []).includes(host.name);
    },
  };
}

const runner = { exec: async () => ({ stdout: '', stderr: '', code: 0 }) };

/** A planned host: restarts `app` when `restarts`, changes nothing when `changes` is false. */
function session(host: Host, play: ReturnType<typeof definePlaybook>['plays'][number], options: { changes?: boolean; restarts?: boolean; left?: LeftDrained[]; planFailed?: boolean; serving?: boolean } = {}): HostSession<Record<string, unknown>> {
  const changes = options.changes ?? true;
  const gathered = new FactCache();
  if (options.left) gathered.store(new Map([[leftDrainedFact.key, options.left]]), [leftDrainedFact as Fact<unknown>]);
  if (options.serving !== undefined) gathered.store(new Map([[servingFact.key, options.serving]]), [servingFact as Fact<unknown>]);
  const plan = (): HostResult => ({
    name: host.name,
    status: options.planFailed ? 'failed' : changes ? 'changed' : 'ok',
    tasks: [{ play: play.name, name: 'marker x', status: changes ? 'would-change' : 'ok', changes: [] }],
    handlers: changes && options.restarts !== false ? [{ name: 'restart app', status: 'would-change' }] : [],
    stats: { connections: 0, commands: 0, commandMs: 0 },
  });
  return {
    host,
    schedule: [{ play, task: marker }],
    failed: false,
    hasChanges: changes,
    planReport: plan,
    gathered,
    connection: runner,
    // Before its apply, as the run's own: ok.
    result: { ...plan(), status: 'ok' },
  } as unknown as HostSession<Record<string, unknown>>;
}

function setUp(log: string[], names: string[], balancerOptions: Parameters<typeof fakeBalancer>[1] = {}, vars: Record<string, unknown> = {}) {
  const lbRole = defineRole({ name: 'lb', title: 'LB', summary: 'A balancer.', hosts: 'balancers', tasks: () => [marker], balances: fakeBalancer(log, balancerOptions) });
  const playbook = definePlaybook({ roles: [appRole, lbRole] }) as ReturnType<typeof definePlaybook>;
  const lb = fakeHost(vars, 'lb1', ['all', 'balancers']);
  const nodes = names.map((name) => fakeHost(vars, name, ['all', 'nodes']));
  const inventory: Inventory = { file: '/x.yaml', hosts: [lb, ...nodes], groups: new Map([['all', ['lb1', ...names]], ['balancers', ['lb1']], ['nodes', names]]) };
  return { playbook, inventory, lb, nodes, appPlay: playbook.plays[0]!, lbPlay: playbook.plays[1]! };
}

function applier(log: string[], failing: string[] = []) {
  return async (one: HostSession<Record<string, unknown>>): Promise<HostResult> => {
    log.push(`apply ${one.host.name}`);
    return { ...one.planReport(), status: failing.includes(one.host.name) ? 'failed' : 'changed', handlers: [] };
  };
}

test('each node is drained, changed, found healthy and returned before the next; the balancer goes first', async () => {
  const log: string[] = [];
  const { playbook, inventory, lb, nodes, appPlay, lbPlay } = setUp(log, ['n1', 'n2']);
  const sessions = [session(lb, lbPlay), ...nodes.map((node) => session(node, appPlay))];
  const run = new RollingRun({ inventory, playbook, forks: 10 }, sessions);
  const plan = run.report()!;
  assert.deepEqual(plan.parallel, ['lb1']);
  assert.deepEqual(plan.groups[0]!.batches, [['n1'], ['n2']]);
  assert.equal(plan.steps['n1'], 'drain on lb1 → restart app → ready');
  const results = await run.apply(applier(log), {}, () => false);
  assert.deepEqual(log, ['apply lb1', 'drain srv_n1', 'apply n1', 'healthy? n1', 'ready srv_n1', 'drain srv_n2', 'apply n2', 'healthy? n2', 'ready srv_n2']);
  assert.deepEqual(results.map((result) => result.status), ['changed', 'changed', 'changed']);
  assert.deepEqual(results[1]!.rolling?.steps, ['drained on lb1', 'answers its health route', 'ready and up on lb1']);
});

test('a balancer that sends no traffic yet (a first converge) holds nobody back: its nodes change in parallel, undrained, and the plan says why', async () => {
  const log: string[] = [];
  const { playbook, inventory, lb, nodes, appPlay, lbPlay } = setUp(log, ['n1', 'n2']);
  const run = new RollingRun({ inventory, playbook, forks: 10 }, [session(lb, lbPlay, { serving: false }), ...nodes.map((node) => session(node, appPlay))]);
  const plan = run.report()!;
  assert.deepEqual(plan.parallel, ['lb1', 'n1', 'n2']);
  assert.deepEqual(plan.groups, []);
  assert.deepEqual(plan.steps, {});
  assert.ok(plan.notes.some((note) => /lb1 sends no traffic yet \(FakeProxy not running\): n1 and n2 take their changes in parallel, without draining/.test(note)), plan.notes.join('\n'));
  await run.apply(applier(log), {}, () => false);
  assert.ok(!log.some((line) => line.startsWith('drain')), log.join(', '));
  // Once it runs, the same nodes roll one at a time again.
  const serving = new RollingRun({ inventory, playbook, forks: 10 }, [session(lb, lbPlay, { serving: true }), ...nodes.map((node) => session(node, appPlay))]);
  assert.deepEqual(serving.report()!.groups[0]!.batches, [['n1'], ['n2']]);
});

test('once a node fails, the batches after it are skipped, and the failed node stays drained', async () => {
  const log: string[] = [];
  const { playbook, inventory, lb, nodes, appPlay, lbPlay } = setUp(log, ['n1', 'n2', 'n3']);
  const run = new RollingRun({ inventory, playbook, forks: 10 }, [session(lb, lbPlay), ...nodes.map((node) => session(node, appPlay))]);
  const results = await run.apply(applier(log, ['n2']), {}, () => false);
  assert.deepEqual(log, ['apply lb1', 'drain srv_n1', 'apply n1', 'healthy? n1', 'ready srv_n1', 'drain srv_n2', 'apply n2']);
  const [, first, failed, skipped] = results;
  assert.equal(first!.status, 'changed');
  assert.equal(failed!.status, 'failed');
  assert.deepEqual(failed!.rolling?.stillDrained, ['lb1']);
  assert.equal(skipped!.status, 'skipped');
  assert.match(skipped!.rolling!.skipped!, /1 host of app failed, more than rolling\.max_fail 0 allows/);
  assert.deepEqual(skipped!.tasks.map((task) => task.status), ['skipped']);
});

test('a node that does not come back healthy stays drained and counts as failed', async () => {
  const log: string[] = [];
  const { playbook, inventory, lb, nodes, appPlay, lbPlay } = setUp(log, ['n1', 'n2'], { unhealthy: ['n1'] });
  const run = new RollingRun({ inventory, playbook, forks: 10 }, [session(lb, lbPlay), ...nodes.map((node) => session(node, appPlay))]);
  const results = await run.apply(applier(log), {}, () => false);
  assert.equal(results[1]!.status, 'failed');
  assert.match(results[1]!.error!, /did not answer its health route/);
  assert.deepEqual(results[1]!.rolling?.stillDrained, ['lb1']);
  assert.equal(results[2]!.status, 'skipped');
  assert.ok(!log.includes('ready srv_n1'));
});

test('no drain for a change that restarts nothing, nor for the only node behind the balancer, nor for a batch of every node', async () => {
  const log: string[] = [];
  const { playbook, inventory, lb, nodes, appPlay, lbPlay } = setUp(log, ['n1', 'n2']);
  const quiet = new RollingRun({ inventory, playbook, forks: 10 }, [session(lb, lbPlay), ...nodes.map((node) => session(node, appPlay, { restarts: false }))]);
  assert.deepEqual(quiet.report()!.steps, {});
  const all = new RollingRun({ inventory, playbook, forks: 10, batch: { percent: 100 } }, [session(lb, lbPlay), ...nodes.map((node) => session(node, appPlay))]);
  assert.deepEqual(all.report()!.steps, {});
  assert.match(all.report()!.notes.join('\n'), /n1 cannot be drained without an outage \(its batch takes every node behind lb1 out at once\)/);
  await all.apply(applier(log), {}, () => false);
  assert.deepEqual(log.filter((line) => !line.startsWith('apply')), []);
  const single = setUp(log, ['only']);
  const alone = new RollingRun({ inventory: single.inventory, playbook: single.playbook, forks: 10 }, [session(single.lb, single.lbPlay), session(single.nodes[0]!, single.appPlay)]);
  assert.match(alone.report()!.notes.join('\n'), /only cannot be drained without an outage \(it is the only node behind lb1\)/);
});

test('what an earlier run left drained goes back to ready once the node is up; a node still down stays drained, said so', async () => {
  const log: string[] = [];
  const { playbook, inventory, lb, nodes, appPlay, lbPlay } = setUp(log, ['n1', 'n2']);
  const left = [
    { server: 'srv_n1', drained: true, up: true },
    { server: 'srv_n2', drained: true, up: false },
  ];
  const run = new RollingRun({ inventory, playbook, forks: 10 }, [session(lb, lbPlay, { changes: false, left }), ...nodes.map((node) => session(node, appPlay, { changes: false }))]);
  const notes = run.report()!.notes.join('\n');
  assert.match(notes, /srv_n1 was left drained on lb1 by an earlier run that did not finish: it is up, and the apply returns it to ready/);
  assert.match(notes, /srv_n2 was left drained on lb1 .* it stays drained until it is/);
  const results = await run.apply(applier(log), {}, () => false);
  assert.deepEqual(log, ['apply lb1', 'apply n1', 'apply n2', 'ready srv_n1']);
  assert.deepEqual(results[0]!.rolling?.steps, ['returned srv_n1 to ready (an earlier run had drained it and did not finish)', 'srv_n2 stays drained: an earlier run drained it and it is not up yet']);
});

test('an interrupted run starts no further batch', async () => {
  const log: string[] = [];
  const { playbook, inventory, lb, nodes, appPlay, lbPlay } = setUp(log, ['n1', 'n2']);
  const run = new RollingRun({ inventory, playbook, forks: 10 }, [session(lb, lbPlay), ...nodes.map((node) => session(node, appPlay))]);
  let stop = false;
  const results = await run.apply(async (one) => {
    const result = await applier(log)(one);
    if (one.host.name === 'n1') stop = true;
    return result;
  }, {}, () => stop);
  assert.equal(results[1]!.status, 'changed');
  assert.ok(log.includes('ready srv_n1'), 'the node in flight is returned to ready');
  assert.equal(results[2]!.status, 'skipped');
  assert.equal(results[2]!.rolling?.skipped, 'the run was interrupted');
});

test('a node whose plan failed changes nothing: it is neither drained nor counted against the others', async () => {
  const log: string[] = [];
  const { playbook, inventory, lb, nodes, appPlay, lbPlay } = setUp(log, ['n1', 'n2']);
  const run = new RollingRun({ inventory, playbook, forks: 10 }, [session(lb, lbPlay), session(nodes[0]!, appPlay, { planFailed: true }), session(nodes[1]!, appPlay)]);
  assert.deepEqual(run.report()!.parallel, ['lb1', 'n1']);
  assert.deepEqual(Object.keys(run.report()!.steps), ['n2']);
  const results = await run.apply(applier(log, ['n1']), {}, () => false);
  assert.deepEqual(log, ['apply lb1', 'apply n1', 'drain srv_n2', 'apply n2', 'healthy? n2', 'ready srv_n2']);
  assert.equal(results[2]!.status, 'changed');
});

test('a host marked before its apply (its state moved since the plan) is not drained', async () => {
  const log: string[] = [];
  const { playbook, inventory, lb, nodes, appPlay, lbPlay } = setUp(log, ['n1', 'n2']);
  const marked = session(nodes[0]!, appPlay);
  const run = new RollingRun({ inventory, playbook, forks: 10 }, [session(lb, lbPlay), marked, session(nodes[1]!, appPlay)]);
  // As the run marks a host whose facts moved while the prompt waited: after the plan, before the apply.
  marked.result.status = 'failed';
  await run.apply(applier(log), {}, () => false);
  assert.deepEqual(log, ['apply lb1', 'apply n1', 'drain srv_n2', 'apply n2', 'healthy? n2', 'ready srv_n2']);
});
