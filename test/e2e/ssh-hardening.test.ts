/** Key-only SSH on real hosts, and every way the task refuses to lock the operator out. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { writeInventory } from '../support/inventory.ts';
import { tryLogin } from '../support/ssh-probe.ts';
import { startResetProxy } from '../support/reset-proxy.ts';

const PLAYBOOK = 'test/fixtures/playbooks/ssh.ts';
const PASSWORD = 'correct horse battery staple';
const HARDENED = [
  'passwordauthentication no',
  'kbdinteractiveauthentication no',
  'permitemptypasswords no',
  'pubkeyauthentication yes',
  'authenticationmethods publickey',
  'maxauthtries 3',
  'logingracetime 30',
  'x11forwarding no',
];

/** Polls `check` every 250 ms until it is true or `limitMs` passes; returns the time it became true, or null. */
async function waitFor(check: () => Promise<boolean>, limitMs: number): Promise<number | null> {
  for (const started = Date.now(); Date.now() - started < limitMs; await new Promise((resolve) => setTimeout(resolve, 250))) {
    if (await check()) return Date.now();
  }
  return null;
}

async function sshdT(lab: TestHosts, name: string): Promise<string[]> {
  return (await lab.exec(name, ['/usr/sbin/sshd', '-T'])).stdout.split('\n');
}

async function sshState(lab: TestHosts, name: string): Promise<string> {
  const script = 'cat /etc/ssh/sshd_config /etc/ssh/sshd_config.d/* /root/.ssh/authorized_keys 2>/dev/null | sha256sum; getent passwd | sha256sum; ls -la /etc/sudoers.d | sha256sum';
  return (await lab.exec(name, ['sh', '-c', script])).stdout;
}

/** A user with a password, and sshd allowing password logins (as a fresh VPS or cloud image would). */
async function allowPasswords(lab: TestHosts, name: string): Promise<void> {
  const script = `id alice >/dev/null 2>&1 || useradd -m alice; echo 'alice:${PASSWORD}' | chpasswd; echo 'root:${PASSWORD}' | chpasswd
printf 'PasswordAuthentication yes\\n' > /etc/ssh/sshd_config.d/50-cloud-init.conf
systemctl reload ssh`;
  const result = await lab.exec(name, ['sh', '-c', script]);
  assert.equal(result.exitCode, 0, result.stderr);
}

describe('key-only SSH', () => {
  let lab: TestHosts;
  before(async () => {
    lab = await startTestHosts([
      { name: 'node1', group: 'nodes' },
      { name: 'node2', group: 'nodes' },
    ]);
  });
  after(async () => lab?.stop());

  test('a host whose image re-enables passwords in a drop-in ends up key-only all the same', async () => {
    await allowPasswords(lab, 'node1');
    const port = lab.hosts.find((host) => host.name === 'node1')!.sshPort;
    assert.equal(await tryLogin({ port, user: 'alice', password: PASSWORD }), 'accepted', 'the password works before');

    const inventory = writeInventory(lab, { only: ['node1'] });
    const before = await sshState(lab, 'node1');
    const dry = await runCli(['apply', inventory, '--dry-run', '--playbook', PLAYBOOK]);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /effective passwordauthentication: yes → no/);
    assert.match(dry.stdout, /\+PasswordAuthentication no/);
    assert.equal(await sshState(lab, 'node1'), before, 'the dry run changed nothing');

    const applied = await runCli(['apply', inventory, '--yes', '--playbook', PLAYBOOK]);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    const effective = await sshdT(lab, 'node1');
    for (const setting of HARDENED) assert.ok(effective.includes(setting), `sshd -T lacks "${setting}"`);
    assert.ok(effective.includes('permitrootlogin without-password'));
    assert.equal(await tryLogin({ port, user: 'alice', password: PASSWORD }), 'rejected', 'a real password login is rejected');
    assert.equal(await tryLogin({ port, user: 'root', privateKey: readFileSync(lab.keyFile, 'utf8') }), 'accepted', 'the key still logs in');
    assert.equal((await lab.exec('node1', ['cat', '/etc/ssh/sshd_config.d/50-cloud-init.conf'])).stdout, 'PasswordAuthentication yes\n');

    const second = parseRun(await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]));
    assert.equal(second.summary.changed, 0);
    assert.equal(second.hosts.node1?.stats.connections, 1);
  });

  test('a run whose key is not authorized refuses, says why, and changes nothing', async () => {
    await allowPasswords(lab, 'node2');
    await lab.exec('node2', ['sh', '-c', `printf 'PermitRootLogin yes\\n' > /etc/ssh/sshd_config.d/40-root.conf && : > /root/.ssh/authorized_keys && systemctl reload ssh`]);
    const inventory = writeInventory(lab, { only: ['node2'], vars: { ansible_password: '${ROOT_PASSWORD}' } });
    const before = await sshState(lab, 'node2');
    const result = await runCli(['apply', inventory, '--yes', '--playbook', PLAYBOOK], { env: { ROOT_PASSWORD: PASSWORD } });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /refusing to disable password logins on node2: none of this run's keys .* is authorized for root/);
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(PASSWORD));
    assert.equal(await sshState(lab, 'node2'), before);
  });

  test('first contact by password: the run installs the key, proves it, then disables passwords', async () => {
    const inventory = writeInventory(lab, {
      only: ['node2'],
      vars: { ansible_password: '${ROOT_PASSWORD}', ssh: { authorized_keys: [`${lab.keyFile}.pub`] } },
    });
    const result = await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK], { env: { ROOT_PASSWORD: PASSWORD } });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(PASSWORD));
    const publicKey = readFileSync(`${lab.keyFile}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
    assert.match((await lab.exec('node2', ['cat', '/root/.ssh/authorized_keys'])).stdout, new RegExp(publicKey.replace(/[+/]/g, '\\$&')));
    const port = lab.hosts.find((host) => host.name === 'node2')!.sshPort;
    assert.equal(await tryLogin({ port, user: 'root', password: PASSWORD }), 'rejected');
    const keyOnly = writeInventory(lab, { only: ['node2'], vars: { ssh: { authorized_keys: [`${lab.keyFile}.pub`] } } });
    const second = parseRun(await runCli(['apply', keyOnly, '--yes', '--json', '--playbook', PLAYBOOK]));
    assert.equal(second.summary.changed, 0);
    assert.equal(second.summary.failed, 0);
  });

  test('an admin user is created with the keys and passwordless sudo, and root logins end', async () => {
    const inventory = writeInventory(lab, { only: ['node1'], vars: { ssh: { admin_user: 'deploy', authorized_keys: [`${lab.keyFile}.pub`] } } });
    const result = await runCli(['apply', inventory, '--yes', '--playbook', PLAYBOOK]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /NOTICE: .*root can no longer log in to node1 over SSH: set ansible_user: deploy and ansible_become: true/);
    const port = lab.hosts.find((host) => host.name === 'node1')!.sshPort;
    const key = readFileSync(lab.keyFile, 'utf8');
    assert.equal(await tryLogin({ port, user: 'root', privateKey: key }), 'rejected');
    assert.equal(await tryLogin({ port, user: 'deploy', privateKey: key }), 'accepted');
    assert.ok((await sshdT(lab, 'node1')).includes('permitrootlogin no'));
    assert.match((await lab.exec('node1', ['id', '-nG', 'deploy'])).stdout, /\bsudo\b/);
    assert.equal((await lab.exec('node1', ['su', '-s', '/bin/sh', 'deploy', '-c', 'sudo -n true'])).exitCode, 0);

    const asDeploy = writeInventory(lab, {
      only: ['node1'],
      vars: { ansible_user: 'deploy', ansible_become: true, ssh: { admin_user: 'deploy', authorized_keys: [`${lab.keyFile}.pub`] } },
    });
    const second = parseRun(await runCli(['apply', asDeploy, '--yes', '--json', '--playbook', PLAYBOOK]));
    assert.equal(second.summary.failed, 0, JSON.stringify(second.hosts));
    assert.equal(second.summary.changed, 0, JSON.stringify(second.hosts));
  });

  test('a port the new login cannot reach is rolled back: the old configuration is restored and the host stays reachable', async () => {
    const inventory = writeInventory(lab, { only: ['node2'], vars: { ssh: { port: 2222 } } });
    const before = (await lab.exec('node2', ['cat', '/etc/ssh/sshd_config'])).stdout;
    // Only port 22 is published to 127.0.0.1, so the proof login on 2222 must fail.
    const result = await runCli(['apply', inventory, '--yes', '--playbook', PLAYBOOK]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /a new SSH login as root on port 2222 with the key failed/);
    assert.match(result.stdout, /the previous state was restored/);
    assert.equal((await lab.exec('node2', ['cat', '/etc/ssh/sshd_config'])).stdout, before);
    assert.ok((await sshdT(lab, 'node2')).includes('port 22'));
    const again = await runCli(['apply', writeInventory(lab, { only: ['node2'] }), '--dry-run', '--playbook', PLAYBOOK]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
  });
});

describe('moving sshd to another port', () => {
  let lab: TestHosts;
  before(async () => {
    lab = await startTestHosts([
      { name: 'mover', group: 'nodes' },
      { name: 'socketed', group: 'nodes' },
    ]);
  });
  after(async () => lab?.stop());

  /** An inventory that reaches the host at its own address (not the 127.0.0.1 forward, which only carries port 22). */
  function direct(name: string, extra: Record<string, unknown> = {}): string {
    const host = lab.hosts.find((candidate) => candidate.name === name)!;
    return writeInventory(lab, {
      only: [name],
      vars: { ssh_host_key_checking: 'accept-new', ssh_known_hosts_file: `${lab.knownHostsFile}.${name}`, ssh: { port: 2222 } },
      hosts: { [name]: { ansible_host: host.privateIp, ansible_port: 22, ...extra } },
    });
  }

  test('the new port is proven by a new login, the operator is told, and the next run finds the host there', async () => {
    const host = lab.hosts.find((candidate) => candidate.name === 'mover')!;
    const inventory = direct('mover');
    const result = await runCli(['apply', inventory, '--yes', '--playbook', PLAYBOOK]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /NOTICE: sshd on mover now listens on port 2222: set ansible_port: 2222/);
    assert.deepEqual((await sshdT(lab, 'mover')).filter((line) => line.startsWith('port ')), ['port 2222']);
    const key = readFileSync(lab.keyFile, 'utf8');
    assert.equal(await tryLogin({ host: host.privateIp, port: 2222, user: 'root', privateKey: key }), 'accepted');
    assert.equal(await tryLogin({ host: host.privateIp, port: 22, user: 'root', privateKey: key }), 'unreachable');
    // The inventory still says 22: the run falls back to ssh.port.
    const second = parseRun(await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]));
    assert.equal(second.summary.unreachable, 0);
    assert.equal(second.summary.changed, 0);
  });

  test('under socket activation (ssh.socket) a port change is not silently ignored', async () => {
    const host = lab.hosts.find((candidate) => candidate.name === 'socketed')!;
    const toSocket = await lab.exec('socketed', ['sh', '-c', 'systemctl disable --now ssh.service && systemctl enable --now ssh.socket']);
    assert.equal(toSocket.exitCode, 0, toSocket.stderr);
    const result = await runCli(['apply', direct('socketed'), '--yes', '--playbook', PLAYBOOK]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const listening = (await lab.exec('socketed', ['ss', '-ltnH'])).stdout;
    assert.match(listening, /:2222\b/);
    assert.doesNotMatch(listening, /:22\b/);
    assert.equal(await tryLogin({ host: host.privateIp, port: 2222, user: 'root', privateKey: readFileSync(lab.keyFile, 'utf8') }), 'accepted');
  });
});

describe('fresh logins behind a port proxy while sshd re-executes', () => {
  let lab: TestHosts;
  before(async () => {
    lab = await startTestHosts([{ name: 'proxied', group: 'nodes' }]);
  });
  after(async () => lab?.stop());

  /** An inventory that reaches the host through the proxy on `port`. */
  function throughProxy(port: number, ssh: Record<string, unknown> = {}): string {
    return writeInventory(lab, {
      vars: { ssh_host_key_checking: 'accept-new', ssh_known_hosts_file: `${lab.knownHostsFile}.proxied`, ssh },
      hosts: { proxied: { ansible_port: port } },
    });
  }

  test('resets before sshd\'s banner, right before and after the reload, are retried and the change goes through', async () => {
    const sshPort = lab.hosts[0]!.sshPort;
    // 1 is the run's own connection; the proof logins before (2-5) and after the reload (7-10) are reset first: more
    // times than ssh_connect_retries would try.
    const proxy = await startResetProxy(sshPort, (n) => ([2, 3, 4, 5, 7, 8, 9, 10].includes(n) ? 'reset' : 'forward'));
    try {
      const result = await runCli(['apply', throughProxy(proxy.port), '--yes', '--playbook', PLAYBOOK]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal(proxy.resets, 8);
      assert.ok((await sshdT(lab, 'proxied')).includes('passwordauthentication no'));
    } finally {
      await proxy.close();
    }
  });

  test('when every new login is reset, the guard gives up after its window, restores the old configuration and says what it tried', async () => {
    const sshPort = lab.hosts[0]!.sshPort;
    const before = (await lab.exec('proxied', ['cat', '/etc/ssh/sshd_config'])).stdout;
    // The run's connection and the proof before the change get through; every login after the reload is reset.
    const proxy = await startResetProxy(sshPort, (n) => (n <= 2 ? 'forward' : 'reset'));
    try {
      const started = Date.now();
      const result = await runCli(['apply', throughProxy(proxy.port, { max_auth_tries: 4 }), '--yes', '--playbook', PLAYBOOK]);
      const elapsed = Date.now() - started;
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stdout, /a new SSH login as root on port \d+ with the key failed: .*closed the connection before sshd's banner \((read )?ECONNRESET\) \(tried \d+ times over \d+\.\d s, retrying for up to 10 s\)/);
      assert.match(result.stdout, /the previous state was restored/);
      assert.ok(proxy.resets >= 4, `retried: ${proxy.resets} resets`);
      assert.ok(elapsed >= 9_000, `kept trying for the window (${elapsed} ms)`);
      assert.equal((await lab.exec('proxied', ['cat', '/etc/ssh/sshd_config'])).stdout, before);
      assert.ok((await sshdT(lab, 'proxied')).includes('maxauthtries 3'));
      assert.equal((await lab.exec('proxied', ['systemctl', 'is-active', 'provision-ssh-rollback.timer'])).stdout.trim(), 'inactive', 'the host timer was disarmed');
    } finally {
      await proxy.close();
    }
  });

  test('when the run dies after sshd reloaded, the host restores the previous configuration by itself', async () => {
    const sshPort = lab.hosts[0]!.sshPort;
    const before = (await lab.exec('proxied', ['cat', '/etc/ssh/sshd_config'])).stdout;
    // The proof after the reload never gets through, so the run is still waiting for it when it is killed.
    const proxy = await startResetProxy(sshPort, (n) => (n <= 2 ? 'forward' : 'reset'));
    const abort = new AbortController();
    try {
      const run = runCli(['apply', throughProxy(proxy.port, { max_auth_tries: 5, rollback_after: '10s' }), '--yes', '--playbook', PLAYBOOK], { signal: abort.signal });
      const written = await waitFor(async () => (await lab.exec('proxied', ['cat', '/etc/ssh/sshd_config'])).stdout.includes('MaxAuthTries 5'), 60_000);
      assert.ok(written, 'the new configuration was written');
      abort.abort();
      await run;
      // The script writes its marker last, after the file is back and sshd has read it.
      const restored = await waitFor(async () => (await lab.exec('proxied', ['cat', '/var/lib/provision/ssh/rolled-back'])).stdout.trim() === 'timer', 25_000);
      assert.ok(restored, 'the host\'s timer restored the previous configuration');
      assert.ok(restored - written <= 20_000, `restored ${restored - written} ms after the write (timer 10 s)`);
      assert.equal((await lab.exec('proxied', ['cat', '/etc/ssh/sshd_config'])).stdout, before);
      assert.ok((await sshdT(lab, 'proxied')).includes('maxauthtries 3'), 'sshd was reloaded with it');
    } finally {
      abort.abort();
      await proxy.close();
    }
  });
});
