/** Which group's variables win for a host, following Ansible's rules. */

import type { ProblemList } from './problems.ts';
import type { YamlSource } from './yaml-source.ts';
import type { GroupModel, HostModel, InventoryModel, VarDef } from './structure.ts';
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

/** Ranks every group: depth from `all` and `ansible_group_priority` from the group's own vars. */
export function rankGroups(model: InventoryModel, reader: ValueReader, source: YamlSource, problems: ProblemList): Map<string, GroupRank> {
  const depths = new Map<string, number>();
  const depthOf = (group: GroupModel): number => {
    const known = depths.get(group.name);
    if (known !== undefined) return known;
    depths.set(group.name, 0); // the structure reader refuses loops; this only guards the recursion
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
    ranks.set(group.name, { name: group.name, depth: depthOf(group), priority: groupPriority(group, reader, source, problems) });
  }
  return ranks;
}

/** The group's `ansible_group_priority`, or the default (reporting a non-integer once, at its value). */
function groupPriority(group: GroupModel, reader: ValueReader, source: YamlSource, problems: ProblemList): number {
  const def = group.vars.get('ansible_group_priority');
  if (!def) return DEFAULT_GROUP_PRIORITY;
  const { value } = reader.read(def);
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  problems.add(source.problemAt(source.resolve(def.value) ?? def.keyNode, GROUP_PRIORITY_HINT));
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
 * A host's variables: the vars of its groups applied in precedence order, then the host's own vars.
 *
 * Precedence (lowest first): `all` < parent group < child group < host. Groups are ordered as Ansible does,
 * by depth (distance from `all`, so a child group beats its parent), then `ansible_group_priority` (higher
 * wins), then name in alphabetical order, where the later name wins: for sibling groups `a` and `b` that both
 * contain the host and both set `x`, `b`'s value is used.
 *
 * Merging is per top-level variable and replaces the whole value (Ansible's default `hash_behaviour=replace`):
 * a host's `ssh: {port: 2222}` replaces a group's whole `ssh:` mapping. Each result keeps its definition,
 * i.e. the YAML node it came from, so validation errors can point at the file.
 */
export function mergeHostVars(model: InventoryModel, host: HostModel, groupsInOrder: readonly string[]): Map<string, VarDef> {
  const merged = new Map<string, VarDef>();
  for (const name of groupsInOrder) {
    for (const [key, def] of model.groups.get(name)?.vars ?? []) merged.set(key, def);
  }
  for (const [key, def] of host.vars) merged.set(key, def);
  return merged;
}
