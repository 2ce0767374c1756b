/** Rolling batches (pure): the apply's order, batch sizes, the failure threshold, and the `rolling` settings. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderApply, thresholdPassed, type HostToOrder } from '../../src/engine/rolling/order.ts';
import { parseHostCount, resolveCount, rollingSettings, rollingVars } from '../../src/engine/rolling/settings.ts';
import { servicesTakenDown } from '../../src/engine/rolling/takes-down.ts';
import type { HostResult } from '../../src/engine/results.ts';

const defaults = rollingSettings({});

function host(name: string, extra: Partial<HostToOrder> = {}): HostToOrder {
  return { name, changes: true, play: 'node', playIndex: 5, settings: defaults, behindBalancer: false, balancer: false, ...extra };
}

const node = (name: string, extra: Partial<HostToOrder> = {}) => host(name, { behindBalancer: true, ...extra });
const balancer = (name: string, extra: Partial<HostToOrder> = {}) => host(name, { play: 'balancer', playIndex: 6, balancer: true, ...extra });

test('nodes behind a balancer go one at a time; the balancer and every other host first, in parallel', () => {
  const order = orderApply([balancer('lb1'), node('n1'), node('n2'), node('n3'), host('monitor', { play: 'updates', playIndex: 4 })]);
  assert.deepEqual(order.parallel, ['lb1', 'monitor']);
  assert.equal(order.groups.length, 1);
  assert.deepEqual(order.groups[0]!.batches, [['n1'], ['n2'], ['n3']]);
  assert.equal(order.groups[0]!.sizeSource, 'behind a balancer: one at a time by default');
  assert.equal(order.groups[0]!.maxFail, 0);
});

test('a host whose plan changes nothing is neither batched nor drained', () => {
  const order = orderApply([balancer('lb1'), node('n1', { changes: false }), node('n2'), node('n3', { changes: false })]);
  assert.deepEqual(order.parallel, ['lb1', 'n1', 'n3']);
  assert.deepEqual(order.groups[0]!.batches, [['n2']]);
});

test('rolling.batch sets the size per group of the inventory, as a count or a share of the hosts that change', () => {
  const two = { ...defaults, batch: { count: 2 } };
  assert.deepEqual(orderApply(['a', 'b', 'c', 'd', 'e'].map((name) => node(name, { settings: two }))).groups[0]!.batches, [['a', 'b'], ['c', 'd'], ['e']]);
  const quarter = { ...defaults, batch: { percent: 25 } };
  const group = orderApply(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((name) => host(name, { settings: quarter }))).groups[0]!;
  assert.deepEqual(group.batches, [['a', 'b'], ['c', 'd'], ['e', 'f'], ['g', 'h']], 'a host without a balancer is batched when told to');
  assert.equal(group.sizeSource, 'rolling.batch 25%');
  const small = orderApply(['a', 'b', 'c'].map((name) => node(name, { settings: { ...defaults, batch: { percent: 10 } } }))).groups[0]!;
  assert.equal(small.size, 1, 'a share that rounds to no host still takes one');
  const all = orderApply(['a', 'b', 'c'].map((name) => node(name, { settings: { ...defaults, batch: { percent: 100 } } }))).groups[0]!;
  assert.deepEqual(all.batches, [['a', 'b', 'c']]);
});

test('--batch overrides every play for the run, balancers first', () => {
  const order = orderApply([node('n1'), node('n2'), balancer('lb1'), balancer('lb2'), host('other', { play: 'updates', playIndex: 4 })], { batch: { count: 1 } });
  assert.deepEqual(order.parallel, []);
  assert.deepEqual(
    order.groups.map((group) => [group.play, group.batches]),
    [
      ['balancer', [['lb1'], ['lb2']]],
      ['updates', [['other']]],
      ['node', [['n1'], ['n2']]],
    ],
  );
  assert.equal(order.groups[0]!.sizeSource, '--batch 1');
});

test('hosts of one play with different settings roll as separate groups', () => {
  const order = orderApply([node('eu1', { settings: { ...defaults, batch: { count: 2 } } }), node('us1'), node('eu2', { settings: { ...defaults, batch: { count: 2 } } }), node('us2')]);
  assert.deepEqual(order.groups.map((group) => group.batches), [[['eu1', 'eu2']], [['us1'], ['us2']]]);
});

test('max_fail: the batches after a failure are skipped once more hosts failed than allowed', () => {
  const strict = orderApply([node('a'), node('b'), node('c')]).groups[0]!;
  assert.equal(thresholdPassed(strict, 0), false);
  assert.equal(thresholdPassed(strict, 1), true, 'the default tolerates no failure');
  const lenient = orderApply(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].map((name) => node(name, { settings: { ...defaults, max_fail: { percent: 20 } } }))).groups[0]!;
  assert.equal(lenient.maxFail, 2);
  assert.equal(thresholdPassed(lenient, 2), false);
  assert.equal(thresholdPassed(lenient, 3), true);
  assert.equal(lenient.maxFailSource, 'rolling.max_fail 20%');
});

test('counts and percentages: parsed strictly, resolved within the group', () => {
  assert.deepEqual(parseHostCount('25%', 1), { percent: 25 });
  assert.deepEqual(parseHostCount(' 3 ', 1), { count: 3 });
  assert.deepEqual(parseHostCount(0, 0), { count: 0 });
  for (const bad of ['0', '0%', '150%', '-1', '1.5', 'two', '', '%']) assert.equal(parseHostCount(bad, 1), undefined, bad);
  assert.equal(resolveCount({ count: 9 }, 3, 1), 3);
  assert.equal(resolveCount({ percent: 50 }, 3, 1), 1);
  assert.equal(resolveCount({ percent: 50 }, 1, 0), 0);
});

test('the rolling namespace: defaults, durations, and readable errors', () => {
  assert.deepEqual(rollingVars.parse({}), { max_fail: 0, drain_timeout: 30, ready_timeout: 60 }, 'the inventory shows the defaults as written');
  assert.deepEqual(defaults, { max_fail: { count: 0 }, drain_timeout: 30, ready_timeout: 60 });
  assert.deepEqual(rollingVars.parse({ batch: '50%', max_fail: 1, drain_timeout: '2m' }), { batch: '50%', max_fail: 1, drain_timeout: 120, ready_timeout: 60 });
  assert.deepEqual(rollingSettings({ rolling: { batch: '50%', max_fail: 1, drain_timeout: '2m' } }), { batch: { percent: 50 }, max_fail: { count: 1 }, drain_timeout: 120, ready_timeout: 60 });
  const bad = rollingVars.safeParse({ batch: 0 });
  assert.equal(bad.success, false);
  assert.match(bad.error!.issues[0]!.message, /a whole number of hosts \(e\.g\. 1\) or a percentage \(e\.g\. 25%\), at least 1/);
  assert.equal(rollingVars.safeParse({ serial: 1 }).success, false, 'an unknown key is an error');
});

test('a node is drained only for a change that restarts or stops its own service, directly or by a notified handler', () => {
  const plan = (services: { name: string; action: string }[], handlers: string[]): HostResult => ({
    name: 'n1',
    status: 'changed',
    tasks: [{ play: 'node', name: 'node.pow /x', status: 'would-change', changes: [{ summary: 'x', services }] }],
    handlers: handlers.map((name) => ({ name, status: 'would-change' })),
    stats: { connections: 0, commands: 0, commandMs: 0 },
  });
  const handlers = [
    { name: 'restart hornet', steps: [], services: [{ name: 'hornet', action: 'restart' }] },
    { name: 'reload nginx', steps: [], services: [{ name: 'nginx', action: 'reload' }] },
  ];
  assert.deepEqual(servicesTakenDown(plan([], ['restart hornet']), handlers, ['hornet']), ['restart hornet']);
  assert.deepEqual(servicesTakenDown(plan([{ name: 'hornet', action: 'stop' }], []), handlers, ['hornet']), ['stop hornet']);
  assert.deepEqual(servicesTakenDown(plan([{ name: 'hornet', action: 'start' }, { name: 'fail2ban', action: 'restart' }], ['reload nginx']), handlers, ['hornet']), []);
});
