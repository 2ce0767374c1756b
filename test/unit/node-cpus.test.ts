import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countCpuList, describeCpuSources, parseUsableCpus, usableCpus, usableCpusOfNode } from '../../tasks/node/facts.ts';
import { nodeVars } from '../../tasks/node/vars.ts';
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
  assert.match(fact.command.text, /systemctl show -p MainPID --value -- 'hornet'\\''; reboot.service'/);
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

test('the fact reads a stacked mount table once per mount point, under sh and bash (a made-up /proc and cgroup tree)', () => {
  const root = mkdtempSync(join(tmpdir(), 'provision-cpus-'));
  try {
    const cpu = join(root, 'cgroup', 'cpu');
    const levels: [string, string][] = [['', '-1'], ['/docker', '-1'], ['/docker/abc', '150000']];
    for (const [path, quota] of levels) {
      mkdirSync(cpu + path, { recursive: true });
      writeFileSync(join(cpu + path, 'cpu.cfs_quota_us'), `${quota}\n`);
      writeFileSync(join(cpu + path, 'cpu.cfs_period_us'), '100000\n');
    }
    const proc = join(root, 'proc');
    mkdirSync(join(proc, 'self'), { recursive: true });
    mkdirSync(join(proc, '1'));
    writeFileSync(join(proc, 'self', 'status'), 'Name:\tsh\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n');
    writeFileSync(join(proc, '1', 'cgroup'), '3:memory:/docker/abc\n2:cpu:/docker/abc/init.scope\n0::/\n');
    // A lab container's table: each cgroup mount stacked twenty times, between the other mounts.
    const stacked = Array.from({ length: 20 }, () => [
      `tmpfs ${join(root, 'cgroup')} tmpfs ro,nosuid 0 0`,
      `cgroup ${cpu} cgroup rw,relatime,cpu 0 0`,
      `cgroup ${join(root, 'cgroup', 'memory')} cgroup rw,relatime,memory 0 0`,
    ]).flat();
    writeFileSync(join(proc, 'self', 'mounts'), ['overlay / overlay rw 0 0', ...stacked, 'proc /proc proc rw 0 0', ''].join('\n'));
    const fact = usableCpus('provision-test-no-such-unit', proc);
    for (const shell of ['sh', 'bash']) {
      const stdout = execFileSync(shell, ['-c', fact.command.text], { encoding: 'utf8' });
      const quotaLines = stdout.split('\n').filter((line) => line.startsWith('quota '));
      // init.scope has no file of its own here: the walk goes on up to the root, one line per level that has one.
      assert.deepEqual(quotaLines, ['quota v1 /docker/abc 150000 100000', 'quota v1 /docker -1 100000', 'quota v1 / -1 100000'], shell);
      assert.deepEqual(parseUsableCpus({ stdout, code: 0 }), { usable: 1, nproc: 2, quota: { version: 'v1', path: '/docker/abc', cpus: 1.5 } });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('in a batch with unit states, the fact takes its unit\'s MainPID from the one systemctl show (sh and bash, a stand-in systemctl)', async () => {
  const { questionsFor } = await import('../../src/engine/gather.ts');
  const { unitState } = await import('../../tasks/core/systemd.facts.ts');
  const root = mkdtempSync(join(tmpdir(), 'provision-main-pid-'));
  try {
    const proc = join(root, 'proc');
    for (const [pid, cpus] of [['self', '0-3'], ['111', '0-3'], ['222', '1']]) {
      mkdirSync(join(proc, pid!), { recursive: true });
      writeFileSync(join(proc, pid!, 'status'), `Name:\tx\nCpus_allowed_list:\t${cpus}\n`);
    }
    writeFileSync(join(proc, 'self', 'mounts'), 'overlay / overlay rw 0 0\n');
    // systemctl as the batch calls it: one block per unit, in the order asked, MainPID before the states (its order).
    const bin = join(root, 'bin');
    mkdirSync(bin);
    const calls = join(root, 'calls');
    writeFileSync(
      join(bin, 'systemctl'),
      `#!/bin/sh
printf '%s\\n' "$*" >>${calls}
first=1
for unit; do
  case "$unit" in show|-p|--|LoadState|ActiveState|UnitFileState|MainPID) continue ;; esac
  [ "$first" = 1 ] || echo
  first=0
  case "$unit" in
    ssh.service) printf 'MainPID=111\\nLoadState=loaded\\nActiveState=active\\nUnitFileState=enabled\\n' ;;
    hornet.service) printf 'MainPID=222\\nLoadState=loaded\\nActiveState=active\\nUnitFileState=enabled\\n' ;;
    *) printf 'MainPID=0\\nLoadState=not-found\\nActiveState=inactive\\nUnitFileState=\\n' ;;
  esac
done
`,
      { mode: 0o755 },
    );
    const facts = [unitState('ssh'), usableCpus('hornet', proc), unitState('fail2ban')];
    const questions = questionsFor(facts);
    assert.equal(questions.length, 1, 'the units and the probe make one question');
    for (const shell of ['sh', 'bash']) {
      rmSync(calls, { force: true });
      const stdout = execFileSync(shell, ['-c', questions[0]!.command.text], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      assert.equal(readFileSync(calls, 'utf8').trim().split('\n').length, 1, `${shell}: one systemctl`);
      const values = new Map<string, unknown>();
      questions[0]!.answer({ stdout, code: 0 }, values);
      assert.deepEqual(values.get('systemd:ssh.service'), { load: 'loaded', active: 'active', unitFile: 'enabled' }, shell);
      assert.deepEqual(values.get('systemd:fail2ban.service'), { load: 'not-found', active: 'inactive', unitFile: '' }, shell);
      // hornet's process (222) may run on one CPU; ssh's (111, the block before) on four.
      assert.deepEqual(values.get('node:usable-cpus:hornet'), { usable: 1, nproc: 4, serviceCpus: 1 }, shell);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
