/**
 * Connections kept between runs (ssh_persist) against real sshd: a run soon after one that changed nothing logs in
 * no more; a run after a change logs in afresh; PROVISION_SSH_PERSIST=0 and an unsafe socket directory keep
 * nothing; the keeper exits once it holds nothing, and a dead keeper costs a run nothing. Logins are counted in
 * the container's sshd journal (docker exec), never through provision's own report alone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { KEEPER_PROTOCOL } from '../../src/transport/keeper/protocol.ts';
import { dockerCommand } from '../../src/lab/docker-engine.ts';
import { writeInventory } from '../support/inventory.ts';

const WRITE = 'test/fixtures/transport/write.ts';
const TARGET = '/root/provision-transport.txt';

describe('connections kept between runs', () => {
  let lab: TestHosts;
  let dir: string;
  let keeperDir: string;
  let socket: string;

  /** sshd's `Accepted …` lines so far. */
  async function logins(): Promise<number> {
    const { stdout } = await lab.exec('h1', ['sh', '-c', 'journalctl -u ssh --no-pager -o cat | grep -c "^Accepted " || true']);
    return Number(stdout.trim());
  }

  /** The login count once journald has written what it was sent (at most 5 s), and a moment longer. */
  async function loginsSettled(expected: number): Promise<number> {
    const deadline = Date.now() + 5_000;
    let count = await logins();
    while (count < expected && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      count = await logins();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    return logins();
  }

  async function apply(content: string, env: Record<string, string> = {}, extra: string[] = []) {
    const result = await runCli(['apply', lab.inventoryFile, '--playbook', WRITE, '--yes', '--json', ...extra], {
      env: { PROVISION_KEEPER_DIR: keeperDir, PROVISION_SSH_PERSIST: '30s', PROVISION_TRANSPORT_CONTENT: content, SSH_AUTH_SOCK: '', ...env },
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const host = parseRun(result).hosts.h1!;
    return { changed: host.status === 'changed', connections: host.stats.connections };
  }

  async function waitFor(what: string, check: () => boolean, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) assert.fail(`gave up waiting ${ms / 1000}s for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const keeperPid = () => (existsSync(`${socket}.pid`) ? Number(readFileSync(`${socket}.pid`, 'utf8')) : 0);
  const running = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  before(async () => {
    lab = await startTestHosts([{ name: 'h1', group: 'nodes' }]);
    dir = mkdtempSync(join(tmpdir(), 'provision-keeper-test-'));
    keeperDir = join(dir, 'keeper');
    socket = join(keeperDir, `keeper-${KEEPER_PROTOCOL}.sock`);
  });

  after(async () => {
    const pid = keeperPid();
    if (pid && running(pid)) process.kill(pid, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    await lab?.stop();
  });

  test('a run soon after one that changed nothing reuses its login; a run after a change logs in afresh', async () => {
    const start = await logins();
    // The first run finds no keeper: it connects directly and starts one for the runs that follow.
    assert.deepEqual(await apply('one\n'), { changed: true, connections: 1 });
    await waitFor('the keeper to listen', () => existsSync(socket) && keeperPid() > 0);
    // Through the keeper: a login of its own this time, kept afterwards since nothing changed.
    assert.deepEqual(await apply('one\n'), { changed: false, connections: 1 });
    assert.deepEqual(await apply('one\n'), { changed: false, connections: 0 });
    assert.deepEqual(await apply('one\n', {}, ['--dry-run']), { changed: false, connections: 0 });
    assert.equal(await loginsSettled(start + 2), start + 2, 'one login for the direct run, one kept for the next three');
    // A change: made over the kept login, which is then closed, so that the next run logs in afresh.
    assert.deepEqual(await apply('two\n'), { changed: true, connections: 0 });
    assert.equal((await lab.exec('h1', ['cat', TARGET])).stdout, 'two\n');
    assert.deepEqual(await apply('two\n'), { changed: false, connections: 1 });
    assert.equal(await loginsSettled(start + 3), start + 3);
  });

  test('PROVISION_SSH_PERSIST=0 keeps nothing and leaves the keeper alone', async () => {
    const start = await logins();
    assert.deepEqual(await apply('two\n', { PROVISION_SSH_PERSIST: '0' }), { changed: false, connections: 1 });
    assert.deepEqual(await apply('two\n', { PROVISION_SSH_PERSIST: '0' }), { changed: false, connections: 1 });
    assert.equal(await loginsSettled(start + 2), start + 2);
    const bad = await runCli(['apply', lab.inventoryFile, '--playbook', WRITE, '--yes'], { env: { PROVISION_SSH_PERSIST: 'soon', SSH_AUTH_SOCK: '' } });
    assert.equal(bad.code, 2, 'refused as input, before any host is touched');
    assert.match(bad.stderr, /^error: PROVISION_SSH_PERSIST=soon: expected a duration like 60s or 0$/m);
  });

  test('a socket directory that other users can enter is never used', async () => {
    const open = join(dir, 'open');
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    const start = await logins();
    assert.deepEqual(await apply('two\n', { PROVISION_KEEPER_DIR: open }), { changed: false, connections: 1 });
    assert.deepEqual(await apply('two\n', { PROVISION_KEEPER_DIR: open }), { changed: false, connections: 1 });
    assert.equal(await loginsSettled(start + 2), start + 2);
    assert.equal(existsSync(join(open, `keeper-${KEEPER_PROTOCOL}.sock`)), false);
  });

  test('a killed keeper costs the next run nothing, and one that holds nothing exits', async () => {
    const killed = keeperPid();
    assert.ok(killed > 0 && running(killed), 'the keeper of the first test is running');
    process.kill(killed, 'SIGKILL');
    await waitFor('the keeper to die', () => !running(killed));
    assert.ok(existsSync(socket), 'a killed keeper leaves its socket file');
    // The stale socket answers nothing: the run connects directly and starts a keeper that replaces the socket.
    assert.deepEqual(await apply('two\n', { PROVISION_SSH_PERSIST: '5s' }), { changed: false, connections: 1 });
    await waitFor('a new keeper', () => keeperPid() > 0 && keeperPid() !== killed && running(keeperPid()));
    const second = keeperPid();
    assert.deepEqual(await apply('two\n', { PROVISION_SSH_PERSIST: '5s' }), { changed: false, connections: 1 });
    // Its one connection is closed 5 s after that run; the keeper, holding nothing, exits 2 s later.
    await waitFor('the idle keeper to exit', () => !running(second) && !existsSync(socket), 30_000);
  });

  test('a kept connection to a host that went silent is not trusted: the run says so within the connect timeout', async () => {
    const inventory = writeInventory(lab, { vars: { ssh_connect_timeout: 3, ssh_connect_retries: 0 } });
    const run = (env: Record<string, string> = {}) =>
      runCli(['apply', inventory, '--playbook', WRITE, '--yes', '--json'], {
        env: { PROVISION_KEEPER_DIR: keeperDir, PROVISION_SSH_PERSIST: '30s', PROVISION_TRANSPORT_CONTENT: 'two\n', SSH_AUTH_SOCK: '', ...env },
        timeoutMs: 120_000,
      });
    // Two runs: the second leaves a connection kept.
    for (let i = 0; i < 2; i++) assert.equal((await run()).code, 0);
    await waitFor('the keeper to listen', () => existsSync(socket) && running(keeperPid()));
    const id = lab.hosts[0]!.container.getId();
    const docker = dockerCommand();
    // Frozen: its sockets stay open but nothing answers, as with a host cut off without a reset.
    execFileSync(docker, ['pause', id]);
    try {
      const started = Date.now();
      const silent = await run();
      const seconds = (Date.now() - started) / 1000;
      assert.notEqual(silent.code, 0, silent.stdout + silent.stderr);
      assert.equal(parseRun(silent).hosts.h1!.status, 'unreachable');
      // The kept connection's check (3 s) and one direct attempt (3 s), not the 300 s command timeout.
      assert.ok(seconds < 30, `the run took ${seconds} s`);
    } finally {
      execFileSync(docker, ['unpause', id]);
    }
    const back = await run();
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.equal(parseRun(back).hosts.h1!.stats.connections, 1, 'the silent connection was dropped, not kept');
  });

  test('a change made with other settings, or without the keeper, drops the connections kept for the host', async () => {
    const other = writeInventory(lab, { vars: { ssh_connect_timeout: 9 } });
    const env = { PROVISION_KEEPER_DIR: keeperDir, PROVISION_SSH_PERSIST: '30s', SSH_AUTH_SOCK: '' };
    const runWith = async (inventory: string, content: string, extra: Record<string, string> = {}) => {
      const result = await runCli(['apply', inventory, '--playbook', WRITE, '--yes', '--json'], { env: { ...env, PROVISION_TRANSPORT_CONTENT: content, ...extra } });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const host = parseRun(result).hosts.h1!;
      return { changed: host.status === 'changed', connections: host.stats.connections };
    };
    // Until a connection for the inventory's settings is kept.
    await runWith(lab.inventoryFile, 'three\n');
    await waitFor('the keeper to listen', () => existsSync(socket) && running(keeperPid()));
    await runWith(lab.inventoryFile, 'three\n');
    assert.deepEqual(await runWith(lab.inventoryFile, 'three\n'), { changed: false, connections: 0 });
    // Other settings log in on their own, and change the host.
    assert.deepEqual(await runWith(other, 'four\n'), { changed: true, connections: 1 });
    // The first settings' kept login went with that change.
    assert.deepEqual(await runWith(lab.inventoryFile, 'four\n'), { changed: false, connections: 1 });
    assert.deepEqual(await runWith(lab.inventoryFile, 'four\n'), { changed: false, connections: 0 });
    // A run that keeps nothing, and changes the host, tells the keeper too.
    assert.deepEqual(await runWith(lab.inventoryFile, 'five\n', { PROVISION_SSH_PERSIST: '0' }), { changed: true, connections: 1 });
    assert.deepEqual(await runWith(lab.inventoryFile, 'five\n'), { changed: false, connections: 1 });
  });
});
