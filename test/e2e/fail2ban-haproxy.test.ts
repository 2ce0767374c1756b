/**
 * The haproxy-abuse jail on a real balancer: it starts before HAProxy is installed (the fail2ban play runs first), it
 * exists on balancers only, and a container that keeps hitting the rate limit through HAProxy gets banned from the
 * HTTP and HTTPS ports, while the controller keeps working; a second run changes nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { installStandInNode } from '../../src/lab/node-service.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { startTestHosts, type ExecOutput, type TestHosts } from '../support/containers.ts';
import { writeInventory } from '../support/inventory.ts';

const FAIL2BAN_ONLY = 'test/fixtures/playbooks/fail2ban.ts';
const PLAYBOOK = 'test/fixtures/playbooks/fail2ban-haproxy.ts';
const JAIL = '/etc/fail2ban/jail.d/provision.local';
const FILTER = '/etc/fail2ban/filter.d/provision-haproxy-abuse.conf';
const DOMAIN = 'lb.provision.test';

/**
 * Requests from the attacker to the balancer's 443 until one cannot connect after 429s came (the ban), at most 60
 * requests and 60 s. Prints each status code (000: no connection) and `banned after N` or `never banned`.
 */
const ATTACK = String.raw`target=$1
deadline=$((SECONDS + 60))
i=0
seen429=0
while [ "$i" -lt 60 ] && [ "$SECONDS" -lt "$deadline" ]; do
  i=$((i + 1))
  code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 3 --resolve "lb.provision.test:443:$target" https://lb.provision.test/health)
  printf '%s ' "$code"
  [ "$code" = 429 ] && seen429=1
  if [ "$code" = 000 ] && [ "$seen429" = 1 ]; then echo; echo "banned after $i"; exit 0; fi
  sleep 0.2
done
echo; echo "never banned"
exit 1`;

/** A checksum of what a run could touch on the balancer, read through docker exec. */
async function balancerState(lab: TestHosts): Promise<string> {
  const script =
    'find /etc -xdev -printf "%p %m %u %g %s\\n" 2>/dev/null | sort | sha256sum; find /etc -xdev -type f -exec sha256sum {} + 2>/dev/null | sort | sha256sum; ' +
    'dpkg-query -W -f "\\${Package} \\${Status}\\n" | sha256sum; systemctl list-unit-files --state=enabled --no-legend | sha256sum';
  return (await lab.exec('balancer1', ['sh', '-c', script])).stdout;
}

describe('fail2ban bans sources that keep hitting HAProxy’s limits', () => {
  let lab: TestHosts;
  let inventory: string;
  let attackerIp: string;
  let balancerIp: string;
  let controller: string;

  async function mustExec(name: string, command: string[]): Promise<ExecOutput> {
    const result = await lab.exec(name, command);
    assert.equal(result.exitCode, 0, `${command.join(' ')} in ${name}: ${result.stderr || result.stdout}`);
    return result;
  }

  /** The jail's status on the balancer, polled until `done` accepts it or 15 s pass. */
  async function jailStatus(done: (status: ExecOutput) => boolean): Promise<ExecOutput> {
    let status: ExecOutput = { stdout: '', stderr: '', exitCode: 1 };
    for (const started = Date.now(); Date.now() - started < 15_000; await new Promise((resolve) => setTimeout(resolve, 500))) {
      status = await lab.exec('balancer1', ['fail2ban-client', 'status', 'haproxy-abuse']);
      if (done(status)) break;
    }
    return status;
  }

  before(async () => {
    lab = await startTestHosts([
      { name: 'balancer1', group: 'balancers' },
      { name: 'node1', group: 'nodes' },
      { name: 'attacker', group: 'attackers' },
    ]);
    const ipOf = (name: string) => lab.hosts.find((host) => host.name === name)!.privateIp;
    attackerIp = ipOf('attacker');
    balancerIp = ipOf('balancer1');
    inventory = writeInventory(lab, {
      only: ['balancer1', 'node1'],
      hosts: { balancer1: { haproxy: { domain: DOMAIN, rate_limit: { requests: 5, window: '10s' } } } },
      vars: { fail2ban: { haproxy: { maxretry: 5, findtime: '1m', bantime: '10m' } } },
    });
    // The stand-in's installer also brings curl, which the attacker needs.
    await Promise.all(['node1', 'attacker'].map((name) => installStandInNode((command) => lab.exec(name, command))));
    controller = (await mustExec('balancer1', ['sh', '-c', "ip -4 route show default | awk '{print $3}'"])).stdout.trim();
    assert.match(controller, /^\d+\.\d+\.\d+\.\d+$/);
  });
  after(async () => lab?.stop());

  test('before HAProxy is installed, the fail2ban play starts the jail on the balancer, and on no other host', async () => {
    const untouched = await balancerState(lab);
    const dry = await runCli(['apply', inventory, '--dry-run', '--playbook', FAIL2BAN_ONLY]);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /\+\[haproxy-abuse\]/);
    assert.match(dry.stdout, /haproxy-abuse jail: 5 HAProxy answers 429 or 401 within 1m ban the source on port 80,443 for 10m/);
    const nodeSection = dry.stdout.slice(dry.stdout.indexOf('── node1'), dry.stdout.indexOf('RECAP'));
    assert.match(nodeSection, /would-change fail2ban\.jail/);
    assert.doesNotMatch(nodeSection, /haproxy/, 'no filter and no jail for HAProxy on a node');
    assert.equal(await balancerState(lab), untouched, 'the dry run changed nothing');

    const applied = await runCli(['apply', inventory, '--yes', '--json', '--playbook', FAIL2BAN_ONLY]);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    assert.notEqual((await lab.exec('balancer1', ['sh', '-c', 'command -v haproxy'])).exitCode, 0, 'HAProxy is not there yet');
    const status = await jailStatus((result) => result.exitCode === 0);
    assert.equal(status.exitCode, 0, status.stderr);
    assert.match(status.stdout, /Journal matches:\s+SYSLOG_IDENTIFIER=haproxy/);
    assert.equal((await mustExec('balancer1', ['fail2ban-client', 'get', 'haproxy-abuse', 'maxretry'])).stdout.trim(), '5');
    await mustExec('balancer1', ['fail2ban-client', '-t']);

    assert.notEqual((await lab.exec('node1', ['fail2ban-client', 'status', 'haproxy-abuse'])).exitCode, 0, 'no such jail on a node');
    assert.doesNotMatch((await mustExec('node1', ['cat', JAIL])).stdout, /haproxy/);
    assert.notEqual((await lab.exec('node1', ['test', '-e', FILTER])).exitCode, 0);
  });

  test('with the balancer play, apply converges, and a second run changes nothing and runs no handler', async () => {
    const first = await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.equal((await lab.exec('balancer1', ['systemctl', 'is-active', 'haproxy'])).stdout.trim(), 'active');
    const second = parseRun(await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]));
    assert.equal(second.summary.changed, 0);
    assert.equal(second.summary.failed, 0);
    assert.deepEqual(second.hosts.balancer1?.handlers, []);
  });

  test('a container that keeps getting 429 is banned from 443, and the controller keeps working', async () => {
    const attack = await lab.exec('attacker', ['timeout', '90', 'bash', '-c', ATTACK, 'attack', balancerIp]);
    assert.match(attack.stdout, /^banned after \d+$/m, attack.stdout + attack.stderr);
    console.error(`attacker: ${attack.stdout.trim().replace('\n', ' → ')}`);
    assert.match(attack.stdout, /^200 (200 )*429 /, `served, then 429, then refused: ${attack.stdout}`);

    const status = await jailStatus((result) => result.stdout.includes(attackerIp));
    assert.match(status.stdout, new RegExp(`Banned IP list:.*\\b${attackerIp.replaceAll('.', '\\.')}\\b`), status.stdout);
    assert.ok(!status.stdout.includes(controller), `the controller must never be banned:\n${status.stdout}`);
    const connect = await lab.exec('attacker', ['timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${balancerIp}/443`]);
    assert.notEqual(connect.exitCode, 0, 'a plain TCP connect to 443 from the banned container fails');
    assert.equal((await mustExec('node1', ['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', '--resolve', `${DOMAIN}:443:${balancerIp}`, `https://${DOMAIN}/health`])).stdout, '200', 'other sources are served');

    // The jail's filter on the real journal: every line it counts is a 429 or 401 of the attacker.
    const regex = await mustExec('balancer1', ['fail2ban-regex', '--print-all-matched', '-m', 'SYSLOG_IDENTIFIER=haproxy', 'systemd-journal', 'provision-haproxy-abuse']);
    const matched = (/\|- Matched line\(s\):\n([\s\S]*?)\n\s*`-/.exec(regex.stdout)?.[1] ?? '').split('\n').filter(Boolean);
    assert.ok(matched.length >= 5, regex.stdout);
    for (const line of matched) assert.match(line, new RegExp(`haproxy\\[\\d+\\]: ${attackerIp.replaceAll('.', '\\.')}:\\d+ .* (429|401) `), line);

    const controllerRun = await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]);
    assert.equal(controllerRun.code, 0, controllerRun.stdout + controllerRun.stderr);
    assert.equal(parseRun(controllerRun).summary.changed, 0);
  });
});
