import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, utimesSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: plain JavaScript without declarations (it runs before any TypeScript loader)
import { cliBundle, sourceStamp } from '../../bin/cli-bundle.js';

const source = fileURLToPath(new URL('../../tasks/files.facts.ts', import.meta.url));

test('the bundle\'s stamp changes when a source file changes, and the bundle it names is built and loadable', async () => {
  const before = (sourceStamp as (version: string) => string)('x');
  const stats = statSync(source);
  try {
    utimesSync(source, stats.atime, new Date(stats.mtimeMs + 5_000));
    assert.notEqual((sourceStamp as (version: string) => string)('x'), before, 'an edited source makes a new stamp');
  } finally {
    utimesSync(source, stats.atime, stats.mtime);
  }
  assert.equal((sourceStamp as (version: string) => string)('x'), before);
  assert.notEqual((sourceStamp as (version: string) => string)('y'), before, 'another esbuild makes a new stamp');
  const entry = (await (cliBundle as () => Promise<string | undefined>)()) ?? '';
  assert.match(entry, /node_modules\/\.provision\/[0-9a-f]{16}\/main\.js$/);
  assert.equal(statSync(entry).isFile(), true);
});
