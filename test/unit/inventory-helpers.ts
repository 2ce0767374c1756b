/** Shared helpers for the inventory unit tests: fixture paths and loading inline YAML from a temp file. */

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { InputError, type InputProblem } from '../../src/errors.ts';
import { loadInventory } from '../../src/inventory/load.ts';
import { scratchDir } from '../support/scratch.ts';

/** Directory of the inventory fixtures. */
export const FIXTURES = fileURLToPath(new URL('../fixtures/inventory/', import.meta.url));

/** A small strict task-vars schema, like the task library's. */
export const testVars = z
  .object({
    ssh: z
      .object({ port: z.number().int().default(22), user: z.string().default('admin') })
      .strict()
      .default({ port: 22, user: 'admin' }),
    fail2ban: z.object({ bantime: z.number().int().default(600) }).strict().optional(),
    level: z.string().optional(),
    tie: z.string().optional(),
    prio: z.string().optional(),
    role: z.string().optional(),
    extra: z.string().optional(),
    paths: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const scratch = scratchDir('provision-inventory-');
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
let written = 0;

/** Writes `text` to a fresh file in a scratch directory (removed at exit) and returns its path. */
export function writeInventory(text: string, name = 'inventory.yaml'): string {
  const dir = join(scratch, String(++written));
  mkdirSync(dir);
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Loads inline inventory text with the test schema. */
export function loadText(text: string, env: Record<string, string | undefined> = {}) {
  return loadInventory(writeInventory(text), { vars: testVars, env });
}

/** Runs `load`, asserts it fails with an InputError, and returns the problems. */
export async function problemsOf(load: Promise<unknown>): Promise<InputProblem[]> {
  try {
    await load;
  } catch (error) {
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail('expected the inventory to be rejected');
}

/** The problems as `line:column path: message`, compact for assertions. */
export function summarize(problems: InputProblem[]): string[] {
  return problems.map((p) => `${p.position?.line}:${p.position?.column} ${p.path ?? ''}: ${p.message}`);
}

/** Writes files (path relative to a fresh scratch directory → content) and returns the directory. */
export function writeProject(files: Record<string, string>): string {
  const dir = join(scratch, String(++written));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}
