/**
 * The approved plan is what runs: saved plans applied exactly (or refused), hosts whose state moved since the plan
 * refused as stale while the others go on, and writes that land only on the file the plan saw. Hosts are checked
 * through docker exec, never through provision's facts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { documentDigest, type SavedPlan } from '../../src/engine/plan-file.ts';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { runCli, type CliResult } from '../support/cli.ts';
import { scratchDir } from '../support/scratch.ts';

const PLAYBOOK = 'test/fixtures/playbooks/plans.ts';
/** The inventory's secrets: a password from the environment, and two written in the inventory itself. */
const PASSWORD = 'plan-password-Zq8vW3';
const INLINE_SECRET = 'inline-become-secret-7Hk2';

/** Runs provision with the password in the environment, as CI would give it. */
function provision(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { env: { PLANS_PASSWORD: PASSWORD, ...env } });
}

/** What a command printed, for assertion messages. */
const said = (result: CliResult) => `exit ${result.code}\n${result.stdout}\n${result.stderr}`;

describe('saved plans, stale hosts and compare-and-swap writes', () => {
  let lab: TestHosts;
  let dir: string;
  /** An inventory of the lab hosts whose managed file says `content`, with `race` for the compare-and-swap test. */
  let inventory: (content: string, options?: { race?: boolean }) => string;
  const cat = async (host: string, path: string) => (await lab.exec(host, ['cat', path])).stdout;
  const checksum = async (host: string) => (await lab.exec(host, ['sh', '-c', 'find /srv -xdev -printf "%p %m %s\\n" | sort; cat /srv/plans/* 2>/dev/null'])).stdout;

  before(async () => {
    lab = await startTestHosts([
      { name: 'node1', group: 'nodes' },
      { name: 'balancer1', group: 'balancers' },
    ]);
    dir = scratchDir('provision-plans-');
    const base = parse(readFileSync(lab.inventoryFile, 'utf8'));
    inventory = (content, options = {}) => {
      const document = structuredClone(base);
      document.all.vars.plans = { content, password: '${PLANS_PASSWORD}', race: options.race === true };
      document.all.vars.ansible_become_password = INLINE_SECRET;
      const file = join(dir, `inventory-${content}${options.race ? '-race' : ''}.yaml`);
      writeFileSync(file, stringify(document));
      return file;
    };
  });
  after(async () => lab?.stop());

  test('a saved plan holds no secret, shows as the dry run does, applies exactly; applied again, it applies nothing', async () => {
    const planFile = join(dir, 'first.json');
    const made = await provision(['plan', inventory('v1'), '--playbook', PLAYBOOK, '-o', planFile]);
    assert.equal(made.code, 0, said(made));
    assert.match(made.stdout, /would-change +file \/srv\/plans\/managed\.conf/);
    assert.equal(statSync(planFile).mode & 0o777, 0o600);
    const text = readFileSync(planFile, 'utf8');
    for (const value of [PASSWORD, INLINE_SECRET]) {
      for (const form of [value, Buffer.from(value).toString('base64').slice(0, 12), Buffer.from(value).toString('hex')]) assert.ok(!text.includes(form), `the plan holds ${form}`);
    }
    assert.ok(text.includes('managed=v1'), 'a file without a secret is in the plan, for the review');

    const shown = await provision(['show', planFile]);
    assert.equal(shown.code, 0, said(shown));
    assert.match(shown.stdout, /would-change +file \/srv\/plans\/managed\.conf[\s\S]*\+managed=v1/);
    assert.match(shown.stdout, /secret content of \/srv\/plans\/secret\.conf created; not shown/);
    assert.match(shown.stdout, /PLAN RECAP\nnode1 +ok=0 +would-change=3/);
    const data = JSON.parse((await provision(['show', planFile, '--json'])).stdout);
    assert.equal(data.hosts.balancer1.status, 'changed');
    assert.equal(data.plan.inventory[0], inventory('v1'));

    const applied = await provision(['apply', planFile]);
    assert.equal(applied.code, 0, said(applied));
    for (const host of ['node1', 'balancer1']) {
      assert.equal(await cat(host, '/srv/plans/managed.conf'), 'managed=v1\n');
      // The secret's content was never in the plan: it was made again from the inventory, and matched the plan's digest.
      assert.equal(await cat(host, '/srv/plans/secret.conf'), `password=${PASSWORD}\n`);
    }
    assert.ok(!applied.stdout.includes(PASSWORD));

    const states = await Promise.all(['node1', 'balancer1'].map(checksum));
    const again = await provision(['apply', planFile, '--json']);
    assert.equal(again.code, 1, said(again));
    const result = JSON.parse(again.stdout);
    for (const host of ['node1', 'balancer1']) {
      assert.ok(['stale', 'ok'].includes(result.hosts[host].status), `${host}: ${result.hosts[host].status}`);
      assert.ok(!result.hosts[host].tasks.some((task: { status: string }) => task.status === 'changed'));
    }
    assert.match(result.hosts.node1.stale.join('\n'), /\/srv\/plans\/managed\.conf changed since the plan/);
    assert.deepEqual(await Promise.all(['node1', 'balancer1'].map(checksum)), states, 'nothing was applied twice');
  });

  test('a host whose managed file was edited after the plan is refused as stale, the other applied; planned again, it converges', async () => {
    const planFile = join(dir, 'second.json');
    const made = await provision(['plan', inventory('v2'), '--playbook', PLAYBOOK, '-o', planFile]);
    assert.equal(made.code, 0, said(made));
    await lab.exec('node1', ['sh', '-c', 'echo "edited by hand" > /srv/plans/managed.conf']);

    const applied = await provision(['apply', planFile]);
    assert.equal(applied.code, 1, said(applied));
    assert.match(applied.stdout, /── node1 ─+\n  stale: nothing was applied on this host[^\n]*\n    \/srv\/plans\/managed\.conf changed since the plan/);
    assert.match(applied.stdout, /node1 +ok=\d+ +changed=0 +failed=0 +skipped=1 +unreachable=0 +stale=1/);
    assert.match(applied.stdout, /balancer1 +ok=\d+ +changed=1 +failed=0 +skipped=0 +unreachable=0 +stale=0/);
    assert.equal(await cat('node1', '/srv/plans/managed.conf'), 'edited by hand\n');
    assert.equal(await cat('balancer1', '/srv/plans/managed.conf'), 'managed=v2\n');

    const fresh = join(dir, 'third.json');
    assert.equal((await provision(['plan', inventory('v2'), '--playbook', PLAYBOOK, '-o', fresh])).code, 0);
    const converged = await provision(['apply', fresh]);
    assert.equal(converged.code, 0, said(converged));
    assert.equal(await cat('node1', '/srv/plans/managed.conf'), 'managed=v2\n');
    const check = await provision(['apply', inventory('v2'), '--playbook', PLAYBOOK, '--dry-run', '--detailed-exitcode']);
    assert.equal(check.code, 0, said(check));
  });

  test('an altered plan, a changed inventory or an old plan is refused before any host is touched; a forged one changes nothing where it lies', async () => {
    const planFile = join(dir, 'fourth.json');
    assert.equal((await provision(['plan', inventory('v3'), '--playbook', PLAYBOOK, '-o', planFile])).code, 0);
    const states = await Promise.all(['node1', 'balancer1'].map(checksum));
    const plan = JSON.parse(readFileSync(planFile, 'utf8')) as SavedPlan;
    const write = (name: string, document: SavedPlan) => {
      const path = join(dir, name);
      writeFileSync(path, JSON.stringify(document, null, 2));
      return path;
    };
    const managedChange = (document: SavedPlan, host: string) => document.hosts.find((entry) => entry.name === host)!.tasks.find((task) => task.name === 'file /srv/plans/managed.conf')!.changes[0]!;

    // An edited change, its digest left as it was.
    const altered = structuredClone(plan);
    const change = managedChange(altered, 'node1');
    if (change.diff && 'after' in change.diff) change.diff.after = 'managed=harmless\n';
    const refused = await provision(['apply', write('altered.json', altered)]);
    assert.equal(refused.code, 2, said(refused));
    assert.match(refused.stderr, /it was altered after it was written/);

    const changedPassword = await provision(['apply', planFile], { PLANS_PASSWORD: 'another-password' });
    assert.equal(changedPassword.code, 2, said(changedPassword));
    assert.match(changedPassword.stderr, /the inventory is not the one the plan was made from[\s\S]*the variables of node1 differ/);
    assert.ok(!changedPassword.stderr.includes('another-password'));

    const old = await provision(['apply', planFile, '--max-age', '0']);
    assert.equal(old.code, 2, said(old));
    assert.match(old.stderr, /longer than --max-age 0/);
    assert.deepEqual(await Promise.all(['node1', 'balancer1'].map(checksum)), states, 'nothing was touched');

    // A forged change, the document's digest made again: the plan made again differs there, so that host gets nothing.
    const forged = structuredClone(plan);
    const lie = managedChange(forged, 'node1');
    if (lie.diff && 'after' in lie.diff) lie.diff.after = 'managed=forged\n';
    forged.digest = documentDigest(forged);
    const applied = await provision(['apply', write('forged.json', forged)]);
    assert.equal(applied.code, 1, said(applied));
    assert.match(applied.stdout, /node1 [\s\S]*stale[\s\S]*file \/srv\/plans\/managed\.conf now does something other than the saved plan shows/);
    assert.equal(await cat('node1', '/srv/plans/managed.conf'), 'managed=v2\n');
    assert.equal(await cat('balancer1', '/srv/plans/managed.conf'), 'managed=v3\n');
  });

  test('on a terminal, a file edited while the prompt waits is not overwritten: its host is refused as stale, the other applied', async () => {
    const command = `node bin/provision.js apply ${inventory('v4')} --playbook ${PLAYBOOK}`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, NO_COLOR: '1', PLANS_PASSWORD: PASSWORD, PROVISION_SSH_PERSIST: '0' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 255)));
    const prompted = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no prompt within 120 s:\n${output}`)), 120_000);
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (/Apply these changes to 2 hosts\? \[y\/N\]/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    try {
      await prompted;
      assert.match(output, /would-change +file \/srv\/plans\/managed\.conf[\s\S]*\+managed=v4/);
      await lab.exec('node1', ['sh', '-c', 'echo "edited while the prompt waited" > /srv/plans/managed.conf']);
      child.stdin.write('y\n');
      const code = await Promise.race([exited, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`no exit within 120 s:\n${output}`)), 120_000))]);
      assert.equal(code, 1, output);
    } finally {
      child.kill('SIGKILL');
    }
    assert.match(output, /stale: nothing was applied on this host[\s\S]*\/srv\/plans\/managed\.conf changed since the plan/);
    assert.equal(await cat('node1', '/srv/plans/managed.conf'), 'edited while the prompt waited\n');
    assert.equal(await cat('balancer1', '/srv/plans/managed.conf'), 'managed=v4\n');
  });

  test('compare-and-swap: a file rewritten after the check and before the write is left as it is, and the task fails', async () => {
    await lab.exec('node1', ['sh', '-c', 'echo original > /srv/plans/raced.conf']);
    const result = await provision(['apply', inventory('v4', { race: true }), '--playbook', PLAYBOOK, '--limit', 'node1', '--yes']);
    assert.equal(result.code, 1, said(result));
    assert.match(result.stdout, /failed +file \/srv\/plans\/raced\.conf\n.*\/srv\/plans\/raced\.conf changed since the plan; nothing was written/);
    assert.equal(await cat('node1', '/srv/plans/raced.conf'), 'written by another hand\n');
  });
});
