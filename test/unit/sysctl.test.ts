/** The kernel settings' planner: skip reasons, Docker-safe forwarding, the drop-in, and what a run would apply. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Change, Plan } from '../../src/engine/types.ts';
import { kernelState, parseKernelState, type KernelState } from '../../tasks/sysctl/facts.ts';
import { kernelSettings, procPath } from '../../tasks/sysctl/settings.ts';
import { SYSCTL_DROP_IN, hostRole, planKernelSettings, renderDropIn, skipReason } from '../../tasks/sysctl/tasks.ts';
import { sysctlVars } from '../../tasks/sysctl/vars.ts';

const fixture = (name: string) => parseKernelState({ stdout: readFileSync(new URL(`../fixtures/sysctl/${name}`, import.meta.url), 'utf8'), code: 0 });
/** A lab container: /proc/sys mounted read-only, Docker's netns with forwarding on. */
const READ_ONLY = fixture('container-read-only.txt');
/** A container whose network keys are writable (its own netns), the global ones read-only. */
const WRITABLE_NET = fixture('container-writable-net.txt');
const defaults = sysctlVars.parse({});
const absent = { type: 'absent' } as const;

/** A plain VM: every key writable, one NIC, no forwarding. */
function vm(overrides: Partial<KernelState> = {}): KernelState {
  const keys = Object.fromEntries(Object.entries(READ_ONLY.keys).map(([key, state]) => [key, state.present ? { ...state, writable: true } : { present: true, writable: true, value: '0' }]));
  keys['net.ipv4.ip_forward'] = { present: true, writable: true, value: '0' };
  return { keys, readOnlyMounts: [], engines: [], interfaces: [{ name: 'ens3', physical: true }], ...overrides };
}

function change(plan: Plan): Change {
  assert.equal(plan.status, 'change');
  return plan.status === 'change' ? plan.changes[0] : (undefined as never);
}

test('the fact reads each key with its access, the read-only mounts over /proc/sys, engines and interfaces', () => {
  assert.deepEqual(READ_ONLY.keys['net.ipv4.tcp_syncookies'], { present: true, writable: false, value: '1' });
  assert.deepEqual(READ_ONLY.keys['net.core.bpf_jit_harden'], { present: false });
  assert.deepEqual(READ_ONLY.readOnlyMounts, ['/proc/sys']);
  assert.deepEqual(WRITABLE_NET.keys['net.ipv4.conf.all.rp_filter'], { present: true, writable: true, value: '0' });
  assert.ok(WRITABLE_NET.readOnlyMounts.includes('/proc/sys/kernel'));
  assert.deepEqual(READ_ONLY.interfaces, [{ name: 'eth0', physical: false }]);
  assert.equal(procPath('net.ipv4.conf.all.rp_filter'), '/proc/sys/net/ipv4/conf/all/rp_filter');
});

test('a key the host cannot change is skipped with its reason: a read-only mount, or a key this kernel lacks', () => {
  assert.equal(skipReason('kernel.kptr_restrict', READ_ONLY), 'read-only: /proc/sys is mounted read-only (as in a container)');
  assert.equal(skipReason('kernel.kptr_restrict', WRITABLE_NET), 'read-only: /proc/sys/kernel is mounted read-only (as in a container)');
  assert.equal(skipReason('net.ipv4.tcp_syncookies', WRITABLE_NET), undefined);
  assert.equal(skipReason('net.core.bpf_jit_harden', WRITABLE_NET), 'not present in this kernel');
});

test('Docker-safe: forwarding is never turned off on a host that forwards, and reverse-path filtering is loose there', () => {
  const docker = vm({ engines: ['docker.sock', 'dockerd'], interfaces: [{ name: 'ens3', physical: true }, { name: 'docker0', physical: false }] });
  assert.match(hostRole(docker).forwards ?? '', /^the host forwards packets \(docker\.sock, dockerd are present; it has the bridge docker0\)$/);
  const { settings, notes } = kernelSettings(defaults, hostRole(docker));
  assert.equal(settings.some((setting) => setting.key === 'net.ipv4.ip_forward'), false, 'ip_forward is left alone');
  assert.equal(settings.find((setting) => setting.key === 'net.ipv4.conf.all.rp_filter')?.value, '2');
  assert.ok(notes.some((note) => note.startsWith('sysctl.ip_forward auto: left alone, as the host forwards packets')));
  assert.throws(() => kernelSettings(sysctlVars.parse({ ip_forward: false }), hostRole(docker)), /refusing to turn IP forwarding off: the host forwards packets/);
  // Forwarding already on counts too, with nothing else installed.
  assert.match(hostRole(vm({ keys: { ...vm().keys, 'net.ipv4.ip_forward': { present: true, writable: true, value: '1' } } })).forwards ?? '', /net\.ipv4\.ip_forward is on/);
});

test('a plain VM gets forwarding off and strict reverse-path filtering; a second NIC makes it loose', () => {
  const plain = kernelSettings(defaults, hostRole(vm()));
  const value = (key: string) => plain.settings.find((setting) => setting.key === key)?.value;
  assert.equal(value('net.ipv4.ip_forward'), '0');
  assert.equal(value('net.ipv6.conf.all.forwarding'), '0');
  assert.equal(value('net.ipv4.conf.default.rp_filter'), '1');
  assert.equal(value('kernel.kptr_restrict'), '2');
  assert.equal(value('fs.protected_fifos'), '2');
  assert.equal(value('net.ipv6.conf.default.accept_redirects'), '0');
  const twoNics = kernelSettings(defaults, hostRole(vm({ interfaces: [{ name: 'ens3', physical: true }, { name: 'ens4', physical: true }] })));
  assert.equal(twoNics.settings.find((setting) => setting.key === 'net.ipv4.conf.all.rp_filter')?.value, '2');
});

test('sysctl.* overrides each value, null leaves a key alone, and extra adds keys (not ones a variable decides)', () => {
  const vars = sysctlVars.parse({ kptr_restrict: 1, log_martians: null, rp_filter: 0, extra: { 'vm.swappiness': 10, 'net.ipv4.tcp_fin_timeout': '15' } });
  const { settings } = kernelSettings(vars, hostRole(vm()));
  assert.equal(settings.find((setting) => setting.key === 'kernel.kptr_restrict')?.value, '1');
  assert.equal(settings.some((setting) => setting.key.endsWith('log_martians')), false);
  assert.equal(settings.find((setting) => setting.key === 'net.ipv4.conf.all.rp_filter')?.value, '0');
  assert.deepEqual(settings.filter((setting) => setting.variable === 'sysctl.extra').map((setting) => `${setting.key}=${setting.value}`), ['vm.swappiness=10', 'net.ipv4.tcp_fin_timeout=15']);
  assert.throws(() => kernelSettings(sysctlVars.parse({ extra: { 'kernel.dmesg_restrict': 0 } }), hostRole(vm())), /sysctl\.extra sets kernel\.dmesg_restrict, which sysctl\.dmesg_restrict decides/);
  assert.equal(sysctlVars.safeParse({ extra: { 'bad key': 1 } }).success, false);
  assert.equal(sysctlVars.safeParse({ kptr_restrict: 3 }).success, false);
});

test('the drop-in sorts after Debian\'s 99-protect-links.conf and lists the keys this kernel has, by variable', () => {
  assert.ok(SYSCTL_DROP_IN.split('/').pop()! > '99-protect-links.conf');
  assert.ok(SYSCTL_DROP_IN.split('/').pop()! < '99-sysctl.conf', '/etc/sysctl.conf still has the last word, and the check says so');
  const text = renderDropIn(kernelSettings(defaults, hostRole(READ_ONLY)).settings, READ_ONLY);
  assert.match(text, /^# sysctl\.rp_filter\nnet\.ipv4\.conf\.all\.rp_filter = 2\nnet\.ipv4\.conf\.default\.rp_filter = 2\n/m);
  assert.doesNotMatch(text, /bpf_jit_harden/, 'not in this kernel');
  assert.doesNotMatch(text, /ip_forward/, 'left alone on a forwarding host');
});

test('in a container with a read-only /proc/sys every key is skipped, said first, and nothing is applied', () => {
  const first = change(planKernelSettings(defaults, READ_ONLY, absent));
  assert.equal(first.summary, `write ${SYSCTL_DROP_IN}`);
  assert.match(first.details?.[0] ?? '', /^skipped \(read-only: \/proc\/sys is mounted read-only \(as in a container\)\): net\.ipv4\.conf\.all\.rp_filter, /);
  assert.equal(first.details?.[1], 'skipped (not present in this kernel): net.core.bpf_jit_harden');
  assert.equal(first.steps.some((step) => step.kind === 'run'), false, 'no sysctl --system where nothing can change');
  const written = { type: 'file', mode: '0644', owner: 'root', group: 'root', content: first.diff?.after ?? '' } as const;
  const again = planKernelSettings(defaults, READ_ONLY, written);
  assert.equal(again.status, 'ok');
  assert.match(again.status === 'ok' ? again.reason : '', /^\/etc\/sysctl\.d\/99-provision-hardening\.conf is up to date; no key can be changed on this host now; 28 skipped \(read-only: \/proc\/sys is mounted read-only \(as in a container\); not present in this kernel\)$/);
});

test('where the keys are writable the drop-in is applied with sysctl --system and every changeable key is read back', () => {
  const planned = change(planKernelSettings(defaults, WRITABLE_NET, absent));
  assert.equal(planned.summary, `write ${SYSCTL_DROP_IN} and apply it (sysctl --system)`);
  assert.deepEqual(
    planned.steps.map((step) => (step.kind === 'run' ? step.description : step.kind)),
    ['write-file', 'apply every sysctl file (sysctl --system)', 'check the 19 changeable keys in /proc/sys'],
  );
  assert.ok(planned.details?.includes('net.ipv4.conf.all.rp_filter: 0 → 2 (sysctl.rp_filter)'));
  assert.ok(planned.details?.some((line) => line.startsWith('skipped (read-only: /proc/sys/kernel is mounted read-only')));
  const verify = planned.steps[2]?.kind === 'run' ? planned.steps[2].command.text : '';
  assert.match(verify, /value=\$\(cat -- \/proc\/sys\/net\/ipv4\/tcp_syncookies 2>\/dev\/null\)/);
  assert.match(verify, /the files that set it \(the last one applied wins\)/);
  assert.doesNotMatch(verify, /kptr_restrict/, 'a skipped key is not checked');
  // The same file, a running value changed by hand: applied again.
  const file = { type: 'file', mode: '0644', owner: 'root', group: 'root', content: planned.diff?.after ?? '' } as const;
  const applied: KernelState = { ...WRITABLE_NET, keys: { ...WRITABLE_NET.keys } };
  for (const line of (planned.diff?.after ?? '').split('\n')) {
    const [key, value] = line.split(' = ');
    if (key && value && applied.keys[key]?.present && (applied.keys[key] as { writable: boolean }).writable) applied.keys[key] = { present: true, writable: true, value };
  }
  assert.equal(planKernelSettings(defaults, applied, file).status, 'ok');
  const drifted = { ...applied, keys: { ...applied.keys, 'net.ipv4.conf.all.log_martians': { present: true, writable: true, value: '0' } as const } };
  assert.equal(change(planKernelSettings(defaults, drifted, file)).summary, `apply ${SYSCTL_DROP_IN} again (sysctl --system): 1 running value differ`);
});

test('sysctl.enabled: false removes the drop-in', () => {
  const removal = change(planKernelSettings(sysctlVars.parse({ enabled: false }), READ_ONLY, { type: 'file', mode: '0644', owner: 'root', group: 'root', content: 'x\n' }));
  assert.equal(removal.summary, `remove ${SYSCTL_DROP_IN} (sysctl.enabled: false)`);
  assert.equal(planKernelSettings(sysctlVars.parse({ enabled: false }), READ_ONLY, absent).status, 'ok');
});

// These two run the commands under this machine's /bin/sh against its own /proc/sys, reading only.
test('the fact reads whole values from /proc/sys, which a byte-by-byte reader (the shell\'s read) gets only the first character of', () => {
  const keys = ['kernel.pid_max', 'net.ipv4.tcp_rmem', 'net.core.no_such_key'];
  const fact = kernelState(keys);
  const state = parseKernelState({ stdout: execFileSync('/bin/sh', ['-c', fact.command.text], { encoding: 'utf8' }), code: 0 });
  for (const key of keys.slice(0, 2)) {
    const found = state.keys[key];
    assert.equal(found?.present && found.value, readFileSync(procPath(key), 'utf8').replace(/\n$/, ''), key);
  }
  assert.deepEqual(state.keys['net.core.no_such_key'], { present: false });
});

test('the read-back compares whole values: a key at its value passes, one that differs is named with the value it has', () => {
  const pidMax = readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim();
  const syncookies = readFileSync('/proc/sys/net/ipv4/tcp_syncookies', 'utf8').trim();
  const other = syncookies === '1' ? '0' : '1';
  const vars = sysctlVars.parse({ extra: { 'kernel.pid_max': Number(pidMax) }, syncookies: other === '1' });
  const state = vm();
  state.keys['kernel.pid_max'] = { present: true, writable: true, value: '1' };
  const verify = change(planKernelSettings(vars, state, absent)).steps.find((step) => step.kind === 'run' && step.description?.startsWith('check the '));
  assert.ok(verify?.kind === 'run');
  const result = spawnSync('/bin/sh', ['-c', verify.command.text], { encoding: 'utf8' });
  assert.equal(result.status, 1);
  assert.doesNotMatch(result.stderr, /kernel\.pid_max/, `${pidMax} read back whole`);
  assert.match(result.stderr, new RegExp(`^net\\.ipv4\\.tcp_syncookies is ${syncookies}, not ${other}, after sysctl --system`, 'm'));
});
