/** The foundation end to end: dry run, apply, idempotence, handlers, validation, limits, refusals. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { scratchDir } from '../support/scratch.ts';
import { ANSIBLE_PROJECT, fixtureVaultBlock, tamperVaultBlock } from '../support/vault.ts';
import { installStandInNode } from '../../src/lab/node-service.ts';

const HANDLERS = 'test/fixtures/playbooks/handlers.ts';
const VALIDATE = 'test/fixtures/playbooks/validate.ts';
const VAULT_PASSWORD_FILE = join(ANSIBLE_PROJECT, 'vault-pass.txt');
/** A bearer token, vault-encrypted (with ansible-vault, password in vault-pass.txt) in the fixture project's host_vars/lb1/vault.yml. */
const VAULT_TOKEN = 'token-abcdefghijklmnopqrstuvwxyz-0123456789';
const vaultTokenBlock = (indent: string) => fixtureVaultBlock('host_vars/lb1/vault.yml', 'token', indent);

/**
 * An Ansible project for the test hosts: an INI inventory, group_vars/ (a file and a directory), host_vars/,
 * a vault-encrypted token and another role's variables; `changes` replaces files of it.
 */
function writeAnsibleProject(lab: TestHosts, changes: Record<string, string> = {}): string {
  const dir = scratchDir('provision-ansible-project-');
  const hostLine = (name: string) => {
    const host = lab.hosts.find((candidate) => candidate.name === name)!;
    return `${name} ansible_host=127.0.0.1 ansible_port=${host.sshPort} private_ip=${host.privateIp}`;
  };
  const files: Record<string, string> = {
    hosts: [
      '# the lab, as an Ansible project keeps it',
      '[nodes]',
      `${hostLine('node1')} hornet_version=2.0.1`,
      '',
      '[balancers]',
      hostLine('balancer1'),
      '',
      '[all:vars]',
      'ansible_user=root',
      `ansible_ssh_private_key_file=${lab.keyFile}`,
      `ssh_known_hosts_file=${lab.knownHostsFile}`,
      'ssh_host_key_checking=strict',
      '',
    ].join('\n'),
    'group_vars/all.yml': 'docker_version: "24.0"\nssh:\n  max_auth_tries: 4\nfail2ban:\n  maxretry: 4\n',
    'group_vars/balancers/haproxy.yml': `haproxy:\n  auth:\n    tokens:\n      - name: monitoring\n        token: ${vaultTokenBlock('          ')}\n`,
    'host_vars/node1.yml': 'ssh:\n  max_auth_tries: 5\n',
    ...changes,
  };
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return join(dir, 'hosts');
}

/** A checksum of everything a run could touch, read through docker exec, never through provision. */
async function hostState(lab: TestHosts, name: string): Promise<string> {
  const { stdout } = await lab.exec(name, [
    'sh',
    '-c',
    'find /etc /srv /tmp /root -xdev -printf "%p %m %u %g %s\\n" 2>/dev/null | sort | sha256sum; ' +
      'find /etc /srv -xdev -type f -exec sha256sum {} + 2>/dev/null | sort | sha256sum; ' +
      'dpkg-query -W -f "\\${Package} \\${Status}\\n" | sha256sum; systemctl list-unit-files --state=enabled --no-legend | sha256sum',
  ]);
  return stdout;
}

describe('apply against real hosts', () => {
  let lab: TestHosts;
  before(async () => {
    lab = await startTestHosts([
      { name: 'node1', group: 'nodes' },
      { name: 'balancer1', group: 'balancers' },
    ]);
    // The site playbook configures the node on node hosts: give it the lab's stand-in node.
    await installStandInNode((command) => lab.exec('node1', command));
  });
  after(async () => lab?.stop());

  test('a dry run shows every change and leaves the hosts untouched', async () => {
    const before = await Promise.all(['node1', 'balancer1'].map((name) => hostState(lab, name)));
    const human = await runCli(['apply', lab.inventoryFile, '--dry-run']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /would-change +apt\.packages .*unattended-upgrades/);
    // One apt-get install per host: the packages play installs what every later play needs.
    assert.equal(human.stdout.match(/would-change +apt\.packages/g)?.length, 2);
    assert.match(human.stdout, /\+APT::Periodic::Unattended-Upgrade "1";/);
    assert.match(human.stdout, /packages to install: .*unattended-upgrades/);
    const json = await runCli(['apply', lab.inventoryFile, '--dry-run', '--json', '--detailed-exitcode']);
    assert.equal(json.code, 3, json.stderr);
    const plan = parseRun(json);
    assert.equal(plan.mode, 'dry-run');
    assert.ok(plan.summary.changed >= 4);
    assert.ok(plan.hosts.node1?.tasks.some((task) => task.status === 'would-change'));
    const after = await Promise.all(['node1', 'balancer1'].map((name) => hostState(lab, name)));
    assert.deepEqual(after, before);
  });

  test('without a terminal and without --yes, apply refuses and changes nothing', async () => {
    const before = await hostState(lab, 'node1');
    const result = await runCli(['apply', lab.inventoryFile]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /refusing to apply/);
    assert.equal(await hostState(lab, 'node1'), before);
  });

  test('--tags firewall, from an INI inventory with group_vars, changes the firewall and nothing else', async () => {
    const inventory = writeAnsibleProject(lab);
    const result = await runCli(['apply', '-i', inventory, '--yes', '--json', '--tags', 'firewall', '--vault-password-file', VAULT_PASSWORD_FILE]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const installed = async (name: string, pkg: string) => (await lab.exec(name, ['dpkg-query', '-W', '-f', '${Status}', pkg])).stdout === 'install ok installed';
    for (const name of ['node1', 'balancer1']) {
      assert.match((await lab.exec(name, ['nft', 'list', 'tables'])).stdout, /^table inet provision$/m, `${name}: the firewall is on`);
      assert.equal((await lab.exec(name, ['systemctl', 'is-enabled', 'provision-firewall'])).stdout.trim(), 'enabled');
      assert.doesNotMatch((await lab.exec(name, ['cat', '/etc/ssh/sshd_config'])).stdout, /BEGIN provision/, `${name}: sshd untouched`);
      for (const pkg of ['fail2ban', 'unattended-upgrades', 'haproxy']) assert.equal(await installed(name, pkg), false, `${name}: ${pkg} not installed`);
    }
    const tasks = Object.values(parseRun(result).hosts).flatMap((host) => host.tasks.map((task) => task.name));
    assert.ok(tasks.every((name) => /^(apt\.packages nftables|directory \/etc\/nftables\.d|nft\.table|systemd\.(unit|service) provision-firewall)/.test(name)), tasks.join(', '));
  });

  test('apply converges the site playbook, and a second run changes nothing', async () => {
    const first = await runCli(['apply', lab.inventoryFile, '--yes', '--json']);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.ok(parseRun(first).summary.changed > 0);
    for (const name of ['node1', 'balancer1']) {
      assert.equal((await lab.exec(name, ['dpkg-query', '-W', '-f', '${Status}', 'unattended-upgrades'])).stdout, 'install ok installed');
      const conf = await lab.exec(name, ['cat', '/etc/apt/apt.conf.d/20auto-upgrades']);
      assert.match(conf.stdout, /APT::Periodic::Unattended-Upgrade "1";/);
      assert.equal((await lab.exec(name, ['systemctl', 'is-enabled', 'unattended-upgrades'])).stdout.trim(), 'enabled');
    }
    const second = parseRun(await runCli(['apply', lab.inventoryFile, '--yes', '--json']));
    assert.equal(second.summary.changed, 0);
    assert.equal(second.summary.failed, 0);
    for (const host of Object.values(second.hosts)) {
      assert.deepEqual(host.handlers, []);
      assert.equal(host.stats.connections, 1);
      // Logged in as root: the login probe rides in the gather, the one command of a run that changes nothing.
      assert.equal(host.stats.commands, 1);
    }
    const drift = await runCli(['apply', lab.inventoryFile, '--dry-run', '--detailed-exitcode']);
    assert.equal(drift.code, 0, drift.stdout);
  });

  test('handlers run once per host after the tasks that notified them, and not on a re-run', async () => {
    const first = await runCli(['apply', lab.inventoryFile, '--yes', '--json', '--playbook', HANDLERS, '--limit', 'node1']);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const run = parseRun(first);
    assert.deepEqual(Object.keys(run.hosts), ['node1']);
    assert.deepEqual(run.hosts.node1?.handlers, [{ name: 'count reloads', status: 'changed' }]);
    assert.equal((await lab.exec('node1', ['cat', '/srv/provision-test/reloads'])).stdout, 'reload\n');
    assert.equal((await lab.exec('node1', ['cat', '/srv/provision-test/b.conf'])).stdout, 'b=v1\n');
    assert.equal((await lab.exec('node1', ['cat', '/srv/provision-test/c.conf'])).stdout, '# trailer\n');
    assert.equal((await lab.exec('node1', ['stat', '-c', '%a', '/srv/provision-test'])).stdout.trim(), '750');
    const stamp = (await lab.exec('node1', ['cat', '/srv/provision-test/stamp'])).stdout;

    const second = parseRun(await runCli(['apply', lab.inventoryFile, '--yes', '--json', '--playbook', HANDLERS, '--limit', 'node1']));
    assert.equal(second.summary.changed, 0);
    assert.deepEqual(second.hosts.node1?.handlers, []);
    assert.equal((await lab.exec('node1', ['cat', '/srv/provision-test/reloads'])).stdout, 'reload\n');
    assert.equal((await lab.exec('node1', ['cat', '/srv/provision-test/stamp'])).stdout, stamp);
    assert.equal((await lab.exec('balancer1', ['test', '-e', '/srv/provision-test'])).exitCode, 1, '--limit kept balancer1 out');
  });

  test('hostile values reach the host as data: no injected command runs', async () => {
    const listing = await lab.exec('node1', ['ls', '/srv/provision-test']);
    assert.ok(listing.stdout.split('\n').includes('$(touch injected); `touch injected2` \'q\' "d" \\'), listing.stdout);
    const found = await lab.exec('node1', ['sh', '-c', 'find / -xdev -name "injected*" 2>/dev/null | wc -l']);
    assert.equal(found.stdout.trim(), '0');
  });

  test('a changed file shows a unified diff, in the dry run and in the apply', async () => {
    const env = { PROVISION_TEST_CONTENT: 'v2' };
    const dry = await runCli(['apply', lab.inventoryFile, '--dry-run', '--playbook', HANDLERS, '--limit', 'node1'], { env });
    assert.match(dry.stdout, /--- a\/srv\/provision-test\/a\.conf/);
    assert.match(dry.stdout, /-a=v1\n\s*\+a=v2/);
    const applied = await runCli(['apply', lab.inventoryFile, '--yes', '--playbook', HANDLERS, '--limit', 'node1'], { env });
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    assert.match(applied.stdout, /changed +file \/srv\/provision-test\/a\.conf/);
    assert.equal((await lab.exec('node1', ['cat', '/srv/provision-test/reloads'])).stdout, 'reload\nreload\n');
  });

  test('a candidate that fails validation is never installed, and the dry run says so', async () => {
    const env = { PROVISION_TEST_CONTENT: 'NoSuchSshdKeyword yes' };
    const dry = await runCli(['apply', lab.inventoryFile, '--dry-run', '--playbook', VALIDATE, '--limit', 'node1'], { env });
    assert.equal(dry.code, 1);
    assert.match(dry.stdout, /fails validation/);
    const applied = await runCli(['apply', lab.inventoryFile, '--yes', '--playbook', VALIDATE, '--limit', 'node1'], { env });
    assert.equal(applied.code, 1);
    assert.equal((await lab.exec('node1', ['test', '-e', '/etc/ssh/provision_test_config'])).exitCode, 1);
    const good = await runCli(['apply', lab.inventoryFile, '--yes', '--playbook', VALIDATE, '--limit', 'node1']);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.equal((await lab.exec('node1', ['cat', '/etc/ssh/provision_test_config'])).stdout, 'MaxAuthTries 4\n');
  });

  test('an Ansible project with a broken INI line, a wrong vault password or an altered vault value: exit 2 naming the file and line, hosts untouched', async () => {
    const before = await Promise.all(['node1', 'balancer1'].map((name) => hostState(lab, name)));
    const broken = writeAnsibleProject(lab, { 'host_vars/node1.yml': 'ssh:\n  max_auth_tries: 5\n' });
    writeFileSync(broken, readFileSync(broken, 'utf8').replace('[balancers]', '[balancers]\nbalancer2 ansible_port'));
    const brokenRun = await runCli(['apply', '-i', broken, '--yes', '--vault-password-file', VAULT_PASSWORD_FILE]);
    assert.equal(brokenRun.code, 2, brokenRun.stderr);
    assert.match(brokenRun.stderr, /hosts:6:11: expected key=value after the host name, got 'ansible_port'/);
    const wrongPassword = join(scratchDir('provision-vault-'), 'wrong');
    writeFileSync(wrongPassword, 'not-the-password\n');
    const wrong = await runCli(['apply', '-i', writeAnsibleProject(lab), '--yes', '--vault-password-file', wrongPassword]);
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.match(wrong.stderr, /group_vars\/balancers\/haproxy\.yml:5:23: haproxy\.auth\.tokens\[0\]\.token: cannot decrypt this vault value: wrong vault password/);
    // One digit of the ciphertext changed: its HMAC no longer matches.
    const altered = tamperVaultBlock(vaultTokenBlock('          '));
    const tampered = await runCli(['apply', '-i', writeAnsibleProject(lab, { 'group_vars/balancers/haproxy.yml': `haproxy:\n  auth:\n    tokens:\n      - name: monitoring\n        token: ${altered}\n` }), '--yes', '--vault-password-file', VAULT_PASSWORD_FILE]);
    assert.equal(tampered.code, 2, tampered.stderr);
    assert.match(tampered.stderr, /group_vars\/balancers\/haproxy\.yml:5:23: haproxy\.auth\.tokens\[0\]\.token: cannot decrypt this vault value: wrong vault password, or the encrypted text was altered \(its HMAC does not match\)/);
    for (const run of [brokenRun, wrong, tampered]) assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await Promise.all(['node1', 'balancer1'].map((name) => hostState(lab, name))), before);
  });

  test('an Ansible project (INI inventory, group_vars/ and host_vars/, a vault-encrypted token, other roles\' variables) converges the hosts, and a second run changes nothing', async () => {
    const inventory = writeAnsibleProject(lab);
    const first = await runCli(['apply', '-i', inventory, '--yes', '--json', '--vault-password-file', VAULT_PASSWORD_FILE]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.ok(parseRun(first).summary.changed > 0);
    assert.ok(!(first.stdout + first.stderr).includes(VAULT_TOKEN), 'the decrypted token is never printed');
    // host_vars/node1.yml beats group_vars/all.yml; group_vars/all.yml reaches every host.
    const sshd = (name: string) => lab.exec(name, ['sh', '-c', 'sshd -T | grep -i "^maxauthtries"']);
    assert.equal((await sshd('node1')).stdout.trim(), 'maxauthtries 5');
    assert.equal((await sshd('balancer1')).stdout.trim(), 'maxauthtries 4');
    for (const name of ['node1', 'balancer1']) {
      assert.match((await lab.exec(name, ['cat', '/etc/fail2ban/jail.d/provision.local'])).stdout, /^maxretry = 4$/m);
    }
    // The token decrypted from the vault reaches HAProxy only as its SHA-256 digest.
    const digest = createHash('sha256').update(VAULT_TOKEN).digest('hex');
    assert.match((await lab.exec('balancer1', ['cat', '/etc/haproxy/tokens.map'])).stdout, new RegExp(`^${digest} monitoring$`, 'm'));
    const second = await runCli(['apply', '-i', inventory, '--yes', '--json', '--vault-password-file', VAULT_PASSWORD_FILE]);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.equal(parseRun(second).summary.changed, 0);
  });
});

describe('plays that read other hosts, and the terminal prompt', () => {
  let lab: TestHosts;
  before(async () => {
    lab = await startTestHosts([
      { name: 'node1', group: 'nodes', cpusetCpus: '0' },
      { name: 'balancer1', group: 'balancers' },
    ]);
  });
  after(async () => lab?.stop());

  test('a task on the balancer reads facts gathered on the nodes', async () => {
    const result = await runCli(['apply', lab.inventoryFile, '--yes', '--playbook', 'test/fixtures/playbooks/peers.ts']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const nodeName = (await lab.exec('node1', ['hostname'])).stdout.trim();
    assert.equal((await lab.exec('balancer1', ['cat', '/srv/peers.txt'])).stdout, `node1: ${nodeName} 1\n`);
    assert.equal((await lab.exec('node1', ['test', '-e', '/srv/peers.txt'])).exitCode, 1, 'the play ran on balancers only');
  });

  test('on a terminal, apply shows the plan and asks: "n" changes nothing, "y" applies', async () => {
    const { spawnSync } = await import('node:child_process');
    const command = `node bin/provision.js apply ${lab.inventoryFile} --playbook test/fixtures/playbooks/handlers.ts --limit node1`;
    const ask = (answer: string) =>
      spawnSync('script', ['-qec', command, '/dev/null'], { input: `${answer}\n`, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
    const no = ask('n');
    assert.match(no.stdout, /would-change +file \/srv\/provision-test\/a\.conf/);
    assert.match(no.stdout, /Apply these changes to 1 host\? \[y\/N\]/);
    assert.match(no.stdout, /Nothing was changed/);
    assert.equal((await lab.exec('node1', ['test', '-e', '/srv/provision-test'])).exitCode, 1);
    const yes = ask('y');
    assert.match(yes.stdout, /RECAP/);
    assert.equal((await lab.exec('node1', ['cat', '/srv/provision-test/a.conf'])).stdout, 'a=v1\n');
  });
});
