/**
 * The connection's command shell against real sshd: small commands share one long-lived shell, and each still sees
 * what a channel of its own would give it (exact output, exit status, empty stdin, nothing left over from the command
 * before). Timeouts stop the command on the host; sudo runs the shell as root. What ran is checked in the container.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadInventory } from '../../src/inventory/load.ts';
import { CommandTimeoutError, MAX_OUTPUT_BYTES, OutputLimitError } from '../../src/transport/remote-command.ts';
import { SshConnection } from '../../src/transport/ssh.ts';
import { ShellCommand, sh } from '../../src/transport/shell.ts';
import { hostVarsSchema } from '../../playbooks/site.ts';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { writeInventory } from '../support/inventory.ts';
import { addLoginUser, setSudoRule } from '../support/users.ts';

describe('the connection\'s command shell', () => {
  let lab: TestHosts;
  let connection: SshConnection;

  async function open(vars: Record<string, unknown> = {}): Promise<SshConnection> {
    const inventory = await loadInventory(writeInventory(lab, { vars }), { vars: hostVarsSchema });
    return SshConnection.open(inventory.hosts[0]!.connection);
  }

  before(async () => {
    lab = await startTestHosts([{ name: 'h1', group: 'nodes' }]);
    connection = await open();
  });
  after(async () => {
    await connection?.close();
    await lab?.stop();
  });

  test('small commands share one shell on the host from the second on; each keeps its own output, stderr and exit status', async () => {
    const first = await connection.exec(sh`echo "$$"`);
    const second = await connection.exec(sh`echo "$$"`);
    const third = await connection.exec(sh`echo "$$"`);
    assert.equal(second.code, 0);
    assert.match(second.stdout, /^\d+\n$/);
    assert.notEqual(first.stdout, second.stdout, 'a connection\'s first small command takes a channel of its own');
    assert.equal(third.stdout, second.stdout, 'the later commands ran in the same long-lived shell');
    // The shell is a child of this connection's sshd session, as an exec channel's shell would be.
    const parent = await lab.exec('h1', ['sh', '-c', `while read -r key value; do [ "$key" = PPid: ] && cat "/proc/$value/comm"; done < /proc/${second.stdout.trim()}/status`]);
    assert.match(parent.stdout, /^sshd/);

    const mixed = await connection.exec(ShellCommand.fromQuoted("echo out; echo err >&2; printf 'no newline'; exit 7"));
    assert.deepEqual(mixed, { stdout: 'out\nno newline', stderr: 'err\n', code: 7 });
    const multiline = await connection.exec(ShellCommand.fromQuoted('x=1\nif [ "$x" = 1 ]; then\n  printf "%s\\n" "a  b" \'c\\\\d\'\nfi\n'));
    assert.deepEqual(multiline, { stdout: 'a  b\nc\\\\d\n', stderr: '', code: 0 });
    const unicode = await connection.exec(sh`printf '%s' ${'größe ✓ ' + 'x'.repeat(3000)}`);
    assert.equal(unicode.stdout, `größe ✓ ${'x'.repeat(3000)}`);
  });

  test('every command runs under /bin/sh (dash), not root\'s login shell (bash): in a channel of its own, in the shared shell, with stdin', async () => {
    const fresh = await open();
    try {
      const shellOf = sh`readlink /proc/$$/exe`;
      const own = await fresh.exec(shellOf);
      const shared = await fresh.exec(shellOf);
      const withStdin = await fresh.exec(sh`cat >/dev/null; readlink /proc/$$/exe`, { stdin: 'x' });
      const login = await lab.exec('h1', ['sh', '-c', 'getent passwd root | cut -d: -f7']);
      assert.equal(login.stdout.trim(), '/bin/bash', 'root logs in with bash on the test image');
      for (const result of [own, shared, withStdin]) assert.deepEqual(result, { stdout: '/usr/bin/dash\n', stderr: '', code: 0 });
    } finally {
      await fresh.close();
    }
  });

  test('a command reads an empty stdin, and leaves nothing behind for the next one', async () => {
    const reader = await connection.exec(sh`cat; echo "read done"`);
    assert.deepEqual(reader, { stdout: 'read done\n', stderr: '', code: 0 });
    const leaky = await connection.exec(ShellCommand.fromQuoted('cd /tmp; LEFT=over; export LEFT; umask 077; exit 3'));
    assert.equal(leaky.code, 3);
    const after = await connection.exec(ShellCommand.fromQuoted('pwd; echo "left=${LEFT:-}"; umask'));
    assert.equal(after.code, 0);
    assert.doesNotMatch(after.stdout, /left=over/);
    assert.doesNotMatch(after.stdout, /^\/tmp$/m);
    assert.doesNotMatch(after.stdout, /0077/);
  });

  test('commands with stdin, and long ones, still work (each in a channel of its own)', async () => {
    const secret = `s-${randomBytes(8).toString('hex')}`;
    const piped = await connection.exec(sh`cat`, { stdin: `${secret}\nline two` });
    assert.deepEqual(piped, { stdout: `${secret}\nline two`, stderr: '', code: 0 });
    const long = await connection.exec(sh`printf '%s' ${'y'.repeat(20_000)} | wc -c; echo "$$"`);
    const [count, pid] = long.stdout.trim().split('\n');
    assert.equal(count, '20000');
    const shellPid = (await connection.exec(sh`echo "$$"`)).stdout.trim();
    assert.notEqual(pid, shellPid, 'the long command ran in a shell of its own');
  });

  /**
   * Runs a command that outlives a 1.5 s timeout, and checks that it runs before and is gone after. With stdin, the
   * command takes a channel of its own.
   */
  async function timesOutAndStops(on: SshConnection, stdin?: string): Promise<void> {
    // A duration of its own, so that the process is found by its command line.
    const sleep = `sleep 30.${randomBytes(3).readUIntBE(0, 3)}`;
    const running = async () =>
      (await lab.exec('h1', ['sh', '-c', 'for p in /proc/[0-9]*; do tr "\\0" " " < "$p/cmdline" 2>/dev/null; echo; done | grep -cxF "$1 " || true', 'sh', sleep])).stdout.trim();
    const started = Date.now();
    const pending = on.exec(ShellCommand.fromQuoted(`${sleep}; echo done`), { timeoutMs: 1500, ...(stdin === undefined ? {} : { stdin }) });
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal(await running(), '1', 'the command runs on the host before its timeout');
    await assert.rejects(pending, (error: Error) => error instanceof CommandTimeoutError && error.message.endsWith(`: ${sleep}; echo done`));
    assert.ok(Date.now() - started < 5000, `the timeout took ${Date.now() - started} ms`);
    const deadline = Date.now() + 5000;
    let left = '';
    do {
      await new Promise((resolve) => setTimeout(resolve, 200));
      left = await running();
    } while (left !== '0' && Date.now() < deadline);
    assert.equal(left, '0', 'the timed-out command still runs on the host');
  }

  test('a command past its timeout is stopped on the host, and the next command gets a new shell', async () => {
    await timesOutAndStops(connection);
    const next = await connection.exec(sh`echo alive`);
    assert.deepEqual(next, { stdout: 'alive\n', stderr: '', code: 0 });
  });

  test('a command in a channel of its own past its timeout is stopped on the host too; its stderr is its own', async () => {
    await timesOutAndStops(connection, 'input\n');
    const piped = await connection.exec(sh`cat; echo err >&2`, { stdin: 'in\n' });
    assert.deepEqual(piped, { stdout: 'in\n', stderr: 'err\n', code: 0 });
  });

  test('a host that streams output without end is cut off at the output limit and the command stopped, in the shell or beside it', async () => {
    for (const stdin of [undefined, 'input\n']) {
      const tag = randomBytes(4).toString('hex');
      // Endless output, from a process the test can find on the host by its tag.
      const endless = ShellCommand.fromQuoted(`exec yes ${tag}`);
      const started = Date.now();
      await assert.rejects(connection.exec(endless, { timeoutMs: 120_000, ...(stdin === undefined ? {} : { stdin }) }), (error: Error) => error instanceof OutputLimitError && error.message.includes(`more than ${MAX_OUTPUT_BYTES / 1024 / 1024} MiB`));
      assert.ok(Date.now() - started < 60_000, `cut off after ${Date.now() - started} ms, long before the timeout`);
      const running = async () => (await lab.exec('h1', ['sh', '-c', `pgrep -cxf 'yes ${tag}' || true`])).stdout.trim();
      const deadline = Date.now() + 5000;
      let left = await running();
      while (left !== '0' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        left = await running();
      }
      assert.equal(left, '0', 'the command no longer runs on the host');
    }
    const next = await connection.exec(sh`echo alive`);
    assert.deepEqual(next, { stdout: 'alive\n', stderr: '', code: 0 });
  });

  test('a command that ends its own shell fails alone; the next command gets a new shell', async () => {
    const killer = await connection.exec(ShellCommand.fromQuoted('kill -KILL "$$"'));
    assert.notEqual(killer.code, 0);
    const next = await connection.exec(sh`echo alive`);
    assert.deepEqual(next, { stdout: 'alive\n', stderr: '', code: 0 });
  });

  describe('through sudo (ansible_become)', () => {
    const password = `pw-${randomBytes(9).toString('hex')}`;
    before(async () => {
      await addLoginUser(lab, 'h1', 'runner', password);
    });
    after(async () => {
      await lab.exec('h1', ['rm', '-f', '/etc/sudoers.d/runner']);
    });
    const sudoers = (rule: string) => setSudoRule(lab, 'h1', 'runner', rule);

    for (const [label, rule, vars] of [
      ['without a password', 'runner ALL=(ALL) NOPASSWD:ALL', {}],
      ['with a password', 'runner ALL=(ALL) ALL', { ansible_become_password: password }],
    ] as const) {
      test(`${label}: the commands run as root in one shell, and the password never reaches a command`, async () => {
        await sudoers(rule);
        const deploy = await open({ ansible_user: 'runner', ansible_become: true, ...vars });
        try {
          await deploy.exec(sh`true`); // the connection's first small command takes a channel of its own
          const first = await deploy.exec(sh`id -un; echo "$$"; cat`);
          const second = await deploy.exec(sh`id -un; echo "$$"`);
          assert.equal(first.code, 0, first.stderr);
          const [user, pid, ...rest] = first.stdout.split('\n');
          assert.equal(user, 'root');
          assert.deepEqual(rest, [''], 'the command read nothing from stdin');
          assert.equal(second.stdout, `root\n${pid}\n`);
          assert.ok(!first.stdout.includes(password) && !first.stderr.includes(password));
        } finally {
          await deploy.close();
        }
      });
    }

    test('a command past its timeout is stopped through sudo too (sh is dash there), in the shell or beside it', async () => {
      await sudoers('runner ALL=(ALL) NOPASSWD:ALL');
      const deploy = await open({ ansible_user: 'runner', ansible_become: true });
      try {
        await deploy.exec(sh`true`);
        await deploy.exec(sh`true`); // the shell is up
        await timesOutAndStops(deploy);
        await timesOutAndStops(deploy, 'input\n');
        assert.equal((await deploy.exec(sh`id -un`)).stdout, 'root\n');
      } finally {
        await deploy.close();
      }
    });

    test('a sudo that stops asking for the password mid-run: the password reaches no command, in the shell or beside it', async () => {
      await sudoers('runner ALL=(ALL) ALL');
      const deploy = await open({ ansible_user: 'runner', ansible_become: true, ansible_become_password: password });
      try {
        await deploy.exec(sh`true`);
        assert.equal((await deploy.exec(sh`id -un`)).stdout, 'root\n');
        await sudoers('runner ALL=(ALL) NOPASSWD:ALL');
        // The shell ends (as after a timeout); the next one starts under a sudo that reads no password.
        assert.notEqual((await deploy.exec(ShellCommand.fromQuoted('kill -KILL "$$"'))).code, 0);
        const first = await deploy.exec(sh`id -un; echo "$$"; cat`);
        const second = await deploy.exec(sh`echo "$$"`);
        assert.equal(first.code, 0, first.stderr);
        const [user, pid, ...rest] = first.stdout.split('\n');
        assert.equal(user, 'root');
        assert.deepEqual(rest, [''], 'the password line reached no command');
        assert.equal(second.stdout, `${pid}\n`, 'the new shell runs the commands');
        // A command with stdin (a file's content) in a channel of its own gets its stdin, and not the password.
        const piped = await deploy.exec(sh`cat`, { stdin: 'content\n' });
        assert.deepEqual(piped, { stdout: 'content\n', stderr: '', code: 0 });
      } finally {
        await deploy.close();
      }
    });
  });
});
