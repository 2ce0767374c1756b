/** The SSH play's guards against locking the operator out: keys removed, root's logins ended, sshd's host-side rollback. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Change, LoginInfo, Plan, PlanContext, Step, Task } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { authorizedKeys } from '../../tasks/core/authorized-keys.ts';
import { sshdHardening } from '../../tasks/ssh/sshd.ts';
import { sshVars } from '../../tasks/ssh/vars.ts';
import { opensshVersion } from '../../tasks/ssh/facts.ts';
import { readFileSync } from 'node:fs';
import { hostKeys, parseHostKeys } from '../../tasks/ssh/host-keys.ts';
import { moduliState, parseModuli } from '../../tasks/ssh/moduli.ts';
import { SSH2_DEFAULT_ALGORITHMS } from '../../src/transport/ssh-client-profile.ts';
import type { SshClientProfile } from '../../src/engine/types.ts';
import type { HostVars } from '../../playbooks/site.ts';
import { fakeHost, factReader } from '../support/fake-context.ts';
import { roleContext } from '../../src/engine/role.ts';

const RUN_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMrunkeyrunkeyrunkeyrunkeyrunkeyrunkeyrunkey0';
const OTHER_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOotherotherotherotherotherotherotherother';
const fixture = (name: string) => readFileSync(new URL(`../fixtures/ssh/${name}`, import.meta.url), 'utf8');
/** A Debian 12 host's keys (ed25519, RSA 3072, ECDSA), as the fact reads them. */
const DEBIAN_KEYS = parseHostKeys({ stdout: fixture('host-keys-debian12.txt'), code: 0 });
const ED25519 = DEBIAN_KEYS.ed25519!.publicKey!;
const ECDSA = DEBIAN_KEYS.ecdsa!.publicKey!;

/** This run's SSH client: ssh2's defaults, the host known by `trustedKeys` in known_hosts (or pinned). */
function client(overrides: Partial<SshClientProfile> = {}): SshClientProfile {
  return { ...SSH2_DEFAULT_ALGORITHMS, trust: 'known-hosts', trustedKeys: [ED25519], trustedFingerprints: [], certificateAuthority: false, knownHostsFile: '/home/op/.ssh/known_hosts', ...overrides };
}

let login: LoginInfo = { user: 'root', port: 22, method: 'publickey', publicKeys: [RUN_KEY], sshClient: client() };
const rootAccount = (keys: string) => ({ exists: true, uid: 0, gid: 0, home: '/root', groups: ['root'], authorizedKeys: keys });

function plan<V>(task: Task<V>, host: Host<V>, values: Record<string, unknown>, others: Host<V>[] = []): Plan {
  const inventory = { file: '/x.yaml', hosts: [host, ...others], groups: new Map([['all', [host.name, ...others.map((other) => other.name)]]]) };
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
    [hostKeys.key]: DEBIAN_KEYS,
    [moduliState.key]: parseModuli({ stdout: fixture('moduli-pruned.txt'), code: 0 }),
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
    'check the new algorithms and host keys in sshd -T before the reload',
    'systemctl try-reload-or-restart ssh.service',
    'check the hardened values in sshd -T',
    'verify-login',
    'confirm the new sshd configuration: disarm the rollback timer',
  ]);
  const arm = change.steps.find((step) => step.kind === 'run' && step.description?.startsWith('save'));
  assert.match(arm?.kind === 'run' ? arm.command.text : '', /systemd-run --quiet --unit=provision-ssh-rollback .*--on-active=120 /);
  assert.deepEqual(kinds(change.rollback ?? []).slice(0, 2), ['disarm the sshd rollback timer', 'write-file']);
});

test('a host known only by its ECDSA key gets its ed25519 key recorded before sshd stops offering ECDSA', () => {
  const host = hostWith({});
  login = { ...login, sshClient: client({ trustedKeys: [ECDSA] }) };
  try {
    const change = onlyChange(plan(sshdHardening(host), host, stockSshd('root')));
    const steps = kinds(change.steps);
    assert.deepEqual(change.steps.filter((step) => step.kind === 'trust-host-key'), [{ kind: 'trust-host-key', path: '/etc/ssh/ssh_host_ed25519_key.pub' }]);
    assert.ok(steps.indexOf('trust-host-key') < steps.indexOf('systemctl try-reload-or-restart ssh.service'), 'recorded before the reload');
    assert.ok(steps.indexOf('trust-host-key') > steps.indexOf('save /etc/ssh/sshd_config and arm the rollback timer (60s)'), 'and after the rollback is armed');
    assert.ok(change.details?.some((line) => /^ssh-ed25519 key SHA256:\S+ is not in \/home\/op\/\.ssh\/known_hosts: recorded there first/.test(line)), change.details?.join('\n'));
    assert.ok(change.details?.includes("this run's SSH client afterwards: host key ssh-ed25519, key exchange curve25519-sha256@libssh.org, cipher aes128-gcm@openssh.com"));
  } finally {
    login = { ...login, sshClient: client() };
  }
});

test('a host known by its ed25519 key needs nothing recorded', () => {
  const host = hostWith({});
  const change = onlyChange(plan(sshdHardening(host), host, stockSshd('root')));
  assert.equal(change.steps.some((step) => step.kind === 'trust-host-key'), false);
});

test('a host pinned only by its ECDSA key is refused, with the ed25519 line to pin', () => {
  const host = hostWith({});
  login = { ...login, sshClient: client({ trust: 'pinned', trustedKeys: [ECDSA] }) };
  try {
    assert.throws(
      () => plan(sshdHardening(host), host, stockSshd('root')),
      (error: Error) =>
        /^refusing to change sshd's host keys on h1: afterwards sshd offers this run its ssh-ed25519 key SHA256:\S+, which it is not among the keys pinned by ssh_host_key \(ssh_host_key: ecdsa-sha2-nistp256 SHA256:\S+\)/.test(error.message) &&
        error.message.includes(`Pin it too (ssh_host_key: ${ED25519}; compare on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)`),
    );
  } finally {
    login = { ...login, sshClient: client() };
  }
});

test('algorithm lists this run\'s client could not meet are refused before anything is written', () => {
  const host = hostWith({ kex_algorithms: ['sntrup761x25519-sha512@openssh.com'], ciphers: ['aes256-ctr'], macs: ['umac-128-etm@openssh.com'] });
  assert.throws(
    () => plan(sshdHardening(host), host, stockSshd('root')),
    /refusing to change sshd's algorithms on h1: this run's SSH client could not log in afterwards:\n  no common key exchange: .*\n  no common MAC for aes256-ctr: /,
  );
  // Host key types whose keys sshd does not hold: nothing to offer at all.
  const noKeys = hostWith({ host_key_types: ['rsa'] });
  assert.throws(() => plan(sshdHardening(noKeys), noKeys, { ...stockSshd('root'), [hostKeys.key]: { ed25519: DEBIAN_KEYS.ed25519 } }), /sshd would have no host key to offer: none of ssh\.host_key_types \(rsa\)/);
});

test('TCP forwarding stays on where other hosts of the inventory jump through this one', () => {
  const bastion = hostWith({}, { address: '203.0.113.10' });
  const behind = { ...fakeHost({ ssh: sshVars('/tmp').parse({}) } as HostVars, 'node7'), connection: { ...bastion.connection, address: '10.0.1.7', jump: [{ address: '203.0.113.10', port: 22, user: 'ops' }] } };
  assert.throws(
    () => plan(sshdHardening(bastion), bastion, stockSshd('root'), [behind]),
    /refusing to turn off TCP forwarding on h1: it is the jump host of node7 \(ssh_jump or ProxyJump\), which could no longer be reached through it\. Set ssh\.allow_forwarding: true for h1\.$/,
  );
  const allowed = hostWith({ allow_forwarding: true }, { address: '203.0.113.10' });
  const change = onlyChange(plan(sshdHardening(allowed), allowed, stockSshd('root'), [behind]));
  assert.match(change.diff?.after ?? '', /^AllowTcpForwarding yes$/m);
  // Another host on the same address but another port (a port forward to another sshd) is not this one.
  const elsewhere = { ...behind, connection: { ...behind.connection, jump: [{ address: '203.0.113.10', port: 2200, user: 'ops' }] } };
  assert.equal(plan(sshdHardening(bastion), bastion, stockSshd('root'), [elsewhere]).status, 'change');
});
