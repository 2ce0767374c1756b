/** File paths written in the inventory: `~` means the operator's home, relative means next to the inventory. */

import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** Expands a leading `~` or `~/` to the home directory (`~user` is left alone, as it needs a user database). */
export function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return join(homedir(), path.slice(2));
  return path;
}

/** Absolute path for an inventory path: `~` expanded, relative paths taken from the inventory's directory. */
export function resolveInventoryPath(path: string, inventoryDir: string): string {
  const expanded = expandHome(path);
  return isAbsolute(expanded) ? expanded : resolve(inventoryDir, expanded);
}

/** What is at a path: a regular file, something else, or nothing. */
export function fileKind(path: string): 'file' | 'other' | 'missing' {
  try {
    return statSync(path).isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
}
