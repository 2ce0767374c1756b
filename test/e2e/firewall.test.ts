/**
 * The firewall on real hosts: default deny with only the roles' ports open (probed from other containers), the node
 * API only from the balancer, fail2ban's table untouched, drift repaired, idempotence, a dry run that changes nothing,
 * and the commit-confirmed rollback: by provision while its session lives, by the host's own timer when it does not.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestHosts, type ExecOutput, type TestHost, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { writeInventory } from '../support/inventory.ts';
import { tryLogin } from '../support/ssh-probe.ts';
import { CUT_OFF_COMMENT } from '../fixtures/firewall/cut-off-playbook.ts';
import { tableOfConfigFile } from '../../tasks/firewall/render.ts';

const PLAYBOOK = 'test/fixtures/playbooks/firewall.ts';
const CUT_OFF = 'test/fixtures/firewall/cut-off-playbook.ts';
const CONFIG = '/etc/nftables.d/provision.nft';

/** A stand-in for fail2ban's table, as its nftables actions create it (a chain hooked before ours, one ban). */
const F2B_TABLE = `table inet f2b-table {
  chain f2b-chain {
    type filter hook input priority filter - 1; policy accept;
    ip saddr 192.0.2.66 drop
  }
}
`;

/** Listeners on node1: ports the roles open and a port nobody opens, TCP and UDP (each UDP listener logs what it gets). */
const NODE_LISTENERS = [
  'systemd-run --unit=listen-8080 nc -lk 8080',
  'systemd-run --unit=listen-15600 nc -lk 15600',
  'systemd-run --unit=listen-14265 nc -lk 14265',
  "systemd-run --unit=listen-14626 sh -c 'nc -lu 14626 > /tmp/udp-14626.txt'",
  "systemd-run --unit=listen-9999 sh -c 'nc -lu 9999 > /tmp/udp-9999.txt'",
];

/** A checksum of everything a run could touch, the ruleset included, read through docker exec. */
async function hostState(lab: TestHosts, name: string): Promise<string> {
  const { stdout } = await lab.exec(name, [
    'sh',
    '-c',
    'find /etc /var/lib/provision -xdev -printf "%p %m %u %g %s\\n" 2>/dev/null | sort | sha256sum; ' +
      'find /etc -xdev -type f -exec sha256sum {} + 2>/dev/null | sort | sha256sum; ' +
      'dpkg-query -W -f "\\${Package} \\${Status}\\n" | sha256sum; systemctl list-unit-files --state=enabled --no-legend | sha256sum; ' +
      '(nft list ruleset 2>/dev/null || echo no-nft) | sha256sum; systemctl list-timers --all --no-legend | grep -c provision || true',
  ]);
  return stdout;
}

async function mustExec(lab: TestHosts, name: string, command: string[]): Promise<ExecOutput> {
  const result = await lab.exec(name, command);
  assert.equal(result.exitCode, 0, `${command.join(' ')} in ${name}: ${result.stderr || result.stdout}`);
  return result;
}

/** True when a TCP connection from `from` to address:port completes within 3 s (a dropped SYN times out). */
async function tcpOpen(lab: TestHosts, from: string, address: string, port: number): Promise<boolean> {
  const result = await lab.exec(from, ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${address}/${port}`]);
  return result.exitCode === 0;
}

/** The live table, or '' when it is not loaded. */
async function liveTable(lab: TestHosts, name: string): Promise<string> {
  const result = await lab.exec(name, ['nft', 'list', 'table', 'inet', 'provision']);
  return result.exitCode === 0 ? result.stdout : '';
}

/** Every table but provision's, listed one by one. */
async function otherTables(lab: TestHosts, name: string): Promise<string> {
  const script = "nft list tables | grep -vxF 'table inet provision' | while read -r _ family table; do nft list table \"$family\" \"$table\"; done";
  return (await mustExec(lab, name, ['sh', '-c', script])).stdout;
}

/** Polls `check` every 250 ms until it is true or `limitMs` passes; returns the time it became true, or null. */
async function waitFor(check: () => Promise<boolean>, limitMs: number): Promise<number | null> {
  for (const started = Date.now(); Date.now() - started < limitMs; await new Promise((resolve) => setTimeout(resolve, 250))) {
    if (await check()) return Date.now();
  }
  return null;
}

/** How many times the host's own rollback timer has restored the table (the transient unit logs each time). */
async function timerRestores(lab: TestHosts): Promise<number> {
  const { stdout } = await lab.exec('node1', ['journalctl', '-u', 'provision-firewall-rollback.service', '--no-pager', '-o', 'cat']);
  return stdout.split('\n').filter((line) => line.includes('rolled back by timer')).length;
}

describe('a default-deny firewall that opens only the ports in use, applied with an automatic rollback', () => {
  let lab: TestHosts;
  let node: TestHost;
  let balancer: TestHost;
  let inventory: string;
  /** The controller's address as node1 sees it: the network's gateway. */
  let controller: string;

  before(async () => {
    lab = await startTestHosts([
      { name: 'node1', group: 'nodes' },
      { name: 'balancer1', group: 'balancers' },
      { name: 'outsider', group: 'outsiders' },
    ]);
    node = lab.hosts.find((host) => host.name === 'node1')!;
    balancer = lab.hosts.find((host) => host.name === 'balancer1')!;
    inventory = writeInventory(lab, { only: ['node1', 'balancer1'] });
    const install = (packages: string) =>
      `DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${packages} >/dev/null`;
    // node1 gets nft now for fail2ban's stand-in table; balancer1 gets it from the firewall play.
    await Promise.all([
      mustExec(lab, 'node1', ['sh', '-c', install('netcat-openbsd nftables')]),
      mustExec(lab, 'balancer1', ['sh', '-c', install('netcat-openbsd')]),
    ]);
    await mustExec(lab, 'node1', ['sh', '-c', [...NODE_LISTENERS, `printf '%s' '${F2B_TABLE}' | nft -f -`].join(' && ')]);
    await mustExec(lab, 'balancer1', ['systemd-run', '--unit=listen-80', 'nc', '-lk', '80']);
    controller = (await mustExec(lab, 'node1', ['sh', '-c', "ip -4 route show default | awk '{print $3}'"])).stdout.trim();
    assert.match(controller, /^\d+\.\d+\.\d+\.\d+$/);
  });
  after(async () => lab?.stop());

  test('a dry run shows the ruleset each host would load and changes nothing, the ruleset included', async () => {
    const before = await Promise.all(['node1', 'balancer1'].map((name) => hostState(lab, name)));
    const dry = await runCli(['apply', inventory, '--dry-run', '--detailed-exitcode', '--playbook', PLAYBOOK]);
    assert.equal(dry.code, 3, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /\+\+\+ b\/\(nft list table inet provision\)/);
    assert.match(dry.stdout, /\+\t\ttype filter hook input priority filter; policy drop;/);
    assert.match(dry.stdout, /\+\t\ttcp dport 15600 accept comment "node: gossip"/);
    assert.match(dry.stdout, new RegExp(`\\+\\t\\tip saddr ${balancer.privateIp.replaceAll('.', '\\.')} tcp dport 14265 accept comment "node API from balancer1"`));
    assert.match(dry.stdout, /\+\t\ttcp dport 443 accept comment "balancer: https"/);
    // Docker's embedded DNS keeps its own `ip nat` table in every container: another table to leave alone.
    assert.match(dry.stdout, /other tables, left as they are: ([\w-]+ [\w-]+, )*inet f2b-table\n/);
    assert.match(dry.stdout, /arms a timer that restores it in 60s/);
    assert.deepEqual(await Promise.all(['node1', 'balancer1'].map((name) => hostState(lab, name))), before);
  });

  test('apply opens SSH and the roles\' ports, nothing else; the API only to the balancer; fail2ban\'s table stays; a second run changes nothing', async () => {
    const othersBefore = await otherTables(lab, 'node1');
    assert.ok(othersBefore.includes('table inet f2b-table {'), othersBefore);
    const first = await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]);
    assert.equal(first.code, 0, first.stdout + first.stderr);

    // The kernel holds exactly the table written in the file: the plan's "after" is what nft lists.
    for (const name of ['node1', 'balancer1']) {
      const file = (await mustExec(lab, name, ['cat', CONFIG])).stdout;
      assert.equal(await liveTable(lab, name), tableOfConfigFile(file), `${name}: nft list equals the rendered table`);
      assert.equal((await lab.exec(name, ['systemctl', 'is-enabled', 'provision-firewall'])).stdout.trim(), 'enabled');
      assert.equal((await lab.exec(name, ['systemctl', 'is-active', 'provision-firewall'])).stdout.trim(), 'active');
      assert.equal((await lab.exec(name, ['systemctl', 'is-active', 'provision-firewall-rollback.timer'])).stdout.trim(), 'inactive', 'the rollback was disarmed');
    }
    // fail2ban's table and Docker's (ip nat, for the embedded DNS) are exactly as they were.
    assert.equal(await otherTables(lab, 'node1'), othersBefore);

    const probes = await Promise.all([
      tcpOpen(lab, 'outsider', node.privateIp, 22),
      tcpOpen(lab, 'outsider', node.privateIp, 15600),
      tcpOpen(lab, 'outsider', node.privateIp, 8080),
      tcpOpen(lab, 'outsider', node.privateIp, 14265),
      tcpOpen(lab, 'balancer1', node.privateIp, 14265),
      tcpOpen(lab, 'node1', '127.0.0.1', 14265),
      tcpOpen(lab, 'node1', node.privateIp, 14265),
      tcpOpen(lab, 'outsider', balancer.privateIp, 80),
      tcpOpen(lab, 'outsider', balancer.privateIp, 22),
    ]);
    assert.deepEqual(probes, [true, true, false, false, true, true, true, true, true], 'ssh, gossip open; 8080 and the API closed to outsiders; the API open to the balancer and over loopback; 80 and ssh on the balancer');
    await mustExec(lab, 'outsider', ['bash', '-c', `echo autopeering > /dev/udp/${node.privateIp}/14626; echo nobody > /dev/udp/${node.privateIp}/9999`]);
    const received = await waitFor(async () => (await lab.exec('node1', ['cat', '/tmp/udp-14626.txt'])).stdout.includes('autopeering'), 3000);
    assert.ok(received, 'autopeering (UDP) gets through');
    assert.equal((await lab.exec('node1', ['cat', '/tmp/udp-9999.txt'])).stdout, '', 'a UDP port nobody uses stays closed');

    const second = parseRun(await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]));
    assert.equal(second.summary.changed, 0);
    assert.equal(second.summary.failed, 0);
    const drift = await runCli(['apply', inventory, '--dry-run', '--detailed-exitcode', '--playbook', PLAYBOOK]);
    assert.equal(drift.code, 0, drift.stdout);

    // What boot does: the unit loads the file, replacing only our table.
    const loaded = await liveTable(lab, 'node1');
    await mustExec(lab, 'node1', ['sh', '-c', 'nft delete table inet provision && systemctl restart provision-firewall']);
    assert.equal(await liveTable(lab, 'node1'), loaded);
    assert.equal(await otherTables(lab, 'node1'), othersBefore);
  });

  test('a table deleted outside provision is reloaded from the unchanged file', async () => {
    const loaded = await liveTable(lab, 'node1');
    await mustExec(lab, 'node1', ['nft', 'delete', 'table', 'inet', 'provision']);
    const dry = await runCli(['apply', inventory, '--dry-run', '--detailed-exitcode', '--playbook', PLAYBOOK, '--limit', 'node1']);
    assert.equal(dry.code, 3, dry.stdout);
    assert.match(dry.stdout, /table inet provision is not loaded although \/etc\/nftables\.d\/provision\.nft is in place/);
    const applied = await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK, '--limit', 'node1']);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    assert.equal(await liveTable(lab, 'node1'), loaded);
    assert.equal(parseRun(await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK, '--limit', 'node1'])).summary.changed, 0);
  });

  test('the load record stands in for the scratch load only while the live table and the file both match it', async () => {
    const loaded = await liveTable(lab, 'node1');
    const sum = (await mustExec(lab, 'node1', ['sha256sum', CONFIG])).stdout.split(' ')[0];
    assert.equal((await mustExec(lab, 'node1', ['cat', '/var/lib/provision/firewall/loaded'])).stdout, `${sum}\n${loaded}`);
    // unshare, wrapped so that each scratch load leaves a line behind.
    await mustExec(lab, 'node1', ['sh', '-c', 'mv /usr/bin/unshare /usr/bin/unshare.real && printf \'#!/bin/sh\\necho "$*" >>/tmp/unshare.log\\nexec /usr/bin/unshare.real "$@"\\n\' >/usr/bin/unshare && chmod 755 /usr/bin/unshare && rm -f /tmp/unshare.log']);
    const scratchLoads = async () => (await lab.exec('node1', ['sh', '-c', 'cat /tmp/unshare.log 2>/dev/null'])).stdout;
    try {
      const unchanged = await runCli(['apply', inventory, '--dry-run', '--detailed-exitcode', '--playbook', PLAYBOOK, '--limit', 'node1']);
      assert.equal(unchanged.code, 0, unchanged.stdout);
      assert.equal(await scratchLoads(), '', 'the record vouched for the file');

      await mustExec(lab, 'node1', ['nft', 'add', 'rule', 'inet', 'provision', 'input', 'tcp', 'dport', '9999', 'accept']);
      const drifted = await runCli(['apply', inventory, '--dry-run', '--detailed-exitcode', '--playbook', PLAYBOOK, '--limit', 'node1']);
      assert.equal(drifted.code, 3, drifted.stdout);
      assert.match(drifted.stdout, /the loaded table inet provision differs from \/etc\/nftables\.d\/provision\.nft \(changed outside provision\)/);
      assert.match(drifted.stdout, /^ +-\t\ttcp dport 9999 accept$/m);
      assert.match(await scratchLoads(), /--net sh -c/, 'a live table unlike the record: the file was loaded in a scratch namespace');

      const applied = await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK, '--limit', 'node1']);
      assert.equal(applied.code, 0, applied.stdout + applied.stderr);
      assert.equal(await liveTable(lab, 'node1'), loaded);
      assert.equal((await mustExec(lab, 'node1', ['cat', '/var/lib/provision/firewall/loaded'])).stdout, `${sum}\n${loaded}`);
    } finally {
      await mustExec(lab, 'node1', ['mv', '/usr/bin/unshare.real', '/usr/bin/unshare']);
    }
  });

  test('ssh_from that leaves out every container still lets the controller in', async () => {
    const restricted = writeInventory(lab, { only: ['node1'], vars: { firewall: { ssh_from: ['192.0.2.0/24'] } } });
    const applied = await runCli(['apply', restricted, '--yes', '--json', '--playbook', PLAYBOOK]);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    assert.match(await liveTable(lab, 'node1'), new RegExp(`ip saddr ${controller.replaceAll('.', '\\.')} tcp dport 22 accept comment "ssh from the controller"`));
    assert.equal(await tcpOpen(lab, 'outsider', node.privateIp, 22), false, 'the outsider no longer reaches SSH');
    assert.equal(await tryLogin({ port: node.sshPort, user: 'root', privateKey: readFileSync(lab.keyFile, 'utf8') }), 'accepted');
  });

  test('rules that refuse the controller\'s new logins are rolled back at once by provision, and the run fails', async () => {
    const tableBefore = await liveTable(lab, 'node1');
    const fileBefore = (await mustExec(lab, 'node1', ['cat', CONFIG])).stdout;
    const restoresBefore = await timerRestores(lab);
    const quick = writeInventory(lab, { only: ['node1'], vars: { ssh_connect_timeout: '3s', firewall: { ssh_from: ['192.0.2.0/24'] } } });
    const started = Date.now();
    const run = await runCli(['apply', quick, '--yes', '--json', '--playbook', CUT_OFF], { env: { PROVISION_TEST_CUT_OFF: 'new' } });
    const elapsed = Date.now() - started;
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const host = parseRun(run).hosts.node1 as unknown as { status: string; tasks: { name: string; status: string; error?: string }[] };
    assert.equal(host.status, 'failed');
    const failed = host.tasks.find((task) => task.name === 'nft.table inet provision');
    assert.equal(failed?.status, 'failed');
    assert.match(failed?.error ?? '', /a new SSH login as root .* failed/);
    assert.match(failed?.error ?? '', /the previous state was restored/);
    assert.equal(host.tasks.find((task) => task.name === 'systemd.service provision-firewall')?.status, 'skipped');
    assert.ok(elapsed < 60_000, `restored by provision long before the 60 s timer (${elapsed} ms)`);
    assert.equal(await liveTable(lab, 'node1'), tableBefore);
    assert.equal((await mustExec(lab, 'node1', ['cat', CONFIG])).stdout, fileBefore);
    assert.equal((await lab.exec('node1', ['systemctl', 'is-active', 'provision-firewall-rollback.timer'])).stdout.trim(), 'inactive', 'the timer was disarmed');
    assert.equal(await timerRestores(lab), restoresBefore, 'the timer did not have to act');
  });

  test('rules that cut the controller off entirely are rolled back by the host itself within the timer', async () => {
    const tableBefore = await liveTable(lab, 'node1');
    const fileBefore = (await mustExec(lab, 'node1', ['cat', CONFIG])).stdout;
    const restoresBefore = await timerRestores(lab);
    const quick = writeInventory(lab, {
      only: ['node1'],
      vars: { ssh_connect_timeout: '3s', ssh_command_timeout: '60s', firewall: { ssh_from: ['192.0.2.0/24'], rollback_after: '10s' } },
    });
    const run = runCli(['apply', quick, '--yes', '--json', '--playbook', CUT_OFF], { env: { PROVISION_TEST_CUT_OFF: 'all' }, timeoutMs: 150_000 });
    const cutAt = await waitFor(async () => (await liveTable(lab, 'node1')).includes(CUT_OFF_COMMENT), 60_000);
    assert.ok(cutAt, 'the cutting rules were loaded');
    const restoredAt = await waitFor(async () => (await liveTable(lab, 'node1')) === tableBefore, 30_000);
    assert.ok(restoredAt, 'the previous table came back');
    assert.ok(restoredAt - cutAt <= 13_000, `restored ${restoredAt - cutAt} ms after the cut (timer 10 s)`);
    assert.equal(await timerRestores(lab), restoresBefore + 1, 'the host\'s own timer restored it');

    const result = await run;
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.ok(['failed', 'unreachable'].includes(parseRun(result).hosts.node1?.status ?? ''), result.stdout);
    assert.equal((await mustExec(lab, 'node1', ['cat', CONFIG])).stdout, fileBefore, 'the file came back too');
    assert.equal(await liveTable(lab, 'node1'), tableBefore);
    assert.equal(await tryLogin({ port: node.sshPort, user: 'root', privateKey: readFileSync(lab.keyFile, 'utf8') }), 'accepted');
  });

  test('a reboot before the new rules were confirmed brings back the confirmed ones, not the unconfirmed file', async () => {
    const tableBefore = await liveTable(lab, 'node1');
    const fileBefore = (await mustExec(lab, 'node1', ['cat', CONFIG])).stdout;
    const slow = writeInventory(lab, {
      only: ['node1'],
      vars: { ssh_connect_timeout: '3s', firewall: { ssh_from: ['192.0.2.0/24'], rollback_after: '10m' } },
    });
    const abort = new AbortController();
    const run = runCli(['apply', slow, '--yes', '--json', '--playbook', CUT_OFF], { env: { PROVISION_TEST_CUT_OFF: 'all' }, signal: abort.signal, timeoutMs: 150_000 });
    try {
      const cutAt = await waitFor(async () => (await liveTable(lab, 'node1')).includes(CUT_OFF_COMMENT), 60_000);
      assert.ok(cutAt, 'the cutting rules were loaded');
      assert.match((await mustExec(lab, 'node1', ['cat', CONFIG])).stdout, new RegExp(CUT_OFF_COMMENT), 'the unconfirmed rules are in the file');
    } finally {
      abort.abort();
      await run;
    }
    // What a reboot does: the transient rollback timer and the kernel's table are gone, and the boot unit runs.
    await mustExec(lab, 'node1', ['sh', '-c', 'systemctl stop provision-firewall-rollback.timer; nft delete table inet provision; systemctl restart provision-firewall']);
    assert.equal(await liveTable(lab, 'node1'), tableBefore, 'the confirmed rules are loaded');
    assert.equal((await mustExec(lab, 'node1', ['cat', CONFIG])).stdout, fileBefore, 'the file holds the confirmed rules again');
    assert.equal((await mustExec(lab, 'node1', ['cat', '/var/lib/provision/firewall/rolled-back'])).stdout.trim(), 'boot');
    assert.equal((await lab.exec('node1', ['test', '-e', '/var/lib/provision/firewall/pending'])).exitCode, 1, 'nothing is pending any more');
    // A second boot loads the file as usual.
    await mustExec(lab, 'node1', ['sh', '-c', 'nft delete table inet provision; systemctl restart provision-firewall']);
    assert.equal(await liveTable(lab, 'node1'), tableBefore);
    assert.equal(await tryLogin({ port: node.sshPort, user: 'root', privateKey: readFileSync(lab.keyFile, 'utf8') }), 'accepted');
  });

  test('firewall.enabled: false deletes only provision\'s table; fail2ban\'s stays', async () => {
    const off = writeInventory(lab, { only: ['node1'], vars: { firewall: { enabled: false } } });
    const applied = await runCli(['apply', off, '--yes', '--json', '--playbook', PLAYBOOK]);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    const tables = (await mustExec(lab, 'node1', ['nft', 'list', 'tables'])).stdout;
    assert.ok(!tables.includes('inet provision') && tables.includes('inet f2b-table'), tables);
    assert.equal((await lab.exec('node1', ['test', '-e', CONFIG])).exitCode, 1);
    assert.equal((await lab.exec('node1', ['systemctl', 'is-enabled', 'provision-firewall'])).stdout.trim(), 'disabled');
    assert.equal(await tcpOpen(lab, 'outsider', node.privateIp, 8080), true, 'the host is open again');
    assert.equal(parseRun(await runCli(['apply', off, '--yes', '--json', '--playbook', PLAYBOOK])).summary.changed, 0);
  });
});
