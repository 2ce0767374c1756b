/**
 * Reads and writes the remote-PoW settings in a node's own config file, changing only those values: every other
 * key, its order, the indentation and the comments stay as they were. Each edit is checked by parsing the result
 * and comparing it with the original plus the new values, so a file this code cannot edit safely is never written.
 */
import { isDeepStrictEqual } from 'node:util';
import { parseTree, type Node as JsonNode } from 'jsonc-parser';
import { parse as parseToml } from 'smol-toml';
import { ConfigEditError, jsonTree, jsonValueAt, setJsonValue, setPath, splice, type JsonPath } from '../../src/text/json-edit.ts';
import { parseTomlText, setTomlValue } from '../../src/text/toml-edit.ts';
import type { NodeFlavor } from './vars.ts';

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

/** Runs a read or an edit of the file, its format's errors reported as the node config's. */
function asNodeConfig<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof ConfigEditError) throw new NodeConfigError(error.message);
    throw error;
  }
}

/** A format whose read and write report every problem as a NodeConfigError. */
function checked(format: PowConfigFormat): PowConfigFormat {
  return { ...format, read: (text) => asNodeConfig(() => format.read(text)), write: (text, target) => asNodeConfig(() => format.write(text, target)) };
}

// ---------------------------------------------------------------- JSON (Hornet)

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
  'hornet-2': checked(jsonFormat(['restAPI', 'pow', 'enabled'], ['restAPI', 'pow', 'workerCount'])),
  'hornet-1': checked(jsonFormat(['restAPI', 'powEnabled'], ['restAPI', 'powWorkerCount'])),
  bee: checked(beeFormat()),
};
