import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { countCpuList, describeCpuSources, parseUsableCpus, usableCpus, usableCpusOfNode } from '../../tasks/node.facts.ts';
import { nodeVars } from '../../tasks/node.vars.ts';
import { fakeHost } from '../support/fake-context.ts';

const fixture = (name: string) => ({ stdout: readFileSync(new URL(`../fixtures/node/${name}`, import.meta.url), 'utf8'), code: 0 });

test('a cgroup v1 quota of 1 CPU wins over nproc 2 (docker --cpus=1 on a 2-CPU cpuset)', () => {
  const cpus = parseUsableCpus(fixture('cpus-v1-quota.txt'));
  assert.equal(cpus.usable, 1);
  assert.equal(cpus.nproc, 2);
  assert.deepEqual(cpus.quota, { version: 'v1', path: '/docker/3f2c9a51e0d4b7c8a6e1f0b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6', cpus: 1 });
  assert.match(describeCpuSources(cpus), /^nproc 2, CPU quota 1 CPU \(cgroup v1 \/docker\/3f2c/);
});

test('a cgroup v2 quota (cpu.max) limits the count', () => {
  const cpus = parseUsableCpus(fixture('cpus-v2-quota.txt'));
  assert.equal(cpus.usable, 3);
  assert.deepEqual(cpus.quota, { version: 'v2', path: '/', cpus: 3 });
});

test('without a quota (-1 in v1, max in v2) the affinity count stands', () => {
  assert.deepEqual(parseUsableCpus(fixture('cpus-no-quota.txt')), { usable: 4, nproc: 4 });
  assert.equal(describeCpuSources(parseUsableCpus(fixture('cpus-no-quota.txt'))), 'nproc 4, no CPU quota');
});

test('a fractional quota counts its whole CPUs (1.5 → 1), and at least 1 (0.5 → 1)', () => {
  const fractional = parseUsableCpus(fixture('cpus-v2-fractional.txt'));
  assert.equal(fractional.usable, 1);
  assert.equal(fractional.quota?.cpus, 1.5);
  assert.equal(fractional.quota?.path, '/system.slice/hornet.service');
  assert.match(describeCpuSources(fractional), /CPU quota 1\.5 CPUs/);
  assert.equal(parseUsableCpus(fixture('cpus-half-cpu.txt')).usable, 1);
});

test('a cpuset narrows nproc (docker --cpuset-cpus=0 gives 1)', () => {
  const cpus = parseUsableCpus(fixture('cpus-cpuset.txt'));
  assert.equal(cpus.usable, 1);
  assert.equal(cpus.quota, undefined);
});

test('the running node process’s own CPU affinity counts too', () => {
  const cpus = parseUsableCpus(fixture('cpus-service-affinity.txt'));
  assert.equal(cpus.usable, 2);
  assert.equal(cpus.serviceCpus, 2);
  assert.match(describeCpuSources(cpus), /node process affinity 2 CPUs/);
});

test('an unreadable CPU count is an error, not a guess', () => {
  assert.throws(() => parseUsableCpus({ stdout: 'quota v2 / max 100000\n', code: 0 }), /cannot read the host's CPU count/);
});

test('CPU lists are counted as the kernel writes them', () => {
  assert.equal(countCpuList('0'), 1);
  assert.equal(countCpuList('0-3'), 4);
  assert.equal(countCpuList('0-1,4,6-7'), 5);
  assert.equal(countCpuList(''), 0);
  assert.equal(countCpuList('3-1'), 0);
});

test('the fact is keyed by service, quotes the service name, and reads PID 1’s and the service’s cgroups', () => {
  const fact = usableCpus("hornet'; reboot");
  assert.equal(fact.key, "node:usable-cpus:hornet'; reboot");
  assert.match(fact.command.text, /systemctl show -p MainPID --value 'hornet'\\''; reboot'/);
  assert.match(fact.command.text, /for proc in 1 \$pid/);
  assert.match(fact.command.text, /cpu\.cfs_quota_us/);
  assert.match(fact.command.text, /cpu\.max/);
  const host = fakeHost({ node: nodeVars.parse({ flavor: 'bee' }) });
  assert.equal(usableCpusOfNode(host).key, 'node:usable-cpus:bee');
});

test('the shell\'s own affinity list is counted like nproc (output of a Debian 12 lab node, no quota)', () => {
  const cpus = parseUsableCpus(fixture('cpus-debian12-container.txt'));
  assert.deepEqual(cpus, { usable: 2, nproc: 2, serviceCpus: 2 });
  assert.deepEqual(parseUsableCpus({ stdout: 'affinity 0,2-4,7\nquota v2 / max 100000\n', code: 0 }), { usable: 5, nproc: 5 });
  assert.throws(() => parseUsableCpus({ stdout: 'affinity \n', code: 0 }), /cannot read the host's CPU count/);
});
