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
