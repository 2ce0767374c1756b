/**
 * Reads and writes the remote-PoW settings in a node's own config file, changing only those values: every other
 * key, its order, the indentation and the comments stay as they were. Each edit is checked by parsing the result
 * and comparing it with the original plus the new values, so a file this code cannot edit safely is never written.
 */
import { isDeepStrictEqual } from 'node:util';
import { findNodeAtLocation, getNodeValue, parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from 'jsonc-parser';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { NodeFlavor } from './node.vars.ts';

/** The config file cannot be read as its format, or its structure conflicts with the settings. */
export class NodeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NodeConfigError';
  }
}

/** The PoW settings as the file has them; `undefined` when the key is absent (the node then uses its default). */
export interface PowSettings {
  enabled: unknown;
  workers: unknown;
}

/** The settings to write; `workers` is left alone when undefined (and always for Bee, which has no such key). */
export interface PowTarget {
  enabled: boolean;
  workers?: number;
}

/** One flavor's file format and the names of its keys. */
export interface PowConfigFormat {
  format: 'JSON' | 'TOML';
  /** Key names as the operator sees them in the file, for the plan's details. */
  keys: { enabled: string; workers?: string };
  read(text: string): PowSettings;
  write(text: string, target: PowTarget): string;
}

// ---------------------------------------------------------------- JSON (Hornet)

type JsonPath = readonly string[];

/** Line and column (1-based) of an offset, for error messages. */
function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

/** Parses strict JSON (no comments, no trailing commas) into a tree with offsets; throws NodeConfigError. */
function jsonTree(text: string): JsonNode {
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first) throw new NodeConfigError(`invalid JSON at ${position(text, first.offset)}: ${printParseErrorCode(first.error)}`);
  try {
    JSON.parse(text); // the tree parser tolerates a few things (raw control characters in strings) that nodes do not
  } catch (error) {
    throw new NodeConfigError(`invalid JSON: ${(error as Error).message}`);
  }
  if (!tree || tree.type !== 'object') throw new NodeConfigError('the config is not a JSON object');
  return tree;
}

function jsonType(node: JsonNode): string {
  return node.type === 'null' ? 'null' : node.type === 'array' ? 'an array' : `a ${node.type}`;
}

/** The value at `path`, or undefined; a non-object on the way is a conflict the operator must resolve. */
function jsonValueAt(tree: JsonNode, path: JsonPath): unknown {
  for (let depth = 1; depth < path.length; depth++) {
    const parent = findNodeAtLocation(tree, path.slice(0, depth) as string[]);
    if (!parent) return undefined;
    if (parent.type !== 'object') throw new NodeConfigError(`${path.slice(0, depth).join('.')} is ${jsonType(parent)}, expected an object`);
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
function setJsonValue(text: string, path: JsonPath, value: unknown): string {
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

function splice(text: string, start: number, removed: number, insert: string): string {
  return text.slice(0, start) + insert + text.slice(start + removed);
}

function setPath(target: Record<string, unknown>, path: JsonPath, value: unknown): void {
  let object = target;
  for (const key of path.slice(0, -1)) object = (object[key] ??= {}) as Record<string, unknown>;
  object[path.at(-1)!] = value;
}

/** A JSON format whose PoW keys sit at these paths. */
function jsonFormat(enabledPath: JsonPath, workersPath: JsonPath): PowConfigFormat {
  const read = (text: string): PowSettings => {
    const tree = jsonTree(text);
    return { enabled: jsonValueAt(tree, enabledPath), workers: jsonValueAt(tree, workersPath) };
  };
  return {
    format: 'JSON',
    keys: { enabled: enabledPath.join('.'), workers: workersPath.join('.') },
    read,
    write(text, target) {
      read(text); // structural conflicts are reported before any edit
      const edits: [JsonPath, unknown][] = [[enabledPath, target.enabled]];
      if (target.workers !== undefined) edits.push([workersPath, target.workers]);
      let result = text;
      for (const [path, value] of edits) result = setJsonValue(result, path, value);
      const expected = JSON.parse(text) as Record<string, unknown>;
      for (const [path, value] of edits) setPath(expected, path, value);
      if (!isDeepStrictEqual(JSON.parse(result), expected)) throw new NodeConfigError('the edit would change more than the PoW keys; edit the file by hand');
      return result;
    },
  };
}

// ---------------------------------------------------------------- TOML (Bee)

/** What a line of a TOML file is, as far as finding a table and one key in it goes. */
export type TomlLineKind = 'blank' | 'comment' | 'table' | 'array-table' | 'key' | 'continuation';

/** One line, without its line ending (kept in `eol`). */
export interface TomlLine {
  text: string;
  eol: string;
  kind: TomlLineKind;
  /** For `table` lines: the dotted table name, quotes removed. For `key` lines: the key. */
  name?: string;
}

const KEY_LINE = /^\s*((?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*'))*)\s*=(.*)$/;

function unquoteDotted(name: string): string {
  return name
    .split('.')
    .map((part) => part.trim().replace(/^"(.*)"$|^'(.*)'$/, '$1$2'))
    .join('.');
}

/** Where a value's scan ends: inside a multi-line string, and how many brackets are still open. */
interface ValueState {
  openString: '"""' | "'''" | null;
  depth: number;
}

/** Follows strings, comments and brackets through one line of a value, so multi-line arrays and strings are skipped. */
function scanValue(text: string, state: ValueState): ValueState {
  let { openString, depth } = state;
  let i = 0;
  while (i < text.length) {
    if (openString) {
      const end = text.indexOf(openString, i);
      if (end < 0) return { openString, depth };
      i = end + 3;
      openString = null;
      continue;
    }
    const char = text[i]!;
    if (char === '#') break;
    if (text.startsWith('"""', i) || text.startsWith("'''", i)) {
      openString = text.slice(i, i + 3) as '"""' | "'''";
      i += 3;
    } else if (char === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
    } else if (char === "'") {
      const end = text.indexOf("'", i + 1);
      i = end < 0 ? text.length : end + 1;
    } else {
      if (char === '[' || char === '{') depth++;
      if (char === ']' || char === '}') depth--;
      i++;
    }
  }
  return { openString, depth };
}

/** Splits a TOML file into classified lines (pure; exported for tests). */
export function scanTomlLines(text: string): TomlLine[] {
  const lines: TomlLine[] = [];
  let state: ValueState = { openString: null, depth: 0 };
  for (const raw of text.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
    const eol = /\r?\n$/.exec(raw)?.[0] ?? '';
    const line = raw.slice(0, raw.length - eol.length);
    if (state.openString || state.depth > 0) {
      state = scanValue(line, state);
      lines.push({ text: line, eol, kind: 'continuation' });
      continue;
    }
    const trimmed = line.trim();
    if (trimmed === '') lines.push({ text: line, eol, kind: 'blank' });
    else if (trimmed.startsWith('#')) lines.push({ text: line, eol, kind: 'comment' });
    else if (trimmed.startsWith('[[')) lines.push({ text: line, eol, kind: 'array-table', name: unquoteDotted(trimmed.replace(/^\[\[|\]\].*$/g, '')) });
    else if (trimmed.startsWith('[')) lines.push({ text: line, eol, kind: 'table', name: unquoteDotted(trimmed.replace(/^\[|\].*$/g, '')) });
    else {
      const match = KEY_LINE.exec(line);
      lines.push({ text: line, eol, kind: 'key', name: unquoteDotted(match?.[1] ?? trimmed) });
      state = scanValue(match?.[2] ?? '', state);
    }
  }
  return lines;
}

function parseTomlText(text: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) throw new NodeConfigError(`invalid TOML at line ${error.line}, column ${error.column}: ${error.message.split('\n')[0]}`);
    throw error;
  }
}

/** The value line `key = value  # comment` with the value replaced, spacing and comment kept. */
const VALUE_LINE = /^(\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s#]+)(.*)$/;

/** Sets `key = value` in `[table]`: the one value line changes, or one line is added at the end of the table. */
function setTomlValue(text: string, table: string, key: string, value: boolean): string {
  const document = parseTomlText(text);
  const lines = scanTomlLines(text);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const header = lines.findIndex((line) => line.kind === 'table' && line.name === table);
  if (header < 0) {
    if (document[table] !== undefined) throw new NodeConfigError(`${table} is not written as a [${table}] section (dotted keys or an inline table); set ${key} by hand`);
    const separator = text === '' ? '' : text.endsWith('\n') ? eol : eol + eol;
    return `${text}${separator}[${table}]${eol}${key} = ${value}${eol}`;
  }
  const next = lines.findIndex((line, index) => index > header && (line.kind === 'table' || line.kind === 'array-table'));
  const end = next < 0 ? lines.length : next;
  const section = lines.slice(header + 1, end);
  const found = section.findIndex((line) => line.kind === 'key' && line.name === key);
  if (found >= 0) {
    const line = section[found]!;
    const match = VALUE_LINE.exec(line.text);
    if (!match) throw new NodeConfigError(`cannot read the line of ${table}.${key}: ${line.text.trim()}`);
    line.text = `${match[1]}${value}${match[3]}`;
  } else {
    let lastValue = -1;
    section.forEach((line, index) => {
      if (line.kind === 'key' || line.kind === 'continuation') lastValue = index;
    });
    const keyLines = section.filter((line) => line.kind === 'key');
    const indent = /^\s*/.exec(keyLines.at(-1)?.text ?? '')![0];
    // Align with the table's `=` signs when they are aligned (Bee's own examples are).
    const columns = new Set(keyLines.map((line) => line.text.indexOf('=')));
    const column = columns.size === 1 && keyLines.length > 1 ? [...columns][0]! : -1;
    const padding = ' '.repeat(Math.max(1, column - indent.length - key.length));
    const at = header + 1 + (lastValue < 0 ? 0 : lastValue + 1);
    const before = lines[at - 1]!;
    // After a last line without a line ending, the added line becomes the last one and goes without it instead.
    lines.splice(at, 0, { text: `${indent}${key}${padding}= ${value}`, eol: before.eol === '' ? '' : eol, kind: 'key', name: key });
    if (before.eol === '') before.eol = eol;
  }
  return lines.map((line) => line.text + line.eol).join('');
}

function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** Bee's `[rest_api] feature_proof_of_work`; Bee has no worker-count key. */
function beeFormat(): PowConfigFormat {
  const table = 'rest_api';
  const key = 'feature_proof_of_work';
  const read = (text: string): PowSettings => {
    const section = parseTomlText(text)[table];
    if (section === undefined) return { enabled: undefined, workers: undefined };
    if (typeof section !== 'object' || section === null || Array.isArray(section)) throw new NodeConfigError(`${table} is not a table`);
    return { enabled: (section as Record<string, unknown>)[key], workers: undefined };
  };
  return {
    format: 'TOML',
    keys: { enabled: `[${table}] ${key}` },
    read,
    write(text, target) {
      read(text);
      const result = setTomlValue(text, table, key, target.enabled);
      const expected = parseTomlText(text);
      ((expected[table] ??= {}) as Record<string, unknown>)[key] = target.enabled;
      let actual: unknown;
      try {
        actual = parseToml(result);
      } catch {
        actual = undefined;
      }
      // Compared as plain data: the parser's tables and the one added here differ only in their prototypes.
      if (!isDeepStrictEqual(plain(actual), plain(expected))) throw new NodeConfigError('the edit would change more than the PoW key; edit the file by hand');
      return result;
    },
  };
}

/**
 * Keys whose values are credentials in Hornet's and Bee's configs (the p2p identity key, dashboard password hashes and
 * salts, JWT salts, API tokens), or hold them (`auth` sections): generous on purpose, since a masked harmless value
 * only hides a line of context.
 */
const SECRET_KEY = /priv(?:ate)?_?key|password|passphrase|pass_?hash|salt|secret|token|identity|credential|jwt|api_?key|seed|mnemonic|auth/i;

/** A value that looks like key material whatever its key is called: long hex, or a long base64 or base58 run (not a path or multiaddr). */
const KEY_MATERIAL = /^(?:0x)?[0-9a-fA-F]{32,}$|^[A-Za-z0-9+_-][A-Za-z0-9+/_-]{39,}={0,2}$/;

/** The credential values in a parsed config: strings under a credential key, at any depth, and key material anywhere. */
function credentialValues(document: unknown): string[] {
  const found: string[] = [];
  const walk = (value: unknown, underSecret: boolean): void => {
    if (typeof value === 'string') {
      if (underSecret || KEY_MATERIAL.test(value)) found.push(value);
    } else if (Array.isArray(value)) value.forEach((item) => walk(item, underSecret));
    else if (value && typeof value === 'object') for (const [name, item] of Object.entries(value)) walk(item, underSecret || SECRET_KEY.test(name));
  };
  walk(document, false);
  return [...new Set(found)];
}

function parsedConfig(format: PowConfigFormat['format'], text: string): unknown {
  try {
    return format === 'JSON' ? JSON.parse(text) : parseToml(text);
  } catch {
    return undefined;
  }
}

/**
 * The credential values in a config (pure), so the plan can mask them by value in every output. Values under 8
 * characters are left out here: they are defaults such as the JWT salt `HORNET`, and masking such common words in every
 * output would hide more than it protects. The file's own diff masks them all, however short (see maskCredentials).
 */
export function configSecrets(format: PowConfigFormat['format'], text: string): string[] {
  return credentialValues(parsedConfig(format, text)).filter((value) => value.length >= 8);
}

const MASKED = '********';

/** JSON: every string under a credential key, and any that looks like key material, replaced where it is written. */
function maskJson(text: string): string {
  const tree = parseTree(text, [], { allowTrailingComma: true });
  if (!tree) return text;
  const spans: { offset: number; length: number }[] = [];
  const walk = (node: JsonNode, underSecret: boolean): void => {
    if (node.type === 'string') {
      if (underSecret || KEY_MATERIAL.test(String(node.value))) spans.push({ offset: node.offset, length: node.length });
      return;
    }
    if (node.type === 'property') {
      const [key, value] = node.children ?? [];
      if (value) walk(value, underSecret || SECRET_KEY.test(String(key?.value ?? '')));
      return;
    }
    for (const child of node.children ?? []) walk(child, underSecret);
  };
  walk(tree, false);
  let out = text;
  for (const span of spans.sort((a, b) => b.offset - a.offset)) out = splice(out, span.offset, span.length, JSON.stringify(MASKED));
  return out;
}

/** TOML: every quoted string whose value is a credential (the parser gives values, not places), in either quoting. */
function maskToml(text: string): string {
  let out = text;
  for (const value of credentialValues(parsedConfig('TOML', text)).sort((a, b) => b.length - a.length)) {
    for (const literal of [JSON.stringify(value), `'${value}'`]) out = out.split(literal).join(`"${MASKED}"`);
  }
  return out;
}

/**
 * The config with every credential value masked, however short, for the file's diff (pure). Only values change, so
 * the diff still shows exactly the lines that change; the PoW keys are never credentials.
 */
export function maskCredentials(format: PowConfigFormat['format'], text: string): string {
  return format === 'JSON' ? maskJson(text) : maskToml(text);
}

/** The config format of each flavor. */
export const POW_CONFIG_FORMATS: Record<NodeFlavor, PowConfigFormat> = {
  'hornet-2': jsonFormat(['restAPI', 'pow', 'enabled'], ['restAPI', 'pow', 'workerCount']),
  'hornet-1': jsonFormat(['restAPI', 'powEnabled'], ['restAPI', 'powWorkerCount']),
  bee: beeFormat(),
};
