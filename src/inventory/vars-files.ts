/**
 * group_vars/ and host_vars/ beside an inventory source, found as Ansible's host_group_vars plugin finds them:
 * for a group or host NAME, the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` that exists; when that is
 * a directory, every file in it (and in its subdirectories) without an extension or with one of those, in name
 * order, later files winning per variable. Each file is a YAML mapping of variables, possibly vault-encrypted.
 */

import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { isMap } from 'yaml';
import type { ProblemList } from './problems.ts';
import type { InventoryModel, VarDef } from './model.ts';
import type { VarsDirectory } from './precedence.ts';
import type { VaultSecret } from './vault.ts';
import { readSourceText } from './source-text.ts';
import { parseYamlSource } from './yaml-source.ts';
import type { SourceFile } from './source-file.ts';

const EXTENSIONS = ['.yml', '.yaml', '.json'];

/** A vars file that names no group or host of the inventory: probably a typo, and surely unused. */
export interface UnusedVarsFile {
  path: string;
}

/** Reads the group_vars/ and host_vars/ of the directory `dir` (shown as `shownDir`) for the model's groups and hosts. */
export async function readVarsDirectory(
  dir: string,
  shownDir: string,
  model: InventoryModel,
  secrets: readonly VaultSecret[],
  problems: ProblemList,
  unused: UnusedVarsFile[],
): Promise<VarsDirectory> {
  const result: VarsDirectory = { dir, groups: new Map(), hosts: new Map() };
  const kinds = [
    { sub: 'group_vars', names: [...model.groups.keys()], into: result.groups },
    { sub: 'host_vars', names: [...model.hosts.keys()], into: result.hosts },
  ];
  for (const { sub, names, into } of kinds) {
    const entries = listDirectory(join(dir, sub));
    if (!entries) continue;
    const claimed = new Set<string>();
    for (const name of names) {
      if (name.includes('/')) continue;
      const files = varsFilesFor(join(dir, sub), name, entries, claimed);
      if (files.length === 0) continue;
      const vars = new Map<string, VarDef>();
      for (const file of files) {
        const source = await readVarsFile(join(dir, sub, file), join(shownDir, sub, file), secrets, problems);
        if (source) for (const def of fileVars(source, problems)) vars.set(def.name, def);
      }
      into.set(name, vars);
    }
    for (const entry of entries) if (!claimed.has(entry) && !entry.startsWith('.')) unused.push({ path: join(shownDir, sub, entry) });
  }
  return result;
}

/** The names in a directory, or undefined when it does not exist (or is not a directory). */
function listDirectory(path: string): string[] | undefined {
  try {
    return readdirSync(path);
  } catch {
    return undefined;
  }
}

/** The files for NAME, relative to `dir`, in the order they apply; records which entry of `dir` it used. */
function varsFilesFor(dir: string, name: string, entries: readonly string[], claimed: Set<string>): string[] {
  for (const candidate of [name, ...EXTENSIONS.map((extension) => `${name}${extension}`)]) {
    if (!entries.includes(candidate)) continue;
    claimed.add(candidate);
    const path = join(dir, candidate);
    if (isDirectory(path)) return filesUnder(path).map((file) => join(candidate, file));
    return [candidate];
  }
  return [];
}

/** Files below a vars directory, as Ansible picks them: sorted, hidden and `~` backups skipped, recursing into subdirectories without an extension. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const names = (listDirectory(dir) ?? []).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    if (name.startsWith('.') || name.endsWith('~')) continue;
    const extension = extname(name);
    const path = join(dir, name);
    if (isDirectory(path)) {
      if (!extension) out.push(...filesUnder(path).map((file) => join(name, file)));
    } else if (!extension || EXTENSIONS.includes(extension)) {
      out.push(name);
    }
  }
  return out;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function readVarsFile(path: string, shown: string, secrets: readonly VaultSecret[], problems: ProblemList): Promise<SourceFile | undefined> {
  const read = await readSourceText(path, shown, 'vars file', secrets, problems);
  if (!read) return undefined;
  return parseYamlSource(shown, read.text, problems, { decrypted: read.decrypted });
}

/** The variables a vars file sets: its top-level mapping (empty for an empty file). */
export function fileVars(source: SourceFile, problems: ProblemList): VarDef[] {
  const root = source.resolve(source.root);
  if (source.isNull(root)) return [];
  if (!root || !isMap(root)) {
    problems.add(source.problemAt(root, 'a vars file must be a mapping of variable names to values'));
    return [];
  }
  const defs: VarDef[] = [];
  for (const entry of source.entries(root)) {
    if (entry.key === undefined) {
      problems.add(source.problemAt(entry.keyNode, 'variable names must be plain strings'));
      continue;
    }
    defs.push({ name: entry.key, keyNode: entry.keyNode, value: entry.value, source });
  }
  return defs;
}
