/**
 * A freshly rented VPS, as operators get it: root logs in with a password only, no key is authorized, and sshd
 * accepts passwords. The site playbook (not a fixture) converges it in one run, given the password and the key: the
 * firewall goes on, the key is installed and proven, passwords go off. The next run logs in with the key and changes
 * nothing. The same with sshd moved to another port in that run, and with an admin user that ends root's logins.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestHosts, type TestHost, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { writeInventory } from '../support/inventory.ts';
import { tryLogin } from '../support/ssh-probe.ts';
import { installStandInNode } from '../../src/lab/node-service.ts';

const PASSWORD = 'first contact: correct horse battery staple';

/** What a rented VPS looks like on delivery: root's password, password logins on, no authorized key. */
const FRESH_VPS = `echo 'root:${PASSWORD}' | chpasswd
rm -f /root/.ssh/authorized_keys
printf 'PasswordAuthentication yes\\nPermitRootLogin yes\\n' > /etc/ssh/sshd_config.d/50-cloud-init.conf
systemctl reload ssh`;

/** How many logins of each kind sshd accepted so far, from its journal (read through the container, not provision). */
async function acceptedLogins(lab: TestHosts, name: string): Promise<{ password: number; publickey: number }> {
  const journal = (await lab.exec(name, ['journalctl', '-q', '--no-pager', '-o', 'cat', 'SYSLOG_IDENTIFIER=sshd'])).stdout;
  return { password: journal.match(/^Accepted password for /gm)?.length ?? 0, publickey: journal.match(/^Accepted publickey for /gm)?.length ?? 0 };
}

async function sshdT(lab: TestHosts, name: string): Promise<string[]> {
  return (await lab.exec(name, ['/usr/sbin/sshd', '-T'])).stdout.split('\n');
}

describe('first contact with a password-only VPS, through the site playbook', () => {
  let lab: TestHosts;
  let inventory: string;
  let hosts: Record<string, TestHost>;
  const env = { ROOT_PASSWORD: PASSWORD };

  before(async () => {
    lab = await startTestHosts([
      { name: 'vps1', group: 'nodes' },
      { name: 'vps2', group: 'balancers' },
      { name: 'vps3', group: 'nodes' },
    ]);
    hosts = Object.fromEntries(lab.hosts.map((host) => [host.name, host]));
    await Promise.all(['vps1', 'vps3'].map((name) => installStandInNode((command) => lab.exec(name, command))));
    for (const host of lab.hosts) {
      const fresh = await lab.exec(host.name, ['sh', '-c', FRESH_VPS]);
      assert.equal(fresh.exitCode, 0, fresh.stderr);
    }
    const key = `${lab.keyFile}.pub`;
    inventory = writeInventory(lab, {
      vars: { ansible_password: '${ROOT_PASSWORD}', ssh: { authorized_keys: [key] } },
      hosts: {
        // Reached at its own address: only port 22 is published on 127.0.0.1, and sshd moves to 2222.
        vps2: {
          ansible_host: hosts.vps2!.privateIp,
          ansible_port: 22,
          ssh_host_key_checking: 'accept-new',
          ssh_known_hosts_file: `${lab.knownHostsFile}.vps2`,
          ssh: { authorized_keys: [key], port: 2222 },
        },
        vps3: { ssh: { authorized_keys: [key], admin_user: 'deploy' } },
      },
    });
  });
  after(async () => lab?.stop());

  test('the hosts accept the password and no key before the run', async () => {
    const key = readFileSync(lab.keyFile, 'utf8');
    assert.equal(await tryLogin({ port: hosts.vps1!.sshPort, user: 'root', password: PASSWORD }), 'accepted');
    assert.equal(await tryLogin({ port: hosts.vps1!.sshPort, user: 'root', privateKey: key }), 'rejected');
  });

  test('one run converges every host: firewall on, key installed and proven, passwords off', async () => {
    const result = await runCli(['apply', inventory, '--yes'], { env });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(PASSWORD));
    const key = readFileSync(lab.keyFile, 'utf8');
    for (const name of ['vps1', 'vps2', 'vps3']) {
      const tables = (await lab.exec(name, ['nft', 'list', 'tables'])).stdout;
      assert.match(tables, /^table inet provision$/m, `${name}: the firewall is on`);
      const effective = await sshdT(lab, name);
      assert.ok(effective.includes('passwordauthentication no'), `${name}: passwords are off`);
      assert.ok(effective.includes('authenticationmethods publickey'), `${name}: key-only`);
      assert.equal((await lab.exec(name, ['systemctl', 'is-active', 'provision-ssh-rollback.timer'])).stdout.trim(), 'inactive', `${name}: the sshd rollback was confirmed`);
    }
    assert.equal(await tryLogin({ port: hosts.vps1!.sshPort, user: 'root', password: PASSWORD }), 'rejected');
    assert.equal(await tryLogin({ port: hosts.vps1!.sshPort, user: 'root', privateKey: key }), 'accepted');

    assert.deepEqual((await sshdT(lab, 'vps2')).filter((line) => line.startsWith('port ')), ['port 2222']);
    assert.equal(await tryLogin({ host: hosts.vps2!.privateIp, port: 2222, user: 'root', privateKey: key }), 'accepted');
    assert.match(result.stdout, /NOTICE: sshd on vps2 now listens on port 2222/);

    assert.ok((await sshdT(lab, 'vps3')).includes('permitrootlogin no'));
    assert.equal(await tryLogin({ port: hosts.vps3!.sshPort, user: 'deploy', privateKey: key }), 'accepted');
    assert.equal(await tryLogin({ port: hosts.vps3!.sshPort, user: 'root', privateKey: key }), 'rejected');
    assert.equal((await lab.exec('vps3', ['su', '-s', '/bin/sh', 'deploy', '-c', 'sudo -n true'])).exitCode, 0, 'deploy can become root');
  });

  test('the next run, with the same inventory, logs in with the key and changes nothing', async () => {
    const before = await Promise.all(['vps1', 'vps2', 'vps3'].map((name) => acceptedLogins(lab, name)));
    const second = parseRun(await runCli(['apply', inventory, '--yes', '--json'], { env }));
    assert.equal(second.summary.unreachable, 0, JSON.stringify(second.hosts));
    assert.equal(second.summary.failed, 0, JSON.stringify(second.hosts));
    assert.equal(second.summary.changed, 0, JSON.stringify(second.hosts));
    const after = await Promise.all(['vps1', 'vps2', 'vps3'].map((name) => acceptedLogins(lab, name)));
    for (const [index, name] of ['vps1', 'vps2', 'vps3'].entries()) {
      assert.equal(after[index]!.password, before[index]!.password, `${name}: no password login`);
      assert.ok(after[index]!.publickey > before[index]!.publickey, `${name}: a key login`);
    }
    // vps3's root is refused now: the run got in as the admin user, with the key, and became root through sudo.
    const deployLogins = (await lab.exec('vps3', ['journalctl', '-q', '--no-pager', '-o', 'cat', 'SYSLOG_IDENTIFIER=sshd'])).stdout.match(/^Accepted publickey for deploy /gm)?.length ?? 0;
    assert.ok(deployLogins >= 1);
    const drift = await runCli(['apply', inventory, '--dry-run', '--detailed-exitcode'], { env });
    assert.equal(drift.code, 0, drift.stdout + drift.stderr);
  });
});
