import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { batchScript, gatherFacts, splitBatchOutput } from '../../src/engine/gather.ts';
import { sh, type ShellCommand } from '../../src/transport/shell.ts';
import type { Fact } from '../../src/engine/types.ts';

const raw = (key: string, command: ShellCommand): Fact<{ stdout: string; code: number }> => ({ key, command, parse: (o) => o });

/** Runs commands on this machine's /bin/sh: the batch script is plain POSIX shell. */
const localRunner = {
  calls: 0,
  async exec(command: ShellCommand, options: { stdin?: string } = {}) {
    this.calls += 1;
    try {
      const stdout = execFileSync('/bin/sh', ['-c', command.text], { encoding: 'utf8', input: options.stdin ?? '' });
      return { stdout, stderr: '', code: 0 };
    } catch (error) {
      const e = error as { stdout: string; stderr: string; status: number };
      return { stdout: e.stdout, stderr: e.stderr, code: e.status };
    }
  },
};

test('facts are gathered in one round trip, each with its exact stdout and exit code', async () => {
  localRunner.calls = 0;
  const facts = [
    raw('a', sh`printf 'no newline'`),
    raw('b', sh`printf 'two\n\n'`),
    raw('c', sh`echo err >&2; exit 3`),
    raw('d', sh`cat`), // must not swallow the rest of the script
    raw('e', sh`printf ''`),
  ];
  const values = await gatherFacts(localRunner, facts);
  assert.equal(localRunner.calls, 1);
  assert.deepEqual(values.get('a'), { stdout: 'no newline', code: 0 });
  assert.deepEqual(values.get('b'), { stdout: 'two\n\n', code: 0 });
  assert.deepEqual(values.get('c'), { stdout: '', code: 3 });
  assert.deepEqual(values.get('d'), { stdout: '', code: 0 });
  assert.deepEqual(values.get('e'), { stdout: '', code: 0 });
});

test('duplicate fact keys are asked once', async () => {
  const fact = raw('same', sh`echo once`);
  const script = batchScript([fact], 'M');
  assert.match(script.text, /echo once/);
  const values = await gatherFacts(localRunner, [fact, fact]);
  assert.equal(values.size, 1);
});

test('a truncated batch is an error, not a silently missing fact', () => {
  assert.throws(() => splitBatchOutput('x\nM 0 0\n', 2, 'M'), /fact output 1 is missing/);
});

test('facts of one batch kind are asked in one command, and each reads the same value as when asked alone', async () => {
  const { mkdtempSync, writeFileSync, mkdirSync, symlinkSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { pathState } = await import('../../tasks/core/files.facts.ts');
  const dir = mkdtempSync(join(tmpdir(), 'provision-batch-'));
  writeFileSync(join(dir, 'plain'), 'line one\n\nünï | pipes | here\n');
  writeFileSync(join(dir, 'empty'), '');
  writeFileSync(join(dir, 'name with | pipe and spaces'), 'x');
  mkdirSync(join(dir, 'sub'));
  symlinkSync(join(dir, 'plain'), join(dir, 'link'));
  const paths = ['plain', 'empty', 'name with | pipe and spaces', 'sub', 'link', 'absent', 'plain'].map((name) => join(dir, name));
  const facts = paths.map((path) => pathState(path));
  localRunner.calls = 0;
  const batched = await gatherFacts(localRunner, facts);
  assert.equal(localRunner.calls, 1);
  for (const fact of facts) {
    const { batch: _batch, ...alone } = fact;
    const single = await gatherFacts(localRunner, [alone]);
    assert.deepEqual(batched.get(fact.key), single.get(fact.key), fact.key);
  }
  assert.equal((batched.get(`file:${join(dir, 'plain')}`) as { content: string }).content, 'line one\n\nünï | pipes | here\n');
  assert.deepEqual(batched.get(`file:${join(dir, 'absent')}`), { type: 'absent' });
  assert.equal((batched.get(`file:${join(dir, 'link')}`) as { type: string }).type, 'link');
  rmSync(dir, { recursive: true, force: true });
});

test('path states are cut apart by the sizes stat printed; a file that changed size meanwhile is an error', async () => {
  const { splitPathStates } = await import('../../tasks/core/files.facts.ts');
  const stat = 'regular file|644|root|root|3|/a\nregular empty file|600|root|root|0|/b\ndirectory|755|root|root|4096|/d\nregular file|644|root|root|2|/c';
  const names = '/a\n/b\n/c';
  const ok = splitPathStates({ stdout: `${stat}\n--contents--\n${names}\n\n${Buffer.from('abcde').toString('base64')}`, code: 0 }, ['/a', '/b', '/c', '/d', '/e']);
  assert.deepEqual(ok.map((output) => output.stdout), [
    `regular file|644|root|root\n${Buffer.from('abc').toString('base64')}`,
    'regular empty file|600|root|root\n',
    `regular file|644|root|root\n${Buffer.from('de').toString('base64')}`,
    'directory|755|root|root\n',
    'absent\n',
  ]);
  assert.throws(
    () => splitPathStates({ stdout: `${stat}\n--contents--\n${names}\n\n${Buffer.from('abcdef').toString('base64')}`, code: 0 }, ['/a']),
    /\/a, \/b, \/c changed while being read, or a link was put in the way \(6 bytes read, 5 expected\)/,
  );
});

test('a batch kind becomes one question in the place of its first fact', async () => {
  const { questionsFor } = await import('../../src/engine/gather.ts');
  const { unitState, splitUnitStates } = await import('../../tasks/core/systemd.facts.ts');
  const facts = [unitState('ssh'), raw('other', sh`true`), unitState('fail2ban'), unitState('ssh.socket')];
  const questions = questionsFor(facts);
  assert.equal(questions.length, 2);
  assert.equal(questions[0]!.command.text, "systemctl show -p LoadState -p ActiveState -p UnitFileState -- ssh.service fail2ban.service ssh.socket");
  const shown = 'LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n\nLoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n';
  const values = new Map<string, unknown>();
  questions[0]!.answer({ stdout: shown, code: 0 }, values);
  assert.deepEqual(values.get('systemd:ssh.service'), { load: 'loaded', active: 'active', unitFile: 'enabled' });
  assert.deepEqual(values.get('systemd:fail2ban.service'), { load: 'not-found', active: 'inactive', unitFile: '' });
  assert.deepEqual(values.get('systemd:ssh.socket'), { load: 'loaded', active: 'inactive', unitFile: 'disabled' });
  assert.equal(splitUnitStates({ stdout: shown, code: 0 }, ['a', 'b', 'c', 'd'])[3]!.stdout, '', 'a missing block reads as nothing');
});

test('what a fact says is secret in its value is masked as soon as the fact is read, also when another fact of its key was asked', async () => {
  const { containsSecret, redact } = await import('../../src/report/redact.ts');
  const { readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const { pathState } = await import('../../tasks/core/files.facts.ts');
  const { nodeConfigFile } = await import('../../tasks/node/facts.ts');
  const { nodeNamespace } = await import('../../tasks/node/vars.ts');
  const token = 'gathered-secret-token-5f3a9c';
  const carrier: Fact<string> = { key: 'test:carrier', command: sh`echo ${token}`, parse: (o) => o.stdout.trim(), secrets: (value) => [value] };
  assert.equal(containsSecret(token), false);
  await gatherFacts(localRunner, [carrier]);
  assert.equal(redact(`the token is ${token}`), 'the token is ********');
  // The node's config, read by the files fact under the same key as a plain read of the file: its identity key is a secret.
  const path = fileURLToPath(new URL('../fixtures/node/hornet-2.config.json', import.meta.url));
  const identity = /"identityPrivateKey":\s*"([0-9a-f]{64})"/.exec(readFileSync(path, 'utf8'))?.[1];
  assert.ok(identity, 'the fixture holds an identity key');
  assert.equal(containsSecret(identity), false);
  const vars = nodeNamespace.schema('/').parse({ config_path: path });
  await gatherFacts(localRunner, [nodeConfigFile(vars), pathState(path)]);
  assert.equal(containsSecret(identity), true);
});
