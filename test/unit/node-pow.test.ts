import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { playHandlers, type Play } from '../../src/engine/types.ts';
import { redact } from '../../src/report/redact.ts';
import { decidePow, nodeHandlers, powCheckCommand, remotePow } from '../../tasks/node/pow.ts';
import { nodeVars, type NodeVars } from '../../tasks/node/vars.ts';
import type { UsableCpus } from '../../tasks/node/facts.ts';
import { fakeHost, planWith } from '../support/fake-context.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/node/${name}`, import.meta.url), 'utf8');
const vars = (node: z.input<typeof nodeVars> = {}) => ({ node: nodeVars.parse(node) });
const pow = (settings: NonNullable<z.input<typeof nodeVars>>['pow'] = {}) => nodeVars.parse({ pow: settings }).pow;
const configFile = (content: string) => ({ type: 'file', mode: '0640', owner: 'hornet', group: 'hornet', content });
const cpus = (usable: number, extra: Partial<UsableCpus> = {}): UsableCpus => ({ usable, nproc: usable, ...extra });

test('the policy: on from min_cpus, workers = CPUs − reserve (at least 1), forced values win', () => {
  assert.deepEqual(decidePow(2, pow()), { enabled: true, workers: 1, reason: '2 usable CPUs ≥ min 2: enable, 1 worker (2 CPUs − 1 reserved)' });
  assert.deepEqual(decidePow(1, pow()), { enabled: false, workers: 1, reason: '1 usable CPU < min 2: disable' });
  assert.equal(decidePow(8, pow()).workers, 7);
  assert.equal(decidePow(8, pow({ reserve_cpus: 0 })).workers, 8);
  assert.equal(decidePow(3, pow({ min_cpus: 4 })).enabled, false);
  assert.deepEqual(decidePow(1, pow({ enabled: true })), {
    enabled: true,
    workers: 1,
    reason: 'node.pow.enabled is true (1 usable CPU): enable, 1 worker (1 CPU − 1 reserved, at least 1)',
  });
  assert.equal(decidePow(16, pow({ enabled: false })).reason, 'node.pow.enabled is false (16 usable CPUs): disable');
  assert.deepEqual(decidePow(4, pow({ workers: 2 })), { enabled: true, workers: 2, reason: '4 usable CPUs ≥ min 2: enable, 2 workers (node.pow.workers)' });
});

test('node vars: defaults per flavor, documented bounds, unknown keys refused', () => {
  assert.deepEqual(nodeVars.parse(undefined), {
    flavor: 'hornet-2',
    api_port: 14265,
    ports: { gossip: 15600, autopeering: 14626 },
    pow: { min_cpus: 2, reserve_cpus: 1 },
    config_path: '/var/lib/hornet/config.json',
    service: 'hornet',
  });
  const bee = nodeVars.parse({ flavor: 'bee', pow: { enabled: 'no' } });
  assert.equal(bee.config_path, '/var/lib/bee/config.toml');
  assert.equal(bee.service, 'bee');
  assert.equal(bee.pow.enabled, false);
  assert.equal(nodeVars.parse({ config_path: '/opt/hornet/config.json', service: 'hornet-mainnet' }).service, 'hornet-mainnet');
  for (const bad of [{ flavor: 'iri' }, { pow: { workers: 0 } }, { pow: { min_cpus: 1.5 } }, { pow: { reserve: 1 } }, { api_port: 70000 }, { config_path: 'config.json' }, { service: 'a b' }]) {
    assert.equal(nodeVars.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test('a node with 2 usable CPUs gets PoW on with 1 worker: the diff, the reasoning, and the handlers it notifies', () => {
  const text = fixture('hornet-2.config.json');
  const plan = planWith(remotePow(fakeHost(vars())), vars(), {
    'file:/var/lib/hornet/config.json': configFile(text),
    'node:usable-cpus:hornet': cpus(2),
  });
  assert.equal(plan.status, 'change');
  if (plan.status !== 'change') return;
  const [change] = plan.changes;
  assert.equal(change.summary, 'enable remote PoW with 1 worker in /var/lib/hornet/config.json');
  assert.deepEqual(change.details, [
    '2 usable CPUs ≥ min 2: enable, 1 worker (2 CPUs − 1 reserved)',
    'usable CPUs: nproc 2, no CPU quota',
    'restAPI.pow.enabled: false → true',
  ]);
  assert.deepEqual(change.notify, ['restart hornet', 'check hornet lists PoW']);
  // The diff masks the credentials (the identity key, and the JWT salt however short), and shows the PoW line.
  const masked = (config: string) => config.replace('"9f1c2e3d4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"', '"********"').replace('{"salt": "HORNET"}', '{"salt": "********"}');
  assert.equal(change.diff?.before, masked(text));
  assert.equal(change.diff?.after, masked(text.replace('"enabled": false,\n      "workerCount"', '"enabled": true,\n      "workerCount"')));
  assert.doesNotMatch(redact(change.diff?.after ?? ''), /9f1c2e3d4b5a6978/, 'the p2p identity key is masked wherever the diff is printed');
  const step = change.steps[0];
  assert.equal(step?.kind, 'write-file');
  if (step?.kind === 'write-file') assert.deepEqual([step.mode, step.owner, step.group], ['0640', 'hornet', 'hornet'], 'the file keeps its owner and mode');
  if (step?.kind === 'write-file') assert.equal(step.content, text.replace('"enabled": false,\n      "workerCount"', '"enabled": true,\n      "workerCount"'), 'the file gets its real credentials');
});

test('a node limited to 1 CPU by quota gets PoW off, even when nproc says 2', () => {
  const text = fixture('hornet-1.config.json');
  const node = { flavor: 'hornet-1' as const };
  const plan = planWith(remotePow(fakeHost(vars(node))), vars(node), {
    'file:/var/lib/hornet/config.json': configFile(text),
    'node:usable-cpus:hornet': cpus(1, { nproc: 2, quota: { version: 'v1', path: '/docker/x', cpus: 1 } }),
  });
  assert.equal(plan.status, 'change');
  if (plan.status !== 'change') return;
  assert.equal(plan.changes[0].summary, 'disable remote PoW in /var/lib/hornet/config.json');
  assert.deepEqual(plan.changes[0].details, ['1 usable CPU < min 2: disable', 'usable CPUs: nproc 2, CPU quota 1 CPU (cgroup v1 /docker/x)', 'restAPI.powEnabled: true → false']);
  assert.deepEqual(plan.changes[0].notify, ['restart hornet', 'check hornet does not list PoW']);
});

test('a config already set is ok, with the reason in the present tense', () => {
  const text = fixture('bee.config.toml');
  const node = { flavor: 'bee' as const };
  assert.deepEqual(
    planWith(remotePow(fakeHost(vars(node))), vars(node), { 'file:/var/lib/bee/config.toml': configFile(text), 'node:usable-cpus:bee': cpus(1) }),
    { status: 'ok', reason: 'remote PoW is disabled: 1 usable CPU < min 2' },
  );
  const plan = planWith(remotePow(fakeHost(vars(node))), vars(node), { 'file:/var/lib/bee/config.toml': configFile(text), 'node:usable-cpus:bee': cpus(4) });
  assert.equal(plan.status, 'change');
  if (plan.status === 'change') assert.ok(plan.changes[0].details?.includes('bee has no worker-count setting; it picks its own'));
});

test('a missing or invalid config is a clear planning error (so nothing on the host changes)', () => {
  const task = remotePow(fakeHost(vars()));
  const cpusFact = { 'node:usable-cpus:hornet': cpus(2) };
  assert.throws(
    () => planWith(task, vars(), { 'file:/var/lib/hornet/config.json': { type: 'absent' }, ...cpusFact }),
    /the node config \/var\/lib\/hornet\/config\.json does not exist: install the hornet-2 node first, or set node\.config_path/,
  );
  assert.throws(
    () => planWith(task, vars(), { 'file:/var/lib/hornet/config.json': configFile(fixture('hornet-2.invalid.json')), ...cpusFact }),
    /cannot set remote PoW in \/var\/lib\/hornet\/config\.json \(JSON\): invalid JSON at line 5, column 5: PropertyNameExpected \(nothing was changed\)/,
  );
  assert.throws(
    () => planWith(task, vars(), { 'file:/var/lib/hornet/config.json': { type: 'directory', mode: '0755', owner: 'root', group: 'root' }, ...cpusFact }),
    /is a directory, not a file/,
  );
  const pending = planWith(task, vars(), { 'file:/var/lib/hornet/config.json': { type: 'absent' }, ...cpusFact }, ['file:/var/lib/hornet/config.json']);
  assert.equal(pending.status, 'ok', 'a config an earlier change of the run may create is not an error in the dry run');
});

test('handlers: restart first, then the check that matches the setting, on the configured port and route', () => {
  const node: NodeVars = nodeVars.parse({ flavor: 'hornet-1', service: 'hornet-test', api_port: 14300 });
  const handlers = nodeHandlers(fakeHost({ node }));
  assert.deepEqual(
    handlers.map((handler) => handler.name),
    ['restart hornet-test', 'check hornet-test lists PoW', 'check hornet-test does not list PoW'],
  );
  assert.match(handlers[0]!.steps[0]!.kind === 'run' ? handlers[0]!.steps[0]!.command.text : '', /^systemctl restart -- hornet-test$/);
  const check = powCheckCommand(node, true).text;
  assert.match(check, /curl -fsS --max-time 2 http:\/\/127\.0\.0\.1:14300\/api\/v1\/info/);
  assert.match(check, /want=listed/);
  assert.match(check, /while \[ "\$tries" -lt 78 \]/, 'the retries are bounded');
  assert.match(check, /if \[ "\$tries" -le 20 \]; then sleep 0\.1; else sleep 1; fi/, 'quick at first, then a second apart');
  assert.match(check, /\/dev\/tcp\/127\.0\.0\.1/, 'without curl, bash asks the route itself');
  assert.match(powCheckCommand(node, false).text, /want=absent/);
});

test('a play’s handlers may depend on the host (each node restarts its own service)', () => {
  const play: Play<{ node: NodeVars }> = { name: 'node', hosts: 'nodes', tasks: () => [], handlers: (host) => nodeHandlers(host) };
  const bee = fakeHost({ node: nodeVars.parse({ flavor: 'bee' }) });
  assert.deepEqual(playHandlers(play, bee).map((handler) => handler.name), ['restart bee', 'check bee lists PoW', 'check bee does not list PoW']);
  assert.deepEqual(playHandlers({ name: 'p', hosts: 'all', tasks: () => [] }, bee), []);
});

test('only the worker count changing is said so, without a no-op enabled line', () => {
  const text = fixture('hornet-1.config.json');
  const node = { flavor: 'hornet-1' as const };
  const plan = planWith(remotePow(fakeHost(vars(node))), vars(node), { 'file:/var/lib/hornet/config.json': configFile(text), 'node:usable-cpus:hornet': cpus(3) });
  assert.equal(plan.status, 'change');
  if (plan.status !== 'change') return;
  assert.equal(plan.changes[0].summary, 'set remote PoW to 2 workers in /var/lib/hornet/config.json');
  assert.deepEqual(plan.changes[0].details?.slice(2), ['restAPI.powWorkerCount: 4 → 2']);
  assert.deepEqual(plan.changes[0].notify, ['restart hornet', 'check hornet lists PoW']);
});
