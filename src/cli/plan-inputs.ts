/**
 * What a saved plan was made from, as digests: the inventory's files (every inventory file, and everything under
 * group_vars/ and host_vars/), each `-e`, each host's resolved variables, and the playbook's code (its module and
 * every module it imports, found by reading their import statements). The apply of a saved plan compares them
 * before it contacts any host, and names what differs.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InputError } from '../errors.ts';
import { canonicalJson, sha256, type Digester } from '../engine/digest.ts';
import type { FileDigest, PlanInputs } from '../engine/plan-file.ts';
import { inventorySourceFiles } from '../inventory/inventory-files.ts';
import type { ResolvedInventory } from '../inventory/load.ts';
import { PROJECT_ROOT, projectPath } from '../project-root.ts';
import { DEFAULT_PLAYBOOK_NAME } from './load-playbook.ts';

/** A path as the plan shows it: relative to `base` when it is inside it (with forward slashes), else absolute. */
function shown(path: string, base: string): string {
  const inside = relative(base, path);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) return path;
  return inside.split(sep).join('/');
}

/** Every regular file under `dir`, in name order (none when it does not exist). */
function filesUnder(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const path = join(dir, name);
    const stats = statSync(path, { throwIfNoEntry: false });
    if (stats?.isDirectory()) return filesUnder(path);
    return stats?.isFile() ? [path] : [];
  });
}

/** Every file of the inventory: the sources' inventory files, then group_vars/ and host_vars/ beside them (all of it). */
export function inventoryFiles(sources: readonly string[], varsDirectories: readonly string[]): string[] {
  const files = sources.flatMap((source) => inventorySourceFiles(source).files.map((file) => resolve(file)));
  const vars = varsDirectories.flatMap((dir) => [...filesUnder(join(dir, 'group_vars')), ...filesUnder(join(dir, 'host_vars'))]);
  return [...new Set([...files, ...vars])];
}

/** The digest of one `-e` argument: the argument, and an @FILE's content. */
function extraVarsDigest(argument: string, digester: Digester): string {
  const content = argument.startsWith('@') ? readIfThere(argument.slice(1)) : undefined;
  return digester.digest(canonicalJson({ argument, content }));
}

function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The inventory's part of a plan's inputs (every digest keyed with `digester`: files and values may hold secrets). */
export function inventoryInputs(resolved: ResolvedInventory<unknown>, sources: readonly string[], extraVars: readonly string[], digester: Digester): PlanInputs['inventory'] {
  const base = process.cwd();
  const files = inventoryFiles(sources, resolved.varsDirectories).map((file): FileDigest => ({ path: shown(file, base), digest: digester.digest(readFileSync(file)) }));
  const hosts = Object.fromEntries(
    resolved.inventory.hosts.map((host) => [host.name, digester.digest(canonicalJson({ groups: host.groups, privateIp: host.privateIp, connection: host.connection, vars: host.vars }))]),
  );
  return { sources: [...sources], files, extraVars: extraVars.map((argument) => extraVarsDigest(argument, digester)), hosts };
}

/** The modules a module imports by a relative path (static, type-only, re-exported and dynamic imports). */
export function relativeImports(text: string): string[] {
  const found = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)];
  return found.map((match) => match[1] ?? match[2] ?? match[3]!).filter((specifier) => specifier.startsWith('.'));
}

/** The playbook module file: the one given, or the default playbook of this checkout. */
export function playbookFile(path: string | undefined): string {
  return path === undefined ? projectPath(DEFAULT_PLAYBOOK_NAME) : resolve(path);
}

/**
 * The playbook's part of a plan's inputs: the module and every module it reaches by relative imports, by content. Paths
 * are shown relative to this checkout of provision, else to the playbook's directory, so a plan reads the same in
 * another checkout.
 */
export function playbookInputs(path: string | undefined): PlanInputs['playbook'] {
  const start = playbookFile(path);
  const base = dirname(start);
  const where = (file: string) => (shown(file, PROJECT_ROOT) !== file ? shown(file, PROJECT_ROOT) : shown(file, base));
  const seen = new Map<string, string>();
  const pending = [start];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new InputError(`cannot read ${file}, which the playbook imports: ${(error as Error).message}`);
    }
    seen.set(file, sha256.digest(text));
    for (const specifier of relativeImports(text)) pending.push(resolve(dirname(file), specifier));
  }
  const files = [...seen].map(([file, digest]) => ({ path: where(file), digest })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { ...(path !== undefined ? { path } : {}), files };
}

/** What differs between the files a plan was made from and the files now, in words (empty: nothing). */
export function fileDifferences(what: string, saved: readonly FileDigest[], now: readonly FileDigest[]): string[] {
  const before = new Map(saved.map((file) => [file.path, file.digest]));
  const after = new Map(now.map((file) => [file.path, file.digest]));
  const differences: string[] = [];
  for (const [path, digest] of after) {
    if (!before.has(path)) differences.push(`${what} ${path} is new since the plan`);
    else if (before.get(path) !== digest) differences.push(`${what} ${path} changed since the plan`);
  }
  for (const path of before.keys()) if (!after.has(path)) differences.push(`${what} ${path} is gone since the plan`);
  return differences;
}

/** What differs between a plan's inventory and the inventory now, in words (empty: nothing). */
export function inventoryDifferences(saved: PlanInputs['inventory'], now: PlanInputs['inventory']): string[] {
  const differences = fileDifferences('inventory file', saved.files, now.files);
  if (canonicalJson(saved.extraVars) !== canonicalJson(now.extraVars)) {
    differences.push(`the -e/--extra-vars differ from the plan's (it was made with ${saved.extraVars.length}, this run has ${now.extraVars.length}); give the same ones`);
  }
  for (const [host, digest] of Object.entries(now.hosts)) {
    if (!(host in saved.hosts)) differences.push(`host ${host} is new since the plan`);
    else if (saved.hosts[host] !== digest) differences.push(`the variables of ${host} differ from the plan's (an environment variable, a key file, a vault password?)`);
  }
  for (const host of Object.keys(saved.hosts)) if (!(host in now.hosts)) differences.push(`host ${host} is gone since the plan`);
  return differences;
}
