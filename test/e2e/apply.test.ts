/** The foundation end to end: dry run, apply, idempotence, handlers, validation, limits, refusals. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { installStandInNode } from '../../src/lab/node-service.ts';

const HANDLERS = 'test/fixtures/playbooks/handlers.ts';
const VALIDATE = 'test/fixtures/playbooks/validate.ts';

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
