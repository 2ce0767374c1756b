/** Which definition of a variable wins for a host, following Ansible's rules. */

import type { ProblemList } from './problems.ts';
import type { GroupModel, HostModel, InventoryModel, VarDef } from './model.ts';
import type { ValueReader } from './values.ts';
import { GROUP_PRIORITY_HINT } from './connection.ts';

/** Ansible's priority of a group without `ansible_group_priority`. */
export const DEFAULT_GROUP_PRIORITY = 1;

/** A group's place in the precedence order. */
export interface GroupRank {
  name: string;
  /** Longest chain of parents up to `all` (which is 0). */
  depth: number;
  priority: number;
}

/** Variables from the group_vars/ and host_vars/ directories beside one inventory source. */
export interface VarsDirectory {
  /** The directory holding group_vars/ and host_vars/. */
  dir: string;
  /** Group name → its variables from group_vars/NAME (files of a directory merged in name order). */
  groups: Map<string, Map<string, VarDef>>;
  /** Host name → its variables from host_vars/NAME. */
  hosts: Map<string, Map<string, VarDef>>;
}

/** Every layer of variables beyond the inventory files themselves. */
export interface VarLayers {
  /** One per inventory source, in the order the sources were given. */
  directories: readonly VarsDirectory[];
  /** `-e` / `--extra-vars`: above everything else. */
  extra: ReadonlyMap<string, VarDef>;
}

/** Ranks every group: depth from `all`, and the `ansible_group_priority` the inventory gives it. */
export function rankGroups(model: InventoryModel, reader: ValueReader, problems: ProblemList): Map<string, GroupRank> {
  const depths = new Map<string, number>();
  const depthOf = (group: GroupModel): number => {
    const known = depths.get(group.name);
    if (known !== undefined) return known;
    depths.set(group.name, 0); // the readers refuse loops; this only guards the recursion
    let depth = 0;
    for (const parent of group.parents) {
      const parentGroup = model.groups.get(parent);
      if (parentGroup) depth = Math.max(depth, depthOf(parentGroup) + 1);
    }
    depths.set(group.name, depth);
    return depth;
  };
  const ranks = new Map<string, GroupRank>();
  for (const group of model.groups.values()) {
    ranks.set(group.name, { name: group.name, depth: depthOf(group), priority: groupPriority(group, reader, problems) });
  }
  return ranks;
}

/** The group's `ansible_group_priority`, or the default (reporting a non-integer once, at its value). */
function groupPriority(group: GroupModel, reader: ValueReader, problems: ProblemList): number {
  const def = group.priority;
  if (!def) return DEFAULT_GROUP_PRIORITY;
  const { value } = reader.read(def);
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  // INI and YAML 1.2 give a number; a quoted "10" is what Ansible's int() would still take.
  if (typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)) return Number(value);
  problems.add(def.source.problemAt(def.source.resolve(def.value) ?? def.keyNode, GROUP_PRIORITY_HINT));
  return DEFAULT_GROUP_PRIORITY;
}

/** Ansible's group order: by depth, then priority, then name (plain code-point order); later entries win. */
export function compareRanks(a: GroupRank, b: GroupRank): number {
  return a.depth - b.depth || a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Every group the host is in, ancestors included, in precedence order (so `all` comes first). */
export function hostGroups(model: InventoryModel, host: HostModel, ranks: Map<string, GroupRank>): string[] {
  const found = new Set<string>();
  const stack = [...model.groups.values()].filter((group) => group.hosts.includes(host.name)).map((group) => group.name);
  while (stack.length > 0) {
    const name = stack.pop() as string;
    if (found.has(name)) continue;
    found.add(name);
    stack.push(...(model.groups.get(name)?.parents ?? []));
  }
  found.add('all');
  return [...found]
    .map((name) => ranks.get(name) ?? { name, depth: 0, priority: DEFAULT_GROUP_PRIORITY })
    .sort(compareRanks)
    .map((rank) => rank.name);
}

/**
 * A host's variables, each with the definition that wins. Lowest first, as Ansible's variable precedence lists them:
 *
 * 1. the inventory files' group variables: `all`, then the host's other groups in precedence order;
 * 2. group_vars/all, then group_vars/GROUP for the host's other groups, in the same order;
 * 3. the inventory files' host variables;
 * 4. host_vars/HOST;
 * 5. `-e` / `--extra-vars`.
 *
 * Groups are ordered by depth (distance from `all`, so a child group beats its parent), then
 * `ansible_group_priority` (higher wins), then name, the alphabetically later name winning. Merging is per
 * top-level variable and replaces the whole value (Ansible's default `hash_behaviour=replace`).
 */
export function mergeHostVars(model: InventoryModel, host: HostModel, groupsInOrder: readonly string[], layers: VarLayers): Map<string, VarDef> {
  const merged = new Map<string, VarDef>();
  const apply = (vars: ReadonlyMap<string, VarDef> | undefined) => {
    for (const [key, def] of vars ?? []) merged.set(key, def);
  };
  for (const name of groupsInOrder) apply(model.groups.get(name)?.vars);
  for (const directory of layers.directories) apply(directory.groups.get('all'));
  for (const directory of layers.directories) for (const name of groupsInOrder) if (name !== 'all') apply(directory.groups.get(name));
  apply(host.vars);
  for (const directory of layers.directories) apply(directory.hosts.get(host.name));
  apply(layers.extra);
  return merged;
}
