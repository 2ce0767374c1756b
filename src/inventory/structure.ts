/**
 * The shape of an Ansible YAML inventory: groups with `hosts`, `vars` and `children`, read into a model of
 * groups and hosts whose variables are still YAML nodes (so later errors can point into the file).
 */

import { isMap, type Node } from 'yaml';
import type { ProblemList } from './problems.ts';
import type { YamlSource } from './yaml-source.ts';
import { didYouMean } from './did-you-mean.ts';
import { expandHostRanges } from './host-ranges.ts';

/** One variable as written at one place: the key (for "unknown key" errors) and the value node. */
export interface VarDef {
  name: string;
  keyNode: Node;
  /** Null for `key:` with nothing after it via `? key`; a null scalar otherwise. */
  value: Node | null;
}

/** A group, merged from every place that mentions it. */
export interface GroupModel {
  name: string;
  /** Later definitions replace earlier ones, per variable, as in Ansible. */
  vars: Map<string, VarDef>;
  /** Hosts listed directly under this group's `hosts`, in file order. */
  hosts: string[];
  children: string[];
  parents: string[];
  /** The key where the group is first named (for group-level problems). */
  keyNode: Node | undefined;
}

/** A host, merged from every place that lists it. */
export interface HostModel {
  name: string;
  /** The key where the host first appears: its position for host-level problems. */
  keyNode: Node;
  vars: Map<string, VarDef>;
}

/** Groups and hosts in file order of first appearance. */
export interface InventoryModel {
  groups: Map<string, GroupModel>;
  hosts: Map<string, HostModel>;
}

const GROUP_KEYS = ['hosts', 'vars', 'children'];

/** Reads the inventory's groups and hosts, reporting every structural problem rather than stopping at the first. */
export function readStructure(source: YamlSource, problems: ProblemList): InventoryModel {
  const model: InventoryModel = { groups: new Map(), hosts: new Map() };
  const reader = new StructureReader(source, problems, model);
  const all = reader.group('all', undefined); // first, so that group maps list it first
  reader.readRoot();
  // Like Ansible, a group no one claims as a child (top-level groups beside `all`) is a child of `all`.
  for (const group of model.groups.values()) {
    if (group.name !== 'all' && group.parents.length === 0) reader.link(all, group);
  }
  // `ungrouped` holds the hosts that are only in `all`, so `--limit ungrouped` works as in Ansible.
  const grouped = new Set<string>();
  for (const group of model.groups.values()) if (group.name !== 'all') for (const host of group.hosts) grouped.add(host);
  const loose = all.hosts.filter((host) => !grouped.has(host));
  if (loose.length > 0 || model.groups.has('ungrouped')) {
    const ungrouped = reader.group('ungrouped', undefined);
    if (ungrouped.parents.length === 0) reader.link(all, ungrouped);
    for (const host of loose) if (!ungrouped.hosts.includes(host)) ungrouped.hosts.push(host);
  }
  return model;
}

/** The walk over the document; one instance per load. */
class StructureReader {
  readonly #source: YamlSource;
  readonly #problems: ProblemList;
  readonly #model: InventoryModel;
  /** (group, definition node) pairs already read: an alias reused for a group is read once, and alias loops end. */
  readonly #read = new Set<string>();
  readonly #nodeIds = new Map<Node, number>();

  constructor(source: YamlSource, problems: ProblemList, model: InventoryModel) {
    this.#source = source;
    this.#problems = problems;
    this.#model = model;
  }

  /** Reads the top level: `all` and any other groups beside it. */
  readRoot(): void {
    const source = this.#source;
    const root = source.resolve(source.root);
    if (source.isNull(root)) return;
    if (!root || !isMap(root)) {
      this.#problem(root, `an inventory is a mapping of groups (starting with \`all:\`), not ${describe(root)}`);
      return;
    }
    for (const entry of source.entries(root)) {
      if (entry.key === undefined) {
        this.#problem(entry.keyNode, 'group names must be plain strings');
        continue;
      }
      if (GROUP_KEYS.includes(entry.key)) {
        this.#problem(entry.keyNode, `'${entry.key}:' belongs inside a group, e.g. \`all: {${entry.key}: …}\`; top-level keys are group names`);
        continue;
      }
      this.#readGroup(this.group(entry.key, entry.keyNode), entry.value);
    }
  }

  /** The group named `name`, created on first mention. */
  group(name: string, keyNode: Node | undefined): GroupModel {
    let group = this.#model.groups.get(name);
    if (!group) {
      group = { name, vars: new Map(), hosts: [], children: [], parents: [], keyNode };
      this.#model.groups.set(name, group);
    }
    group.keyNode ??= keyNode;
    return group;
  }

  /** Makes `child` a child of `parent` (once). */
  link(parent: GroupModel, child: GroupModel): void {
    if (!parent.children.includes(child.name)) parent.children.push(child.name);
    if (!child.parents.includes(parent.name)) child.parents.push(parent.name);
  }

  #readGroup(group: GroupModel, definition: Node | null): void {
    const source = this.#source;
    const node = source.resolve(definition);
    if (source.isNull(node)) return;
    if (!node || !isMap(node)) {
      this.#problem(node ?? definition, `group '${group.name}' must be a mapping with hosts, vars or children (or empty), not ${describe(node)}`);
      return;
    }
    const visit = `${group.name}\u0000${this.#nodeId(node)}`;
    if (this.#read.has(visit)) return;
    this.#read.add(visit);
    for (const entry of source.entries(node)) {
      switch (entry.key) {
        case 'hosts':
          this.#readHosts(group, entry.value);
          break;
        case 'vars':
          this.#readVars(group.vars, entry.value, `vars of group '${group.name}'`);
          break;
        case 'children':
          this.#readChildren(group, entry.value);
          break;
        default: {
          const name = entry.key ?? '(not a string)';
          const hint = didYouMean(name, GROUP_KEYS);
          const vars = hint ? '' : ' (group variables go under `vars:`)';
          this.#problem(entry.keyNode, `unknown key '${name}' in group '${group.name}': expected hosts, vars or children${hint}${vars}`);
        }
      }
    }
  }

  #readHosts(group: GroupModel, value: Node | null): void {
    const source = this.#source;
    const node = source.resolve(value);
    if (source.isNull(node)) return;
    if (!node || !isMap(node)) {
      this.#problem(node ?? value, `hosts of group '${group.name}' must be a mapping of host name to vars (or empty), not ${describe(node)}`);
      return;
    }
    for (const entry of source.entries(node)) {
      if (entry.key === undefined || entry.key === '') {
        this.#problem(entry.keyNode, 'host names must be non-empty strings');
        continue;
      }
      let names: string[];
      try {
        names = expandHostRanges(entry.key);
      } catch (error) {
        this.#problem(entry.keyNode, (error as Error).message);
        continue;
      }
      const hostVars = new Map<string, VarDef>();
      this.#readVars(hostVars, entry.value, `host '${entry.key}'`);
      for (const name of names) {
        let host = this.#model.hosts.get(name);
        if (!host) {
          host = { name, keyNode: entry.keyNode, vars: new Map() };
          this.#model.hosts.set(name, host);
        }
        // A host listed again (in another group) adds to its vars; the later mention wins per variable.
        for (const [key, def] of hostVars) host.vars.set(key, def);
        if (!group.hosts.includes(name)) group.hosts.push(name);
      }
    }
  }

  #readVars(into: Map<string, VarDef>, value: Node | null, owner: string): void {
    const source = this.#source;
    const node = source.resolve(value);
    if (source.isNull(node)) return;
    if (!node || !isMap(node)) {
      this.#problem(node ?? value, `${owner} must be a mapping of variables (or empty), not ${describe(node)}`);
      return;
    }
    for (const entry of source.entries(node)) {
      if (entry.key === undefined) {
        this.#problem(entry.keyNode, 'variable names must be plain strings');
        continue;
      }
      into.set(entry.key, { name: entry.key, keyNode: entry.keyNode, value: entry.value });
    }
  }

  #readChildren(parent: GroupModel, value: Node | null): void {
    const source = this.#source;
    const node = source.resolve(value);
    if (source.isNull(node)) return;
    if (!node || !isMap(node)) {
      this.#problem(node ?? value, `children of group '${parent.name}' must be a mapping of group names (or empty), not ${describe(node)}`);
      return;
    }
    for (const entry of source.entries(node)) {
      if (entry.key === undefined) {
        this.#problem(entry.keyNode, 'group names must be plain strings');
        continue;
      }
      if (entry.key === 'all') {
        this.#problem(entry.keyNode, "'all' cannot be a child group: every group is already inside it");
        continue;
      }
      const child = this.group(entry.key, entry.keyNode);
      if (child.name === parent.name || this.#isDescendant(parent.name, child.name)) {
        this.#problem(entry.keyNode, `group '${child.name}' cannot be a child of '${parent.name}': that makes a loop`);
        continue;
      }
      this.link(parent, child);
      this.#readGroup(child, entry.value);
    }
  }

  /** True when `name` is `ancestor` or below it. */
  #isDescendant(name: string, ancestor: string): boolean {
    const seen = new Set<string>();
    const stack = [ancestor];
    while (stack.length > 0) {
      const current = stack.pop() as string;
      if (current === name) return true;
      if (seen.has(current)) continue;
      seen.add(current);
      stack.push(...(this.#model.groups.get(current)?.children ?? []));
    }
    return false;
  }

  #nodeId(node: Node): number {
    let id = this.#nodeIds.get(node);
    if (id === undefined) {
      id = this.#nodeIds.size;
      this.#nodeIds.set(node, id);
    }
    return id;
  }

  #problem(node: Node | null | undefined, message: string): void {
    this.#problems.add(this.#source.problemAt(node ?? null, message));
  }
}

/** "a list", "the string 'x'"…: what the user wrote where a mapping belongs. */
function describe(node: Node | null | undefined): string {
  if (!node) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if ('items' in node) return 'a list';
  if ('value' in node) {
    const value = (node as { value: unknown }).value;
    return typeof value === 'string' ? `the string '${value}'` : `the value ${String(value)}`;
  }
  return 'an alias';
}
