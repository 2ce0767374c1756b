/**
 * Whose a variable is. Connection variables and the task library's namespaces are provision's own; any other
 * variable belongs to something else in the operator's project (other roles' `hornet_version`, `docker_…`) and
 * is loaded and ignored. A name that is most likely a misspelling of one of provision's own is still an error,
 * since ignoring it would silently drop a setting: `fail2bann: {…}`, `ansible_prot`, `ssh_port` (for `ssh.port`).
 */

import type { z } from 'zod';
import { closestName } from './did-you-mean.ts';
import { objectKeysAt } from './schema-keys.ts';
import { CONNECTION_VAR_NAMES, LEGACY_CONNECTION_VARS } from './connection.ts';

/** What a variable name is to provision. */
export type VariableKind =
  | { kind: 'connection' }
  | { kind: 'task' }
  | { kind: 'legacy'; use: string }
  | { kind: 'misspelt'; message: string }
  | { kind: 'foreign' };

/** The shape of a value, enough to tell a misspelt namespace (a mapping) from another project's variable. */
export type ValueShape = 'mapping' | 'empty' | 'other';

/** Classifies variable names against the connection variables and one task-variable schema. */
export class VariableNames {
  readonly #task: ReadonlySet<string>;
  /** Task variables that are namespaces (mappings), with their keys. */
  readonly #namespaces = new Map<string, string[]>();
  readonly #own: string[];

  constructor(taskVars: z.ZodType) {
    const task = objectKeysAt(taskVars, []);
    this.#task = new Set(task);
    for (const name of task) {
      const keys = objectKeysAt(taskVars, [name]);
      if (keys.length > 0) this.#namespaces.set(name, keys);
    }
    this.#own = [...task, ...CONNECTION_VAR_NAMES];
  }

  /** The task schema's top-level names (its namespaces and any plain variables). */
  get taskNames(): readonly string[] {
    return [...this.#task];
  }

  /** What `name` is, given the shape of its value. */
  classify(name: string, shape: ValueShape): VariableKind {
    if (CONNECTION_VAR_NAMES.includes(name)) return { kind: 'connection' };
    if (this.#task.has(name)) return { kind: 'task' };
    const legacy = LEGACY_CONNECTION_VARS[name];
    if (legacy) return { kind: 'legacy', use: legacy };
    const misspelt = this.#misspelling(name, shape);
    return misspelt ? { kind: 'misspelt', message: misspelt } : { kind: 'foreign' };
  }

  #misspelling(name: string, shape: ValueShape): string | undefined {
    // `ssh.port: 2222` written as one key, or `ssh_port` flattened: a namespace's key outside its namespace.
    for (const [namespace, keys] of this.#namespaces) {
      for (const separator of ['.', '_']) {
        if (!name.startsWith(namespace + separator)) continue;
        const key = name.slice(namespace.length + 1);
        if (!keys.includes(key)) continue;
        if (separator === '.') return `unknown variable '${name}': a dot in a name is not a path; write it as ${namespace}: {${key}: …}`;
        return `unknown variable '${name}'; did you mean '${namespace}.${key}'? (write it as ${namespace}: {${key}: …})`;
      }
    }
    const closest = closestName(name, this.#own);
    if (closest === undefined) return undefined;
    // A namespace holds a mapping: another project's `nodes: [a, b]` or `ssl: true` is not a misspelt `node` or `ssh`.
    if (this.#namespaces.has(closest) && shape === 'other') return undefined;
    return `unknown variable '${name}'; did you mean '${closest}'?`;
  }
}
