/**
 * Variable values from their nodes to plain data: `${NAME}` expanded, `!vault` values decrypted (and registered as
 * secrets), problems placed at the value in the file it came from.
 */

import { isAlias, isMap, isScalar, isSeq, type Node } from 'yaml';
import type { ProblemList } from './problems.ts';
import type { VarDef } from './model.ts';
import type { SourceFile } from './source-file.ts';
import { expandEnvRefs, type Env } from './env-refs.ts';
import { VaultError, decryptVault, type VaultSecret } from './vault.ts';
import { VAULT_TAG } from './yaml-typing.ts';
import { secret } from './secret.ts';

/** What the listing shows instead of a secret. */
export const SECRET_MASK = '********';

/** A variable's plain value and the environment values that went into it. */
export interface ReadValue {
  value: unknown;
  envValues: string[];
  /** A vault value in it could not be decrypted (the problem is reported): the value is not to be validated. */
  failed: boolean;
}

/** How a definition is read. */
export interface ReadMode {
  /** Expand `${NAME}` (provision's own variables); foreign variables are shown as written. Default true. */
  expandEnv?: boolean;
  /** Decrypt `!vault` values (default), or show them as the mask without decrypting. */
  vault?: 'decrypt' | 'mask';
}

/** Converts variable definitions once each (per mode), so an unset `${X}` in a group var is reported once, not per host. */
export class ValueReader {
  readonly #env: Env;
  readonly #problems: ProblemList;
  readonly #secrets: readonly VaultSecret[];
  readonly #cache = new Map<VarDef, Map<string, ReadValue>>();
  readonly #decrypted = new Map<Node, string | undefined>();

  constructor(env: Env, problems: ProblemList, vaultSecrets: readonly VaultSecret[] = []) {
    this.#env = env;
    this.#problems = problems;
    this.#secrets = vaultSecrets;
  }

  /** The plain value of one definition. */
  read(def: VarDef, mode: ReadMode = {}): ReadValue {
    const key = `${mode.expandEnv ?? true}:${mode.vault ?? 'decrypt'}`;
    let byMode = this.#cache.get(def);
    if (!byMode) this.#cache.set(def, (byMode = new Map()));
    let result = byMode.get(key);
    if (!result) {
      const envValues: string[] = [];
      const walk = new Walk(this, def.source, { expandEnv: mode.expandEnv ?? true, vault: mode.vault ?? 'decrypt' }, envValues);
      const value = walk.convert(def.value, new Set());
      result = { value, envValues, failed: walk.failed };
      byMode.set(key, result);
    }
    return result;
  }

  /** A `!vault` value's plaintext (registered as a secret), or undefined after reporting why it cannot be read. */
  decrypt(source: SourceFile, node: Node, text: string): string | undefined {
    if (this.#decrypted.has(node)) return this.#decrypted.get(node);
    let plaintext: string | undefined;
    try {
      plaintext = decryptVault(text, this.#secrets).toString('utf8');
      secret(plaintext);
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      this.#problems.add(source.problemAt(node, error.message));
    }
    this.#decrypted.set(node, plaintext);
    return plaintext;
  }

  /** Adds a problem placed at a node. */
  problem(source: SourceFile, node: Node, message: string): void {
    this.#problems.add(source.problemAt(node, message));
  }

  /** `${NAME}` expanded in `text`, unset and malformed references reported at `node`. */
  expand(source: SourceFile, node: Node, text: string, envValues: string[]): string {
    const expansion = expandEnvRefs(text, this.#env);
    for (const name of expansion.missing) {
      this.problem(source, node, `environment variable ${name} is not set (referenced as \${${name}}; write $\${${name}} for a literal)`);
    }
    for (const written of expansion.malformed) {
      this.problem(source, node, `malformed reference '${written}': write \${NAME} with NAME made of letters, digits and _, or $\${ for a literal \${`);
    }
    envValues.push(...expansion.values);
    return expansion.text;
  }
}

/** One conversion of one definition's value, in one file. */
class Walk {
  /** Set when a vault value could not be decrypted. */
  failed = false;

  constructor(
    readonly reader: ValueReader,
    readonly source: SourceFile,
    readonly mode: Required<ReadMode>,
    readonly envValues: string[],
  ) {}

  convert(node: Node | null, stack: Set<Node>): unknown {
    const source = this.source;
    if (!node) return null;
    const target = isAlias(node) ? source.resolve(node) : node;
    if (!target) return null; // unknown aliases were reported when the file was parsed
    if (stack.has(target)) {
      this.reader.problem(source, node, 'this alias refers to a mapping or list that contains it');
      return null;
    }
    if (isScalar(target)) return this.#scalar(target, target.value);
    stack.add(target);
    try {
      if (isSeq(target)) return target.items.map((item) => this.convert(item as Node | null, stack));
      if (isMap(target)) {
        const out: Record<string, unknown> = {};
        for (const entry of source.entries(target)) {
          if (entry.key === undefined) {
            this.reader.problem(source, entry.keyNode, 'keys must be plain strings, numbers or booleans');
            continue;
          }
          defineKey(out, entry.key, this.convert(entry.value, stack));
        }
        return out;
      }
      return null;
    } finally {
      stack.delete(target);
    }
  }

  #scalar(node: Node, value: unknown): unknown {
    if (node.tag === VAULT_TAG && typeof value === 'string') {
      if (this.mode.vault === 'mask') return SECRET_MASK;
      // A vault value is taken as written: `${` inside a secret is part of the secret.
      const plaintext = this.reader.decrypt(this.source, node, value);
      if (plaintext === undefined) this.failed = true;
      return plaintext ?? null;
    }
    return this.#plain(node, value);
  }

  /** Strings (also inside the lists and dicts of an INI value) expanded; a secret file's strings registered. */
  #plain(node: Node, value: unknown): unknown {
    if (typeof value === 'string') {
      const text = this.mode.expandEnv ? this.reader.expand(this.source, node, value, this.envValues) : value;
      if (this.source.secret) secret(text);
      return text;
    }
    if (Array.isArray(value)) return value.map((item) => this.#plain(node, item));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) defineKey(out, key, this.#plain(node, item));
      return out;
    }
    return value;
  }
}

/** Sets a key with defineProperty: a key named `__proto__` must stay a key, not change the object's prototype. */
function defineKey(out: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}
