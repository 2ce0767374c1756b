/**
 * The inventory files an inventory source names: the file itself, or a directory's files as Ansible reads them
 * (sorted, subdirectories included; group_vars/, host_vars/, hidden files and Ansible's ignored extensions left
 * out). Each file is YAML or INI by its content, whatever its name, and may be vault-encrypted as a whole.
 */

import { accessSync, closeSync, constants, openSync, readSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ProblemList } from './problems.ts';
import type { InventoryModel } from './model.ts';
import type { VaultSecret } from './vault.ts';
import { readSourceText } from './source-text.ts';
import { parseYamlSource } from './yaml-source.ts';
import { readYamlStructure } from './structure.ts';
import { readIniInventory } from './ini-structure.ts';

/** Names Ansible never reads as inventory files in a directory. */
const IGNORED_NAMES = /^(?:\..*|host_vars|group_vars|vars_plugins)$/;

/** Ansible's default INVENTORY_IGNORE_EXTS (REJECT_EXTS and .orig, .ini, .cfg, .retry): such files are skipped in a directory. */
const IGNORED_ENDINGS = ['.pyc', '.pyo', '.swp', '.bak', '~', '.rpm', '.md', '.txt', '.rst', '.orig', '.ini', '.cfg', '.retry'];

/** The files of one inventory source. */
export interface SourceFiles {
  /** Inventory files to read, as shown to the user (under the source as given). */
  files: string[];
  /** Files of a directory source that Ansible skips (by name), so they are skipped here too. */
  skipped: string[];
}

/** The files `source` (a file or a directory, as the user gave it) stands for. */
export function inventorySourceFiles(source: string): SourceFiles {
  let isDirectory = false;
  try {
    isDirectory = statSync(source).isDirectory();
  } catch {
    // A missing file is reported when it is read.
  }
  if (!isDirectory) return { files: [source], skipped: [] };
  const found: SourceFiles = { files: [], skipped: [] };
  walk(source, found, new Set());
  return found;
}

function walk(dir: string, found: SourceFiles, visited: Set<string>): void {
  // A link back up the tree would otherwise be walked forever.
  const real = realpathSync(dir);
  if (visited.has(real)) return;
  visited.add(real);
  // Code-point order, as Python's sorted() gives Ansible.
  const names = readdirSync(dir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    const path = join(dir, name);
    if (IGNORED_NAMES.test(name)) continue;
    if (IGNORED_ENDINGS.some((ending) => name.endsWith(ending))) {
      found.skipped.push(path);
      continue;
    }
    let stats;
    try {
      stats = statSync(path);
    } catch {
      continue; // a dangling link
    }
    if (stats.isDirectory()) walk(path, found, visited);
    else if (stats.isFile()) found.files.push(path);
  }
}

/** True when the text reads as a YAML (or JSON) inventory: its first line that says anything is a mapping key, `---` or `{`. */
export function looksLikeYaml(text: string): boolean {
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith(';') || line.startsWith('[')) return false;
    if (/^(?:---|\.\.\.)(?:\s|$)/.test(line) || line.startsWith('%') || line.startsWith('{')) return true;
    if (/^-(?:\s|$)/.test(line) || /^\?\s/.test(line)) return true;
    return /^(?:"[^"]*"|'[^']*'|[^\s#'"[\]{},:][^\s:]*?)\s*:(?:\s|$)/.test(line);
  }
  return true;
}

/** Reads one inventory file into the model (YAML or INI by content, decrypted if it is a vault file). */
export async function readInventoryFile(file: string, secrets: readonly VaultSecret[], problems: ProblemList, model: InventoryModel): Promise<void> {
  if (isScript(file)) {
    problems.add({ message: `${file} is executable: dynamic inventory scripts are not run; give the hosts in a YAML or INI file (or remove the file's execute bit)` });
    return;
  }
  const read = await readSourceText(file, file, 'inventory file', secrets, problems);
  if (!read) return;
  if (looksLikeYaml(read.text)) {
    const source = parseYamlSource(file, read.text, problems, { decrypted: read.decrypted });
    if (source) readYamlStructure(source, problems, model);
  } else {
    readIniInventory(file, read.text, problems, model, { decrypted: read.decrypted });
  }
}

/** An executable file with a `#!` line: Ansible would run it as a dynamic inventory. */
function isScript(file: string): boolean {
  let fd: number | undefined;
  try {
    accessSync(file, constants.X_OK);
    if (!statSync(file).isFile()) return false;
    fd = openSync(file, 'r');
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head.toString('latin1') === '#!';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
