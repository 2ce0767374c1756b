/**
 * The SSH transport against real sshd: password first contact, key before password, sudo (become), host key
 * checking, unreachable hosts, command timeouts and one connection per host. Outcomes are read in the
 * containers (docker exec: files, sshd's journal), never through provision's own facts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST_KEYS_COMMAND, parseHostKeys } from '../../src/lab/lab.ts';
import { startTestHosts, type ExecOutput, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli, type CliResult } from '../support/cli.ts';
import { writeInventory } from '../support/inventory.ts';
import { addLoginUser, setSudoRule } from '../support/users.ts';
import { closedPort } from '../support/ports.ts';
import { KEEPER_PROTOCOL } from '../../src/transport/keeper/protocol.ts';

const WRITE = 'test/fixtures/transport/write.ts';
const FAIL = 'test/fixtures/transport/fail.ts';
const SLEEP = 'test/fixtures/transport/sleep.ts';
/** The file write.ts manages. */
const TARGET = '/root/provision-transport.txt';
/** Lets root log in with a password; sshd keeps the first value it reads, and the drop-ins come first. */
const PASSWORD_LOGIN_CONF = '/etc/ssh/sshd_config.d/00-transport-test.conf';
/** Runs without an SSH agent: authMethods and the login discovery treat an empty socket path as none. */
const NO_AGENT = { SSH_AUTH_SOCK: '' };

type RunJson = ReturnType<typeof parseRun>;
/** The fields of the JSON report that parseRun's type leaves out. */
type HostJson = RunJson['hosts'][string] & { error?: string; tasks: { name: string; status: string; error?: string }[] };

function hostOf(run: RunJson, name: string): HostJson {
  const host = run.hosts[name];
  assert.ok(host, `no host ${name} in the report: ${Object.keys(run.hosts).join(', ')}`);
  return host as HostJson;
}

/** A secret made only of characters that need no quoting anywhere (chpasswd, sudoers, YAML). */
function secret(label: string): string {
  return `${label}-${randomBytes(9).toString('hex')}`;
}

function assertAbsent(results: CliResult[], secretValue: string): void {
  for (const result of results) {
    assert.ok(!result.stdout.includes(secretValue), `the secret appears on stdout:\n${result.stdout}`);
    assert.ok(!result.stderr.includes(secretValue), `the secret appears on stderr:\n${result.stderr}`);
  }
}


/** An ed25519 public key in the SSH wire format that no test host has. */
function foreignHostKey(): string {
  const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const field = (data: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, data.length]), data]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64')}`;
}

describe('the SSH transport against real sshd', () => {
  let lab: TestHosts;
  let dir: string;
  let h1Port: number;
  let h2Port: number;

  async function mustExec(name: string, command: string[]): Promise<ExecOutput> {
    const result = await lab.exec(name, command);
    assert.equal(result.exitCode, 0, `in ${name}: ${command.join(' ')}\n${result.stdout}${result.stderr}`);
    return result;
  }

  /** sshd's `Accepted …` lines so far, read from the container's journal. */
  async function acceptedLogins(name: string): Promise<string[]> {
    const { stdout } = await mustExec(name, ['sh', '-c', 'journalctl -u ssh --no-pager -o cat | grep "^Accepted " || true']);
    return stdout.split('\n').filter(Boolean);
  }

  /**
   * The logins accepted after the first `seen` ones, once `expected` have shown up: journald writes asynchronously,
   * so this waits (at most 5 s) for them, then a moment longer so that an extra login would be counted too.
   */
  async function loginsSince(name: string, seen: number, expected: number): Promise<string[]> {
    const deadline = Date.now() + 5000;
    let lines = await acceptedLogins(name);
    while (lines.length < seen + expected && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      lines = await acceptedLogins(name);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    return (await acceptedLogins(name)).slice(seen);
  }

  const keysOf = async (name: string) => parseHostKeys((await mustExec(name, [...HOST_KEYS_COMMAND])).stdout);
  /** The host's ed25519 key (`type base64`) and its fingerprint as ssh-keygen prints it on the host: what ssh2 negotiates first. */
  async function ed25519Of(name: string): Promise<{ key: string; fingerprint: string }> {
    const key = (await keysOf(name)).find((line) => line.startsWith('ssh-ed25519 '));
    assert.ok(key, `${name} has no ed25519 host key`);
    const fingerprint = (await mustExec(name, ['ssh-keygen', '-l', '-E', 'sha256', '-f', '/etc/ssh/ssh_host_ed25519_key.pub'])).stdout.split(/\s+/)[1]!;
    return { key, fingerprint };
  }
  const unreachableError = (result: CliResult, name: string) => {
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const host = hostOf(parseRun(result), name);
    assert.equal(host.status, 'unreachable');
    return host.error ?? '';
  };

  /** sshd's lines about authentication (accepted, failed or postponed attempts, PAM failures) so far. */
  async function authLines(name: string): Promise<string[]> {
    const { stdout } = await mustExec(name, ['sh', '-c', 'journalctl -u ssh --no-pager -o cat | grep -E "^(Accepted|Failed|Postponed) |authentication failure" || true']);
    return stdout.split('\n').filter(Boolean);
  }

  /** sshd's `[preauth]` lines so far: connections that ended before any authentication. */
  async function preauthLines(name: string): Promise<number> {
    const { stdout } = await mustExec(name, ['sh', '-c', 'journalctl -u ssh --no-pager -o cat | grep -c "\\[preauth\\]" || true']);
    return Number(stdout.trim());
  }

  async function fileState(name: string, path: string): Promise<{ meta: string; content: string } | undefined> {
    if ((await lab.exec(name, ['test', '-e', path])).exitCode !== 0) return undefined;
    const meta = (await mustExec(name, ['stat', '-c', '%U:%G %a', path])).stdout.trim();
    return { meta, content: (await mustExec(name, ['cat', path])).stdout };
  }

  function tempFile(name: string, content?: string): string {
    const file = join(mkdtempSync(join(dir, 'case-')), name);
    if (content !== undefined) writeFileSync(file, content);
    return file;
  }

  before(async () => {
    lab = await startTestHosts([
      { name: 'h1', group: 'nodes' },
      { name: 'h2', group: 'nodes' },
    ]);
    dir = mkdtempSync(join(tmpdir(), 'provision-transport-'));
    h1Port = lab.hosts.find((host) => host.name === 'h1')!.sshPort;
    h2Port = lab.hosts.find((host) => host.name === 'h2')!.sshPort;
  });
  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await lab?.stop();
  });

  describe('password login for root', () => {
    const rootPassword = secret('root-pw');
    before(async () => {
      await mustExec('h1', ['sh', '-c', `echo root:${rootPassword} | chpasswd`]);
      await mustExec('h1', ['sh', '-c', `printf 'PermitRootLogin yes\\nPasswordAuthentication yes\\n' > ${PASSWORD_LOGIN_CONF} && systemctl reload ssh`]);
    });
    after(async () => {
      // Back to Debian's defaults (no root password logins) for the tests that follow.
      await lab.exec('h1', ['sh', '-c', `rm -f ${PASSWORD_LOGIN_CONF} && usermod -p '*' root && systemctl reload ssh`]);
    });

    test('first contact by password, without key or agent: the dry run succeeds and the password is printed nowhere', async () => {
      const inventory = writeInventory(lab, { only: ['h1'], vars: { ansible_ssh_private_key_file: null, ansible_password: '${ROOT_PW}' } });
      const env = { ...NO_AGENT, ROOT_PW: rootPassword, PROVISION_TRANSPORT_SECRET: rootPassword };
      const seen = (await acceptedLogins('h1')).length;

      const dry = await runCli(['apply', inventory, '--dry-run', '--playbook', WRITE], { env });
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      assert.match(dry.stdout, new RegExp(`would-change +file ${TARGET}`));
      const logins = await loginsSince('h1', seen, 1);
      assert.equal(logins.length, 1, logins.join('\n'));
      assert.match(logins[0]!, /^Accepted (password|keyboard-interactive\/pam) for root /);
      const dryJson = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', WRITE], { env });
      assert.equal(dryJson.code, 0, dryJson.stdout + dryJson.stderr);
      assert.equal(hostOf(parseRun(dryJson), 'h1').status, 'changed');
      assert.equal(await fileState('h1', TARGET), undefined, 'a dry run writes nothing');

      // A task that fails with the password on its command line, its stdout and its stderr.
      const failedJson = await runCli(['apply', inventory, '--yes', '--json', '--playbook', FAIL], { env });
      assert.equal(failedJson.code, 1, failedJson.stdout + failedJson.stderr);
      const task = hostOf(parseRun(failedJson), 'h1').tasks[0];
      assert.equal(task?.status, 'failed');
      assert.match(task?.error ?? '', /exit code 3/);
      assert.match(task?.error ?? '', /login failed for root with password \*+/);
      const failedText = await runCli(['apply', inventory, '--yes', '--verbose', '--playbook', FAIL], { env });
      assert.equal(failedText.code, 1, failedText.stdout + failedText.stderr);
      assert.match(failedText.stdout, /failed +command fail with the password in its output/);
      assertAbsent([dry, dryJson, failedJson, failedText], rootPassword);
    });

    test('first contact without a terminal, ssh_host_key_checking left at its default: refused after the key exchange, nothing recorded, the password never sent', async () => {
      const knownHosts = join(dir, 'first-contact', 'known_hosts');
      const inventory = writeInventory(lab, {
        only: ['h1'],
        vars: { ansible_ssh_private_key_file: null, ansible_password: '${ROOT_PW}', ssh_known_hosts_file: knownHosts, ssh_host_key_checking: null },
      });
      const { key, fingerprint } = await ed25519Of('h1');
      const authBefore = await authLines('h1');
      const preauthBefore = await preauthLines('h1');
      const results: CliResult[] = [];
      for (const mode of [['--dry-run'], ['--yes']]) {
        const result = await runCli(['apply', inventory, ...mode, '--json', '--playbook', WRITE], { env: { ...NO_AGENT, ROOT_PW: rootPassword, PROVISION_TRANSPORT_CONTENT: 'never\n' } });
        const error = unreachableError(result, 'h1');
        assert.ok(error.startsWith(`new host key for [127.0.0.1]:${h1Port}: ssh-ed25519 ${fingerprint} is not in ${knownHosts} and was not accepted: there is no terminal`), error);
        assert.match(error, /Nothing was sent to the host/);
        assert.ok(error.includes(`ssh_host_key: ${key}`), `the error names the pin to write: ${error}`);
        results.push(result);
      }
      assert.equal(existsSync(knownHosts), false, 'nothing is recorded');
      assert.equal(await fileState('h1', TARGET), undefined);
      assertAbsent(results, rootPassword);
      // sshd saw both connections end before authentication, and no login attempt at all: the password never left.
      const deadline = Date.now() + 5000;
      while ((await preauthLines('h1')) < preauthBefore + 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok((await preauthLines('h1')) >= preauthBefore + 2, 'sshd logged the connections as closed before authentication');
      assert.deepEqual(await authLines('h1'), authBefore);
    });

    test('with a valid key and a password, the key is used', async () => {
      const inventory = writeInventory(lab, { only: ['h1'], vars: { ansible_password: '${ROOT_PW}' } });
      const seen = (await acceptedLogins('h1')).length;
      const result = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', WRITE], { env: { ...NO_AGENT, ROOT_PW: rootPassword } });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const logins = await loginsSince('h1', seen, 1);
      assert.equal(logins.length, 1, logins.join('\n'));
      assert.match(logins[0]!, /^Accepted publickey for root /);
      const failures = await mustExec('h1', ['sh', '-c', 'journalctl -u ssh --no-pager -o cat | grep -c "^Failed password" || true']);
      assert.equal(failures.stdout.trim(), '0');
    });
  });

  describe('become: sudo as a non-root login user', () => {
    const sudoPassword = secret('sudo-pw');
    const setSudoers = (rule: string) => setSudoRule(lab, 'h2', 'deploy', rule);
    const deployInventory = (vars: Record<string, unknown>) => writeInventory(lab, { only: ['h2'], vars: { ansible_user: 'deploy', ansible_become: true, ...vars } });
    const env = (content: string) => ({ ...NO_AGENT, SUDO_PW: sudoPassword, PROVISION_TRANSPORT_CONTENT: content });

    before(async () => {
      await addLoginUser(lab, 'h2', 'deploy', sudoPassword, ['sudo']);
    });
    after(async () => {
      await lab.exec('h2', ['rm', '-f', '/etc/sudoers.d/deploy', TARGET]);
    });

    test('passwordless sudo: the file under /root is written as root by deploy', async () => {
      await setSudoers('deploy ALL=(ALL) NOPASSWD:ALL');
      await mustExec('h2', ['rm', '-f', TARGET]);
      const seen = (await acceptedLogins('h2')).length;
      const result = await runCli(['apply', deployInventory({}), '--yes', '--json', '--playbook', WRITE], { env: env('nopasswd\n') });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.deepEqual(await fileState('h2', TARGET), { meta: 'root:root 600', content: 'nopasswd\n' });
      const logins = await loginsSince('h2', seen, 1);
      assert.equal(logins.length, 1, logins.join('\n'));
      assert.match(logins[0]!, /^Accepted publickey for deploy /);
    });

    test('sudo with a password: the file is exactly what was asked, and the password is printed nowhere', async () => {
      await setSudoers('deploy ALL=(ALL) ALL');
      await mustExec('h2', ['rm', '-f', TARGET]);
      const inventory = deployInventory({ ansible_become_password: '${SUDO_PW}' });
      const content = 'first line\nsecond line\n';
      const json = await runCli(['apply', inventory, '--yes', '--json', '--playbook', WRITE], { env: env(content) });
      assert.equal(json.code, 0, json.stdout + json.stderr);
      assert.deepEqual(await fileState('h2', TARGET), { meta: 'root:root 600', content });
      // Once more with new content: the diff is printed, the update goes through sudo's stdin as well.
      const text = await runCli(['apply', inventory, '--yes', '--playbook', WRITE], { env: env('changed\n') });
      assert.equal(text.code, 0, text.stdout + text.stderr);
      assert.match(text.stdout, /\+changed/);
      assert.deepEqual(await fileState('h2', TARGET), { meta: 'root:root 600', content: 'changed\n' });
      assertAbsent([json, text], sudoPassword);
    });

    test('sudo needs a password and none is given: the host fails with a clear error, exit code 1', async () => {
      await setSudoers('deploy ALL=(ALL) ALL');
      await mustExec('h2', ['rm', '-f', TARGET]);
      const result = await runCli(['apply', deployInventory({}), '--yes', '--json', '--playbook', WRITE], { env: env('never\n') });
      assert.equal(result.code, 1, result.stdout + result.stderr);
      const host = hostOf(parseRun(result), 'h2');
      assert.ok(['failed', 'unreachable'].includes(host.status), host.status);
      assert.match(host.error ?? '', /sudo on deploy@127\.0\.0\.1:\d+ needs a password .*set ansible_become_password/);
      assert.equal(await fileState('h2', TARGET), undefined);
    });

    test('a wrong sudo password fails the host clearly and is printed nowhere', async () => {
      await setSudoers('deploy ALL=(ALL) ALL');
      await mustExec('h2', ['rm', '-f', TARGET]);
      const wrong = secret('wrong-pw');
      const result = await runCli(['apply', deployInventory({ ansible_become_password: '${WRONG_PW}' }), '--yes', '--json', '--playbook', WRITE], {
        env: { ...env('never\n'), WRONG_PW: wrong },
      });
      assert.equal(result.code, 1, result.stdout + result.stderr);
      const host = hostOf(parseRun(result), 'h2');
      assert.ok(['failed', 'unreachable'].includes(host.status), host.status);
      assert.match(host.error ?? '', /sudo on deploy@127\.0\.0\.1:\d+ refused ansible_become_password.*incorrect password/);
      assert.equal(await fileState('h2', TARGET), undefined);
      assertAbsent([result], wrong);
    });

    test('a become password for a host whose sudo asks none never ends up in what the command reads', async () => {
      await setSudoers('deploy ALL=(ALL) NOPASSWD:ALL');
      await mustExec('h2', ['rm', '-f', TARGET]);
      const result = await runCli(['apply', deployInventory({ ansible_become_password: '${SUDO_PW}' }), '--yes', '--json', '--playbook', WRITE], {
        env: env('exactly this\n'),
      });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.deepEqual(await fileState('h2', TARGET), { meta: 'root:root 600', content: 'exactly this\n' });
      assertAbsent([result], sudoPassword);
    });
  });

  describe('host key checking', () => {

    test('accept-new with no known_hosts file records each host under [127.0.0.1]:PORT; a second run still succeeds', async () => {
      const knownHosts = join(dir, 'accept-new', 'missing-dir', 'known_hosts');
      const inventory = writeInventory(lab, { vars: { ssh_known_hosts_file: knownHosts, ssh_host_key_checking: 'accept-new' } });
      const first = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT });
      assert.equal(first.code, 0, first.stdout + first.stderr);
      const recorded = readFileSync(knownHosts, 'utf8');
      const lines = recorded.split('\n').filter(Boolean);
      assert.equal(lines.length, 2, recorded);
      for (const [name, port] of [['h1', h1Port], ['h2', h2Port]] as const) {
        const entry = lines.find((line) => line.startsWith(`[127.0.0.1]:${port} `));
        assert.ok(entry, `no entry for ${name} in:\n${recorded}`);
        assert.ok((await keysOf(name)).includes(entry.slice(entry.indexOf(' ') + 1)), `${entry} is not a host key of ${name}`);
      }
      const second = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT });
      assert.equal(second.code, 0, second.stdout + second.stderr);
      assert.equal(readFileSync(knownHosts, 'utf8'), recorded, 'known keys are not written again');
    });

    test('strict with an empty known_hosts: unreachable, naming the file; the file stays empty', async () => {
      const knownHosts = tempFile('known_hosts', '');
      const inventory = writeInventory(lab, { only: ['h1'], vars: { ssh_known_hosts_file: knownHosts, ssh_host_key_checking: 'strict' } });
      const result = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT });
      const error = unreachableError(result, 'h1');
      assert.ok(error.includes(knownHosts), error);
      assert.match(error, new RegExp(`\\[127\\.0\\.0\\.1\\]:${h1Port} is not (known|in)`));
      assert.equal(readFileSync(knownHosts, 'utf8'), '');
    });

    test('a changed host key is refused under strict, ask and accept-new, and the file is left as it was; off accepts anything, as documented', async () => {
      const stale = `[127.0.0.1]:${h1Port} ${foreignHostKey()}\n`;
      const knownHosts = tempFile('known_hosts', stale);
      const inventoryWith = (checking: string) =>
        writeInventory(lab, { only: ['h1'], vars: { ssh_known_hosts_file: knownHosts, ssh_host_key_checking: checking } });
      for (const checking of ['accept-new', 'ask', 'strict']) {
        const result = await runCli(['apply', inventoryWith(checking), '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT });
        const error = unreachableError(result, 'h1');
        assert.match(error, /HOST KEY CHANGED/, `${checking}: ${error}`);
        assert.ok(error.includes(knownHosts), error);
        assert.equal(readFileSync(knownHosts, 'utf8'), stale, `${checking} must not record the new key`);
      }
      const off = await runCli(['apply', inventoryWith('off'), '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT });
      assert.equal(off.code, 0, off.stdout + off.stderr);
      assert.equal(hostOf(parseRun(off), 'h1').status, 'changed');
      assert.equal(readFileSync(knownHosts, 'utf8'), stale, 'off neither reads nor writes known_hosts');
    });

    test('a pinned ssh_host_key (a .pub line or its fingerprint) connects without known_hosts; another key is refused, naming the pin', async () => {
      const knownHosts = tempFile('known_hosts', '');
      const { key, fingerprint } = await ed25519Of('h1');
      const pinned = (pin: unknown) =>
        writeInventory(lab, { only: ['h1'], vars: { ssh_known_hosts_file: knownHosts, ssh_host_key_checking: null }, hosts: { h1: { ssh_host_key: pin } } });
      for (const pin of [`${key} root@h1`, [fingerprint]]) {
        const result = await runCli(['apply', pinned(pin), '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT });
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.equal(hostOf(parseRun(result), 'h1').status, 'changed');
      }
      const foreign = foreignHostKey();
      const refused = await runCli(['apply', pinned(foreign), '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT });
      const error = unreachableError(refused, 'h1');
      assert.match(error, new RegExp(`^HOST KEY MISMATCH for \\[127\\.0\\.0\\.1\\]:${h1Port}: the server offered ssh-ed25519 ${fingerprint.replace(/[+/]/g, '\\$&')}, which is not the key pinned in the inventory \\(ssh_host_key: ssh-ed25519 SHA256:`));
      assert.equal(readFileSync(knownHosts, 'utf8'), '', 'a pinned host needs no known_hosts entry, and gets none');
    });

    test('on a fallback port, a key other than the one known for the inventory port is a changed key, even under accept-new', async () => {
      const inventoryPort = await closedPort();
      const withKnown = (content: string, checking: string) => {
        const knownHosts = tempFile('known_hosts', content);
        // sshd "moved" to the container's published port (ssh.port): the inventory's port no longer answers.
        const inventory = writeInventory(lab, {
          only: ['h1'],
          vars: { ssh_known_hosts_file: knownHosts, ssh_host_key_checking: checking, ssh_connect_retries: 0, ssh: { port: h1Port } },
          hosts: { h1: { ansible_port: inventoryPort } },
        });
        return { knownHosts, inventory };
      };
      const stale = `[127.0.0.1]:${inventoryPort} ${foreignHostKey()}\n`;
      for (const checking of ['accept-new', 'ask']) {
        const { knownHosts, inventory } = withKnown(stale, checking);
        const error = unreachableError(await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT }), 'h1');
        assert.match(error, new RegExp(`^HOST KEY CHANGED for \\[127\\.0\\.0\\.1\\]:${h1Port}: .*the key known for \\[127\\.0\\.0\\.1\\]:${inventoryPort} in `), `${checking}: ${error}`);
        assert.equal(readFileSync(knownHosts, 'utf8'), stale, `${checking} records nothing`);
      }
      // The host's own key, known for the inventory's port, vouches for it on the port it moved to.
      const { key } = await ed25519Of('h1');
      const { inventory, knownHosts } = withKnown(`[127.0.0.1]:${inventoryPort} ${key}\n`, 'ask');
      const moved = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT });
      assert.equal(moved.code, 0, moved.stdout + moved.stderr);
      assert.match(readFileSync(knownHosts, 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${h1Port} ssh-ed25519 `, 'm'));
    });

    test('on a terminal, the run shows the new key and its fingerprint before connecting: "n" records nothing, "y" records it and goes on', async () => {
      const { spawnSync } = await import('node:child_process');
      const knownHosts = join(dir, 'prompt', 'known_hosts');
      const inventory = writeInventory(lab, { only: ['h1'], vars: { ssh_known_hosts_file: knownHosts, ssh_host_key_checking: null } });
      const { key, fingerprint } = await ed25519Of('h1');
      const command = `node bin/provision.js apply ${inventory} --dry-run --playbook ${WRITE}`;
      const ask = (answer: string) =>
        spawnSync('script', ['-qec', command, '/dev/null'], { input: `${answer}\n`, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...NO_AGENT, NO_COLOR: '1', PROVISION_SSH_PERSIST: '0' } });
      const question = new RegExp(`New host key \\(first contact: nothing has been sent to this host yet\\):\\s+h1 +\\[127\\.0\\.0\\.1\\]:${h1Port} +ssh-ed25519 +${fingerprint.replace(/[+/]/g, '\\$&')}\\s[\\s\\S]*Trust this key and connect\\?`);
      const no = ask('n');
      assert.match(no.stdout, question);
      assert.match(no.stdout, /unreachable: new host key .* was not accepted: the operator declined it/);
      assert.equal(existsSync(knownHosts), false);
      const yes = ask('y');
      assert.match(yes.stdout, question);
      assert.match(yes.stdout, new RegExp(`would-change +file ${TARGET}`));
      assert.equal(readFileSync(knownHosts, 'utf8'), `[127.0.0.1]:${h1Port} ${key}\n`);
      // Known now: no question.
      const again = ask('');
      assert.doesNotMatch(again.stdout, /New host key/);
      assert.match(again.stdout, new RegExp(`would-change +file ${TARGET}`));
    });

    test('a kept connection trusts no more: through the connection keeper, a new key is refused the same way and nothing is recorded', async () => {
      const keeperDir = join(dir, 'keeper');
      const socket = join(keeperDir, `keeper-${KEEPER_PROTOCOL}.sock`);
      const env = { ...NO_AGENT, PROVISION_KEEPER_DIR: keeperDir, PROVISION_SSH_PERSIST: '30s' };
      // A run on a host whose key is known starts the keeper for the runs that follow.
      const first = await runCli(['apply', writeInventory(lab, { only: ['h2'] }), '--dry-run', '--json', '--playbook', WRITE], { env });
      assert.equal(first.code, 0, first.stdout + first.stderr);
      const deadline = Date.now() + 15_000;
      while (!(existsSync(socket) && existsSync(`${socket}.pid`)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      const keeper = Number(readFileSync(`${socket}.pid`, 'utf8'));
      try {
        const knownHosts = join(dir, 'kept', 'known_hosts');
        const inventory = writeInventory(lab, { only: ['h1'], vars: { ssh_known_hosts_file: knownHosts, ssh_host_key_checking: null } });
        const { fingerprint } = await ed25519Of('h1');
        const authBefore = await authLines('h1');
        const error = unreachableError(await runCli(['apply', inventory, '--yes', '--json', '--playbook', WRITE], { env }), 'h1');
        assert.ok(error.startsWith(`new host key for [127.0.0.1]:${h1Port}: ssh-ed25519 ${fingerprint} `), error);
        assert.equal(existsSync(knownHosts), false);
        assert.ok(existsSync(socket), 'the keeper served the run');
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.deepEqual(await authLines('h1'), authBefore, 'no login was tried');
      } finally {
        process.kill(keeper, 'SIGTERM');
      }
    });

    test('a host certificate from a @cert-authority of known_hosts is trusted without a key entry; one from another CA is not', async () => {
      const CERT_CONF = '/etc/ssh/sshd_config.d/00-cert-test.conf';
      await mustExec('h2', [
        'sh',
        '-c',
        `rm -f /root/test-ca /root/test-ca.pub && ssh-keygen -q -t ed25519 -N '' -f /root/test-ca && ssh-keygen -q -s /root/test-ca -h -I h2 -n 127.0.0.1 /etc/ssh/ssh_host_ed25519_key.pub && echo 'HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub' > ${CERT_CONF} && systemctl reload ssh`,
      ]);
      try {
        const ca = (await mustExec('h2', ['cat', '/root/test-ca.pub'])).stdout.trim().split(' ').slice(0, 2).join(' ');
        for (const [authority, trusted] of [[ca, true], [foreignHostKey(), false]] as const) {
          const content = `@cert-authority * ${authority}\n`;
          const knownHosts = tempFile('known_hosts', content);
          const inventory = writeInventory(lab, { only: ['h2'], vars: { ssh_known_hosts_file: knownHosts, ssh_host_key_checking: 'strict' } });
          const result = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT });
          if (trusted) {
            assert.equal(result.code, 0, result.stdout + result.stderr);
            assert.equal(hostOf(parseRun(result), 'h2').status, 'changed');
          } else {
            assert.match(unreachableError(result, 'h2'), /not certified by the @cert-authority in .* line 1 \(it is signed by another CA\)/);
          }
          assert.equal(readFileSync(knownHosts, 'utf8'), content, 'a certified host needs no key entry, and gets none');
        }
      } finally {
        await lab.exec('h2', ['sh', '-c', `rm -f ${CERT_CONF} /etc/ssh/ssh_host_ed25519_key-cert.pub /root/test-ca /root/test-ca.pub && systemctl reload ssh`]);
      }
    });

    test('a host known by its ECDSA or RSA key only is asked for that key, not taken for a changed one', async () => {
      for (const type of ['ecdsa-sha2-nistp256', 'ssh-rsa']) {
        const key = (await keysOf('h1')).find((line) => line.startsWith(`${type} `));
        assert.ok(key, `h1 has no ${type} key`);
        const knownHosts = tempFile('known_hosts', `[127.0.0.1]:${h1Port} ${key}\n`);
        const inventory = writeInventory(lab, { only: ['h1'], vars: { ssh_known_hosts_file: knownHosts, ssh_host_key_checking: 'strict' } });
        const result = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT });
        assert.equal(result.code, 0, `${type}: ${result.stdout}${result.stderr}`);
      }
    });

    test('off connects without any known_hosts file and creates none', async () => {
      const knownHosts = join(dir, 'off', 'known_hosts');
      const inventory = writeInventory(lab, { only: ['h1'], vars: { ssh_known_hosts_file: knownHosts, ssh_host_key_checking: 'off' } });
      const result = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', WRITE], { env: NO_AGENT });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal(existsSync(knownHosts), false);
    });
  });

  test('an unreachable host never blocks the others: it is reported, the live host is applied, exit code 1', async () => {
    await mustExec('h1', ['rm', '-f', TARGET]);
    const inventory = writeInventory(lab, {
      only: ['h1'],
      vars: { ssh_connect_timeout: '3s', ssh_connect_retries: 0 },
      extraHosts: { nodes: { dead: { ansible_host: '127.0.0.1', ansible_port: await closedPort() } } },
    });
    const env = { ...NO_AGENT, PROVISION_TRANSPORT_CONTENT: 'despite the dead host\n' };
    const json = await runCli(['apply', inventory, '--yes', '--json', '--playbook', WRITE], { env, timeoutMs: 60_000 });
    assert.equal(json.code, 1, json.stdout + json.stderr);
    const run = parseRun(json);
    assert.equal(hostOf(run, 'dead').status, 'unreachable');
    assert.match(hostOf(run, 'dead').error ?? '', /ECONNREFUSED/);
    assert.equal(hostOf(run, 'h1').status, 'changed');
    assert.equal(run.summary.unreachable, 1);
    assert.deepEqual(await fileState('h1', TARGET), { meta: 'root:root 600', content: 'despite the dead host\n' });

    const text = await runCli(['apply', inventory, '--yes', '--playbook', WRITE], { env, timeoutMs: 60_000 });
    assert.equal(text.code, 1, text.stdout + text.stderr);
    assert.match(text.stdout, /unreachable: cannot connect to root@127\.0\.0\.1:\d+: ECONNREFUSED/);
    assert.match(text.stdout, /\bdead +ok=0 .*unreachable=1/);
    assert.match(text.stdout, /\bh1 +ok=1 .*unreachable=0/);
  });

  test('a command past ssh_command_timeout fails its task with a timeout, well before the command would end', async () => {
    const inventory = writeInventory(lab, { only: ['h1'], vars: { ssh_command_timeout: '2s' } });
    const started = Date.now();
    const result = await runCli(['apply', inventory, '--yes', '--json', '--playbook', SLEEP], { env: NO_AGENT, timeoutMs: 60_000 });
    const elapsed = Date.now() - started;
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const host = hostOf(parseRun(result), 'h1');
    assert.equal(host.status, 'failed');
    assert.equal(host.tasks[0]?.status, 'failed');
    assert.match(host.tasks[0]?.error ?? '', /timed out after 2s: sleep 10/);
    assert.ok(elapsed < 8000, `the run took ${elapsed} ms`);
  });

  test('one SSH connection per host for a whole run: one sshd login each, per run', async () => {
    const inventory = writeInventory(lab);
    for (const [index, content] of ['one connection\n', 'one connection\n'].entries()) {
      const seen = { h1: (await acceptedLogins('h1')).length, h2: (await acceptedLogins('h2')).length };
      const result = await runCli(['apply', inventory, '--yes', '--json', '--playbook', WRITE], { env: { ...NO_AGENT, PROVISION_TRANSPORT_CONTENT: content } });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const run = parseRun(result);
      for (const name of ['h1', 'h2'] as const) {
        assert.equal(hostOf(run, name).stats.connections, 1);
        // The first run gathers (the login probe inside: root needs no sudo), then writes; the second only gathers.
        if (index === 0) assert.ok(hostOf(run, name).stats.commands >= 2, 'the facts and the write went over the one connection');
        else assert.equal(hostOf(run, name).stats.commands, 1, 'a run that changes nothing is one command');
        const logins = await loginsSince(name, seen[name], 1);
        assert.equal(logins.length, 1, `${name}:\n${logins.join('\n')}`);
        assert.deepEqual(await fileState(name, TARGET), { meta: 'root:root 600', content });
      }
    }
  });
});
