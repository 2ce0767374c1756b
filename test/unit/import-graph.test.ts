/**
 * The layers of the code, read from the import statements: the engine (src/) knows nothing of the task library or
 * the playbooks, the task library uses only the engine's types and primitives, and no module imports itself round
 * a circle. A new role is a folder of tasks/ and a line in a playbook; nothing in src/ learns its name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every TypeScript module under these folders, as a path relative to the project root. */
function modules(...folders: string[]): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) found.push(path);
    }
  };
  for (const folder of folders) if (existsSync(join(ROOT, folder))) walk(folder);
  return found.sort();
}

/** The project modules `file` imports (static, re-exported, type-only and dynamic), relative to the root. */
export function importsOf(file: string, text = readFileSync(join(ROOT, file), 'utf8')): string[] {
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)].map(
    (match) => match[1] ?? match[2] ?? match[3]!,
  );
  return specifiers.filter((specifier) => specifier.startsWith('.')).map((specifier) => relative(ROOT, resolve(ROOT, dirname(file), specifier)));
}

/** Where a module sits: src/engine/role.ts is in src, tasks/ssh/vars.ts in tasks. */
const layerOf = (file: string) => file.split('/')[0]!;

const ENGINE = modules('src');
const LIBRARY = modules('tasks');
const PLAYBOOKS = modules('playbooks', 'examples');

test('the import reader finds static, type-only, re-exported and dynamic imports', () => {
  const text = "import { a } from './a.ts';\nimport type { B } from '../b.ts';\nexport { c } from './c/c.ts';\nconst d = await import('./d.ts');\nimport 'zod';\n";
  assert.deepEqual(importsOf('src/x/y.ts', text), ['src/x/a.ts', 'src/b.ts', 'src/x/c/c.ts', 'src/x/d.ts']);
});

test('the engine (src/) imports nothing from the task library or the playbooks', () => {
  assert.ok(ENGINE.length > 50 && LIBRARY.length > 20, `found ${ENGINE.length} engine and ${LIBRARY.length} task modules`);
  const offending = ENGINE.flatMap((file) => importsOf(file).filter((target) => layerOf(target) !== 'src').map((target) => `${file} → ${target}`));
  assert.deepEqual(offending, []);
});

/**
 * What the task library may use of the engine: its types and primitives (roles, facts, plans, the write guards, the
 * config-value guard, the fact batch splitter, the plan's seeded randomness, the balancer's drain interface), the shell-quoting tag, generic text editors, errors, and the inventory's value types and schema
 * pieces, secrets among them (a task marks a value secret with `secret()`, never by writing to the report's registry).
 * Not the transport, the CLI, the report or the run itself.
 */
const ENGINE_SURFACE = [
  /^src\/engine\/(types|role|playbook|facts-report|config-values|write-script|gather|plan-random)\.ts$/,
  // A balancer role's drain: the interface the engine calls (when to drain is the engine's; how is the role's).
  /^src\/engine\/rolling\/traffic\.ts$/,
  /^src\/text\//,
  /^src\/transport\/shell\.ts$/,
  /^src\/errors\.ts$/,
  /^src\/inventory\/(types|connection|duration|paths|secret)\.ts$/,
];

test('the task library uses only the engine\'s types and primitives, and never a playbook', () => {
  const offending = LIBRARY.flatMap((file) =>
    importsOf(file)
      .filter((target) => (layerOf(target) === 'src' ? !ENGINE_SURFACE.some((allowed) => allowed.test(target)) : layerOf(target) !== 'tasks'))
      .map((target) => `${file} → ${target}`),
  );
  assert.deepEqual(offending, []);
});

test('no module imports itself round a circle', () => {
  const all = [...ENGINE, ...LIBRARY, ...PLAYBOOKS];
  const edges = new Map(all.map((file) => [file, importsOf(file).filter((target) => target.endsWith('.ts'))]));
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
      return;
    }
    state.set(file, 'open');
    for (const target of edges.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of all) visit(file, []);
  assert.deepEqual(cycles, []);
});
