/**
 * The inventory's groups and hosts as read from every source (YAML and INI files, a directory of them), with
 * variables still as nodes of the file they are written in, so later errors can point into that file.
 */

import type { Node } from 'yaml';
import type { SourceFile } from './source-file.ts';

/** One variable as written at one place: the key (for "unknown key" errors), the value node, and the file. */
export interface VarDef {
  name: string;
  keyNode: Node;
  /** Null for `? key` without a value; a null scalar for `key:` with nothing after it. */
  value: Node | null;
  /** The file the definition is written in. */
  source: SourceFile;
}

/** A group, merged from every place that mentions it. */
export interface GroupModel {
  name: string;
  /** Variables the inventory sets on the group; a later definition replaces an earlier one, per variable. */
  vars: Map<string, VarDef>;
  /** `ansible_group_priority` as the inventory sets it: Ansible reads it into the group's rank, not its variables. */
  priority: VarDef | undefined;
  /** Hosts listed directly in this group, in file order. */
  hosts: string[];
  children: string[];
  parents: string[];
  /** Where the group is first named (for group-level problems). */
  keyNode: Node | undefined;
  source: SourceFile | undefined;
}

/** A host, merged from every place that lists it. */
export interface HostModel {
  name: string;
  /** Where the host first appears: its position for host-level problems. */
  keyNode: Node;
  source: SourceFile;
  /** Variables the inventory sets on the host; a later definition replaces an earlier one, per variable. */
  vars: Map<string, VarDef>;
}

/** Groups and hosts in order of first appearance across the sources. */
export interface InventoryModel {
  groups: Map<string, GroupModel>;
  hosts: Map<string, HostModel>;
}

/** A model holding only `all`, which every other group ends up under, and its first child `ungrouped`, as in Ansible. */
export function emptyModel(): InventoryModel {
  const model: InventoryModel = { groups: new Map(), hosts: new Map() };
  linkGroups(namedGroup(model, 'all', undefined, undefined), namedGroup(model, 'ungrouped', undefined, undefined));
  return model;
}

/** The group named `name`, created on first mention. */
export function namedGroup(model: InventoryModel, name: string, keyNode: Node | undefined, source: SourceFile | undefined): GroupModel {
  let group = model.groups.get(name);
  if (!group) {
    group = { name, vars: new Map(), priority: undefined, hosts: [], children: [], parents: [], keyNode, source };
    model.groups.set(name, group);
  }
  if (!group.keyNode && keyNode) {
    group.keyNode = keyNode;
    group.source = source;
  }
  return group;
}

/** Makes `child` a child of `parent` (once). */
export function linkGroups(parent: GroupModel, child: GroupModel): void {
  if (!parent.children.includes(child.name)) parent.children.push(child.name);
  if (!child.parents.includes(parent.name)) child.parents.push(parent.name);
}

/** True when linking `child` under `parent` would make a loop (a group inside itself). */
export function wouldLoop(model: InventoryModel, parent: string, child: string): boolean {
  const seen = new Set<string>();
  const stack = [child];
  while (stack.length > 0) {
    const current = stack.pop() as string;
    if (current === parent) return true;
    if (seen.has(current)) continue;
    seen.add(current);
    stack.push(...(model.groups.get(current)?.children ?? []));
  }
  return false;
}

/** Adds a host to a group (creating the host on first mention); its variables replace earlier ones per name. */
export function addHost(model: InventoryModel, group: GroupModel, name: string, keyNode: Node, source: SourceFile, vars: ReadonlyMap<string, VarDef>): void {
  let host = model.hosts.get(name);
  if (!host) {
    host = { name, keyNode, source, vars: new Map() };
    model.hosts.set(name, host);
  }
  for (const [key, def] of vars) host.vars.set(key, def);
  if (!group.hosts.includes(name)) group.hosts.push(name);
}

/** Sets a group variable; `ansible_group_priority` goes to the group's rank, as Ansible does. */
export function setGroupVar(group: GroupModel, def: VarDef): void {
  if (def.name === 'ansible_group_priority') group.priority = def;
  else group.vars.set(def.name, def);
}

/**
 * Ansible's rules once every source is read: a group that no one claims as a child is a child of `all`, and
 * `ungrouped` holds exactly the hosts that are in no other group (so `--limit ungrouped` works as in Ansible).
 */
export function reconcileModel(model: InventoryModel): void {
  const all = namedGroup(model, 'all', undefined, undefined);
  for (const group of model.groups.values()) {
    if (group.name !== 'all' && group.parents.length === 0) linkGroups(all, group);
  }
  const grouped = new Set<string>();
  for (const group of model.groups.values()) {
    if (group.name !== 'all' && group.name !== 'ungrouped') for (const host of group.hosts) grouped.add(host);
  }
  namedGroup(model, 'ungrouped', undefined, undefined).hosts = [...model.hosts.keys()].filter((host) => !grouped.has(host));
}
