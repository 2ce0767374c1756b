/**
 * Connection variables, with Ansible's names so existing inventories work unchanged. They are split from
 * the task variables before those are validated, and become a host's ConnectionSettings.
 */

import { isIP } from 'node:net';
import { z } from 'zod';
import type { ConnectionSettings, HostKeyChecking } from './types.ts';
import { duration } from './duration.ts';
import { secretString } from './secret.ts';
import { fileKind, resolveInventoryPath } from './paths.ts';
import { parseHostKeyPin } from './host-key-pin.ts';

const PIN_HINT = 'expected a host public key `TYPE BASE64` or a fingerprint `SHA256:…`, or a list of them';

/** `ssh_host_key`: one pin or a list, each checked and put in its normal form (see host-key-pin.ts). */
const hostKeyPins = z.union([z.string(), z.array(z.string())], { error: PIN_HINT }).transform((value, ctx) => {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) ctx.issues.push({ code: 'custom', message: `${PIN_HINT}; the list is empty`, input: value });
  return list.flatMap((item, index) => {
    const parsed = parseHostKeyPin(item);
    if ('pin' in parsed) return [parsed.pin];
    ctx.issues.push({ code: 'custom', message: parsed.problem, input: item, ...(Array.isArray(value) ? { path: [index] } : {}) });
    return [];
  });
});

/** Defaults for every connection variable that has one. */
export const CONNECTION_DEFAULTS = {
  port: 22,
  user: 'root',
  become: false,
  knownHostsFile: '~/.ssh/known_hosts',
  hostKeyChecking: 'ask' as HostKeyChecking,
  connectTimeout: 10,
  commandTimeout: 300,
  connectRetries: 2,
  persist: 60,
} as const;

/** Variables whose value is a password: they and the environment values expanded into them are redacted. */
export const SECRET_CONNECTION_VARS: ReadonlySet<string> = new Set(['ansible_password', 'ansible_become_password']);

/** Ansible's older spellings, refused with a pointer to the name we read (silently ignoring them would connect as the wrong user). */
export const LEGACY_CONNECTION_VARS: Readonly<Record<string, string>> = {
  ansible_ssh_host: 'ansible_host',
  ansible_ssh_port: 'ansible_port',
  ansible_ssh_user: 'ansible_user',
  ansible_ssh_pass: 'ansible_password',
  ansible_become_pass: 'ansible_become_password',
  ansible_sudo: 'ansible_become',
  ansible_sudo_pass: 'ansible_become_password',
};

/** The message for a bad `ansible_group_priority`, shared with the loader so both report it identically. */
export const GROUP_PRIORITY_HINT = 'ansible_group_priority must be an integer';

const BOOLEAN_HINT = 'expected true or false (yes/no also accepted)';
const TRUE_WORDS = new Set(['true', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', 'no', 'off']);

/** A boolean that also takes `yes`/`no`: YAML 1.2 reads those as strings, but Ansible users write them as booleans. */
export const yamlBoolean = z.union([z.boolean(), z.string()], { error: BOOLEAN_HINT }).transform((value, ctx) => {
  if (typeof value === 'boolean') return value;
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  ctx.issues.push({ code: 'custom', message: BOOLEAN_HINT, input: value });
  return z.NEVER;
});

/** A TCP port; integers only, since a quoted "22" usually means a template or a typo went unnoticed. */
const port = z
  .number({
    error: (issue) =>
      typeof issue.input === 'string'
        ? `expected a port number from 1 to 65535, not the string "${issue.input}" (write it without quotes)`
        : 'expected a port number from 1 to 65535',
  })
  .int('expected a port number from 1 to 65535')
  .min(1, 'expected a port number from 1 to 65535')
  .max(65535, 'expected a port number from 1 to 65535');

const nonEmpty = (what: string) => z.string({ error: `expected ${what}` }).min(1, `expected ${what}, not an empty string`);

/** A DNS name: dot-separated labels of letters, digits, `_` and `-` (never first or last), 253 characters at most. */
const DNS_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** True for an IPv4 or IPv6 address (a zone such as `%eth0` included) or a DNS name: what may name a host in a config file. */
export function isHostAddress(value: string): boolean {
  return isIP(value) !== 0 || DNS_NAME.test(value);
}

const ADDRESS_HINT = 'an IP address or DNS name (letters, digits, dots, - and _)';
// It reaches HAProxy's and the firewall's files and ssh: one word, no spaces, newlines or option-like leading dash.
const hostAddress = nonEmpty(ADDRESS_HINT).refine(isHostAddress, { error: (issue) => `expected ${ADDRESS_HINT}, not ${shortQuoted(issue.input)}` });

/** A value as a JSON string (control characters visible), cut to a readable length. */
function shortQuoted(value: unknown): string {
  const text = String(value);
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/** A login name as useradd, sssd (user@domain) and sshd take it: no leading dash, no spaces, no shell or path syntax. */
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;
const userName = nonEmpty('a user name').regex(USER_NAME, 'expected a user name (letters, digits, _ . @ -; not starting with -)');

/** The schema of the connection variables; paths are resolved against `inventoryDir` (the inventory file's directory). */
export function connectionVarsSchema(inventoryDir: string) {
  return z.object({
    ansible_host: hostAddress.optional(),
    ansible_port: port.default(CONNECTION_DEFAULTS.port),
    ansible_user: userName.default(CONNECTION_DEFAULTS.user),
    ansible_ssh_private_key_file: nonEmpty('a path to a private key file')
      .transform((path, ctx) => {
        const absolute = resolveInventoryPath(path, inventoryDir);
        const kind = fileKind(absolute);
        if (kind === 'file') return absolute;
        ctx.issues.push({
          code: 'custom',
          message: kind === 'missing' ? `private key file not found: ${absolute}` : `private key path is not a file: ${absolute}`,
          input: path,
        });
        return z.NEVER;
      })
      .optional(),
    ansible_password: secretString().optional(),
    ansible_become: yamlBoolean.default(CONNECTION_DEFAULTS.become),
    ansible_become_password: secretString().optional(),
    private_ip: hostAddress.optional(),
    ssh_known_hosts_file: nonEmpty('a path to a known_hosts file')
      .default(CONNECTION_DEFAULTS.knownHostsFile)
      .transform((path) => resolveInventoryPath(path, inventoryDir)),
    ssh_host_key_checking: z
      // YAML 1.1, as Ansible reads it, makes an unquoted `off` the boolean false.
      .preprocess((value) => (value === false ? 'off' : value), z.enum(['strict', 'ask', 'accept-new', 'off'], { error: 'expected strict, ask, accept-new or off' }))
      .default(CONNECTION_DEFAULTS.hostKeyChecking),
    ssh_host_key: hostKeyPins.optional(),
    ssh_connect_timeout: duration.default(CONNECTION_DEFAULTS.connectTimeout),
    ssh_command_timeout: duration.default(CONNECTION_DEFAULTS.commandTimeout),
    ssh_connect_retries: z
      .number({ error: 'expected a whole number of retries from 0 to 10' })
      .int('expected a whole number of retries from 0 to 10')
      .min(0, 'expected a whole number of retries from 0 to 10')
      .max(10, 'expected a whole number of retries from 0 to 10')
      .default(CONNECTION_DEFAULTS.connectRetries),
    ssh_persist: duration.default(CONNECTION_DEFAULTS.persist),
    // Read by the loader from group vars to order groups; accepted (and unused) on hosts.
    ansible_group_priority: z.number({ error: GROUP_PRIORITY_HINT }).int(GROUP_PRIORITY_HINT).optional(),
    // Harmless in inventories shared with Ansible: nothing here runs Python.
    ansible_python_interpreter: z.unknown().optional(),
    ansible_connection: z
      .literal('ssh', { error: (issue) => `ansible_connection ${JSON.stringify(issue.input)} is not supported: provision only connects over ssh` })
      .optional(),
  });
}

/** Parsed connection variables. */
export type ConnectionVars = z.output<ReturnType<typeof connectionVarsSchema>>;

/** Names of all connection variables, the keys split off before task-variable validation. */
export const CONNECTION_VAR_NAMES: readonly string[] = Object.keys(connectionVarsSchema('/').shape);

/** The settings of one host from its parsed connection variables; `ansible_host` defaults to the host's name. */
export function toConnectionSettings(hostName: string, vars: ConnectionVars): { connection: ConnectionSettings; privateIp: string } {
  const address = vars.ansible_host ?? hostName;
  const connection: ConnectionSettings = {
    address,
    port: vars.ansible_port,
    user: vars.ansible_user,
    become: vars.ansible_become,
    knownHostsFile: vars.ssh_known_hosts_file,
    hostKeyChecking: vars.ssh_host_key_checking,
    hostKeyPort: vars.ansible_port,
    connectTimeout: vars.ssh_connect_timeout,
    commandTimeout: vars.ssh_command_timeout,
    connectRetries: vars.ssh_connect_retries,
    persist: vars.ssh_persist,
  };
  if (vars.ansible_ssh_private_key_file !== undefined) connection.privateKeyFile = vars.ansible_ssh_private_key_file;
  if (vars.ansible_password !== undefined) connection.password = vars.ansible_password;
  if (vars.ansible_become_password !== undefined) connection.becomePassword = vars.ansible_become_password;
  if (vars.ssh_host_key !== undefined) connection.hostKeys = vars.ssh_host_key;
  return { connection, privateIp: vars.private_ip ?? address };
}
