/** The operator's day-one commands against a real host: facts, -v and --log, colours. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { runCli } from '../support/cli.ts';
import { writeInventory } from '../support/inventory.ts';
import { scratchDir } from '../support/scratch.ts';

describe('facts, -v and --log', () => {
  let lab: TestHosts;
  before(async () => {
    lab = await startTestHosts([{ name: 'node1', group: 'nodes', cpusetCpus: '0' }]);
  });
  after(async () => lab?.stop());

  test('facts shows what the host is, as the host itself says', async () => {
    const table = await runCli(['facts', lab.inventoryFile]);
    assert.equal(table.code, 0, table.stderr);
    const os = (await lab.exec('node1', ['sh', '-c', '. /etc/os-release; printf %s "$PRETTY_NAME"'])).stdout;
    assert.match(table.stdout, new RegExp(`node1 +${os.replace(/[()]/g, '\\$&')} +1 CPU `));
    assert.match(table.stdout, /port 22, passwords on/);
    assert.match(table.stdout, /no firewall/);
    const json = JSON.parse((await runCli(['facts', lab.inventoryFile, '--json'])).stdout);
    assert.equal(json.node1.usableCpus, Number((await lab.exec('node1', ['nproc'])).stdout.trim()));
    const sshdPort = (await lab.exec('node1', ['sh', '-c', '/usr/sbin/sshd -T | sed -n "s/^port //p"'])).stdout.trim();
    assert.equal(json.node1.ssh.port, sshdPort);
    assert.deepEqual(json.node1.node, { configPath: '/var/lib/hornet/config.json', error: 'missing' });
  });

  test('facts exits 1 and says so when a host is unreachable', async () => {
    const inventory = writeInventory(lab, { vars: { ssh_connect_retries: 0 }, extraHosts: { nodes: { gone: { ansible_host: '127.0.0.1', ansible_port: 9 } } } });
    const result = await runCli(['facts', inventory]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /gone +unreachable: .*ECONNREFUSED/);
  });

  test('-v shows each remote command and --log keeps them all, 0600, secrets masked', async () => {
    const secret = 'log-secret-value-123456';
    const inventory = writeInventory(lab, { vars: { ansible_password: '${LOG_SECRET}' } });
    const log = join(scratchDir('provision-log-'), 'run.log');
    const env = { LOG_SECRET: secret, PROVISION_TEST_CONTENT: secret };
    const result = await runCli(['apply', inventory, '--yes', '-v', '--log', log, '--playbook', 'test/fixtures/playbooks/handlers.ts'], { env });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    // The gather (with the login probe inside it: root needs no sudo) and each write, with their exit codes.
    assert.match(result.stderr, /\[root@127\.0\.0\.1:\d+\] \$ \( stat -c [^\n]*\n(?:.*\n)*?… \(\d+ more lines\)  → exit 0 \(\d+ ms\)/);
    assert.match(result.stderr, /\[root@127\.0\.0\.1:\d+\] \$ # directory \/srv\/provision-test\n(?:.*\n)*?… \(\d+ more lines\)  → exit 0/);
    assert.match(result.stderr, /\[root@127\.0\.0\.1:\d+\] \$ # write \/srv\/provision-test\/a\.conf\n/);
    const text = readFileSync(log, 'utf8');
    assert.match(text, /\( echo "\$SSH_CONNECTION"\n\) <\/dev\/null 2>\/dev\/null/, 'the log keeps whole commands');
    assert.equal(statSync(log).mode & 0o777, 0o600);
    assert.match(text, /dir=\/srv\/provision-test; base=a\.conf\n[\s\S]*mv -fT -- "\$candidate" "\$1"/);
    for (const output of [result.stdout, result.stderr, text]) assert.doesNotMatch(output, new RegExp(secret));
  });

  test('an existing --log file is made 0600 before anything is written to it; a link is refused before any host is touched', async () => {
    const dir = scratchDir('provision-log-');
    const existing = join(dir, 'old.log');
    writeFileSync(existing, 'an earlier run\n', { mode: 0o644 });
    chmodSync(existing, 0o644);
    const result = await runCli(['apply', lab.inventoryFile, '--dry-run', '--log', existing, '--playbook', 'test/fixtures/playbooks/slow.ts']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(statSync(existing).mode & 0o777, 0o600);
    assert.doesNotMatch(readFileSync(existing, 'utf8'), /an earlier run/);
    const link = join(dir, 'link.log');
    symlinkSync(join(dir, 'elsewhere.log'), link);
    const refused = await runCli(['apply', lab.inventoryFile, '--dry-run', '--log', link, '--playbook', 'test/fixtures/playbooks/slow.ts']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--log .*link\.log: is a symbolic link/);
    assert.equal(existsSync(join(dir, 'elsewhere.log')), false);
  });

  test('NO_COLOR and --no-color keep escape codes out; --color forces them', async () => {
    const plain = await runCli(['apply', lab.inventoryFile, '--dry-run', '--no-color', '--playbook', 'test/fixtures/playbooks/slow.ts'], { env: { NO_COLOR: '' } });
    assert.doesNotMatch(plain.stdout, /\u001b\[/);
    const coloured = await runCli(['apply', lab.inventoryFile, '--dry-run', '--color', '--playbook', 'test/fixtures/playbooks/slow.ts'], { env: { NO_COLOR: '' } });
    assert.match(coloured.stdout, /\u001b\[/);
    const noColorEnv = await runCli(['apply', lab.inventoryFile, '--dry-run', '--color', '--playbook', 'test/fixtures/playbooks/slow.ts'], { env: { NO_COLOR: '1' } });
    assert.doesNotMatch(noColorEnv.stdout, /\u001b\[/);
  });
});

describe('hostile inventory values', () => {
  let lab: TestHosts;
  before(async () => {
    lab = await startTestHosts([{ name: 'node1', group: 'nodes' }]);
  });
  after(async () => lab?.stop());

  test('quotes, $(…), backticks and ; in a variable reach the host as data: no injected command runs', async () => {
    // `$${IFS}` is the inventory's escape for a literal `${IFS}` (a shell's way to put a space without one).
    const hostile = "/srv/x$(touch$${IFS}/tmp/pwned1)`touch$${IFS}/tmp/pwned2`;touch$${IFS}/tmp/pwned3;'\"q";
    const inventory = writeInventory(lab, { vars: { node: { config_path: hostile, service: 'hornet' } } });
    const result = await runCli(['apply', inventory, '--dry-run', '--playbook', 'test/fixtures/playbooks/node-pow.ts']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.ok(result.stdout.includes(hostile.replaceAll('$${', '${')), result.stdout);
    const found = await lab.exec('node1', ['sh', '-c', 'ls /tmp/pwned* 2>/dev/null | wc -l']);
    assert.equal(found.stdout.trim(), '0');
  });

  test('a newline in private_ip from ${ENV}, a user or a unit that passes for an option: refused with exit 2, no host touched', async () => {
    const before = (await lab.exec('node1', ['sh', '-c', 'find /etc /var/lib -xdev -newer /etc/hostname -type f 2>/dev/null | sort | sha256sum'])).stdout;
    const cases: [Record<string, unknown>, Record<string, string>, RegExp][] = [
      [{ private_ip: '${NODE_IP}' }, { NODE_IP: '10.0.0.5:14265\n    server backdoor 203.0.113.66:80' }, /private_ip: expected an IP address or DNS name .*not "10\.0\.0\.5:14265\\n    server backdoor/],
      [{ ansible_host: '-oProxyCommand=touch /tmp/pwned4' }, {}, /ansible_host: expected an IP address or DNS name/],
      [{ ansible_user: '-oProxyCommand=touch /tmp/pwned5' }, {}, /ansible_user: expected a user name/],
      [{ node: { service: '-H root@203.0.113.66' } }, {}, /node\.service: expected a systemd unit name/],
    ];
    for (const [vars, env, message] of cases) {
      const inventory = writeInventory(lab, { hosts: { node1: vars } });
      const result = await runCli(['apply', inventory, '--dry-run'], { env });
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at [\w.<]+ \(/, 'no stack trace');
    }
    const after = (await lab.exec('node1', ['sh', '-c', 'find /etc /var/lib -xdev -newer /etc/hostname -type f 2>/dev/null | sort | sha256sum; ls /tmp/pwned* 2>/dev/null | wc -l'])).stdout;
    assert.equal(after, `${before}0\n`);
  });
});
