/**
 * A file that inventory variables come from (a YAML inventory, a group_vars file, an INI inventory), able to say
 * where each of its nodes sits (file:line:column and key path). YAML files resolve aliases and `<<` merge keys here,
 * so values keep their nodes, and with them their positions.
 */

import { LineCounter, isAlias, isMap, isNode, isScalar, isSeq, type Node, type YAMLMap } from 'yaml';
import type { InputProblem, SourcePosition } from '../errors.ts';

/** One key of a mapping after `<<` merges are applied: explicit keys win, then earlier merge sources. */
export interface MapEntry {
  /** The key as text; undefined when the key is not a scalar (or is null). */
  key: string | undefined;
  keyNode: Node;
  /** The value node; null for `? key` without a value. */
  value: Node | null;
}

/** Where a file's nodes came from, for messages: as written, or decrypted from an Ansible Vault file. */
export interface SourceFileOptions {
  /** Key paths of nodes, kept up to date by the reader (INI files); otherwise they are worked out from the YAML tree. */
  paths?: Map<Node, string>;
  /** The text was decrypted from a vault file: positions refer to the decrypted text. */
  decrypted?: boolean;
}

/** A parsed file with positions, key paths and alias resolution. */
export class SourceFile {
  /** The file name as the user gave it (positions use it); `(decrypted)` is appended for a vault file. */
  readonly file: string;
  /** Every value of the file is a secret: it was decrypted from an Ansible Vault file. */
  readonly secret: boolean;
  readonly #root: Node | null;
  readonly #lineCounter: LineCounter;
  readonly #paths: Map<Node, string>;
  readonly #aliasTargets = new Map<Node, Node | undefined>();
  /** Keys written twice in one mapping (found here rather than by the parser, whose positions are less exact). */
  readonly duplicateKeys: Node[] = [];

  constructor(file: string, root: Node | null, lineCounter: LineCounter, options: SourceFileOptions = {}) {
    this.file = options.decrypted ? `${file} (decrypted)` : file;
    this.secret = options.decrypted === true;
    this.#root = root;
    this.#lineCounter = lineCounter;
    this.#paths = options.paths ?? new Map();
    if (!options.paths) this.#index(root, '', new Map());
  }

  /** The root node, or null for an empty document. */
  get root(): Node | null {
    return this.#root;
  }

  /** Position of a node (its first character). */
  position(node: Node | null | undefined): SourcePosition {
    return this.positionAt(node?.range?.[0] ?? 0);
  }

  /** Position of a character offset in the file. */
  positionAt(offset: number): SourcePosition {
    const { line, col } = this.#lineCounter.linePos(offset);
    return { file: this.file, line, column: col };
  }

  /** Dotted key path of the place where a node is written, e.g. `all.children.web.vars.ssh`. */
  pathOf(node: Node | null | undefined): string | undefined {
    return node ? this.#paths.get(node) : undefined;
  }

  /** A problem located at a node. */
  problemAt(node: Node | null | undefined, message: string, pathSuffix: readonly PropertyKey[] = []): InputProblem {
    const path = joinPath(this.pathOf(node) ?? '', pathSuffix);
    return { message, ...(path ? { path } : {}), position: this.position(node) };
  }

  /** Follows aliases to the node they name; undefined for an unknown anchor. */
  resolve(node: Node | null): Node | null | undefined {
    let current: Node | null | undefined = node;
    // Alias chains cannot loop (an alias is never an anchor), but bound the walk anyway.
    for (let hops = 0; current && isAlias(current) && hops < 100; hops++) current = this.#aliasTargets.get(current);
    return current && isAlias(current) ? undefined : current;
  }

  /** True for a YAML null (`~`, `null` or nothing). */
  isNull(node: Node | null | undefined): boolean {
    return node == null || (isScalar(node) && node.value === null);
  }

  /** The text of a scalar key (`01` stays `01`); undefined for null or collection keys. */
  keyText(node: Node | null): string | undefined {
    const key = this.resolve(node);
    if (!key || !isScalar(key) || key.value === null || typeof key.value === 'symbol') return undefined;
    if (typeof key.value === 'string') return key.value;
    return key.source ?? String(key.value);
  }

  /** The entries of a mapping, with `<<` merge keys applied as YAML 1.1 (and Ansible) define them. */
  entries(map: YAMLMap, visiting = new Set<Node>()): MapEntry[] {
    if (visiting.has(map)) return [];
    visiting.add(map);
    const explicit = new Set<string>();
    for (const pair of map.items) {
      if (!isMergeKey(pair.key)) {
        const key = this.keyText(asNode(pair.key));
        if (key !== undefined) explicit.add(key);
      }
    }
    const result: MapEntry[] = [];
    const merged = new Set<string>();
    for (const pair of map.items) {
      const keyNode = asNode(pair.key);
      if (!keyNode) continue;
      if (!isMergeKey(pair.key)) {
        result.push({ key: this.keyText(keyNode), keyNode, value: asNode(pair.value) });
        continue;
      }
      for (const source of this.mergeSources(asNode(pair.value))) {
        for (const entry of this.entries(source, visiting)) {
          if (entry.key === undefined || explicit.has(entry.key) || merged.has(entry.key)) continue;
          merged.add(entry.key);
          result.push(entry);
        }
      }
    }
    visiting.delete(map);
    return result;
  }

  /** The mappings a `<<` value names (a mapping, an alias of one, or a list of those). */
  mergeSources(value: Node | null): YAMLMap[] {
    const resolved = this.resolve(value);
    const items = resolved && isSeq(resolved) ? resolved.items.map((item) => this.resolve(asNode(item))) : [resolved];
    return items.filter((item): item is YAMLMap => !!item && isMap(item));
  }

  /** Records each node's key path and alias target, in document order (an alias names the latest anchor before it). */
  #index(node: Node | null, path: string, anchors: Map<string, Node>): void {
    if (!node) return;
    if (!this.#paths.has(node)) this.#paths.set(node, path);
    if (isAlias(node)) {
      this.#aliasTargets.set(node, anchors.get(node.source));
      return;
    }
    if (node.anchor) anchors.set(node.anchor, node);
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const keyNode = asNode(pair.key);
        const key = isMergeKey(pair.key) ? '<<' : (this.#rawKey(keyNode) ?? '?');
        if (keyNode && key !== '<<' && key !== '?') {
          if (seen.has(key)) this.duplicateKeys.push(keyNode);
          seen.add(key);
        }
        const childPath = joinPath(path, [key]);
        if (keyNode) this.#index(keyNode, childPath, anchors);
        this.#index(asNode(pair.value), childPath, anchors);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => this.#index(asNode(item), joinPath(path, [i]), anchors));
    }
  }

  /** Key text while indexing, before alias targets are complete. */
  #rawKey(node: Node | null): string | undefined {
    if (!node) return undefined;
    if (isAlias(node)) return `*${node.source}`;
    return this.keyText(node);
  }
}

/** Appends key path segments: names with `.`, list indices as `[i]`. */
export function joinPath(base: string, segments: readonly PropertyKey[]): string {
  let path = base;
  for (const segment of segments) {
    if (typeof segment === 'number') path += `[${segment}]`;
    else path += path ? `.${String(segment)}` : String(segment);
  }
  return path;
}

/** True for a `<<` key that the parser turned into a merge key. */
export function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol';
}

/** Narrows the `unknown` keys and values of yaml's generic pairs. */
export function asNode(value: unknown): Node | null {
  return isNode(value) ? value : null;
}

/** A LineCounter for text that was not parsed by the YAML library (INI files): every line start recorded. */
export function countLines(text: string): LineCounter {
  const counter = new LineCounter();
  counter.addNewLine(0);
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) counter.addNewLine(at + 1);
  return counter;
}
