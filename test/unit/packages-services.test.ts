import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aptPackages } from '../../tasks/core/apt.ts';
import { parseListsAge, parsePackageStates } from '../../tasks/core/apt.facts.ts';
import { parseUnitState } from '../../tasks/core/systemd.facts.ts';
import { service } from '../../tasks/core/systemd.ts';
import { command } from '../../tasks/core/command.ts';
import { sh } from '../../src/transport/shell.ts';
import { planWith } from '../support/fake-context.ts';

test('dpkg-query output parses into installed/absent, arch-qualified names included', () => {
  const states = parsePackageStates(['libc6', 'curl', 'nope'], { stdout: 'libc6:amd64 installed\ncurl config-files\n', code: 1 });
  assert.deepEqual(states, { libc6: 'installed', curl: 'absent', nope: 'absent' });
});

test('apt lists age is null without lists', () => {
  assert.deepEqual(parseListsAge({ stdout: '1700000000 ', code: 0 }), { ageSeconds: null });
  assert.deepEqual(parseListsAge({ stdout: '1700000000 1699999000\n', code: 0 }), { ageSeconds: 1000 });
  assert.deepEqual(parseListsAge({ stdout: '1700000000 1699998000.5 1699999000.7389 1699990000.1 ', code: 0 }), { ageSeconds: 1000 }, 'the newest list counts');
});

test('installed packages are ok; missing ones install, refreshing old lists first', () => {
  const task = aptPackages(['haproxy', 'curl']);
  const keys = task.facts({} as never).map((fact) => fact.key);
  const ok = planWith(task, {}, { [keys[0]!]: { haproxy: 'installed', curl: 'installed' }, [keys[1]!]: { ageSeconds: 10 } });
  assert.equal(ok.status, 'ok');
  const stale = planWith(task, {}, { [keys[0]!]: { haproxy: 'absent', curl: 'installed' }, [keys[1]!]: { ageSeconds: 99999 } });
  assert.equal(stale.status, 'change');
  if (stale.status !== 'change') return;
  assert.deepEqual(stale.changes[0].packages, { install: ['haproxy'] });
  assert.equal(stale.changes[0].steps.length, 2);
  assert.match(stale.changes[0].steps[1]?.kind === 'run' ? stale.changes[0].steps[1].command.text : '', /apt-get install .* haproxy$/);
  const fresh = planWith(task, {}, { [keys[0]!]: { haproxy: 'absent', curl: 'installed' }, [keys[1]!]: { ageSeconds: 5 } });
  assert.equal(fresh.status === 'change' && fresh.changes[0].steps.length, 1);
});

test('systemctl show output parses; a running enabled service is ok', () => {
  const state = parseUnitState({ stdout: 'LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n', code: 0 });
  assert.deepEqual(state, { load: 'loaded', active: 'active', unitFile: 'enabled' });
  assert.equal(planWith(service('ssh'), {}, { 'systemd:ssh.service': state }).status, 'ok');
});

test('a stopped, disabled service is enabled and started; a missing unit is an error unless it is being installed', () => {
  const plan = planWith(service('haproxy'), {}, { 'systemd:haproxy.service': { load: 'loaded', active: 'inactive', unitFile: 'disabled' } });
  assert.equal(plan.status === 'change' && plan.changes.map((c) => c.summary).join(', '), 'enable haproxy, start haproxy');
  const missing = { 'systemd:haproxy.service': { load: 'not-found', active: 'inactive', unitFile: '' } };
  assert.throws(() => planWith(service('haproxy'), {}, missing), /does not exist/);
  const pending = planWith(service('haproxy'), {}, missing, ['systemd:haproxy.service']);
  assert.equal(pending.status, 'change');
});

test('a guarded command runs only when its guard says so', () => {
  const task = command(sh`make-cert`, { description: 'generate the certificate', creates: '/etc/cert.pem' });
  assert.equal(planWith(task, {}, { 'command:creates:/etc/cert.pem': 0 }).status, 'ok');
  assert.equal(planWith(task, {}, { 'command:creates:/etc/cert.pem': 1 }).status, 'change');
});

test('one install up front covers the later apt tasks: a dry run plans them as installed', async () => {
  const { packagesFirst } = await import('../../tasks/core/packages-first.ts');
  const { roleContext } = await import('../../src/engine/role.ts');
  const { FactCache } = await import('../../src/engine/fact-cache.ts');
  const { fakeHost } = await import('../support/fake-context.ts');
  const host = fakeHost({});
  const inventory = { file: '/x.yaml', hosts: [host], groups: new Map([['all', [host.name]]]) };
  const later = [aptPackages(['fail2ban', 'nftables']), aptPackages(['haproxy'])];
  const roles = roleContext(inventory, [], [{ name: 'p', hosts: 'all', tasks: () => later }]);
  const [first] = packagesFirst.tasks(host, roles);
  assert.ok(first);
  const cache = new FactCache();
  const absent = { fail2ban: 'absent', nftables: 'absent', haproxy: 'absent' };
  cache.store(new Map<string, unknown>([...[first, ...later].flatMap((task) => task.facts(host)).map((fact) => [fact.key, fact.key === 'apt:lists-age' ? { ageSeconds: 10 } : absent] as [string, unknown])]));
  const context = { host, inventory, facts: cache, factsOf: () => undefined, roles };
  const plan = first.plan(context);
  assert.equal(plan.status, 'change');
  if (plan.status !== 'change') return;
  assert.deepEqual(plan.changes[0].packages, { install: ['fail2ban', 'nftables', 'haproxy'] });
  for (const step of plan.changes[0].predicts ?? []) cache.predict(step.fact, step.value);
  for (const task of later) assert.equal(task.plan(context).status, 'ok');
});
