/** Interrupted runs: a cut connection or Ctrl-C leaves no half-written file, the others finish, the next run converges. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli, type CliResult } from '../support/cli.ts';

const PLAYBOOK = 'test/fixtures/playbooks/slow.ts';
const BIN = fileURLToPath(new URL('../../bin/provision.js', import.meta.url));

/** Starts the CLI and returns its handle and its eventual result. */
function startCli(args: string[]): { child: ReturnType<typeof spawn>; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? 255, stdout, stderr })));
  return { child, done };
}

/** Waits (at most 30 s) until `path` exists on the host, checked through docker exec. */
async function waitForFile(lab: TestHosts, name: string, path: string): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if ((await lab.exec(name, ['test', '-e', path])).exitCode === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${path} never appeared on ${name}`);
}

async function leftovers(lab: TestHosts, name: string): Promise<string> {
  return (await lab.exec(name, ['sh', '-c', 'ls -a /srv/slow | grep provision || true'])).stdout.trim();
}

describe('interrupted runs', () => {
  let lab: TestHosts;
  before(async () => {
    lab = await startTestHosts([
      { name: 'cut', group: 'nodes' },
      { name: 'steady', group: 'nodes' },
    ]);
  });
  after(async () => lab?.stop());

  test('a connection cut mid-apply: that host is unreachable, the other finishes, nothing is half-written, the next run converges', async () => {
    const run = startCli(['apply', lab.inventoryFile, '--yes', '--json', '--playbook', PLAYBOOK]);
    await waitForFile(lab, 'cut', '/srv/slow/sleeping');
    // Kill the SSH session's server process: the connection dies while `sleep 4` runs.
    await lab.exec('cut', ['pkill', '-KILL', '-f', 'sshd: root@notty']);
    const result = await run.done;
    assert.equal(result.code, 1, result.stderr);
    const report = parseRun(result);
    assert.equal(report.hosts.cut?.status, 'unreachable');
    assert.equal(report.hosts.steady?.status, 'changed');
    assert.equal(report.summary.unreachable, 1);
    assert.equal((await lab.exec('steady', ['cat', '/srv/slow/last'])).stdout.length, 10_000);
    assert.equal((await lab.exec('cut', ['cat', '/srv/slow/first'])).stdout, 'first\n');
    assert.equal((await lab.exec('cut', ['test', '-e', '/srv/slow/last'])).exitCode, 1);
    assert.equal(await leftovers(lab, 'cut'), '');

    const again = await runCli(['apply', lab.inventoryFile, '--yes', '--json', '--playbook', PLAYBOOK]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal((await lab.exec('cut', ['cat', '/srv/slow/last'])).stdout.length, 10_000);
    assert.equal(parseRun(await runCli(['apply', lab.inventoryFile, '--yes', '--json', '--playbook', PLAYBOOK])).summary.changed, 0);
  });

  test('Ctrl-C starts no new task, lets the step in flight finish, prints the recap and exits non-zero', async () => {
    await lab.exec('steady', ['rm', '-rf', '/srv/slow']);
    const run = startCli(['apply', lab.inventoryFile, '--yes', '--playbook', PLAYBOOK, '--limit', 'steady']);
    // Interrupt once the 4-second step runs: `first` alone may show up a moment before that step starts.
    await waitForFile(lab, 'steady', '/srv/slow/sleeping');
    run.child.kill('SIGINT');
    const result = await run.done;
    assert.equal(result.code, 130);
    assert.match(result.stderr, /Interrupted: finishing the steps in flight/);
    assert.match(result.stdout, /RECAP/);
    assert.match(result.stdout, /skipped +file \/srv\/slow\/last \(the run was interrupted\)/);
    assert.equal((await lab.exec('steady', ['test', '-e', '/srv/slow/slept'])).exitCode, 0, 'the step in flight finished');
    assert.equal((await lab.exec('steady', ['test', '-e', '/srv/slow/last'])).exitCode, 1, 'no new task started');
    assert.equal(await leftovers(lab, 'steady'), '');
  });
});
