import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
// @ts-expect-error: plain JavaScript without declarations (it runs before any TypeScript loader)
import { cliBundle, sourceStamp } from '../../bin/cli-bundle.js';

const stampOf = sourceStamp as (version: string, root?: string) => string;

/** A project tree of its own: touching the real sources would make the CLI runs of other tests rebuild. */
function sourceTree(): string {
  const root = mkdtempSync(join(tmpdir(), 'provision-stamp-'));
  for (const dir of ['src', 'tasks', 'playbooks']) mkdirSync(join(root, dir));
  writeFileSync(join(root, 'package.json'), '{}\n');
  writeFileSync(join(root, 'tasks', 'files.ts'), 'export const a = 1;\n');
  return root;
}

test('the stamp changes when a source file is edited, added or removed, and only then', () => {
  const root = sourceTree();
  try {
    const source = join(root, 'tasks', 'files.ts');
    const before = stampOf('x', root);
    assert.equal(stampOf('x', root), before, 'the same tree makes the same stamp');
    assert.notEqual(stampOf('y', root), before, 'another esbuild makes a new stamp');

    const stats = statSync(source);
    utimesSync(source, stats.atime, new Date(stats.mtimeMs + 5_000));
    const touched = stampOf('x', root);
    assert.notEqual(touched, before, 'a newer mtime makes a new stamp');

    writeFileSync(source, 'export const a = 22;\n');
    utimesSync(source, stats.atime, new Date(stats.mtimeMs + 5_000));
    assert.notEqual(stampOf('x', root), touched, 'another size makes a new stamp');

    const added = join(root, 'src', 'new.ts');
    writeFileSync(added, '');
    const withNew = stampOf('x', root);
    assert.notEqual(withNew, touched);
    rmSync(added);
    assert.notEqual(stampOf('x', root), withNew, 'a removed file makes a new stamp');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the bundle of the project\'s sources is built and loadable', async () => {
  const entry = (await (cliBundle as () => Promise<string | undefined>)()) ?? '';
  assert.match(entry, /node_modules\/\.provision\/[0-9a-f]{16}\/main\.js$/);
  assert.equal(statSync(entry).isFile(), true);
  const run = spawnSync(process.execPath, [entry, '--help'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /apply \[inventory\]/);
  // Every other module of the build loads: a bundled library that requires its own files at run time would not.
  for (const chunk of readdirSync(dirname(entry)).filter((name) => name !== 'main.js')) {
    await assert.doesNotReject(import(pathToFileURL(join(dirname(entry), chunk)).href), chunk);
  }
});

test('the bundle carries zod\'s English messages and none of its other translations', async () => {
  const entry = (await (cliBundle as () => Promise<string | undefined>)()) ?? '';
  const text = readdirSync(dirname(entry))
    .map((name) => readFileSync(join(dirname(entry), name), 'utf8'))
    .join('\n');
  const locales = [...text.matchAll(/\/\/ node_modules\/zod\/v4\/locales\/([\w-]+)\.js/g)].map((match) => match[1]);
  assert.deepEqual([...new Set(locales)], ['en']);
  // Validation works in the bundle as before: an inventory with a wrong type, checked by the bundled CLI.
  const dir = mkdtempSync(join(tmpdir(), 'provision-zod-'));
  try {
    const inventory = join(dir, 'inventory.yaml');
    writeFileSync(inventory, 'all:\n  hosts:\n    node1: { ansible_host: 127.0.0.1, ansible_port: not-a-port }\n');
    const run = spawnSync(process.execPath, [entry, 'validate', inventory], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 2, run.stdout + run.stderr);
    assert.match(run.stdout + run.stderr, /ansible_port/);
    assert.match(run.stdout + run.stderr, /expected a port number/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the CLI starts without the SSH libraries: only modules loaded on demand import ssh2 or node-ssh', async () => {
  const entry = (await (cliBundle as () => Promise<string | undefined>)()) ?? '';
  const dir = dirname(entry);
  const source = (name: string) => readFileSync(join(dir, name), 'utf8');
  const importsSsh = (text: string) => /(?:from|import)\s*["'](?:ssh2|node-ssh)["']/.test(text);
  // What main.js loads at start: its static imports, and theirs (dynamic import() calls are left out).
  const loaded = new Set<string>();
  const visit = (name: string) => {
    if (loaded.has(name)) return;
    loaded.add(name);
    for (const match of source(name).matchAll(/^(?:import|export)\b[^;]*?["']\.\/([\w.-]+\.js)["']/gm)) visit(match[1]!);
  };
  visit('main.js');
  assert.ok(loaded.size > 3, `the start loads main.js and its chunks (found ${[...loaded].join(', ')})`);
  assert.deepEqual([...loaded].filter((name) => importsSsh(source(name))), []);
  const onDemand = readdirSync(dir).filter((name) => name.endsWith('.js') && !loaded.has(name) && importsSsh(source(name)));
  assert.ok(onDemand.length > 0, 'the SSH libraries are still in the build, in chunks loaded on demand');
});
