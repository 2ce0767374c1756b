/** Bad input stops the CLI with exit code 2 and a located message, before any host is contacted. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.ts';

const MISSPELT = 'test/fixtures/cli/misspelt.yaml';

test('a misspelt variable names file, line, column and key path, suggests the right key, and exits 2', async () => {
  const result = await runCli(['apply', MISSPELT, '--dry-run']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /misspelt\.yaml:5:7: all\.vars\.updates\.reboot_tme: .*did you mean 'reboot_time'/);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(result.stdout, '');
});

test('usage mistakes exit 2 with a clear message', async () => {
  const cases: [string[], RegExp][] = [
    [['apply', 'no-such-inventory.yaml', '--dry-run'], /no-such-inventory\.yaml/],
    [['apply', MISSPELT, '--forks', '0'], /--forks/],
    [['apply', MISSPELT, '--detailed-exitcode'], /--detailed-exitcode goes with --dry-run/],
    [['frobnicate'], /Unknown argument|Unknown command|frobnicate/i],
    [[], /Name a command/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});

test('--limit that matches no host is an input error', async () => {
  const result = await runCli(['apply', 'inventory/example.yaml', '--dry-run', '--limit', 'nosuchhost'], {
    env: { HOME: fileURLToPath(new URL('../fixtures/inventory/home', import.meta.url)) },
  });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /nosuchhost/);
});

test('shell completion is available', async () => {
  const result = await runCli(['completion']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /complete -o bashdefault -o default -F _provision_yargs_completions provision/);
});
