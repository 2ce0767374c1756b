/**
 * The write script where other users own directories: never root acting by name where someone else can rename
 * entries. Run on this machine's /bin/sh as root (the user-owned cases need root, to act as another user).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkCandidates, performStep } from '../../src/engine/steps.ts';
import { directoryScript, writeFileScript } from '../../src/engine/write-script.ts';
import type { WriteFileStep } from '../../src/engine/types.ts';
import { localRunner } from '../support/local-runner.ts';
import { scratchDir } from '../support/scratch.ts';

const asRoot = process.getuid?.() === 0;
const NOBODY = { uid: 65534, gid: 65534 };
const DAEMON_UID = 1;

/** A directory of `nobody`'s (mode 0750) in a fresh scratch directory of root's. */
function nobodysDirectory(): { root: string; dir: string } {
  const root = scratchDir('provision-write-');
  const dir = join(root, 'service');
  mkdirSync(dir, { mode: 0o750 });
  chownSync(dir, NOBODY.uid, NOBODY.gid);
  return { root, dir };
}

const write = (path: string, content: string, more: Partial<WriteFileStep> = {}): WriteFileStep => ({ kind: 'write-file', path, content, mode: '0640', owner: 'nobody', group: 'nogroup', ...more });

async function run(step: WriteFileStep): Promise<{ code: number; stderr: string }> {
  return localRunner.exec(writeFileScript(step), { stdin: step.content });
}

test('in a directory another user owns, the file is written as that user: its owner, group and mode, no temp file left', { skip: !asRoot && 'needs root' }, async () => {
  const { dir } = nobodysDirectory();
  const path = join(dir, 'config.json');
  writeFileSync(path, '{}\n');
  chownSync(path, NOBODY.uid, NOBODY.gid);
  await performStep(localRunner, write(path, '{"pow": true}\n'));
  assert.equal(readFileSync(path, 'utf8'), '{"pow": true}\n');
  const stats = statSync(path);
  assert.deepEqual([stats.uid, stats.gid, stats.mode & 0o777], [NOBODY.uid, NOBODY.gid, 0o640]);
  assert.deepEqual(readdirSync(dir), ['config.json']);
  // Numbers name the owner as well as names do.
  await performStep(localRunner, write(path, 'v2\n', { owner: String(NOBODY.uid), group: String(NOBODY.gid), mode: '0600' }));
  assert.deepEqual([statSync(path).uid, statSync(path).mode & 0o777], [NOBODY.uid, 0o600]);
});

test('a root file in a directory another user owns is refused: that user could replace it anyway', { skip: !asRoot && 'needs root' }, async () => {
  const { dir } = nobodysDirectory();
  const path = join(dir, 'root.conf');
  writeFileSync(path, 'old\n');
  const result = await run(write(path, 'new\n', { owner: 'root', group: 'root' }));
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /refusing to change .*root\.conf for root: a directory on the way belongs to nobody/);
  assert.equal(readFileSync(path, 'utf8'), 'old\n');
  assert.equal(statSync(path).uid, 0);
});

test('a link where the file should be is refused; a step that follows links writes the file it leads to', { skip: !asRoot && 'needs root' }, async () => {
  const { root, dir } = nobodysDirectory();
  const secret = join(root, 'secret');
  writeFileSync(secret, 'root only\n', { mode: 0o600 });
  const planted = join(dir, 'config.json');
  symlinkSync(secret, planted);
  const refused = await run(write(planted, 'attacker wins\n'));
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /config\.json became a link; refusing to replace it/);
  assert.equal(readFileSync(secret, 'utf8'), 'root only\n');
  assert.deepEqual([statSync(secret).uid, statSync(secret).mode & 0o777], [0, 0o600]);
  assert.ok(lstatSync(planted).isSymbolicLink());
  // Following a link that a user planted: the write is that user's, so root's file stays out of reach.
  const followed = await run(write(planted, 'attacker wins\n', { followSymlinks: true }));
  assert.notEqual(followed.code, 0);
  assert.equal(readFileSync(secret, 'utf8'), 'root only\n');
  // A link of root's, in root's directory, to a file of root's: followed when asked, refused otherwise.
  const real = join(root, 'real.conf');
  writeFileSync(real, 'old\n');
  const link = join(root, 'link.conf');
  symlinkSync(real, link);
  assert.match((await run(write(link, 'new\n', { owner: 'root', group: 'root' }))).stderr, /link\.conf became a link/);
  await performStep(localRunner, write(link, 'new\n', { owner: 'root', group: 'root', followSymlinks: true }));
  assert.equal(readFileSync(real, 'utf8'), 'new\n');
  assert.ok(lstatSync(link).isSymbolicLink(), 'the link stays a link');
});

test('a directory of root\'s that others may write to is refused, unless sticky; one below two users is refused', { skip: !asRoot && 'needs root' }, async () => {
  const root = scratchDir('provision-write-');
  const shared = join(root, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o777);
  const refused = await run(write(join(shared, 'a.conf'), 'x\n', { owner: 'root', group: 'root' }));
  assert.match(refused.stderr, /shared \(mode 777\) is root's but writable by others/);
  assert.deepEqual(readdirSync(shared), []);
  chmodSync(shared, 0o1777);
  await performStep(localRunner, write(join(shared, 'a.conf'), 'x\n', { owner: 'root', group: 'root' }));
  assert.equal(statSync(join(shared, 'a.conf')).uid, 0);
  const { dir } = nobodysDirectory();
  const inner = join(dir, 'inner');
  mkdirSync(inner);
  chownSync(inner, DAEMON_UID, DAEMON_UID);
  const mixed = await run(write(join(inner, 'a.conf'), 'x\n', { owner: 'daemon', group: 'daemon' }));
  assert.match(mixed.stderr, /directories on the way belong to (daemon and nobody|nobody and daemon)/);
});

test('in a directory of root\'s that its group may write to, a user\'s file is written as that user and root\'s is refused', { skip: !asRoot && 'needs root' }, async () => {
  const root = scratchDir('provision-write-');
  const shared = join(root, 'shared');
  mkdirSync(shared);
  chownSync(shared, 0, NOBODY.gid);
  chmodSync(shared, 0o775);
  await performStep(localRunner, write(join(shared, 'app.conf'), 'x\n'));
  assert.deepEqual([statSync(join(shared, 'app.conf')).uid, statSync(join(shared, 'app.conf')).gid], [NOBODY.uid, NOBODY.gid]);
  const refused = await run(write(join(shared, 'root.conf'), 'x\n', { owner: 'root', group: 'root' }));
  assert.match(refused.stderr, /refusing to change .*root\.conf as root: .*shared \(mode 775\) is root's but its group may write to it/);
  assert.deepEqual(readdirSync(shared), ['app.conf']);
});

test('a directory reached through a link is judged where it really is', { skip: !asRoot && 'needs root' }, async () => {
  const { root, dir } = nobodysDirectory();
  const link = join(root, 'looks-like-roots');
  symlinkSync(dir, link);
  await performStep(localRunner, write(join(link, 'app.conf'), 'x\n'));
  assert.equal(statSync(join(dir, 'app.conf')).uid, NOBODY.uid, 'written as nobody, who owns the real directory');
  assert.match((await run(write(join(link, 'root.conf'), 'x\n', { owner: 'root', group: 'root' }))).stderr, /belongs to nobody/);
});

test('the dry-run check of a candidate in another user\'s directory runs in a directory of its own, leaving theirs alone', { skip: !asRoot && 'needs root' }, async () => {
  const { root, dir } = nobodysDirectory();
  const seen = join(root, 'seen');
  // The validator records where the candidate was and passes when it holds the content.
  const validate = `sh -c 'echo "$1" > ${seen}; grep -q good "$1"' check %s`;
  const [verdict] = await checkCandidates(localRunner, [write(join(dir, 'app.conf'), 'good\n', { validate })]);
  assert.deepEqual(verdict, { ok: true });
  assert.ok(!readFileSync(seen, 'utf8').startsWith(`${dir}/`), 'not beside the target');
  assert.deepEqual(readdirSync(dir), []);
  const [beside] = await checkCandidates(localRunner, [write(join(root, 'app.conf'), 'good\n', { validate, owner: 'root', group: 'root' })]);
  assert.deepEqual(beside, { ok: true });
  assert.ok(readFileSync(seen, 'utf8').startsWith(`${root}/.provision-check-`), 'beside the target in a directory of root\'s');
});

test('directories are made and fixed as writes are: as the user who owns the way, never through a link', { skip: !asRoot && 'needs root' }, async () => {
  const { root, dir } = nobodysDirectory();
  const nested = join(dir, 'a', 'b');
  const made = await localRunner.exec(directoryScript(nested, { owner: 'nobody', group: 'nogroup', mode: '0700' }));
  assert.equal(made.code, 0, made.stderr);
  assert.deepEqual([statSync(nested).uid, statSync(nested).mode & 0o777, statSync(join(dir, 'a')).uid], [NOBODY.uid, 0o700, NOBODY.uid]);
  const secretDir = join(root, 'root-only');
  mkdirSync(secretDir, { mode: 0o700 });
  symlinkSync(secretDir, join(dir, 'planted'));
  const refused = await localRunner.exec(directoryScript(join(dir, 'planted'), { owner: 'nobody', group: 'nogroup', mode: '0755' }));
  assert.notEqual(refused.code, 0);
  assert.deepEqual([statSync(secretDir).uid, statSync(secretDir).mode & 0o777], [0, 0o700], 'what the link leads to is untouched');
  const ours = join(root, 'x', 'y');
  assert.equal((await localRunner.exec(directoryScript(ours, { owner: 'root', group: 'root', mode: '0750' }))).code, 0);
  assert.equal(statSync(ours).mode & 0o777, 0o750);
});

test('paths the script cannot judge are refused before anything runs', () => {
  for (const path of ['relative/file', '/etc/a\nb', '/etc/', '/etc/..']) {
    assert.throws(() => writeFileScript(write(path, 'x')), /cannot write/);
  }
});

test('the files fact reads each file only as the file its path names: more than seven at once, and never through a planted link', { skip: !asRoot && 'needs root' }, async () => {
  const { pathStatesCommand, splitPathStates } = await import('../../tasks/core/files.facts.ts');
  const root = scratchDir('provision-read-');
  const paths = Array.from({ length: 10 }, (_, index) => join(root, `f${index}`));
  paths.forEach((path, index) => writeFileSync(path, `content ${index}\n`));
  const read = async (list: string[]) => {
    const output = await localRunner.exec(pathStatesCommand(list));
    return splitPathStates({ stdout: output.stdout, code: output.code }, list).map((entry) => Buffer.from(entry.stdout.split('\n')[1] ?? '', 'base64').toString());
  };
  assert.deepEqual(await read(paths), paths.map((_, index) => `content ${index}\n`));
  // A link of root's, in a directory of root's, on the way: followed as before.
  symlinkSync(root, join(root, 'alias'));
  assert.deepEqual(await read([join(root, 'alias', 'f1')]), ['content 1\n']);
  // A link on the way in a directory another user owns (they could have put it there): the read stops.
  const { dir } = nobodysDirectory();
  const secrets = join(root, 'secrets');
  mkdirSync(secrets, { mode: 0o700 });
  writeFileSync(join(secrets, 'config.json'), '{"key": "root only"}\n');
  symlinkSync(secrets, join(dir, 'sub'));
  await assert.rejects(read([join(dir, 'sub', 'config.json')]), /changed while being read, or a link was put in the way/);
  writeFileSync(join(dir, 'own.json'), '{}\n');
  assert.deepEqual(await read([join(dir, 'own.json')]), ['{}\n']);
});
