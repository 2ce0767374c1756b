import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoginInfo, Plan, PlanContext, Task } from '../../src/engine/types.ts';
import type { Inventory } from '../../src/inventory/types.ts';
import { SafetyError } from '../../src/errors.ts';
import {
  HAPROXY_FILTER_PATH,
  JAIL_PATH,
  RESTART_FAIL2BAN,
  SERVER_PATH,
  candidateCheck,
  restartFail2ban,
  fail2ban,
  fail2banHaproxyFilter,
  fail2banJail,
  fail2banServerSettings,
  formatSeconds,
  sshPorts,
} from '../../tasks/fail2ban/tasks.ts';
import { hostVarsSchema, type HostVars } from '../../playbooks/site.ts';
import { factReader, fakeHost } from '../support/fake-context.ts';
import { roleContext } from '../../src/engine/role.ts';

const CONTROLLER = '198.51.100.7';
const SSHD_T = { ok: true, values: new Map([['port', ['22']]]) };

function login(controllerAddress?: string): LoginInfo {
  return { user: 'root', port: 22, method: 'publickey', publicKeys: [], ...(controllerAddress ? { controllerAddress } : {}) };
}

/** Plans a task for a host with these inventory vars, this run's login and these fact values. */
function plan(task: () => Task<HostVars>, vars: object, facts: Record<string, unknown>, who = login(CONTROLLER), groups = ['all']): Plan {
  const host = fakeHost<HostVars>(hostVarsSchema('/inventory').parse(vars), 'h1', groups);
  const inventory: Inventory<HostVars> = { file: '/inventory/x.yaml', hosts: [host], groups: new Map(groups.map((group) => [group, [host.name]])) };
  const context: PlanContext<HostVars> = { host, login: who, inventory, facts: factReader(facts), factsOf: () => undefined, roles: roleContext(inventory) };
  return task().plan(context);
}

const absent = { [`file:${JAIL_PATH}`]: { type: 'absent' }, 'sshd:effective': SSHD_T };

function jailText(result: Plan): string {
  assert.equal(result.status, 'change');
  if (result.status !== 'change') return '';
  const step = result.changes[0].steps[0];
  assert.equal(step?.kind, 'write-file');
  return step?.kind === 'write-file' ? step.content : '';
}

test('the jail never bans the controller: its address joins loopback and fail2ban.ignoreip', () => {
  const result = plan(fail2banJail, { fail2ban: { ignoreip: ['10.0.0.0/8'] } }, absent);
  assert.match(jailText(result), /^ignoreip = 127\.0\.0\.1\/8 ::1 198\.51\.100\.7 10\.0\.0\.0\/8$/m);
  if (result.status !== 'change') return;
  const [change] = result.changes;
  assert.equal(change.summary, `create ${JAIL_PATH}`);
  assert.deepEqual(change.notify, [RESTART_FAIL2BAN]);
  assert.match(change.details?.join('\n') ?? '', /never banned: 127\.0\.0\.1\/8, ::1, 198\.51\.100\.7 \(this controller\), 10\.0\.0\.0\/8/);
  assert.match(change.details?.join('\n') ?? '', /5 failures within 10m ban the address on port 22 for 1h/);
  assert.equal(change.diff?.after, jailText(result));
});

test('ignore_controller: false leaves the controller out', () => {
  const text = jailText(plan(fail2banJail, { fail2ban: { ignore_controller: false } }, absent));
  assert.match(text, /^ignoreip = 127\.0\.0\.1\/8 ::1$/m);
});

test('without a known controller address the jail refuses rather than risk banning the operator', () => {
  assert.throws(() => plan(fail2banJail, {}, absent, login()), (error: unknown) => error instanceof SafetyError && /fail2ban\.ignoreip/.test(error.message));
  assert.throws(() => plan(fail2banJail, {}, absent, login('10.0.0.1\nbantime = 1')), SafetyError, 'nothing but an address reaches the file');
  assert.equal(plan(fail2banJail, { fail2ban: { ignore_controller: false } }, absent, login()).status, 'change');
});

test('the jail guards the ports sshd really listens on, plus ssh.port', () => {
  assert.deepEqual(sshPorts({ ok: true, values: new Map([['port', ['22', '2222']]]) }, undefined, 32768), [22, 2222]);
  assert.deepEqual(sshPorts({ ok: true, values: new Map([['port', ['22']]]) }, 2200, 32768), [22, 2200]);
  assert.deepEqual(sshPorts({ ok: false, error: 'broken' }, undefined, 2022), [2022], 'the connection port when sshd -T fails');
  const text = jailText(plan(fail2banJail, { ssh: { port: 2200 } }, { ...absent, 'sshd:effective': { ok: true, values: new Map([['port', ['2200']]]) } }));
  assert.match(text, /^port = 2200$/m);
});

test('a jail file that matches is left alone, and says so', () => {
  const text = jailText(plan(fail2banJail, {}, absent));
  const current = { type: 'file', mode: '0644', owner: 'root', group: 'root', content: text };
  const again = plan(fail2banJail, {}, { [`file:${JAIL_PATH}`]: current, 'sshd:effective': SSHD_T });
  assert.deepEqual(again, { status: 'ok', reason: `${JAIL_PATH} is up to date (sshd jail on port 22)` });
  const moved = plan(fail2banJail, {}, { [`file:${JAIL_PATH}`]: current, 'sshd:effective': SSHD_T }, login('198.51.100.8'));
  assert.equal(moved.status === 'change' && moved.changes[0].summary, `update ${JAIL_PATH}`, 'a new controller address rewrites the file');
});

test('the play installs fail2ban with its journal reader and nft, writes both files validated, and runs the service', () => {
  const tasks = fail2ban();
  assert.deepEqual(
    tasks.map((task) => `${task.kind} ${task.target}`),
    [
      'apt.packages fail2ban, python3-systemd, nftables',
      `fail2ban.server ${SERVER_PATH}`,
      `fail2ban.filter ${HAPROXY_FILTER_PATH}`,
      `fail2ban.jail ${JAIL_PATH}`,
      'systemd.service fail2ban',
    ],
  );
  const server = plan(() => tasks[1]!, {}, { [`file:${SERVER_PATH}`]: { type: 'absent' }, 'sshd:effective': SSHD_T });
  const jail = plan(() => tasks[3]!, {}, absent);
  assert.ok(server.status === 'change' && jail.status === 'change');
  const serverStep = server.changes[0].steps[0];
  const jailStep = jail.changes[0].steps[0];
  assert.ok(serverStep?.kind === 'write-file' && jailStep?.kind === 'write-file');
  assert.match(serverStep.content, /^dbpurgeage = 86400$/m);
  // Each file is tested together with the other as it will be: neither is valid alone on a stock Debian 12.
  assert.equal(serverStep.validate, candidateCheck('fail2ban.d/provision.local', [{ relativePath: 'jail.d/provision.local', content: jailStep.content }]));
  assert.equal(jailStep.validate, candidateCheck('jail.d/provision.local', [{ relativePath: 'fail2ban.d/provision.local', content: serverStep.content }]));
});

test('the candidate check tests a copy of the whole configuration with the candidate in place', () => {
  const check = candidateCheck('jail.d/provision.local');
  assert.match(check, / %s$/);
  assert.match(check, /cp -a \/etc\/fail2ban\/\. "\$copy\/"/);
  assert.match(check, /cp "\$1" "\$copy"\/jail\.d\/provision\.local && fail2ban-client -c "\$copy" -t/);
  // As the engine runs it: %s becomes the candidate's path. Without fail2ban-client it exits 127 ("not installed yet").
  const missing = spawnSync('/bin/sh', ['-c', check.replace('%s', '/dev/null')], { env: { PATH: '/nonexistent' }, encoding: 'utf8' });
  assert.equal(missing.status, 127, missing.stderr);
});

test('durations read back the way the inventory writes them', () => {
  assert.equal(formatSeconds(3600), '1h');
  assert.equal(formatSeconds(600), '10m');
  assert.equal(formatSeconds(90_061), '1d1h1m1s');
  assert.equal(formatSeconds(0), '0s');
});

test('the candidate check puts the companion file in place, quoted as data', () => {
  const check = candidateCheck('fail2ban.d/provision.local', [{ relativePath: 'jail.d/provision.local', content: "[sshd]\nport = 22 # it's $(not run)\n" }]);
  assert.match(check, /base64 -d > "\$copy"\/jail\.d\/provision\.local && cp "\$1"/);
  assert.equal(check.split('%s').length, 2, 'the only %s is the candidate: the engine replaces every one');
  // Run the embedded script with a fake fail2ban-client that prints what the copy holds.
  const bin = mkdtempSync(join(tmpdir(), 'fake-f2b-'));
  writeFileSync(join(bin, 'fail2ban-client'), '#!/bin/sh\ncat "$2/jail.d/provision.local" "$2/fail2ban.d/provision.local"\n', { mode: 0o755 });
  const fakeConfig = check.replace("cp -a /etc/fail2ban/. \"$copy/\"", `mkdir -p "$copy/jail.d" "$copy/fail2ban.d"`);
  const candidate = join(bin, 'candidate');
  writeFileSync(candidate, '[Definition]\n');
  const run = spawnSync('/bin/sh', ['-c', fakeConfig.replace('%s', candidate)], { env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: 'utf8' });
  rmSync(bin, { recursive: true, force: true });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, "[sshd]\nport = 22 # it's $(not run)\n[Definition]\n");
});

test('the handler lets a starting fail2ban open its socket, restarts it (a reload keeps the old nftables rule), and waits until the sshd jail answers', () => {
  assert.equal(restartFail2ban.name, RESTART_FAIL2BAN);
  const commands = restartFail2ban.steps.map((step) => (step.kind === 'run' ? step.command.text : step.kind));
  assert.match(commands[0] ?? '', /^if systemctl is-active --quiet fail2ban; then .*while \[ ! -S \/run\/fail2ban\/fail2ban\.sock \] && \[ "\$i" -lt 60 \]/);
  assert.equal(commands[1], 'systemctl restart -- fail2ban');
  assert.match(commands[2] ?? '', /until \[ -S \/run\/fail2ban\/fail2ban\.sock \] && fail2ban-client status sshd .*-ge 300.*sleep 0\.25; else .*sleep 0\.05/);
  assert.deepEqual(restartFail2ban.services, [{ name: 'fail2ban', action: 'restart' }]);
});

const BALANCER = ['all', 'balancers'];

test('on balancers the jail file adds the haproxy-abuse jail on HAProxy\'s ports; elsewhere there is none', () => {
  const balancer = plan(fail2banJail, { haproxy: { https_port: 8443 }, fail2ban: { haproxy: { maxretry: 7 } } }, absent, login(CONTROLLER), BALANCER);
  const text = jailText(balancer);
  assert.match(text, /^\[haproxy-abuse\]\n(#.*\n)?enabled = true$/m);
  assert.match(text, /^port = 80,8443$/m);
  assert.match(text, /^maxretry = 7\nfindtime = 60\nbantime = 3600$/m);
  assert.ok(balancer.status === 'change');
  assert.match(balancer.changes[0].details?.join('\n') ?? '', /haproxy-abuse jail: 7 HAProxy answers 429 or 401 within 1m ban the source on port 80,8443 for 1h/);
  const step = balancer.changes[0].steps[0];
  assert.ok(step?.kind === 'write-file');
  assert.match(step.validate ?? '', /filter\.d\/provision-haproxy-abuse\.conf/, 'the jail is validated with the filter it names in place');

  assert.doesNotMatch(jailText(plan(fail2banJail, {}, absent)), /haproxy/, 'not on a host outside balancers');
  assert.doesNotMatch(jailText(plan(fail2banJail, { fail2ban: { haproxy: { enabled: false } } }, absent, login(CONTROLLER), BALANCER)), /haproxy/, 'not when disabled');
});

test('the filter is written on balancers only, validated with the jail and server files as they will be', () => {
  const facts = { [`file:${HAPROXY_FILTER_PATH}`]: { type: 'absent' }, 'sshd:effective': SSHD_T };
  const written = plan(fail2banHaproxyFilter, {}, facts, login(CONTROLLER), BALANCER);
  assert.ok(written.status === 'change');
  assert.deepEqual(written.changes[0].notify, [RESTART_FAIL2BAN]);
  const step = written.changes[0].steps[0];
  assert.ok(step?.kind === 'write-file');
  assert.match(step.content, /^failregex = \^%\(__prefix_line\)s<HOST>:/m);
  assert.match(step.validate ?? '', /cp "\$1" "\$copy"\/filter\.d\/provision-haproxy-abuse\.conf && fail2ban-client -c "\$copy" -t/);
  assert.match(step.validate ?? '', /"\$copy"\/jail\.d\/provision\.local/);
  assert.deepEqual(plan(fail2banHaproxyFilter, {}, facts), { status: 'ok', reason: 'no haproxy-abuse jail: the host is not in balancers' });
  assert.deepEqual(plan(fail2banHaproxyFilter, { fail2ban: { haproxy: { enabled: 'false' } } }, facts, login(CONTROLLER), BALANCER), {
    status: 'ok',
    reason: 'no haproxy-abuse jail: fail2ban.haproxy.enabled is false',
  });
});

test('the three fail2ban files share one validation scope, which follows their content', () => {
  const facts = {
    [`file:${JAIL_PATH}`]: { type: 'absent' },
    [`file:${SERVER_PATH}`]: { type: 'absent' },
    [`file:${HAPROXY_FILTER_PATH}`]: { type: 'absent' },
    'sshd:effective': SSHD_T,
  };
  const scopes = (vars: object) =>
    [fail2banServerSettings, fail2banHaproxyFilter, fail2banJail].map((task) => {
      const result = plan(task, vars, facts, login(CONTROLLER), ['all', 'balancers']);
      assert.equal(result.status, 'change');
      const step = result.status === 'change' ? result.changes[0].steps[0] : undefined;
      return step?.kind === 'write-file' ? step.validationScope : undefined;
    });
  const first = scopes({});
  assert.match(first[0] ?? '', /^fail2ban configuration [0-9a-f]{16}$/);
  assert.deepEqual(new Set(first).size, 1, `one scope: ${first.join(', ')}`);
  const other = scopes({ fail2ban: { maxretry: 3 } });
  assert.equal(new Set(other).size, 1);
  assert.notEqual(other[0], first[0], 'another jail is another configuration');
});
