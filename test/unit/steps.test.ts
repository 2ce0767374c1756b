import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { WriteConflictError, checkCandidates, performStep, writeFileScript } from '../../src/engine/steps.ts';
import type { ShellCommand } from '../../src/transport/shell.ts';
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

test('the dry-run checks validate every candidate in one command, each with its own bytes, and clean up', async () => {
  const d = dir();
  const path = (name: string) => join(d, name);
  const step = (name: string, content: string, validate: string, validationScope?: string) =>
    ({ kind: 'write-file', path: path(name), content, mode: '0644', ...owner, validate, ...(validationScope ? { validationScope } : {}) }) as const;
  const counter = path('scope-runs');
  // Counts its runs, and passes while the candidate says "good".
  const scoped = `sh -c 'echo x >> ${counter}; grep -q good "$1"' check %s`;
  const commands: string[] = [];
  const runner = { exec: (command: ShellCommand, options?: { stdin?: string }) => (commands.push(command.text), localRunner.exec(command, options)) };
  const verdicts = await checkCandidates(runner, [
    step('bad', 'bad\n', 'grep good %s'),
    // Its exact bytes (several for one character, no final newline), beside its target: the validator sees both.
    step('exact', 'größe ✓\n$(id) `x`', `case %s in ${d}/.provision-check-*) printf 'größe ✓\\n$(id) \x60x\x60' | cmp -s - %s ;; *) exit 1 ;; esac`),
    step('empty', '', 'test ! -s %s'),
    step('missing', 'x', 'no-such-validator-xyz %s'),
    step('scoped-a', 'good\n', scoped, 'set 1'),
    step('scoped-b', 'bad but covered by the set\n', scoped, 'set 1'),
    step('other-bad', 'bad\n', scoped, 'set 2'),
    step('other-b', 'good\n', scoped, 'set 2'),
    { kind: 'write-file', path: path('unchecked'), content: 'no validator', mode: '0644', ...owner },
    step(join('no-such-dir', 'conf'), 'good\n', 'grep -q good %s'),
  ]);
  assert.equal(commands.length, 1, 'one command for every candidate');
  assert.deepEqual(
    verdicts.map((verdict) => (verdict.ok ? 'ok' : verdict.missingValidator ? 'missing' : 'fails')),
    ['fails', 'ok', 'ok', 'missing', 'ok', 'ok', 'fails', 'ok', 'ok', 'ok'],
  );
  // A scope that passed skips its other candidates; one that failed has the next one checked.
  assert.equal(readFileSync(counter, 'utf8'), 'x\nx\nx\n');
  assert.deepEqual(readdirSync(d), ['scope-runs']);
});

test('a check that fails names its own output, and checks the command never reached fail unchecked', async () => {
  const d = dir();
  const step = (content: string, validate: string) => ({ kind: 'write-file', path: join(d, 'conf'), content, mode: '0644', ...owner, validate }) as const;
  const [loud, quiet] = await checkCandidates(localRunner, [step('bad\n', 'echo "bad line 3" >&2; exit 2 #%s'), step('x', 'true %s')]);
  assert.deepEqual(loud, { ok: false, missingValidator: false, message: 'bad line 3' });
  assert.deepEqual(quiet, { ok: true });
  // The shell ends at the first check (as if the connection were lost): the second is not taken as passed.
  const [, second] = await checkCandidates(localRunner, [step('x', 'kill -KILL $$ #%s'), step('x', 'true %s')]);
  assert.equal(second!.ok, false);
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

/** The SHA-256 of a text, as a write step expects it. */
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

test('compare-and-swap: a write lands only on the file the plan saw, and changes nothing else', async () => {
  const d = dir();
  const path = join(d, 'conf');
  writeFileSync(path, 'planned on this\n');
  await performStep(localRunner, { kind: 'write-file', path, content: 'new\n', mode: '0644', ...owner, expect: { sha256: sha('planned on this\n') } });
  assert.equal(readFileSync(path, 'utf8'), 'new\n');

  // Someone else wrote the file after the plan: the write is refused, the file and directory stay as they are.
  writeFileSync(path, 'edited by someone else\n');
  await assert.rejects(
    performStep(localRunner, { kind: 'write-file', path, content: 'newer\n', mode: '0644', ...owner, expect: { sha256: sha('new\n') } }),
    (error: Error) => error instanceof WriteConflictError && /conf changed since the plan; nothing was written/.test(error.message) && !/[0-9a-f]{64}/.test(error.message),
  );
  assert.equal(readFileSync(path, 'utf8'), 'edited by someone else\n');
  assert.deepEqual(readdirSync(d), ['conf']);

  // A file planned as absent that appeared since, and one planned as present that is gone, are refused the same way.
  const created = join(d, 'created');
  writeFileSync(created, 'appeared\n');
  await assert.rejects(performStep(localRunner, { kind: 'write-file', path: created, content: 'x', mode: '0644', ...owner, expect: { absent: true } }), /created since the plan/);
  assert.equal(readFileSync(created, 'utf8'), 'appeared\n');
  const gone = join(d, 'gone');
  await assert.rejects(performStep(localRunner, { kind: 'write-file', path: gone, content: 'x', mode: '0644', ...owner, expect: { sha256: sha('was here\n') } }), /removed or replaced since the plan/);
  assert.deepEqual(readdirSync(d).sort(), ['conf', 'created']);

  // Bytes that are not UTF-8 are compared as they are.
  const latin1 = join(d, 'latin1');
  writeFileSync(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
  await performStep(localRunner, { kind: 'write-file', path: latin1, content: 'café\n', mode: '0644', ...owner, expect: { sha256: createHash('sha256').update(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])).digest('hex') } });
  assert.equal(readFileSync(latin1, 'utf8'), 'café\n');
});

test('compare-and-swap costs one process: the sha256sum reads the file the shell opened', () => {
  const script = writeFileScript({ kind: 'write-file', path: '/etc/motd', content: 'x', mode: '0644', owner: 'root', group: 'root', expect: { sha256: sha('y') } }).text;
  // The write function is in the script twice (as root, and as a directory's owner): one sha256sum in each.
  assert.equal(script.match(/sha256sum/g)?.length, script.match(/mv -fT/g)?.length);
  assert.match(script, /sha256sum <"\$1"/);
  // The check comes after the candidate is complete, right before the rename.
  assert.ok(script.indexOf('sha256sum') < script.indexOf('mv -fT') && script.indexOf('sha256sum') > script.indexOf('cat > "$candidate"'));
  assert.doesNotMatch(writeFileScript({ kind: 'write-file', path: '/etc/motd', content: 'x', mode: '0644', owner: 'root', group: 'root' }).text, /sha256sum/);
});
