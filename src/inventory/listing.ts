/**
 * `provision inventory --list` and `--host NAME`: the resolved groups and variables per host, in the shape
 * `ansible-inventory` prints (`_meta.hostvars`, groups with their hosts and children). provision's own variables
 * are shown as the run will use them, defaults filled in; other variables as they were read. Secrets are masked
 * unless asked for.
 */

import type { z } from 'zod';
import { InputError } from '../errors.ts';
import { redact } from '../report/redact.ts';
import { connectionVarsSchema } from './connection.ts';
import { describeJumpHost, resolveConnection } from './connection-settings.ts';
import { SshConfigFiles } from './ssh-config.ts';
import type { ConnectionSettings } from './types.ts';
import type { ResolvedHost, ResolvedInventory } from './load.ts';
import { SECRET_MASK } from './values.ts';
import { VariableNames } from './variable-names.ts';

/** The schemas that give provision's own variables their defaults, for an inventory in one directory. */
export interface ListingSchemas {
  connection: ReturnType<typeof connectionVarsSchema>;
  task: z.ZodType;
  names: VariableNames;
  /** ~/.ssh/config, which completes the connection variables as it completes a run's. */
  sshConfig: SshConfigFiles;
}

/** The schemas for an inventory in `inventoryDir`, with the task library's schema (or a function of the directory). */
export function listingSchemas(inventoryDir: string, taskVars: z.ZodType | ((inventoryDir: string) => z.ZodType)): ListingSchemas {
  const task = typeof taskVars === 'function' ? taskVars(inventoryDir) : taskVars;
  return { connection: connectionVarsSchema(inventoryDir), task, names: new VariableNames(task), sshConfig: new SshConfigFiles() };
}

/**
 * A host's variables as listed, from its variables as read: provision's own ones validated with their defaults
 * filled in (connection variables under Ansible's names), every other one as it is; keys sorted at every level.
 */
export function listHostVariables(hostName: string, raw: Readonly<Record<string, unknown>>, schemas: ListingSchemas): Record<string, unknown> {
  const connectionInput: Record<string, unknown> = {};
  const taskInput: Record<string, unknown> = {};
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    const kind = schemas.names.classify(name, 'other').kind;
    if (kind === 'connection') connectionInput[name] = value;
    else if (kind === 'task') taskInput[name] = value;
    else defineKey(out, name, value);
  }
  const connection = schemas.connection.safeParse(connectionInput);
  const task = schemas.task.safeParse(taskInput);
  if (!connection.success || !task.success) {
    const issue = (connection.error ?? task.error)?.issues[0];
    throw new InputError(`variables of host '${hostName}' do not validate${issue ? `: ${issue.path.join('.')}: ${issue.message}` : ''}`);
  }
  const settings = resolveConnection(hostName, connection.data, new Set(Object.keys(connectionInput)), schemas.sshConfig);
  if ('problems' in settings) throw new InputError(`the connection of host '${hostName}' cannot be made: ${settings.problems[0]}`);
  for (const [name, value] of Object.entries(connectionListing(connection.data, settings))) defineKey(out, name, value);
  for (const [name, value] of Object.entries(task.data as Record<string, unknown>)) if (value !== undefined) defineKey(out, name, value);
  return sortKeys(out) as Record<string, unknown>;
}

/**
 * Connection variables under Ansible's names, as the run will use them: address, port, user, key and jump hosts
 * completed by ~/.ssh/config where the inventory leaves them out, and `private_ip`.
 */
function connectionListing(vars: Record<string, unknown>, settings: { connection: ConnectionSettings; privateIp: string }): Record<string, unknown> {
  const { connection } = settings;
  const listed: Record<string, unknown> = {
    ...vars,
    ansible_host: connection.address,
    ansible_port: connection.port,
    ansible_user: connection.user,
    ansible_ssh_private_key_file: connection.privateKeyFile,
    ssh_jump: connection.jump?.map(describeJumpHost),
    private_ip: settings.privateIp,
  };
  for (const [name, value] of Object.entries(listed)) if (value === undefined) delete listed[name];
  return listed;
}

/** What `provision inventory --list` prints: groups from `all` down, then `_meta.hostvars`, as ansible-inventory does. */
export function inventoryListing<V>(resolved: ResolvedInventory<V>, schemas: ListingSchemas, options: { showSecrets: boolean }): Record<string, unknown> {
  const { model } = resolved;
  const out: Record<string, unknown> = {};
  const seen = new Set<string>();
  const visit = (name: string): void => {
    const group = model.groups.get(name);
    if (!group || seen.has(name)) return;
    seen.add(name);
    const entry: Record<string, unknown> = {};
    if (name !== 'all' && group.hosts.length > 0) entry.hosts = [...group.hosts];
    if (group.children.length > 0) entry.children = [...group.children];
    if (Object.keys(entry).length > 0) out[name] = entry;
    for (const child of group.children) visit(child);
  };
  visit('all');
  const hostvars: Record<string, unknown> = {};
  for (const host of resolved.hosts) defineKey(hostvars, host.host.name, hostListing(resolved, host, schemas, options));
  return { _meta: { hostvars }, ...sortKeys(out) as Record<string, unknown> };
}

/** One host's listed variables (`--host NAME`). */
export function hostListing<V>(resolved: ResolvedInventory<V>, host: ResolvedHost<V>, schemas: ListingSchemas, options: { showSecrets: boolean }): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  const fromSecretFile = new Set<string>();
  for (const [name, def] of host.definitions) {
    const own = resolved.names.classify(name, 'other').kind;
    const foreign = own !== 'connection' && own !== 'task';
    // Other projects' values are shown as written (no `${…}` expansion), their vault values decrypted only on request.
    const read = resolved.reader.read(def, foreign ? { expandEnv: false, vault: options.showSecrets ? 'decrypt' : 'mask' } : {});
    defineKey(raw, name, read.value);
    if (def.source.secret) fromSecretFile.add(name);
  }
  const listed = listHostVariables(host.host.name, raw, schemas);
  if (options.showSecrets) return listed;
  for (const name of fromSecretFile) listed[name] = SECRET_MASK;
  return maskSecrets(listed) as Record<string, unknown>;
}

/** The variables of the host named `name`, or an input error naming the hosts there are. */
export function findHost<V>(resolved: ResolvedInventory<V>, name: string): ResolvedHost<V> {
  const found = resolved.hosts.find((host) => host.host.name === name);
  if (found) return found;
  throw new InputError(`no host '${name}' in the inventory (hosts: ${resolved.hosts.map((host) => host.host.name).join(', ')})`);
}

/** Every string with a registered secret in it masked, at any depth. */
function maskSecrets(value: unknown): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) defineKey(out, key, maskSecrets(item));
    return out;
  }
  return value;
}

/** Mappings with their keys sorted at every level, as ansible-inventory prints them (`sort_keys`). */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) defineKey(out, key, sortKeys((value as Record<string, unknown>)[key]));
    return out;
  }
  return value;
}

function defineKey(out: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}
