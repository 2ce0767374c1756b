/** The CLI habits Ansible users bring: -i, --check, --diff, -e, --list-hosts, vault flags, `inventory`; and help that fits. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRun, runCli } from '../support/cli.ts';
import { writeProject } from './inventory-helpers.ts';

const PROJECT = fileURLToPath(new URL('../fixtures/ansible-project/', import.meta.url));
const VAULT = ['--vault-password-file', join(PROJECT, 'vault-pass.txt'), '--vault-id', `prod@${join(PROJECT, 'prod-pass.txt')}`];

/** Hosts on a port nothing listens on: a run fails fast, and no host is touched. */
const unreachable = () =>
  writeProject({
    hosts: '[nodes]\nn1 ansible_host=127.0.0.1 ansible_port=1\n[balancers]\nb1 ansible_host=127.0.0.1 ansible_port=1\n[all:vars]\nssh_connect_timeout=1\nssh_connect_retries=0\nhornet_version=2.0\n',
  });

test('-i names the inventory, as the positional argument does, and several are merged', async () => {
  const dir = writeProject({ 'a.ini': '[web]\nw1\n', 'b.ini': '[db]\nd1\n' });
  const one = await runCli(['validate', '-i', join(dir, 'a.ini')]);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /valid — 1 host\n {2}web: w1/);
  const both = await runCli(['validate', join(dir, 'a.ini'), '-i', join(dir, 'b.ini')]);
  assert.equal(both.code, 0, both.stderr);
  assert.match(both.stdout, /valid — 2 hosts\n {2}web: w1\n {2}db: d1/);
  // `-e` takes one value: the inventory after it is still the inventory, as with ansible-playbook.
  const after = await runCli(['validate', '-e', 'level=x', join(dir, 'a.ini')]);
  assert.equal(after.code, 0, after.stderr);
  const missing = await runCli(['validate', join(dir, 'a.ini'), '-e']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^error: Not enough arguments following: e\n$/);
  const none = await runCli(['validate']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /name an inventory: a file or directory after the command, or -i INVENTORY/);
});

test('--check is --dry-run and --diff is accepted: a check with --detailed-exitcode plans (no host reachable here)', async () => {
  const dir = unreachable();
  const result = await runCli(['apply', '-i', join(dir, 'hosts'), '--check', '--diff', '--json', '--detailed-exitcode']);
  assert.equal(result.code, 1, result.stderr);
  const run = parseRun(result);
  assert.equal(run.mode, 'dry-run');
  assert.equal(run.summary.unreachable, 2);
});

test('--list-hosts lists each play with its hosts (after --limit) and contacts none; -v names the ignored variables', async () => {
  const dir = unreachable();
  const result = await runCli(['apply', join(dir, 'hosts'), '--list-hosts', '--limit', 'n1,b1', '-v']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^playbook: playbooks\/site\.ts\n/);
  assert.match(result.stdout, / {2}play #\d+ \(nodes\): node\n {4}hosts \(1\):\n {6}n1\n/);
  assert.match(result.stdout, / {2}play #\d+ \(balancers\): balancer\n {4}hosts \(1\):\n {6}b1\n/);
  assert.match(result.stdout, / {2}play #\d+ \(all\): firewall\n {4}hosts \(2\):\n {6}n1\n {6}b1\n/);
  assert.match(result.stderr, /not provision's variables \(loaded and ignored\): 1\n {2}.*hosts:8:1: hornet_version/);
  const limited = await runCli(['apply', join(dir, 'hosts'), '--list-hosts', '-l', 'nodes']);
  assert.doesNotMatch(limited.stdout, /b1/);
});

test('-e on the command line wins, and a bad one is exit 2 with where it is', async () => {
  const dir = unreachable();
  const bad = await runCli(['validate', join(dir, 'hosts'), '-e', 'ansible_port=abc']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--extra-vars:1:14: ansible_port: expected a port number/);
  const listed = await runCli(['inventory', join(dir, 'hosts'), '--host', 'n1', '-e', 'ansible_port=2222', '--extra-vars', '{"ssh": {"port": 2200}}']);
  assert.equal(listed.code, 0, listed.stderr);
  const vars = JSON.parse(listed.stdout) as { ansible_port: number; ssh: { port: number; max_auth_tries: number } };
  assert.equal(vars.ansible_port, 2222);
  assert.deepEqual([vars.ssh.port, vars.ssh.max_auth_tries], [2200, 3]);
});

test('inventory --list and --host print ansible-inventory\'s shape with defaults filled in; an unknown host is exit 2', async () => {
  const list = await runCli(['inventory', join(PROJECT, 'hosts.ini'), '--list', ...VAULT]);
  assert.equal(list.code, 0, list.stderr);
  const document = JSON.parse(list.stdout) as { _meta: { hostvars: Record<string, Record<string, unknown>> }; all: { children: string[] }; nodes: { hosts: string[] } };
  assert.deepEqual(document.all.children, ['ungrouped', 'europe', 'nodes', 'balancers', 'alpha', 'beta', 'iota'].filter((name) => document.all.children.includes(name)));
  assert.deepEqual(document.nodes.hosts, ['node01', 'node02', 'node03', 'node04']);
  const node04 = document._meta.hostvars.node04!;
  assert.equal(node04.ansible_port, 2201);
  assert.equal(node04.ansible_user, 'deploy');
  assert.equal(node04.ssh_persist, 60);
  assert.deepEqual((node04.fail2ban as { maxretry: number; bantime: number }).maxretry, 4);
  const host = await runCli(['inventory', join(PROJECT, 'hosts.ini'), '--host', 'node04', ...VAULT]);
  assert.deepEqual(JSON.parse(host.stdout), node04);
  const unknown = await runCli(['inventory', join(PROJECT, 'hosts.ini'), '--host', 'nosuch', ...VAULT]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no host 'nosuch' in the inventory/);
  const neither = await runCli(['inventory', join(PROJECT, 'hosts.ini')]);
  assert.equal(neither.code, 2);
  assert.match(neither.stderr, /give either --list or --host NAME/);
});

test('validate lists the variables it ignores, the files Ansible skips, and vars files nothing reads', async () => {
  const result = await runCli(['validate', join(PROJECT, 'hosts.ini'), ...VAULT]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /not provision's variables \(loaded and ignored\): \d+\n/);
  assert.match(result.stdout, /group_vars\/nodes\/vault\.yml \(decrypted\):1:1: hornet_dashboard_password/);
  assert.match(result.stdout, /not read \(no group or host of that name, or NAME\/ is read instead\): .*group_vars\/nodes\.yml/);
  const directory = await runCli(['validate', join(PROJECT, 'inventory-dir'), ...VAULT], { cwd: PROJECT });
  assert.match(directory.stdout, /not read \(skipped in an inventory directory, as Ansible does\): .*README\.md, .*hosts\.ini/);
  // Run from a directory whose group_vars/ Ansible would read as the playbook's: provision says it does not.
  assert.match(directory.stdout, /not read: \.\/group_vars\/ and \.\/host_vars\/ of this directory \(only those beside the inventory are read; move them there\)/);
});

test('vault: no password, a wrong one, or an altered file is exit 2 naming the file and line; ANSIBLE_VAULT_PASSWORD_FILE works', async () => {
  const none = await runCli(['validate', join(PROJECT, 'hosts.ini')]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /group_vars\/nodes\/vault\.yml:1:1: this value is encrypted with Ansible Vault: give --vault-password-file FILE/);
  const dir = writeProject({ 'wrong.txt': 'wrong-password\n' });
  const wrong = await runCli(['validate', join(PROJECT, 'hosts.ini'), '--vault-password-file', join(dir, 'wrong.txt')]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /group_vars\/nodes\/vault\.yml:1:1: cannot decrypt this vault-encrypted vars file: wrong vault password/);
  const fromEnv = await runCli(['validate', join(PROJECT, 'hosts.ini'), '--vault-id', `prod@${join(PROJECT, 'prod-pass.txt')}`], { env: { ANSIBLE_VAULT_PASSWORD_FILE: join(PROJECT, 'vault-pass.txt') } });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  assert.doesNotMatch(fromEnv.stdout + fromEnv.stderr, /fixture-vault-password|swordfish/);
});

test('--ask-vault-pass asks on the terminal, and what is typed is not shown', () => {
  const bin = fileURLToPath(new URL('../../bin/provision.js', import.meta.url));
  const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, bin, 'validate', join(PROJECT, 'hosts.ini'), '--ask-vault-pass', '--vault-id', `prod@${join(PROJECT, 'prod-pass.txt')}`].map(quote).join(' ');
  // The answer comes a moment later, as typed: the prompt is up by then.
  const run = spawnSync('sh', ['-c', `(sleep 2; printf 'fixture-vault-password\\r') | script -qec ${quote(command)} /dev/null`], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const [, afterPrompt = ''] = run.stdout.split('Vault password: ');
  assert.match(afterPrompt, /valid — 6 hosts/);
  assert.doesNotMatch(afterPrompt, /fixture-vault-password/);
});

test('--help fits the terminal and never cuts a word', async () => {
  const result = await runCli(['apply', '--help']);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.split('\n');
  assert.ok(lines.every((line) => line.length <= 80), lines.find((line) => line.length > 80));
  const text = result.stdout.replace(/\s+/g, ' ');
  for (const phrase of ['list tasks already in place, variables provision ignores, and each remote command (secrets masked)', 'plan and show diffs only; change nothing (--check as in Ansible)']) {
    assert.ok(text.includes(phrase), phrase);
  }
});
