/**
 * Loads an Ansible inventory into typed hosts: YAML or INI files (or a directory of them), the group_vars/ and
 * host_vars/ beside them, Ansible Vault values and `-e` extra vars, merged in Ansible's precedence, and validated.
 * Every problem, in any of those files, is reported at once with its file:line:column.
 */

import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar } from 'yaml';
import type { z } from 'zod';
import { InputError } from '../errors.ts';
import { secret } from './secret.ts';
import type { Host, IgnoredVariable, Inventory } from './types.ts';
import { ProblemList } from './problems.ts';
import { NESTED_TOO_DEEPLY } from './yaml-source.ts';
import { emptyModel, reconcileModel, type InventoryModel, type VarDef } from './model.ts';
import { inventorySourceFiles, readInventoryFile } from './inventory-files.ts';
import { readVarsDirectory, type UnusedVarsFile } from './vars-files.ts';
import { readExtraVars } from './extra-vars.ts';
import { ValueReader } from './values.ts';
import { hostGroups, mergeHostVars, rankGroups, type VarLayers, type VarsDirectory } from './precedence.ts';
import { SECRET_CONNECTION_VARS, connectionVarsSchema, isHostAddress, isUserName } from './connection.ts';
import { resolveConnection } from './connection-settings.ts';
import { SshConfigFiles } from './ssh-config.ts';
import { VariableNames, type ValueShape } from './variable-names.ts';
import { issueProblems } from './issues.ts';
import type { Env } from './env-refs.ts';
import type { VaultSecret } from './vault.ts';

/** Options of loadInventory. */
export interface LoadInventoryOptions<S extends z.ZodType> {
  /**
   * Schema of the task variables (everything but connection variables), typically a strict object of namespaces;
   * or a function of the inventory's directory, for schemas that resolve relative paths (key and certificate files).
   */
  vars: S | ((inventoryDir: string) => S);
  /** Environment for `${NAME}` references; default `process.env`. */
  env?: Env;
  /** Passwords for Ansible Vault values and files (see vault-secrets.ts). */
  vaultSecrets?: readonly VaultSecret[];
  /** `-e` / `--extra-vars` arguments, in order. */
  extraVars?: readonly string[];
}

/** One host as loaded, with the definition that wins for each of its variables. */
export interface ResolvedHost<Vars> {
  host: Host<Vars>;
  definitions: Map<string, VarDef>;
}

/** An inventory with what it was made from: for `provision inventory` and `validate`. */
export interface ResolvedInventory<Vars> {
  inventory: Inventory<Vars>;
  hosts: ResolvedHost<Vars>[];
  model: InventoryModel;
  /** The directory relative paths in variables are resolved from: the first source's, or the source itself. */
  inventoryDir: string;
  reader: ValueReader;
  names: VariableNames;
  /** Files of a directory inventory left out, by name, as Ansible leaves them out. */
  skippedFiles: string[];
  /** group_vars/ and host_vars/ entries that no group or host reads. */
  unusedVarsFiles: UnusedVarsFile[];
  /** The directories whose group_vars/ and host_vars/ were read (absolute). */
  varsDirectories: string[];
}

/**
 * Reads, merges and validates the inventory (one source, or several merged in order as Ansible merges `-i a -i b`).
 * Any bad input, anywhere, ends in one InputError listing every problem with its file:line:column and key path.
 */
export async function loadInventory<S extends z.ZodType>(sources: string | readonly string[], options: LoadInventoryOptions<S>): Promise<Inventory<z.output<S>>> {
  return (await resolveInventory(sources, options)).inventory;
}

/** loadInventory, keeping what the inventory was made from. */
export async function resolveInventory<S extends z.ZodType>(sources: string | readonly string[], options: LoadInventoryOptions<S>): Promise<ResolvedInventory<z.output<S>>> {
  const given = typeof sources === 'string' ? [sources] : [...sources];
  if (given.length === 0) throw new InputError('no inventory given: name a file or directory (or -i INVENTORY)');
  try {
    return await readAndBuild(given, options);
  } catch (error) {
    // Our walks recurse per nesting level; YAML the parser accepted could still be deep enough to overflow.
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      throw new InputError([{ message: NESTED_TOO_DEEPLY, position: { file: given[0]!, line: 1, column: 1 } }]);
    }
    throw error;
  }
}

async function readAndBuild<S extends z.ZodType>(given: readonly string[], options: LoadInventoryOptions<S>): Promise<ResolvedInventory<z.output<S>>> {
  const secrets = options.vaultSecrets ?? [];
  const problems = new ProblemList();
  const model = emptyModel();
  const skippedFiles: string[] = [];
  for (const source of given) {
    const { files, skipped } = inventorySourceFiles(source);
    skippedFiles.push(...skipped);
    if (files.length === 0) problems.add({ message: `the inventory directory ${source} holds no inventory file` });
    for (const file of files) await readInventoryFile(file, secrets, problems, model);
  }
  problems.throwIfAny();
  reconcileModel(model);

  // group_vars/ and host_vars/ beside each source: next to a file, or inside a directory.
  const unusedVarsFiles: UnusedVarsFile[] = [];
  const directories: VarsDirectory[] = [];
  const seen = new Set<string>();
  for (const source of given) {
    const shownDir = isDirectory(source) ? source : dirname(source);
    const dir = resolve(shownDir);
    if (seen.has(dir)) continue;
    seen.add(dir);
    directories.push(await readVarsDirectory(dir, shownDir, model, secrets, problems, unusedVarsFiles));
  }
  const extra = await readExtraVars(options.extraVars ?? [], secrets, problems);
  problems.throwIfAny();
  const firstSource = resolve(given[0]!);
  const inventoryDir = isDirectory(firstSource) ? firstSource : dirname(firstSource);
  const resolved = buildInventory(model, { directories, extra }, inventoryDir, firstSource, problems, options);
  return { ...resolved, skippedFiles, unusedVarsFiles, varsDirectories: directories.map((directory) => directory.dir) };
}

/** The synchronous part of loading: precedence, classification, env expansion, decryption and validation. */
function buildInventory<S extends z.ZodType>(
  model: InventoryModel,
  layers: VarLayers,
  inventoryDir: string,
  inventoryPath: string,
  problems: ProblemList,
  options: LoadInventoryOptions<S>,
): Omit<ResolvedInventory<z.output<S>>, 'skippedFiles' | 'unusedVarsFiles' | 'varsDirectories'> {
  if (model.hosts.size === 0) {
    problems.add({ message: `the inventory defines no hosts (${inventoryPath}): list them in a group, e.g. \`[nodes]\` in INI or \`all: {hosts: {name: …}}\` in YAML` });
  }
  const reader = new ValueReader(options.env ?? process.env, problems, options.vaultSecrets ?? []);
  const ranks = rankGroups(model, reader, problems);
  const connectionSchema = connectionVarsSchema(inventoryDir);
  const varsSchema = typeof options.vars === 'function' ? options.vars(inventoryDir) : options.vars;
  const names = new VariableNames(varsSchema);
  const ignored = new Map<string, IgnoredVariable>();
  const sshConfig = new SshConfigFiles();

  const hosts: ResolvedHost<z.output<S>>[] = [];
  for (const hostModel of model.hosts.values()) {
    const groups = hostGroups(model, hostModel, ranks);
    const merged = mergeHostVars(model, hostModel, groups, layers);
    const connectionInput: Record<string, unknown> = {};
    const taskInput: Record<string, unknown> = {};
    for (const [name, def] of merged) {
      const kind = names.classify(name, shapeOf(def));
      if (kind.kind === 'foreign') {
        const position = def.source.position(def.keyNode);
        ignored.set(`${name}\u0000${position.file}:${position.line}`, { name, position });
        continue;
      }
      if (kind.kind === 'legacy') {
        problems.add(def.source.problemAt(def.keyNode, `'${name}' is an old Ansible name that provision does not read; use '${kind.use}'`));
        continue;
      }
      if (kind.kind === 'misspelt') {
        problems.add(def.source.problemAt(def.keyNode, kind.message));
        continue;
      }
      const { value, envValues, failed } = reader.read(def);
      if (SECRET_CONNECTION_VARS.has(name)) for (const value of envValues) secret(value);
      // Its vault value was not decrypted (and said so): a second message about the missing value would only confuse.
      if (failed) continue;
      if (kind.kind === 'connection') connectionInput[name] = value;
      else taskInput[name] = value;
    }

    const connection = connectionSchema.safeParse(connectionInput);
    const task = varsSchema.safeParse(taskInput);
    const context = { vars: merged, host: hostModel };
    if (!connection.success) {
      problems.addAll(issueProblems(connection.error.issues, { ...context, schema: connectionSchema, otherTopLevelNames: [] }));
    }
    if (!task.success) {
      problems.addAll(issueProblems(task.error.issues, { ...context, schema: varsSchema, otherTopLevelNames: names.taskNames }));
    }
    if (connection.success && task.success) {
      const settings = resolveConnection(hostModel.name, connection.data, new Set(Object.keys(connectionInput)), sshConfig);
      if ('problems' in settings) {
        // From ~/.ssh/config or the jump hosts: placed where the host's address is set, the message names the config file.
        const address = merged.get('ansible_host');
        for (const message of settings.problems) {
          const text = `host '${hostModel.name}': ${message}`;
          problems.add(address ? address.source.problemAt(address.value ?? address.keyNode, text) : hostModel.source.problemAt(hostModel.keyNode, text));
        }
        continue;
      }
      // The address (and private_ip by default) reaches config files and ssh: it must be an address, whichever way it came.
      if (!isHostAddress(settings.connection.address)) {
        const why = connection.data.ansible_host === undefined && settings.connection.address === hostModel.name
          ? 'this host name is not an IP address or DNS name, so it cannot be the address: set ansible_host (and private_ip)'
          : `host '${hostModel.name}': its address ${JSON.stringify(settings.connection.address)} (from the ssh config) is not an IP address or DNS name`;
        problems.add(hostModel.source.problemAt(hostModel.keyNode, why));
        continue;
      }
      if (!isUserName(settings.connection.user)) {
        problems.add(hostModel.source.problemAt(hostModel.keyNode, `host '${hostModel.name}': its user ${JSON.stringify(settings.connection.user)} (from the ssh config) is not a user name`));
        continue;
      }
      const host: Host<z.output<S>> = { name: hostModel.name, groups, ...settings, vars: task.data as z.output<S> };
      hosts.push({ host, definitions: merged });
    }
  }
  problems.throwIfAny();
  const inventory: Inventory<z.output<S>> = {
    file: inventoryPath,
    hosts: hosts.map((resolved) => resolved.host),
    groups: groupMembers(model, hosts.map((resolved) => resolved.host)),
    ignored: [...ignored.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
  return { inventory, hosts, model, inventoryDir, reader, names };
}

/** Whether a definition's value is a mapping (what a namespace holds), empty, or something else. */
function shapeOf(def: VarDef): ValueShape {
  const node = def.source.resolve(def.value);
  if (def.source.isNull(node)) return 'empty';
  if (node && isMap(node)) return 'mapping';
  // An INI value is one scalar whose value may be a dict.
  if (node && isScalar(node) && node.value !== null && typeof node.value === 'object' && !Array.isArray(node.value)) return 'mapping';
  return 'other';
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Group name → member hosts (direct or through children), in host file order. */
function groupMembers(model: InventoryModel, hosts: readonly Host<unknown>[]): Map<string, string[]> {
  const members = new Map<string, string[]>();
  for (const name of model.groups.keys()) members.set(name, []);
  for (const host of hosts) for (const group of host.groups) members.get(group)?.push(host.name);
  return members;
}
