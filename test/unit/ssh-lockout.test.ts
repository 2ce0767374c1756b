/** The SSH play's guards against locking the operator out: keys removed, root's logins ended, sshd's host-side rollback. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Change, LoginInfo, Plan, PlanContext, Step, Task } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { authorizedKeys } from '../../tasks/core/authorized-keys.ts';
import { sshdHardening } from '../../tasks/ssh/sshd.ts';
import { sshVars } from '../../tasks/ssh/vars.ts';
import { opensshVersion } from '../../tasks/ssh/facts.ts';
import type { HostVars } from '../../playbooks/site.ts';
import { fakeHost, factReader } from '../support/fake-context.ts';
import { roleContext } from '../../src/engine/role.ts';

const RUN_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMrunkeyrunkeyrunkeyrunkeyrunkeyrunkeyrunkey0';
const OTHER_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOotherotherotherotherotherotherotherother';
const login: LoginInfo = { user: 'root', port: 22, method: 'publickey', publicKeys: [RUN_KEY] };
const rootAccount = (keys: string) => ({ exists: true, uid: 0, gid: 0, home: '/root', groups: ['root'], authorizedKeys: keys });

function plan<V>(task: Task<V>, host: Host<V>, values: Record<string, unknown>): Plan {
  const inventory = { file: '/x.yaml', hosts: [host], groups: new Map([['all', [host.name]]]) };
  const context: PlanContext<V> = { host, login, inventory, facts: factReader(values), factsOf: () => undefined, roles: roleContext(inventory) };
  return task.plan(context);
}

function onlyChange(result: Plan): Change {
  assert.equal(result.status, 'change');
  if (result.status !== 'change') throw new Error('unreachable');
  assert.equal(result.changes.length, 1);
  return result.changes[0];
}

const kinds = (steps: readonly Step[]) => steps.map((step) => (step.kind === 'run' ? (step.description ?? step.command.text.split('\n')[0]) : step.kind));

test('exclusive keys that would remove every key this run logs in with are refused, whatever state sshd is in', () => {
  const task = authorizedKeys('root', [OTHER_KEY], { exclusive: true, guardsLogin: true });
  const host = fakeHost({});
  assert.throws(() => plan(task, host, { 'account:root': rootAccount(`${RUN_KEY}\n`) }), /refusing to rewrite root's authorized_keys on h1: ssh\.exclusive_keys would remove every key this run logs in with/);
});

test('exclusive keys that keep the run\'s key remove the others, then prove a new key login or put the old file back', () => {
  const task = authorizedKeys('root', [RUN_KEY], { exclusive: true, guardsLogin: true });
  const change = onlyChange(plan(task, fakeHost({}), { 'account:root': rootAccount(`${RUN_KEY}\n${OTHER_KEY}\n`) }));
  assert.deepEqual(change.steps.map((step) => step.kind), ['run', 'write-file', 'verify-login']);
  assert.deepEqual(change.steps.at(-1), { kind: 'verify-login', user: 'root' });
  assert.deepEqual(change.rollback, [{ kind: 'write-file', path: '/root/.ssh/authorized_keys', content: `${RUN_KEY}\n${OTHER_KEY}\n`, mode: '0600', owner: '0', group: '0' }]);
  // Adding keys removes nothing: no proof needed.
  const adding = onlyChange(plan(authorizedKeys('root', [RUN_KEY, OTHER_KEY], { exclusive: true, guardsLogin: true }), fakeHost({}), { 'account:root': rootAccount(`${RUN_KEY}\n`) }));
  assert.equal(adding.rollback, undefined);
});

/** The facts of a stock Debian 12 sshd, not hardened yet. */
function stockSshd(user: string): Record<string, unknown> {
  return {
    'file:/etc/ssh/sshd_config': { type: 'file', mode: '0644', owner: 'root', group: 'root', content: 'Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n' },
    'sshd:drop-ins': [],
    'sshd:effective': { ok: true, values: new Map([['port', ['22']], ['passwordauthentication', ['yes']]]) },
    [opensshVersion.key]: { major: 9, minor: 2 },
    'systemd:ssh.socket': { load: 'loaded', active: 'inactive', unitFile: 'disabled' },
    'systemd:ssh.service': { load: 'loaded', active: 'active', unitFile: 'enabled' },
    [`account:${user}`]: { exists: true, uid: 1000, gid: 1000, home: `/home/${user}`, groups: [user, 'sudo'], authorizedKeys: `${RUN_KEY}\n` },
  };
}

function hostWith(ssh: Record<string, unknown>, connection: Partial<Host<HostVars>['connection']> = {}): Host<HostVars> {
  const host = fakeHost({ ssh: sshVars('/tmp').parse(ssh) } as HostVars);
  return { ...host, connection: { ...host.connection, ...connection } };
}

test('ending root\'s logins for an admin user that could not become root is refused', () => {
  const host = hostWith({ admin_user: 'deploy', admin_sudo_nopasswd: false });
  assert.throws(() => plan(sshdHardening(host), host, stockSshd('deploy')), /refusing to end root's SSH logins on h1: deploy would be the only way in, and with ssh\.admin_sudo_nopasswd: false it could not become root/);
  // A sudo password the operator gave: the proof logins check that sudo takes it, before and after.
  const withPassword = hostWith({ admin_user: 'deploy', admin_sudo_nopasswd: false }, { becomePassword: 'pw' });
  const change = onlyChange(plan(sshdHardening(withPassword), withPassword, stockSshd('deploy')));
  const proofs = change.steps.filter((step) => step.kind === 'verify-login');
  assert.deepEqual(proofs, [{ kind: 'verify-login', user: 'deploy', sudo: true }, { kind: 'verify-login', user: 'deploy', port: 22, sudo: true }]);
});

test('a change to sshd is armed on the host before it is written, and disarmed only after the new login', () => {
  const host = hostWith({ rollback_after: '2m' });
  const change = onlyChange(plan(sshdHardening(host), host, stockSshd('root')));
  assert.deepEqual(kinds(change.steps), [
    'verify-login',
    'install -d -m 0700 /var/lib/provision/ssh',
    'write-file',
    'save /etc/ssh/sshd_config and arm the rollback timer (120s)',
    'write-file',
    'systemctl try-reload-or-restart ssh.service',
    'check the hardened values in sshd -T',
    'verify-login',
    'confirm the new sshd configuration: disarm the rollback timer',
  ]);
  const arm = change.steps.find((step) => step.kind === 'run' && step.description?.startsWith('save'));
  assert.match(arm?.kind === 'run' ? arm.command.text : '', /systemd-run --quiet --unit=provision-ssh-rollback .*--on-active=120 /);
  assert.deepEqual(kinds(change.rollback ?? []).slice(0, 2), ['disarm the sshd rollback timer', 'write-file']);
});
