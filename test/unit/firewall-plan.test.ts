/** The firewall's planners: when the table is in place, what a change does and in which order, and its rollback. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Change, LoginInfo, Plan, PlanContext, Step, Task } from '../../src/engine/types.ts';
import type { Inventory } from '../../src/inventory/types.ts';
import { CONFIG_PATH } from '../../tasks/firewall/facts.ts';
import type { FileLoad, TableState } from '../../tasks/firewall/facts.ts';
import { renderConfigFile, renderTable, inputRules, firewallInputs } from '../../tasks/firewall/render.ts';
import { BOOT_UNIT, RULESET_DIFF_PATH, firewall, firewallBootUnit, firewallRemoved, firewallTable, renderBootUnit, sshdPorts, standardContent } from '../../tasks/firewall/tasks.ts';
import { hostVarsSchema, type HostVars } from '../../playbooks/site.ts';
import { factReader, fakeHost } from '../support/fake-context.ts';
import { roleContext } from '../../src/engine/role.ts';

const CONTROLLER = '172.18.0.1';
const SSHD_T = { ok: true, values: new Map([['port', ['22']]]) };

function setup(vars: object = {}) {
  const host = { ...fakeHost<HostVars>(hostVarsSchema('/inventory').parse(vars), 'node1', ['all', 'nodes']), privateIp: '10.0.0.11' };
  const inventory: Inventory<HostVars> = { file: '/inventory/x.yaml', hosts: [host], groups: new Map([['all', ['node1']], ['nodes', ['node1']]]) };
  const login: LoginInfo = { user: 'root', port: 22, method: 'publickey', publicKeys: [], controllerAddress: CONTROLLER };
  const table = renderTable(inputRules(firewallInputs(host, roleContext(inventory), { sshPorts: [22], controllerAddress: CONTROLLER })));
  const plan = (task: Task<HostVars>, facts: Record<string, unknown>): Plan => {
    const context: PlanContext<HostVars> = { host, inventory, login, facts: factReader(facts), factsOf: () => undefined, roles: roleContext(inventory) };
    return task.plan(context);
  };
  return { host, inventory, table, file: renderConfigFile(table), plan, task: () => firewallTable(host, standardContent(host, roleContext(inventory))) };
}

function facts(file: string | null, state: TableState, options: { rollbackArmed?: boolean } = {}): Record<string, unknown> {
  return {
    [`file:${CONFIG_PATH}`]: file === null ? { type: 'absent' } : { type: 'file', mode: '0644', owner: 'root', group: 'root', content: file },
    'nft:table:inet:provision': state,
    'systemd:provision-firewall-rollback.timer': options.rollbackArmed ? { load: 'loaded', active: 'active', unitFile: 'transient' } : { load: 'not-found', active: 'inactive', unitFile: '' },
    'sshd:effective': SSHD_T,
  };
}

function present(live: string | null, file: FileLoad, extra: Partial<{ tables: string[] }> = {}): TableState {
  return { nft: 'present', tables: ['inet f2b-table', ...(live ? ['inet provision'] : [])], live, file, ...extra };
}

function changesOf(plan: Plan): Change[] {
  assert.equal(plan.status, 'change', JSON.stringify(plan));
  return plan.status === 'change' ? plan.changes : [];
}

function describeStep(step: Step): string {
  if (step.kind === 'verify-login' || step.kind === 'trust-host-key') return step.kind;
  if (step.kind === 'write-file') return `write ${step.path}${step.validate ? ` (${step.validate})` : ''}`;
  return step.description ?? step.command.text;
}

test('in place: the file has the content and the kernel holds what it loads', () => {
  const { plan, task, table, file } = setup();
  const result = plan(task(), facts(file, present(table, { kind: 'loads', listing: table })));
  assert.deepEqual(result, { status: 'ok', reason: `table inet provision is loaded and matches ${CONFIG_PATH} (input policy drop)` });
});

test('first run: save and arm the rollback, write the validated file, load, prove a new login, then disarm', () => {
  const { plan, task, table } = setup();
  const [write, load] = changesOf(plan(task(), facts(null, present(null, { kind: 'absent' }))));
  assert.equal(write!.summary, `create ${CONFIG_PATH}`);
  assert.deepEqual(write!.steps.map(describeStep), [
    'install -d -m 0700 /var/lib/provision/firewall',
    'write /var/lib/provision/firewall/restore.sh',
    `save the loaded table inet provision and ${CONFIG_PATH} for a rollback`,
    'arm the rollback timer (60s)',
    `write ${CONFIG_PATH} (nft -c -f %s)`,
  ]);
  const arm = write!.steps[3]!;
  assert.ok(arm.kind === 'run' && /systemd-run --quiet --unit=provision-firewall-rollback .*--on-active=60 .*restore\.sh timer/.test(arm.command.text));
  assert.equal(write!.diff?.after, renderConfigFile(table));

  assert.match(load!.summary, /^load table inet provision and confirm it with a new SSH login/);
  assert.deepEqual(load!.steps.map(describeStep), [`load ${CONFIG_PATH}`, 'verify-login', 'confirm the new rules: disarm the rollback timer']);
  assert.deepEqual(load!.diff, { path: RULESET_DIFF_PATH, before: null, after: table });
  assert.ok(load!.details?.includes('other tables, left as they are: inet f2b-table'));
  assert.ok(load!.details?.includes('open 22/tcp (ssh) from anywhere'));
  for (const change of [write!, load!]) {
    assert.deepEqual(change.rollback?.map(describeStep), [`restore the previous table inet provision and ${CONFIG_PATH}`]);
  }
  const confirm = load!.steps[2]!;
  assert.ok(confirm.kind === 'run' && /rolled-back/.test(confirm.command.text) && /exit 1/.test(confirm.command.text));
});

test('rollback_after sets the timer', () => {
  const { plan, task } = setup({ firewall: { rollback_after: '10s' } });
  const [write] = changesOf(plan(task(), facts(null, present(null, { kind: 'absent' }))));
  assert.ok(write!.steps.some((step) => step.kind === 'run' && step.command.text.includes('--on-active=10 ')));
});

test('a flushed or deleted table is reloaded, with the same safety net, although the file is unchanged', () => {
  const { plan, task, table, file } = setup();
  const [reload] = changesOf(plan(task(), facts(file, present(null, { kind: 'loads', listing: table }))));
  assert.deepEqual(reload!.steps.map(describeStep), [
    'install -d -m 0700 /var/lib/provision/firewall',
    'write /var/lib/provision/firewall/restore.sh',
    `save the loaded table inet provision and ${CONFIG_PATH} for a rollback`,
    'arm the rollback timer (60s)',
    `load ${CONFIG_PATH}`,
    'verify-login',
    'confirm the new rules: disarm the rollback timer',
  ]);
  assert.match(reload!.details![0]!, /is not loaded although .* is in place/);
});

test('a table edited outside provision: the diff is exact, the live listing against what the file loads', () => {
  const { plan, task, table, file } = setup();
  const edited = table.replace('\t}\n}\n', '\t\ttcp dport 8080 accept\n\t}\n}\n');
  const [reload] = changesOf(plan(task(), facts(file, present(edited, { kind: 'loads', listing: table }))));
  assert.deepEqual(reload!.diff, { path: RULESET_DIFF_PATH, before: edited, after: table });
  assert.match(reload!.details![0]!, /differs from .* \(changed outside provision\)/);
});

test('the kernel is compared with what the file loads in nft\'s own words, not with the render', () => {
  const { plan, task, file } = setup();
  const otherWording = 'table inet provision {\n\t# as another nft version prints it\n}\n';
  assert.equal(plan(task(), facts(file, present(otherWording, { kind: 'loads', listing: otherWording }))).status, 'ok');
  // Without a scratch namespace, the render is the reference.
  const { table } = setup();
  assert.equal(plan(task(), facts(file, present(table, { kind: 'unchecked' }))).status, 'ok');
  assert.equal(plan(task(), facts(file, present(otherWording, { kind: 'unchecked' }))).status, 'change');
});

test('a rollback left armed by an interrupted run is confirmed (or undone) by the next run', () => {
  const { plan, task, table, file } = setup();
  const [confirmNow] = changesOf(plan(task(), facts(file, present(table, { kind: 'loads', listing: table }), { rollbackArmed: true })));
  assert.match(confirmNow!.details![0]!, /rollback armed by an earlier, unconfirmed run is still pending/);
  assert.ok(confirmNow!.steps.some((step) => step.kind === 'verify-login'));
});

test('a file that the host\'s nft refuses, or an nft that cannot list, stops the plan', () => {
  const { plan, task, file } = setup();
  assert.throws(() => plan(task(), facts(file, present(null, { kind: 'fails', error: 'syntax error' }))), /does not load on this host's nft: syntax error/);
  assert.throws(() => plan(task(), facts(file, { nft: 'broken', error: 'Operation not permitted' })), /nft cannot list the ruleset/);
});

test('before nftables is installed, the plan loads the table into an empty ruleset', () => {
  const { plan, task, table } = setup();
  const changes = changesOf(plan(task(), facts(null, { nft: 'missing' })));
  assert.equal(changes.length, 2);
  assert.deepEqual(changes[1]!.diff, { path: RULESET_DIFF_PATH, before: null, after: table });
});

test('the SSH ports are the ones sshd listens on, plus ssh.port; the connection port only when sshd -T fails', () => {
  assert.deepEqual(sshdPorts({ ok: true, values: new Map([['port', ['22', '2222']]]) }, undefined, 32768), [22, 2222]);
  assert.deepEqual(sshdPorts({ ok: true, values: new Map([['port', ['22']]]) }, 2200, 22), [22, 2200]);
  assert.deepEqual(sshdPorts({ ok: false, error: 'broken' }, undefined, 2022), [2022]);
});

test('the boot unit is its own, never flushes, has no ExecStop, and is made known to systemd at once', () => {
  const unit = renderBootUnit();
  assert.ok(!/^Exec\w+=.*flush/m.test(unit));
  assert.ok(!/^ExecStop=/m.test(unit));
  // The file at boot, unless a change was never confirmed: then the rules confirmed before it.
  assert.match(unit, /^ExecStart=\/bin\/sh -c 'if \[ -e \/var\/lib\/provision\/firewall\/pending \]; then exec \/bin\/sh \/var\/lib\/provision\/firewall\/restore\.sh boot; fi; exec \/usr\/sbin\/nft -f \/etc\/nftables\.d\/provision\.nft'$/m);
  assert.match(unit, /^WantedBy=sysinit\.target$/m);
  const { plan } = setup();
  const unitFileFact = `file:/etc/systemd/system/${BOOT_UNIT}`;
  const commands = (change: Change) => change.steps.map((step) => (step.kind === 'run' ? step.command.text : step.kind));
  // First run: one step writes the file and enables the unit; enable reloads systemd itself, so no daemon-reload.
  const [create] = changesOf(plan(firewallBootUnit(), { [unitFileFact]: { type: 'absent' }, [`systemd:${BOOT_UNIT}`]: { load: 'not-found', active: 'inactive', unitFile: '' } }));
  assert.deepEqual(commands(create!), ['write-file', `systemctl enable -- ${BOOT_UNIT}`]);
  assert.equal(create!.summary, `create /etc/systemd/system/${BOOT_UNIT} and enable ${BOOT_UNIT}`);
  assert.deepEqual(create!.predicts?.find((p) => p.key === `systemd:${BOOT_UNIT}`)?.value, { load: 'loaded', active: 'inactive', unitFile: 'enabled' });
  // An enabled unit whose file changes: a daemon-reload, and its state is read again.
  const enabled = { type: 'file', mode: '0644', owner: 'root', group: 'root', content: 'old\n' };
  const [update] = changesOf(plan(firewallBootUnit(), { [unitFileFact]: enabled, [`systemd:${BOOT_UNIT}`]: { load: 'loaded', active: 'active', unitFile: 'enabled' } }));
  assert.deepEqual(commands(update!), ['write-file', 'systemctl daemon-reload']);
  assert.deepEqual(update!.invalidates?.map((fact) => fact.key), [`systemd:${BOOT_UNIT}`]);
});

test('the play: nftables, its directory, the table, then the boot unit, enabled only after the table is confirmed', () => {
  const { host, inventory } = setup();
  assert.deepEqual(
    firewall(host, roleContext(inventory)).map((task) => `${task.kind} ${task.target}`),
    ['apt.packages nftables', 'directory /etc/nftables.d', 'nft.table inet provision', `systemd.unit ${BOOT_UNIT}`, 'systemd.service provision-firewall'],
  );
});

test('firewall.enabled: false deletes only provision\'s table and file, and disables the boot unit', () => {
  const { host, inventory, plan, table, file } = setup({ firewall: { enabled: false } });
  assert.deepEqual(firewall(host, roleContext(inventory)).map((task) => `${task.kind} ${task.target}`), ['nft.table inet provision', 'systemd.service provision-firewall']);
  const [remove] = changesOf(plan(firewallRemoved(), facts(file, present(table, { kind: 'loads', listing: table }))));
  assert.deepEqual(remove!.diff, { path: RULESET_DIFF_PATH, before: table, after: null });
  const step = remove!.steps[0]!;
  assert.ok(step.kind === 'run' && step.command.text.includes('nft delete table inet provision') && !step.command.text.includes('flush'));
  assert.equal(plan(firewallRemoved(), facts(null, present(null, { kind: 'absent' }))).status, 'ok');
});
