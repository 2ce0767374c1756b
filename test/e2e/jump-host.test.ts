/**
 * Hosts reachable only through a jump host: a bastion container whose SSH port is published, and two hosts whose
 * ports are not (and that do not answer this machine at their own address either). The site playbook converges them
 * through `ssh_jump` and through `ansible_ssh_common_args='-o ProxyJump=…'`, its fresh logins going the same way; kept
 * connections go through the jump host and serve only runs that jump the same way; the jump host's key is checked
 * like any host's; ~/.ssh/config (as `ssh_config_file`) names the way; an ssh option provision does not follow stops
 * the run before anything is touched. Outcomes are read in the containers (docker exec: sshd's journal, nft, sshd -T,
 * fail2ban-client).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { startTestHosts, type TestHost, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { writeInventory } from '../support/inventory.ts';
import { scratchDir } from '../support/scratch.ts';
import { addLoginUser } from '../support/users.ts';
import { closedPort } from '../support/ports.ts';
import { HOST_KEYS_COMMAND, parseHostKeys } from '../../src/lab/lab.ts';
import { KEEPER_PROTOCOL } from '../../src/transport/keeper/protocol.ts';

const WRITE = 'test/fixtures/transport/write.ts';
/** No SSH agent: the key file is the only credential, for the hosts and for the jump host alike. */
const NO_AGENT = { SSH_AUTH_SOCK: '' };
/** Firewall sources that do not include the jump host: only the rule kept for the controller's address lets the run in. */
const ELSEWHERE = ['203.0.113.0/24'];

type HostJson = { status: string; error?: string; stats: { connections: number } };

/**
 * Runs the CLI on a terminal (`script` gives it one) and gives `answer` to each host key question as it appears:
 * typed ahead, a second answer would be read by the first question's prompt. Bounded to 2 minutes.
 */
function answerEachQuestion(args: string[], answer: string): Promise<string> {
  const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', args.map(quote).join(' '), '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...NO_AGENT, NO_COLOR: '1', PROVISION_SSH_PERSIST: '0' },
    });
    let output = '';
    let answered = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no end after 2 minutes:\n${output}`));
    }, 120_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const asked = output.split('[y/N]').length - 1;
      for (; answered < asked; answered++) child.stdin.write(`${answer}\n`);
    });
    child.on('close', () => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve(output);
    });
  });
}

describe('hosts reachable only through a jump host', () => {
  let lab: TestHosts;
  let bastion: TestHost;
  let node1: TestHost;
  let node2: TestHost;
  let jump: string;
  let inventory: string;
  let dir: string;

  /** sshd's accepted logins so far on a host, with the address each came from. */
  async function acceptedFrom(name: string): Promise<string[]> {
    const journal = (await lab.exec(name, ['journalctl', '-q', '--no-pager', '-o', 'cat', 'SYSLOG_IDENTIFIER=sshd'])).stdout;
    return [...journal.matchAll(/^Accepted publickey for \S+ from (\S+) /gm)].map((match) => match[1]!);
  }

  /** The accepted logins once journald has written those expected (at most 5 s), and a moment longer. */
  async function acceptedSettled(name: string, atLeast: number): Promise<string[]> {
    const deadline = Date.now() + 5_000;
    while ((await acceptedFrom(name)).length < atLeast && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await new Promise((resolve) => setTimeout(resolve, 300));
    return acceptedFrom(name);
  }

  /** sshd's journal lines about authentication: any login tried leaves one. */
  async function authLines(name: string): Promise<string[]> {
    const { stdout } = await lab.exec(name, ['sh', '-c', 'journalctl -u ssh --no-pager -o cat | grep -E "^(Accepted|Failed|Postponed) |authentication failure" || true']);
    return stdout.split('\n').filter(Boolean);
  }

  async function ed25519Of(name: string): Promise<string> {
    const keys = parseHostKeys((await lab.exec(name, [...HOST_KEYS_COMMAND])).stdout);
    return keys.find((key) => key.startsWith('ssh-ed25519 '))!;
  }

  /** True when a TCP connection from this machine to `address:port` opens within 2 s. */
  function answersDirectly(address: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: address, port });
      const done = (answered: boolean) => {
        socket.destroy();
        resolve(answered);
      };
      socket.setTimeout(2_000, () => done(false));
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    });
  }

  function hostsOf(result: { code: number; stdout: string; stderr: string }): Record<string, HostJson> {
    return parseRun(result).hosts as unknown as Record<string, HostJson>;
  }

  before(async () => {
    lab = await startTestHosts([
      { name: 'bastion', group: 'jump' },
      { name: 'node1', group: 'servers', publish: false },
      { name: 'node2', group: 'servers', publish: false },
    ]);
    [bastion, node1, node2] = ['bastion', 'node1', 'node2'].map((name) => lab.hosts.find((host) => host.name === name)!) as [TestHost, TestHost, TestHost];
    // This machine reaches the hosts' network at its gateway address: the hosts send nothing back there, so that the
    // only way in is through the bastion (their own traffic out still goes through the gateway).
    for (const name of ['node1', 'node2']) {
      const blocked = await lab.exec(name, ['sh', '-c', 'ip route add prohibit "$(ip route show default | cut -d" " -f3)/32"']);
      assert.equal(blocked.exitCode, 0, blocked.stderr);
    }
    await addLoginUser(lab, 'bastion', 'jumper', 'unused-password-for-jumper');
    jump = `root@127.0.0.1:${bastion.sshPort}`;
    dir = scratchDir('provision-jump-test-');
    inventory = writeInventory(lab, {
      only: ['node1', 'node2'],
      vars: { ssh: { authorized_keys: [`${lab.keyFile}.pub`] } },
      hosts: {
        node1: { ssh_jump: jump, firewall: { ssh_from: ELSEWHERE } },
        node2: { ansible_ssh_common_args: `-o ProxyJump=${jump}` },
      },
    });
  });
  after(async () => lab?.stop());

  test('the hosts do not answer this machine at their own address', async () => {
    assert.equal(await answersDirectly(node1.privateIp, 22), false);
    assert.equal(await answersDirectly(node2.privateIp, 22), false);
    assert.equal(await answersDirectly(bastion.privateIp, 22), true, 'the bastion does: the block is the hosts’ own');
  });

  test('an ssh option provision does not follow stops the run with the file and line, before any host is touched', async () => {
    const ini = join(dir, 'hosts.ini');
    writeFileSync(
      ini,
      `[servers]\nnode1 ansible_host=${node1.privateIp} ansible_ssh_private_key_file=${lab.keyFile} ssh_known_hosts_file=${lab.knownHostsFile} ansible_ssh_common_args='-o ProxyJump=${jump} -o ForwardAgent=yes'\n`,
    );
    const before = { bastion: await authLines('bastion'), node1: await authLines('node1') };
    const result = await runCli(['apply', ini, '--yes'], { env: NO_AGENT });
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, new RegExp(`${ini.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2:\\d+: .*ssh option '-o ForwardAgent=yes' is not supported`));
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual({ bastion: await authLines('bastion'), node1: await authLines('node1') }, before, 'no login was tried anywhere');
  });

  test('an error says which hop failed: a jump host that does not answer, one that refuses the key, one that cannot reach the host', async () => {
    const down = await closedPort();
    const inventoryOf = (node1: Record<string, unknown>) => writeInventory(lab, { only: ['node1'], vars: { ssh_connect_retries: 0 }, hosts: { node1 } });
    const errorOf = async (file: string) => {
      const hosts = hostsOf(await runCli(['apply', file, '--playbook', WRITE, '--dry-run', '--json'], { env: NO_AGENT }));
      assert.equal(hosts.node1!.status, 'unreachable');
      return hosts.node1!.error ?? '';
    };
    assert.match(await errorOf(inventoryOf({ ssh_jump: `root@127.0.0.1:${down}` })), new RegExp(`^cannot connect to jump host root@127\\.0\\.0\\.1:${down}: ECONNREFUSED`));
    assert.match(await errorOf(inventoryOf({ ssh_jump: `nobody@127.0.0.1:${bastion.sshPort}` })), new RegExp(`^authentication failed for jump host nobody@127\\.0\\.0\\.1:${bastion.sshPort} \\(tried: publickey\\)$`));
    // The bastion answers for its own network: a port closed there is the host's, named with the hop that tried it.
    assert.match(
      await errorOf(inventoryOf({ ansible_port: 2999, ssh_jump: jump })),
      new RegExp(`^jump host root@127\\.0\\.0\\.1:${bastion.sshPort} could not connect to ${node1.privateIp.replace(/\./g, '\\.')}:2999: Connection refused`),
    );
  });

  test('the site playbook converges both hosts through the jump host (ssh_jump, and -o ProxyJump in ansible_ssh_common_args), its fresh logins too', async () => {
    const result = await runCli(['apply', inventory, '--yes'], { env: NO_AGENT });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    for (const node of [node1, node2]) {
      const name = node.name;
      assert.match((await lab.exec(name, ['nft', 'list', 'tables'])).stdout, /^table inet provision$/m, `${name}: the firewall is on`);
      const effective = (await lab.exec(name, ['/usr/sbin/sshd', '-T'])).stdout.split('\n');
      assert.ok(effective.includes('passwordauthentication no'), `${name}: passwords are off`);
      // Confirmed only by a fresh login made after sshd reloaded: through the bastion, the only way in.
      assert.equal((await lab.exec(name, ['systemctl', 'is-active', 'provision-ssh-rollback.timer'])).stdout.trim(), 'inactive', `${name}: sshd's change was confirmed`);
      // The host sees the controller at the bastion's address: fail2ban never bans it.
      const ignored = (await lab.exec(name, ['fail2ban-client', 'get', 'sshd', 'ignoreip'])).stdout;
      assert.ok(ignored.includes(bastion.privateIp), `${name}: fail2ban ignores the bastion: ${ignored}`);
      const logins = await acceptedSettled(name, 2);
      assert.ok(logins.length >= 2, `${name}: the run's login and its fresh logins: ${logins.join(', ')}`);
      assert.deepEqual([...new Set(logins)], [bastion.privateIp], `${name}: every login came through the bastion`);
    }
    // node1 takes SSH only from elsewhere, and from the address the controller comes from: the bastion's.
    const ruleset = (await lab.exec('node1', ['nft', 'list', 'table', 'inet', 'provision'])).stdout;
    assert.match(ruleset, new RegExp(`ip saddr ${bastion.privateIp.replace(/\./g, '\\.')} tcp dport 22 accept`), ruleset);

    const again = await runCli(['apply', inventory, '--yes', '--json'], { env: NO_AGENT });
    const run = parseRun(again);
    assert.deepEqual([run.summary.changed, run.summary.failed, run.summary.unreachable], [0, 0, 0], again.stdout);
  });

  test('a kept connection goes through the same jump host, and serves only runs that jump the same way', async () => {
    const keeperDir = join(dir, 'keeper');
    const socket = join(keeperDir, `keeper-${KEEPER_PROTOCOL}.sock`);
    const env = { ...NO_AGENT, PROVISION_KEEPER_DIR: keeperDir, PROVISION_SSH_PERSIST: '30s' };
    const apply = async (file: string) => {
      const result = await runCli(['apply', file, '--playbook', WRITE, '--yes', '--json'], { env });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const hosts = hostsOf(result);
      assert.deepEqual([hosts.node1!.status, hosts.node2!.status], ['ok', 'ok'], 'nothing changed: the connections may be kept');
      return { node1: hosts.node1!.stats.connections, node2: hosts.node2!.stats.connections };
    };
    // The file in place first, without keeping anything: the runs below then change nothing.
    const write = await runCli(['apply', inventory, '--playbook', WRITE, '--yes'], { env: NO_AGENT });
    assert.equal(write.code, 0, write.stdout + write.stderr);
    // The first run connects directly and starts the keeper; the second logs in through it; the third is served.
    assert.deepEqual(await apply(inventory), { node1: 1, node2: 1 });
    const deadline = Date.now() + 15_000;
    while (!(existsSync(socket) && existsSync(`${socket}.pid`)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const keeper = Number(readFileSync(`${socket}.pid`, 'utf8'));
    try {
      assert.deepEqual(await apply(inventory), { node1: 1, node2: 1 });
      const bastionLogins = (await acceptedSettled('bastion', 0)).length;
      assert.deepEqual(await apply(inventory), { node1: 0, node2: 0 });
      assert.equal((await acceptedSettled('bastion', bastionLogins)).length, bastionLogins, 'no new login at the bastion either');
      // Another user at the bastion is another way in: node1 logs in afresh, node2 is still served.
      const otherJump = writeInventory(lab, {
        only: ['node1', 'node2'],
        hosts: { node1: { ssh_jump: `jumper@127.0.0.1:${bastion.sshPort}` }, node2: { ansible_ssh_common_args: `-o ProxyJump=${jump}` } },
      });
      assert.deepEqual(await apply(otherJump), { node1: 1, node2: 0 });
      assert.ok((await acceptedFrom('bastion')).length > bastionLogins);
      assert.ok((await lab.exec('bastion', ['sh', '-c', 'journalctl -q --no-pager -o cat SYSLOG_IDENTIFIER=sshd | grep -c "^Accepted publickey for jumper "'])).stdout.trim() !== '0');
    } finally {
      process.kill(keeper, 'SIGTERM');
    }
  });

  test("the jump host's key is checked like any host's: not known under strict, changed, and asked about on a terminal before the host's own", async () => {
    const bastionKey = await ed25519Of('bastion');
    const nodeKey = await ed25519Of('node1');
    const knownFile = (name: string, content: string) => {
      const file = join(dir, name, 'known_hosts');
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(file, content);
      return file;
    };
    const nodeLine = `${node1.privateIp} ${nodeKey}\n`;
    const dryRun = async (knownHosts: string, checking: string) => {
      const file = writeInventory(lab, { only: ['node1'], vars: { ssh_known_hosts_file: knownHosts, ssh_host_key_checking: checking }, hosts: { node1: { ssh_jump: jump } } });
      const result = await runCli(['apply', file, '--playbook', WRITE, '--dry-run', '--json'], { env: NO_AGENT });
      return hostsOf(result).node1!;
    };
    const before = await authLines('bastion');
    const unknown = await dryRun(knownFile('strict', nodeLine), 'strict');
    assert.equal(unknown.status, 'unreachable');
    assert.match(unknown.error ?? '', new RegExp(`^jump host root@127\\.0\\.0\\.1:${bastion.sshPort}: host key for \\[127\\.0\\.0\\.1\\]:${bastion.sshPort} is not in .* \\(ssh_host_key_checking: strict\\)`));
    const stale = `[127.0.0.1]:${bastion.sshPort} ${await ed25519Of('node2')}\n`;
    const changedFile = knownFile('changed', `${stale}${nodeLine}`);
    const changed = await dryRun(changedFile, 'accept-new');
    assert.match(changed.error ?? '', new RegExp(`^jump host root@127\\.0\\.0\\.1:${bastion.sshPort}: HOST KEY CHANGED for \\[127\\.0\\.0\\.1\\]:${bastion.sshPort}`));
    assert.equal(readFileSync(changedFile, 'utf8'), `${stale}${nodeLine}`, 'known_hosts is left as it was');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(await authLines('bastion'), before, 'nothing was sent to the bastion');


    // First contact with both, under ask on a terminal, the way written in an ssh config file: the bastion is asked
    // about first (nothing can go through it before), then the host behind it.
    const config = join(dir, 'ssh_config');
    writeFileSync(
      config,
      [
        'Host jumped-*',
        `  HostName ${node1.privateIp}`,
        '  ProxyJump the-bastion',
        `  IdentityFile ${lab.keyFile}`,
        '  User root',
        'Host the-bastion',
        '  HostName 127.0.0.1',
        `  Port ${bastion.sshPort}`,
        '  User root',
        '',
      ].join('\n'),
    );
    const knownHosts = join(dir, 'ask', 'known_hosts');
    const file = writeInventory(lab, {
      only: ['node1'],
      vars: { ansible_user: null, ansible_ssh_private_key_file: null, ssh_known_hosts_file: knownHosts, ssh_host_key_checking: null, ssh_config_file: config },
      hosts: { node1: { ansible_host: 'jumped-node1', ansible_port: null } },
    });
    const output = await answerEachQuestion(['node', 'bin/provision.js', 'apply', file, '--dry-run', '--playbook', WRITE], 'y');
    const bastionQuestion = output.search(new RegExp(`jump host of node1 +\\[127\\.0\\.0\\.1\\]:${bastion.sshPort} +ssh-ed25519`));
    const nodeQuestion = output.search(new RegExp(`node1 +${node1.privateIp.replace(/\./g, '\\.')} +ssh-ed25519`));
    assert.ok(bastionQuestion >= 0 && nodeQuestion > bastionQuestion, output);
    // Reached: the file written by the test above is in place.
    assert.match(output, /node1 +ok=1 +would-change=0 +failed=0 +skipped=0 +unreachable=0/);
    assert.equal(readFileSync(knownHosts, 'utf8'), `[127.0.0.1]:${bastion.sshPort} ${bastionKey}\n${node1.privateIp} ${nodeKey}\n`);
  });
});
