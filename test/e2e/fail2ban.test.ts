/**
 * fail2ban on a real key-only host: a second container that keeps failing to log in gets banned (its connections
 * are refused), while the controller keeps working; dry run, idempotence, and the firewall's own nftables table.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestHosts, type ExecOutput, type TestHost, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { writeInventory } from '../support/inventory.ts';
import { tryLogin } from '../support/ssh-probe.ts';

const PLAYBOOK = 'test/fixtures/playbooks/fail2ban.ts';
const JAIL = '/etc/fail2ban/jail.d/provision.local';
const SETTINGS = { bantime_increment: true, bantime_factor: 2, bantime_maxtime: '2d', ignoreip: ['192.0.2.0/24'] };

/**
 * Fails to log in to `target` in turn in the ways a brute force against a key-only sshd does: a key that is not
 * authorized, an unknown user, a connection dropped before authentication. Stops at the first attempt that cannot
 * reach sshd at all (refused). Bounded: at most 20 attempts and 60 s. Prints `refused at attempt N` or `still open`.
 */
const ATTACK = String.raw`target=$1
ssh-keygen -q -t ed25519 -N '' -f /tmp/not-authorized >/dev/null 2>&1 </dev/null || true
opts="-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=3 -o IdentitiesOnly=yes -i /tmp/not-authorized"
deadline=$((SECONDS + 60))
attempt=0
while [ "$attempt" -lt 20 ] && [ "$SECONDS" -lt "$deadline" ]; do
  attempt=$((attempt + 1))
  case $((attempt % 3)) in
    1) timeout 8 ssh $opts "root@$target" true 2>&1 | grep -q 'Permission denied' ;;
    2) timeout 8 ssh $opts "intruder$attempt@$target" true 2>&1 | grep -q 'Permission denied' ;;
    0) timeout 3 bash -c "exec 3<>/dev/tcp/$target/22 && head -c 4 <&3 | grep -q SSH" 2>/dev/null ;;
  esac || { echo "refused at attempt $attempt"; exit 0; }
  sleep 1
done
echo "still open after $attempt attempts"
exit 1`;

/** A stand-in for the firewall task's table (tasks/firewall/tasks.ts): its own `inet provision`, replaced whole as that task loads it. */
const FIREWALL_TABLE = `table inet provision {}
delete table inet provision
table inet provision {
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport 22 accept comment "provision-firewall-stand-in"
  }
}
`;

/** A checksum of everything a run could touch, read through docker exec, never through provision. */
async function hostState(lab: TestHosts): Promise<string> {
  const { stdout } = await lab.exec('node1', [
    'sh',
    '-c',
    'find /etc /srv /tmp /root -xdev -printf "%p %m %u %g %s\\n" 2>/dev/null | sort | sha256sum; ' +
      'find /etc /srv -xdev -type f -exec sha256sum {} + 2>/dev/null | sort | sha256sum; ' +
      'dpkg-query -W -f "\\${Package} \\${Status}\\n" | sha256sum; systemctl list-unit-files --state=enabled --no-legend | sha256sum; ' +
      '(nft list ruleset 2>/dev/null || echo no-nft) | sha256sum',
  ]);
  return stdout;
}

async function mustExec(lab: TestHosts, name: string, command: string[]): Promise<ExecOutput> {
  const result = await lab.exec(name, command);
  assert.equal(result.exitCode, 0, `${command.join(' ')} in ${name}: ${result.stderr || result.stdout}`);
  return result;
}

/** fail2ban's status of the sshd jail, polled until `done` accepts it or 15 s pass (bans are restored after a restart, not during it). */
async function jailStatus(lab: TestHosts, done: (status: string) => boolean): Promise<string> {
  let status = '';
  for (const started = Date.now(); Date.now() - started < 15_000; await new Promise((resolve) => setTimeout(resolve, 500))) {
    status = (await lab.exec('node1', ['fail2ban-client', 'status', 'sshd'])).stdout;
    if (done(status)) break;
  }
  return status;
}

describe('fail2ban bans brute force against a key-only host', () => {
  let lab: TestHosts;
  let node: TestHost;
  let attacker: TestHost;
  let inventory: string;
  /** The address the controller's connections come from, as node1 sees them: the network's gateway. */
  let controller: string;

  before(async () => {
    lab = await startTestHosts([
      { name: 'node1', group: 'nodes' },
      { name: 'attacker', group: 'attackers' },
    ]);
    node = lab.hosts.find((host) => host.name === 'node1')!;
    attacker = lab.hosts.find((host) => host.name === 'attacker')!;
    inventory = writeInventory(lab, { only: ['node1'], vars: { fail2ban: SETTINGS } });
    // Key-only, as the SSH play leaves a host (that play is tested on its own).
    await mustExec(lab, 'node1', ['sh', '-c', "printf 'PasswordAuthentication no\\nKbdInteractiveAuthentication no\\n' > /etc/ssh/sshd_config.d/00-test-key-only.conf && systemctl reload ssh"]);
    controller = (await mustExec(lab, 'node1', ['sh', '-c', "ip -4 route show default | awk '{print $3}'"])).stdout.trim();
    assert.match(controller, /^\d+\.\d+\.\d+\.\d+$/);
  });
  after(async () => lab?.stop());

  test('a dry run shows the jail, the packages and the controller kept out, and leaves the host untouched', async () => {
    const before = await hostState(lab);
    const dry = await runCli(['apply', inventory, '--dry-run', '--detailed-exitcode', '--playbook', PLAYBOOK]);
    assert.equal(dry.code, 3, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /packages to install: fail2ban python3-systemd nftables/);
    assert.match(dry.stdout, /\+\[sshd\]/);
    assert.match(dry.stdout, /\+mode = aggressive/);
    assert.match(dry.stdout, /\+backend = systemd/);
    assert.match(dry.stdout, /\+port = 22\b/);
    assert.match(dry.stdout, new RegExp(`\\+ignoreip = 127\\.0\\.0\\.1/8 ::1 ${controller.replaceAll('.', '\\.')} 192\\.0\\.2\\.0/24`));
    assert.match(dry.stdout, /5 failures within 10m ban the address on port 22 for 1h/);
    assert.match(dry.stdout, /start fail2ban \(once installed\) \(by the handler "restart fail2ban" at the end of the play\)/);
    assert.equal(await hostState(lab), before, 'the dry run changed nothing');
  });

  test('apply installs and starts fail2ban, its configuration test passes, and a second run changes nothing', async () => {
    const first = await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.deepEqual(parseRun(first).hosts.node1?.handlers, [{ name: 'restart fail2ban', status: 'changed' }]);
    // The run starts fail2ban once, through its handler: no start that the handler's restart at once stops again.
    const journal = (await mustExec(lab, 'node1', ['journalctl', '-u', 'fail2ban', '--no-pager', '-o', 'cat'])).stdout;
    assert.doesNotMatch(journal, /Stopping fail2ban/, journal);

    assert.equal((await lab.exec('node1', ['systemctl', 'is-active', 'fail2ban'])).stdout.trim(), 'active');
    assert.equal((await lab.exec('node1', ['systemctl', 'is-enabled', 'fail2ban'])).stdout.trim(), 'enabled');
    await mustExec(lab, 'node1', ['fail2ban-client', '-t']);
    assert.match((await mustExec(lab, 'node1', ['cat', JAIL])).stdout, /^\[sshd\]\nenabled = true\n/m);
    assert.equal((await mustExec(lab, 'node1', ['fail2ban-client', 'get', 'sshd', 'maxretry'])).stdout.trim(), '5');
    const ignored = (await mustExec(lab, 'node1', ['fail2ban-client', 'get', 'sshd', 'ignoreip'])).stdout;
    for (const address of [controller, '127.0.0.0/8', '192.0.2.0/24']) assert.ok(ignored.includes(address), `ignoreip lacks ${address}:\n${ignored}`);
    assert.equal((await mustExec(lab, 'node1', ['fail2ban-client', 'get', 'sshd', 'bantime.increment'])).stdout.trim(), 'True');

    const second = parseRun(await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]));
    assert.equal(second.summary.changed, 0);
    assert.equal(second.summary.failed, 0);
    assert.deepEqual(second.hosts.node1?.handlers, []);
  });

  test('another container that keeps failing is banned: its connections are refused, and the controller keeps working', async () => {
    const attack = await lab.exec('attacker', ['timeout', '90', 'bash', '-c', ATTACK, 'attack', node.privateIp]);
    assert.match(attack.stdout, /^refused at attempt \d+$/m, attack.stdout + attack.stderr);
    assert.ok(Number(/attempt (\d+)/.exec(attack.stdout)?.[1]) > 3, `each kind of failure was tried before the ban: ${attack.stdout}`);

    const status = await jailStatus(lab, (text) => text.includes(attacker.privateIp));
    assert.match(status, new RegExp(`Banned IP list:.*\\b${attacker.privateIp.replaceAll('.', '\\.')}\\b`), status);
    assert.ok(!status.includes(controller), `the controller must never be banned:\n${status}`);
    assert.match((await mustExec(lab, 'node1', ['nft', 'list', 'table', 'inet', 'f2b-table'])).stdout, new RegExp(attacker.privateIp.replaceAll('.', '\\.')));
    const connect = await lab.exec('attacker', ['timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${node.privateIp}/22`]);
    assert.notEqual(connect.exitCode, 0, 'a plain TCP connect from the banned container fails');

    // The failures a key-only sshd logs, each counted by the jail's filter on the jail's journal lines.
    const journalMatch = /^journalmatch = (.*)$/m.exec((await mustExec(lab, 'node1', ['cat', JAIL])).stdout)?.[1] ?? '';
    const regex = (await lab.exec('node1', ['fail2ban-regex', '--print-all-matched', '--print-all-missed', '-m', journalMatch, 'systemd-journal', 'sshd[mode=aggressive]'])).stdout;
    const matched = /\|- Matched line\(s\):\n([\s\S]*?)\n\s*`-/.exec(regex)?.[1] ?? '';
    assert.match(matched, /Invalid user intruder\d+ from/, `an unknown user:\n${regex}`);
    assert.match(matched, /Connection closed by authenticating user root \S+ port \d+ \[preauth\]/, `a key that is not authorized:\n${regex}`);
    assert.match(matched, /kex_exchange_identification/, `a connection dropped before authentication:\n${regex}`);

    const controllerRun = await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]);
    assert.equal(controllerRun.code, 0, controllerRun.stdout + controllerRun.stderr);
    assert.equal(parseRun(controllerRun).summary.changed, 0);
    assert.equal(await tryLogin({ port: node.sshPort, user: 'root', privateKey: readFileSync(lab.keyFile, 'utf8') }), 'accepted');
  });

  test("fail2ban and the firewall each keep their own nftables table through the other's changes", async () => {
    await mustExec(lab, 'node1', ['sh', '-c', `printf '%s' '${FIREWALL_TABLE}' > /tmp/firewall.nft && nft -f /tmp/firewall.nft`]);
    const firewallBefore = (await mustExec(lab, 'node1', ['nft', 'list', 'table', 'inet', 'provision'])).stdout;

    // The dry run of a jail change validates the candidate on a copy of the configuration, and changes nothing.
    const changed = writeInventory(lab, { only: ['node1'], vars: { fail2ban: { ...SETTINGS, maxretry: 4 } } });
    const before = await hostState(lab);
    const dry = await runCli(['apply', changed, '--dry-run', '--playbook', PLAYBOOK]);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /-maxretry = 5\n\s*\+maxretry = 4/);
    assert.doesNotMatch(dry.stdout, /not validated yet/);
    assert.equal(await hostState(lab), before, 'the dry run changed nothing');

    // A jail change restarts fail2ban: the firewall's table stays, and the ban comes back from fail2ban's database.
    const applied = await runCli(['apply', changed, '--yes', '--json', '--playbook', PLAYBOOK]);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    assert.deepEqual(parseRun(applied).hosts.node1?.handlers, [{ name: 'restart fail2ban', status: 'changed' }]);
    assert.equal((await mustExec(lab, 'node1', ['fail2ban-client', 'get', 'sshd', 'maxretry'])).stdout.trim(), '4');
    assert.equal((await mustExec(lab, 'node1', ['nft', 'list', 'table', 'inet', 'provision'])).stdout, firewallBefore);
    const restored = await jailStatus(lab, (status) => status.includes(attacker.privateIp));
    assert.match(restored, new RegExp(`Banned IP list:.*\\b${attacker.privateIp.replaceAll('.', '\\.')}\\b`), restored);

    // The firewall replaces its own table: fail2ban's table and its ban stay.
    await mustExec(lab, 'node1', ['nft', '-f', '/tmp/firewall.nft']);
    assert.match((await mustExec(lab, 'node1', ['nft', 'list', 'table', 'inet', 'f2b-table'])).stdout, new RegExp(attacker.privateIp.replaceAll('.', '\\.')));
    const connect = await lab.exec('attacker', ['timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${node.privateIp}/22`]);
    assert.notEqual(connect.exitCode, 0, 'the attacker is still refused');

    const again = parseRun(await runCli(['apply', changed, '--yes', '--json', '--playbook', PLAYBOOK]));
    assert.equal(again.summary.changed, 0);
    assert.deepEqual(again.hosts.node1?.handlers, []);
  });
});
