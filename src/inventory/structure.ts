/**
 * The shape of an Ansible YAML inventory: groups with `hosts`, `vars` and `children`, read into the model of
 * groups and hosts whose variables are still YAML nodes (so later errors can point into the file).
 */

import { isMap, type Node } from 'yaml';
import type { ProblemList } from './problems.ts';
import type { SourceFile } from './source-file.ts';
import { didYouMean } from './did-you-mean.ts';
import { expandHostRanges } from './host-ranges.ts';
import { addHost, linkGroups, namedGroup, setGroupVar, wouldLoop, type GroupModel, type InventoryModel, type VarDef } from './model.ts';

const GROUP_KEYS = ['hosts', 'vars', 'children'];

/** Reads a YAML inventory's groups and hosts into `model`, reporting every structural problem rather than stopping at the first. */
export function readYamlStructure(source: SourceFile, problems: ProblemList, model: InventoryModel): void {
  new StructureReader(source, problems, model).readRoot();
}

/** The walk over the document; one instance per load. */
class StructureReader {
  readonly #source: SourceFile;
  readonly #problems: ProblemList;
  readonly #model: InventoryModel;
  /** (group, definition node) pairs already read: an alias reused for a group is read once, and alias loops end. */
  readonly #read = new Set<string>();
  readonly #nodeIds = new Map<Node, number>();

  constructor(source: SourceFile, problems: ProblemList, model: InventoryModel) {
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
    return namedGroup(this.#model, name, keyNode, this.#source);
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
        case 'vars': {
          const vars = new Map<string, VarDef>();
          this.#readVars(vars, entry.value, `vars of group '${group.name}'`);
          for (const def of vars.values()) setGroupVar(group, def);
          break;
        }
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
      // A host listed again (in another group) adds to its vars; the later mention wins per variable.
      for (const name of names) addHost(this.#model, group, name, entry.keyNode, source, hostVars);
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
      into.set(entry.key, { name: entry.key, keyNode: entry.keyNode, value: entry.value, source });
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
      if (wouldLoop(this.#model, parent.name, child.name)) {
        this.#problem(entry.keyNode, `group '${child.name}' cannot be a child of '${parent.name}': that makes a loop`);
        continue;
      }
      linkGroups(parent, child);
      this.#readGroup(child, entry.value);
    }
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
