/** `ssh.*`: key-only SSH. Every key is documented with its default; paths resolve against the inventory's directory. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { defineNamespace, type VarsOf } from '../../src/engine/role.ts';
import { yamlBoolean } from '../../src/inventory/connection.ts';
import { duration } from '../../src/inventory/duration.ts';
import { resolveInventoryPath } from '../../src/inventory/paths.ts';

const KEY_LINE = /^(ssh-|ecdsa-|sk-)/;

/** ssh2's key parser, loaded at the first key to check: an inventory that lists none starts without the SSH library. */
let keyParser: typeof import('ssh2').utils.parseKey | undefined;
function parseKey(text: string): ReturnType<typeof import('ssh2').utils.parseKey> {
  keyParser ??= (createRequire(import.meta.url)('ssh2') as typeof import('ssh2')).utils.parseKey;
  return keyParser(text);
}

/** Parses one authorized key line; returns `type base64 [comment]` normalised, or an error message. */
export function parseAuthorizedKey(line: string): { key: string } | { error: string } {
  const [type = '', data = '', ...comment] = line.trim().split(/\s+/);
  const parsed = parseKey(`${type} ${data}`);
  if (parsed instanceof Error || (Array.isArray(parsed) && parsed.length === 0)) {
    return { error: `not a valid public key: ${type} ${data.slice(0, 16)}…` };
  }
  return { key: [type, data, ...comment].join(' ') };
}

/** One `ssh.authorized_keys` entry: a public key line, or a path to a .pub file (one or more keys). */
function authorizedKeyEntry(inventoryDir: string) {
  return z.string().transform((entry, context) => {
    const lines = KEY_LINE.test(entry.trim()) ? [entry] : readKeyFile(entry, inventoryDir, context);
    const keys: string[] = [];
    for (const line of lines) {
      const result = parseAuthorizedKey(line);
      if ('error' in result) context.addIssue({ code: 'custom', message: result.error });
      else keys.push(result.key);
    }
    return keys;
  });
}

function readKeyFile(path: string, inventoryDir: string, context: z.RefinementCtx): string[] {
  const file = resolveInventoryPath(path, inventoryDir);
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
  } catch {
    context.addIssue({ code: 'custom', message: `expected a public key line or a readable .pub file; cannot read ${file}` });
    return [];
  }
}

const userName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'expected a user name (lowercase letters, digits, _ and -)');

/** The `ssh` namespace, for an inventory in `inventoryDir`. */
export function sshVars(inventoryDir: string) {
  return z
    .object({
      authorized_keys: z
        .array(authorizedKeyEntry(inventoryDir))
        .default([])
        .transform((lists) => lists.flat())
        .describe('Public keys to authorize for the login user (and the admin user): key lines or .pub paths. Default none.'),
      exclusive_keys: yamlBoolean.default(false).describe('Remove keys not listed here from authorized_keys. Default false: existing keys stay.'),
      admin_user: userName.optional().describe('Create this user (home, sudo group, the keys) and forbid root logins. Default: none.'),
      admin_sudo_nopasswd: yamlBoolean.default(true).describe('The admin user may sudo without a password (it has none: logins are key-only). Default true.'),
      port: z.number().int().min(1).max(65535).optional().describe("sshd's port. Default: leave it (22)."),
      allow_users: z.array(userName).min(1).optional().describe('Only these users may log in. Default: no restriction.'),
      allow_groups: z.array(userName).min(1).optional().describe('Only members of these groups may log in. Default: no restriction.'),
      max_auth_tries: z.number().int().min(1).max(100).default(3).describe('MaxAuthTries. Default 3.'),
      login_grace_time: duration.default(30).describe('LoginGraceTime. Default 30s.'),
      rollback_after: duration
        .refine((seconds) => seconds >= 10 && seconds <= 3600, 'expected a duration from 10s to 1h')
        .default(60)
        .describe('Without a confirming new login in this time (10s–1h) after sshd reloads, the host restores the previous configuration. Default 60s.'),
    })
    .strict();
}

/** The validated `ssh` namespace. */
export type SshVars = z.output<ReturnType<typeof sshVars>>;

/** The defaults of `ssh`, for hosts that do not set it. */
export const SSH_DEFAULTS = { authorized_keys: [], exclusive_keys: false, admin_sudo_nopasswd: true, max_auth_tries: 3, login_grace_time: 30, rollback_after: 60 };

/** The port sshd listens on after this run: `ssh.port`, else the port the inventory connects to. */
export function sshPort(vars: { ssh: SshVars }, connectionPort: number): number {
  return vars.ssh.port ?? connectionPort;
}

/** The `ssh` namespace: the operator's keys, the admin user and sshd's settings. */
export const sshNamespace = defineNamespace('ssh', (inventoryDir) => sshVars(inventoryDir).default(SSH_DEFAULTS));

/** The host variables the SSH role reads. */
export type SshHostVars = VarsOf<typeof sshNamespace>;
