/**
 * A parsed YAML file that can say where every node sits (file:line:column and key path),
 * and that resolves aliases and `<<` merge keys itself, so values keep their nodes (and positions).
 */

import { readFile } from 'node:fs/promises';
import {
  LineCounter,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  parseDocument,
  type Document,
  type Node,
  type YAMLMap,
} from 'yaml';
import { InputError, type InputProblem, type SourcePosition } from '../errors.ts';
import { ProblemList } from './problems.ts';

/**
 * The library counts (uses of an anchor × aliases inside it); 1000 lets a flat `&defaults` be reused
 * by a thousand hosts but stops "billion laughs" nesting after a few levels.
 */
export const MAX_ALIAS_COUNT = 1000;

/** One key of a mapping after `<<` merges are applied: explicit keys win, then earlier merge sources. */
export interface MapEntry {
  /** The key as text; undefined when the key is not a scalar (or is null). */
  key: string | undefined;
  keyNode: Node;
  /** The value node; null for `? key` without a value. */
  value: Node | null;
}

/** A parsed inventory file with positions, key paths and alias resolution. */
export class YamlSource {
  /** The file name as the user gave it; used in positions. */
  readonly file: string;
  readonly doc: Document.Parsed;
  readonly #lineCounter: LineCounter;
  readonly #paths = new Map<Node, string>();
  readonly #aliasTargets = new Map<Node, Node | undefined>();
  /** Keys written twice in one mapping (found here rather than by the parser, whose positions are less exact). */
  readonly duplicateKeys: Node[] = [];

  constructor(file: string, doc: Document.Parsed, lineCounter: LineCounter) {
    this.file = file;
    this.doc = doc;
    this.#lineCounter = lineCounter;
    this.#index(doc.contents, '', new Map());
  }

  /** The root node, or null for an empty document. */
  get root(): Node | null {
    return this.doc.contents;
  }

  /** Position of a node (its first character). */
  position(node: Node | null | undefined): SourcePosition {
    const offset = node?.range?.[0] ?? 0;
    const { line, col } = this.#lineCounter.linePos(offset);
    return { file: this.file, line, column: col };
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

/** Reads and parses an inventory file; unreadable or malformed YAML becomes an InputError with positions. */
export async function readYamlSource(file: string): Promise<YamlSource> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'inventory file not found' : code === 'EISDIR' ? 'inventory is a directory, not a file' : `cannot read inventory (${code ?? String(error)})`;
    throw new InputError([{ message: `${reason}: ${file}` }]);
  }
  return parseYamlSource(file, text);
}

/** Parses inventory text already read from `file` (the name is only used in positions); see readYamlSource. */
export function parseYamlSource(file: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  // merge: Ansible reads YAML 1.1, where `<<: *defaults` is common. Duplicate keys are found by YamlSource.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: false });
  const source = new YamlSource(file, doc, lineCounter);
  const problems = new ProblemList();
  let tooDeep = false;
  for (const error of doc.errors) {
    const message = yamlErrorMessage(error.code, error.message);
    // The parser reports a stack overflow once per level it unwinds; once is enough.
    if (message === NESTED_TOO_DEEPLY && tooDeep) continue;
    tooDeep ||= message === NESTED_TOO_DEEPLY;
    problems.add({ message, position: source.positionAt(error.pos[0]) });
  }
  for (const keyNode of source.duplicateKeys) {
    // A silent "last one wins" would hide half of a host's settings, so a repeated key is an error.
    problems.add(source.problemAt(keyNode, `duplicate key '${source.keyText(keyNode) ?? '?'}' (each key may appear once per mapping)`));
  }
  if (problems.size === 0) problems.addAll(constructProblems(source));
  if (problems.size === 0) {
    try {
      // Only to trip the library's alias-bomb guard before anything expands aliases.
      doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      const message = /excessive alias count/i.test((error as Error).message)
        ? `too many YAML alias expansions (more than ${MAX_ALIAS_COUNT}); nested aliases that multiply are refused`
        : `YAML error: ${(error as Error).message}`;
      problems.add({ message, position: source.positionAt(0) });
    }
  }
  problems.throwIfAny();
  return source;
}

/** The message for input nested deeper than the parser (or the loader) can recurse. */
export const NESTED_TOO_DEEPLY = 'the YAML is nested too deeply';

/** The parser's messages, reworded where they name library internals. */
function yamlErrorMessage(code: string, message: string): string {
  if (code === 'MULTIPLE_DOCS') return 'an inventory is one YAML document; remove the second `---`';
  if (/call stack/i.test(message)) return NESTED_TOO_DEEPLY;
  return `YAML syntax error: ${message}`;
}

/** Unknown aliases, merge keys that do not name mappings, and Ansible Vault values, each at its position. */
function constructProblems(source: YamlSource): InputProblem[] {
  const problems: InputProblem[] = [];
  const visit = (node: Node | null): void => {
    if (!node) return;
    if (isAlias(node)) {
      if (source.resolve(node) === undefined) problems.push(source.problemAt(node, `unknown alias *${node.source} (anchors must be defined before they are used)`));
      return;
    }
    if (node.tag === '!vault') {
      problems.push(source.problemAt(node, 'Ansible Vault values are not supported; use ${ENV_VAR} and set it in the environment'));
    }
    if (isMap(node)) {
      for (const pair of node.items) {
        const value = asNode(pair.value);
        if (isMergeKey(pair.key)) {
          const resolved = source.resolve(value);
          const items = resolved && isSeq(resolved) ? resolved.items.map((item) => source.resolve(asNode(item))) : [resolved];
          if (items.some((item) => !item || !isMap(item))) {
            problems.push(source.problemAt(value ?? asNode(pair.key), '`<<` must name a mapping (or a list of mappings), e.g. `<<: *defaults`'));
          }
        }
        visit(asNode(pair.key));
        visit(value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) visit(asNode(item));
    }
  };
  visit(source.root);
  return problems;
}

/** True for a `<<` key that the parser turned into a merge key. */
function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol';
}

/** Narrows the `unknown` keys and values of yaml's generic pairs. */
export function asNode(value: unknown): Node | null {
  return isNode(value) ? value : null;
}
