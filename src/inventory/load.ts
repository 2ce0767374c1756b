/** Loads an Ansible-style YAML inventory into typed hosts, reporting every problem at once with file positions. */

import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { InputError } from '../errors.ts';
import { registerSecret } from '../report/redact.ts';
import type { Host, Inventory } from './types.ts';
import { ProblemList } from './problems.ts';
import { NESTED_TOO_DEEPLY, readYamlSource, type YamlSource } from './yaml-source.ts';
import { readStructure, type InventoryModel } from './structure.ts';
import { ValueReader } from './values.ts';
import { hostGroups, mergeHostVars, rankGroups } from './precedence.ts';
import {
  CONNECTION_VAR_NAMES,
  LEGACY_CONNECTION_VARS,
  SECRET_CONNECTION_VARS,
  connectionVarsSchema,
  isHostAddress,
  toConnectionSettings,
} from './connection.ts';
import { issueProblems } from './issues.ts';
import type { Env } from './env-refs.ts';

/** Options of loadInventory. */
export interface LoadInventoryOptions<S extends z.ZodType> {
  /**
   * Schema of the task variables (everything but connection variables), typically a strict object of namespaces;
   * or a function of the inventory's directory, for schemas that resolve relative paths (key and certificate files).
   */
  vars: S | ((inventoryDir: string) => S);
  /** Environment for `${NAME}` references; default `process.env`. */
  env?: Env;
}

/**
 * Reads, merges and validates the inventory at `file`. Any bad input, anywhere in the file, ends in one
 * InputError listing every problem with its file:line:column and key path; nothing else is thrown for input.
 */
export async function loadInventory<S extends z.ZodType>(
  file: string,
  options: LoadInventoryOptions<S>,
): Promise<Inventory<z.output<S>>> {
  try {
    const source = await readYamlSource(file);
    return buildInventory(source, resolve(file), options);
  } catch (error) {
    // Our walks recurse per nesting level; YAML the parser accepted could still be deep enough to overflow.
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      throw new InputError([{ message: NESTED_TOO_DEEPLY, position: { file, line: 1, column: 1 } }]);
    }
    throw error;
  }
}

/** The synchronous part of loading: structure, precedence, env expansion and validation. */
function buildInventory<S extends z.ZodType>(source: YamlSource, absoluteFile: string, options: LoadInventoryOptions<S>): Inventory<z.output<S>> {
  const problems = new ProblemList();
  const model = readStructure(source, problems);
  if (model.hosts.size === 0 && problems.size === 0) {
    problems.add({ message: 'the inventory defines no hosts (put them under `all: {hosts: {name: …}}` or a group)', position: source.position(source.root) });
  }
  const reader = new ValueReader(source, options.env ?? process.env, problems);
  const ranks = rankGroups(model, reader, source, problems);
  const connectionSchema = connectionVarsSchema(dirname(absoluteFile));
  const varsSchema = typeof options.vars === 'function' ? options.vars(dirname(absoluteFile)) : options.vars;

  const hosts: Host<z.output<S>>[] = [];
  for (const host of model.hosts.values()) {
    const groups = hostGroups(model, host, ranks);
    const merged = mergeHostVars(model, host, groups);
    const connectionInput: Record<string, unknown> = {};
    const taskInput: Record<string, unknown> = {};
    for (const [name, def] of merged) {
      const legacy = LEGACY_CONNECTION_VARS[name];
      if (legacy) {
        problems.add(source.problemAt(def.keyNode, `'${name}' is an old Ansible name that provision does not read; use '${legacy}'`));
        continue;
      }
      const { value, envValues } = reader.read(def);
      if (SECRET_CONNECTION_VARS.has(name)) for (const secret of envValues) registerSecret(secret);
      if (CONNECTION_VAR_NAMES.includes(name)) connectionInput[name] = value;
      else taskInput[name] = value;
    }

    const connection = connectionSchema.safeParse(connectionInput);
    const task = varsSchema.safeParse(taskInput);
    const context = { source, vars: merged, host };
    if (!connection.success) {
      problems.addAll(issueProblems(connection.error.issues, { ...context, schema: connectionSchema, otherTopLevelNames: [] }));
    }
    if (!task.success) {
      problems.addAll(issueProblems(task.error.issues, { ...context, schema: varsSchema, otherTopLevelNames: CONNECTION_VAR_NAMES }));
    }
    // Without ansible_host the host's name is its address (and private_ip): it must be one, as ansible_host must.
    if (connection.success && connection.data.ansible_host === undefined && !isHostAddress(host.name)) {
      problems.add(source.problemAt(host.keyNode, 'this host name is not an IP address or DNS name, so it cannot be the address: set ansible_host (and private_ip)'));
    } else if (connection.success && task.success) {
      hosts.push({ name: host.name, groups, ...toConnectionSettings(host.name, connection.data), vars: task.data as z.output<S> });
    }
  }
  problems.throwIfAny();
  return { file: absoluteFile, hosts, groups: groupMembers(model, hosts) };
}

/** Group name → member hosts (direct or through children), in host file order. */
function groupMembers(model: InventoryModel, hosts: readonly Host<unknown>[]): Map<string, string[]> {
  const members = new Map<string, string[]>();
  for (const name of model.groups.keys()) members.set(name, []);
  for (const host of hosts) for (const group of host.groups) members.get(group)?.push(host.name);
  return members;
}
