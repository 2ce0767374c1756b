import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkCandidate, performStep } from '../../src/engine/steps.ts';
import { localRunner } from '../support/local-runner.ts';
import { scratchDir } from '../support/scratch.ts';

const dir = () => scratchDir('provision-steps-');
const owner = { owner: String(process.getuid?.() ?? 0), group: String(process.getgid?.() ?? 0) };

test('a file is written with its final mode and exact content, leaving no temp file', async () => {
  const d = dir();
  const path = join(d, 'conf');
  const content = "weird 'content' $(id) `x`\n\nünï\n";
  await performStep(localRunner, { kind: 'write-file', path, content, mode: '0640', ...owner });
  assert.equal(readFileSync(path, 'utf8'), content);
  assert.equal(statSync(path).mode & 0o777, 0o640);
  assert.deepEqual(readdirSync(d), ['conf']);
});

test('a candidate that fails validation is never installed', async () => {
  const d = dir();
  const path = join(d, 'conf');
  writeFileSync(path, 'old\n');
  await assert.rejects(
    performStep(localRunner, { kind: 'write-file', path, content: 'bad\n', mode: '0644', ...owner, validate: `grep -q good %s` }),
    /validated by/,
  );
  assert.equal(readFileSync(path, 'utf8'), 'old\n');
  assert.deepEqual(readdirSync(d), ['conf']);
  await performStep(localRunner, { kind: 'write-file', path, content: 'good\n', mode: '0644', ...owner, validate: `grep -q good %s` });
  assert.equal(readFileSync(path, 'utf8'), 'good\n');
});

test('the dry-run check validates a candidate and cleans up', async () => {
  const d = dir();
  const path = join(d, 'conf');
  const bad = await checkCandidate(localRunner, { kind: 'write-file', path, content: 'bad\n', mode: '0644', ...owner, validate: 'grep good %s' });
  assert.equal(bad.ok, false);
  const good = await checkCandidate(localRunner, { kind: 'write-file', path, content: 'good\n', mode: '0644', ...owner, validate: 'grep -q good %s' });
  assert.equal(good.ok, true);
  const missing = await checkCandidate(localRunner, { kind: 'write-file', path, content: 'x', mode: '0644', ...owner, validate: 'no-such-validator-xyz %s' });
  assert.deepEqual(missing.ok === false && missing.missingValidator, true);
  assert.deepEqual(readdirSync(d), []);
});

test('a failing command reports its exit code and stderr', async () => {
  const { sh } = await import('../../src/transport/shell.ts');
  await assert.rejects(performStep(localRunner, { kind: 'run', command: sh`echo boom >&2; exit 4` }), /exit code 4[\s\S]*boom/);
  await performStep(localRunner, { kind: 'run', command: sh`exit 4`, okCodes: [0, 4] });
});

test('writes that share a validation scope are validated once in an apply, and a failed validation records nothing', async () => {
  const d = dir();
  const counter = join(d, 'validations');
  // Counts its runs in a file, and passes while the candidate says "good".
  const validate = `sh -c 'echo x >> ${counter}; grep -q good "$1"' check %s`;
  const environment = { verifyLogin: async () => {}, validatedScopes: new Set<string>() };
  const write = (name: string, content: string, validationScope?: string) =>
    performStep(localRunner, { kind: 'write-file', path: join(d, name), content, mode: '0644', ...owner, validate, ...(validationScope ? { validationScope } : {}) }, environment);
  const runs = () => readFileSync(counter, 'utf8').split('\n').filter(Boolean).length;

  await assert.rejects(write('a', 'bad\n', 'set 1'), /validated by/);
  assert.equal(runs(), 1);
  assert.deepEqual([...environment.validatedScopes], [], 'a failed validation stands for nothing');
  await write('a', 'good\n', 'set 1');
  await write('b', 'bad but covered by the set\n', 'set 1');
  assert.equal(runs(), 2, 'the second write of the scope is not validated again');
  assert.equal(readFileSync(join(d, 'b'), 'utf8'), 'bad but covered by the set\n');
  await assert.rejects(write('c', 'bad\n', 'set 2'), /validated by/);
  await assert.rejects(write('c', 'bad\n'), /validated by/);
  assert.equal(runs(), 4, 'another scope, or none, is validated on its own');
});
