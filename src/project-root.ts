/**
 * The project's root directory: the nearest ancestor of this module whose package.json is provision's. Found by
 * walking up rather than by a fixed `../..`, because the CLI also runs from a bundle kept under node_modules.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  for (let dir = dirname(start); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'provision') return dir;
    if (dirname(dir) === dir) throw new Error(`no provision package.json above ${start}`);
  }
}

export const PROJECT_ROOT = findRoot(fileURLToPath(import.meta.url));

/** A path inside the project. */
export function projectPath(...parts: string[]): string {
  return join(PROJECT_ROOT, ...parts);
}
