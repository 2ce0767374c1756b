/**
 * Edits one value of a JSON document in place: every other key, its order, the indentation and the line endings stay
 * as they were, so a file edited this way differs from the original only where the value changes.
 */
import { findNodeAtLocation, getNodeValue, parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from 'jsonc-parser';

/** The text cannot be read as its format, or its structure conflicts with the value to set. */
export class ConfigEditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigEditError';
  }
}

export type JsonPath = readonly string[];

/** Line and column (1-based) of an offset, for error messages. */
function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

/** Parses strict JSON (no comments, no trailing commas) into a tree with offsets; throws ConfigEditError. */
export function jsonTree(text: string): JsonNode {
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first) throw new ConfigEditError(`invalid JSON at ${position(text, first.offset)}: ${printParseErrorCode(first.error)}`);
  try {
    JSON.parse(text); // the tree parser tolerates a few things (raw control characters in strings) that nodes do not
  } catch (error) {
    throw new ConfigEditError(`invalid JSON: ${(error as Error).message}`);
  }
  if (!tree || tree.type !== 'object') throw new ConfigEditError('the config is not a JSON object');
  return tree;
}

function jsonType(node: JsonNode): string {
  return node.type === 'null' ? 'null' : node.type === 'array' ? 'an array' : `a ${node.type}`;
}

/** The value at `path`, or undefined; a non-object on the way is a conflict the operator must resolve. */
export function jsonValueAt(tree: JsonNode, path: JsonPath): unknown {
  for (let depth = 1; depth < path.length; depth++) {
    const parent = findNodeAtLocation(tree, path.slice(0, depth) as string[]);
    if (!parent) return undefined;
    if (parent.type !== 'object') throw new ConfigEditError(`${path.slice(0, depth).join('.')} is ${jsonType(parent)}, expected an object`);
  }
  const node = findNodeAtLocation(tree, path as string[]);
  return node ? getNodeValue(node) : undefined;
}

/** The whitespace at the start of the line that holds `offset`. */
function indentAt(text: string, offset: number): string {
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(start))![0];
}

/** How the file indents and separates: one indent level, line ending, and the text after a key's colon. */
interface JsonStyle {
  unit: string;
  eol: string;
  colon: string;
}

function jsonStyle(text: string, tree: JsonNode): JsonStyle {
  const first = tree.children?.[0];
  const firstIndent = first && text.slice(tree.offset, first.offset).includes('\n') ? indentAt(text, first.offset) : '';
  const unit = firstIndent || (/^\t/m.test(text) ? '\t' : '  ');
  return { unit, eol: text.includes('\r\n') ? '\r\n' : '\n', colon: /"\s*:\s/.test(text) ? ': ' : ':' };
}

/** Renders a value for insertion at `indent`, objects one key per line as the file does. */
function renderJson(value: unknown, indent: string, style: JsonStyle): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return JSON.stringify(value);
  const inner = indent + style.unit;
  const entries = Object.entries(value).map(([key, item]) => `${inner}${JSON.stringify(key)}${style.colon}${renderJson(item, inner, style)}`);
  return `{${style.eol}${entries.join(`,${style.eol}`)}${style.eol}${indent}}`;
}

/** Sets one value: replaces it in place when present, else adds the key (and any missing parents) last in its object. */
export function setJsonValue(text: string, path: JsonPath, value: unknown): string {
  const tree = jsonTree(text);
  const style = jsonStyle(text, tree);
  const existing = findNodeAtLocation(tree, path as string[]);
  if (existing) return text.slice(0, existing.offset) + JSON.stringify(value) + text.slice(existing.offset + existing.length);
  let depth = path.length - 1;
  while (depth > 0 && !findNodeAtLocation(tree, path.slice(0, depth) as string[])) depth--;
  const parent = depth === 0 ? tree : findNodeAtLocation(tree, path.slice(0, depth) as string[])!;
  // What is missing below the deepest existing object, e.g. { pow: { enabled: true } }.
  const inserted = path.slice(depth + 1).reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
  const key = JSON.stringify(path[depth]);
  const children = parent.children ?? [];
  const last = children.at(-1);
  const body = text.slice(parent.offset, parent.offset + parent.length);
  if (!body.includes('\n') && (last || !text.trim().includes('\n'))) {
    // A one-line object stays on one line, spaced as the file is (an empty {} in a multi-line file opens up).
    const spaced = style.colon === ': ';
    const compact = `${key}${style.colon}${spaced ? JSON.stringify(inserted).replace(/":/g, '": ').replace(/,"/g, ', "') : JSON.stringify(inserted)}`;
    if (last) return splice(text, last.offset + last.length, 0, `${spaced ? ', ' : ','}${compact}`);
    return splice(text, parent.offset + 1, parent.length - 2, compact);
  }
  if (last) {
    const indent = indentAt(text, last.offset);
    return splice(text, last.offset + last.length, 0, `,${style.eol}${indent}${key}${style.colon}${renderJson(inserted, indent, style)}`);
  }
  const outer = indentAt(text, parent.offset);
  const indent = outer + style.unit;
  return splice(text, parent.offset + 1, parent.length - 2, `${style.eol}${indent}${key}${style.colon}${renderJson(inserted, indent, style)}${style.eol}${outer}`);
}

export function splice(text: string, start: number, removed: number, insert: string): string {
  return text.slice(0, start) + insert + text.slice(start + removed);
}

export function setPath(target: Record<string, unknown>, path: JsonPath, value: unknown): void {
  let object = target;
  for (const key of path.slice(0, -1)) object = (object[key] ??= {}) as Record<string, unknown>;
  object[path.at(-1)!] = value;
}
