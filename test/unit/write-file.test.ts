/** The atomic write script, run by this machine's /bin/sh in a temp dir: content, mode and owner, and no half-written target. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { checkCandidate, performStep } from '../../src/engine/steps.ts';
import type { WriteFileStep } from '../../src/engine/types.ts';
import { localRunner } from '../support/local-runner.ts';

const owner = userInfo().username;
const group = execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();

function step(path: string, content: string, extra: Partial<WriteFileStep> = {}): WriteFileStep {
  return { kind: 'write-file', path, content, mode: '0640', owner, group, ...extra };
}

test('a write puts the exact content in place with its mode and owner, and leaves no temp file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-write-'));
  const path = join(dir, 'file.conf');
  const content = `größe ✓ 'quoted' "double" $(not run) \`nor this\`\n\nno newline at the end`;
  await performStep(localRunner, step(path, content));
  assert.equal(readFileSync(path, 'utf8'), content);
  assert.equal((statSync(path).mode & 0o7777).toString(8), '640');
  // Over an existing file, with another mode: replaced whole.
  writeFileSync(path, 'old\n', { mode: 0o600 });
  await performStep(localRunner, step(path, 'new\n', { mode: '0644' }));
  assert.equal(readFileSync(path, 'utf8'), 'new\n');
  assert.equal((statSync(path).mode & 0o7777).toString(8), '644');
  await performStep(localRunner, step(path, ''));
  assert.equal(readFileSync(path, 'utf8'), '');
  assert.deepEqual(readdirSync(dir), ['file.conf']);
});

test('a candidate that fails validation never replaces the target, and no temp file is left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-write-'));
  const path = join(dir, 'file.conf');
  writeFileSync(path, 'good\n');
  await assert.rejects(performStep(localRunner, step(path, 'bad\n', { validate: 'grep -q good %s' })), /validated by: grep -q good %s/);
  assert.equal(readFileSync(path, 'utf8'), 'good\n');
  assert.deepEqual(readdirSync(dir), ['file.conf']);
  await performStep(localRunner, step(path, 'still good\n', { validate: 'grep -q good %s' }));
  assert.equal(readFileSync(path, 'utf8'), 'still good\n');
});

test('a dry-run check validates the candidate beside its target (or in the temp dir when the directory is missing), and removes it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-check-'));
  const beside = (where: string) => `case %s in ${where}/.provision-check-*) grep -qx ok %s ;; *) exit 1 ;; esac`;
  assert.deepEqual(await checkCandidate(localRunner, step(join(dir, 'file.conf'), 'ok\n', { validate: beside(dir) })), { ok: true });
  const failed = await checkCandidate(localRunner, step(join(dir, 'file.conf'), 'not ok\n', { validate: beside(dir) }));
  assert.equal(failed.ok, false);
  assert.deepEqual(readdirSync(dir), []);
  const elsewhere = await checkCandidate(localRunner, step(join(dir, 'missing', 'file.conf'), 'ok\n', { validate: 'grep -qx ok %s' }));
  assert.deepEqual(elsewhere, { ok: true });
  const missing = await checkCandidate(localRunner, step(join(dir, 'file.conf'), 'ok\n', { validate: 'no-such-validator %s' }));
  assert.equal(missing.ok === false && missing.missingValidator, true);
  assert.deepEqual(readdirSync(dir), []);
});
