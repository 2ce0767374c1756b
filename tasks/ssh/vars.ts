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

/** An algorithm list as sshd_config takes it: names only (no `+`, `-` or `^` prefixes: the list replaces sshd's own). */
const algorithms = (what: string) =>
  z
    .array(z.string().regex(/^[a-z0-9][a-z0-9@._-]*$/, `expected ${what} names such as the ones \`ssh -Q ${what === 'MAC' ? 'mac' : what === 'cipher' ? 'cipher' : 'kex'}\` prints`))
    .min(1, `expected at least one ${what}`);

/** The host key types sshd may offer; ECDSA (NIST curves) is never one of them. */
export const HOST_KEY_TYPES = ['ed25519', 'rsa'] as const;
/** A host key type of ssh.host_key_types. */
export type HostKeyType = (typeof HOST_KEY_TYPES)[number];

const LOG_LEVELS = ['QUIET', 'FATAL', 'ERROR', 'INFO', 'VERBOSE', 'DEBUG', 'DEBUG1', 'DEBUG2', 'DEBUG3'] as const;

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
      kex_algorithms: algorithms('key exchange').optional().describe('KexAlgorithms. Default: by the host\'s OpenSSH version, sntrup761x25519 and curve25519 first, DH group exchange only with the pruned moduli file.'),
      ciphers: algorithms('cipher').optional().describe('Ciphers. Default: chacha20-poly1305, AES-GCM, AES-CTR.'),
      macs: algorithms('MAC').optional().describe('MACs. Default: encrypt-then-MAC only (hmac-sha2-512/256-etm, umac-128-etm).'),
      host_key_algorithms: algorithms('host key algorithm').optional().describe('HostKeyAlgorithms. Default: those of ssh.host_key_types (ed25519, RSA with SHA-2); never ECDSA or SHA-1.'),
      host_key_types: z
        .array(z.enum(HOST_KEY_TYPES, { error: 'expected ed25519 or rsa (ECDSA host keys are not offered)' }))
        .min(1)
        .default(['ed25519', 'rsa'])
        .describe('The host keys sshd offers (HostKey). An ed25519 key that is missing is made on the host. Default ed25519 and rsa.'),
      rsa_host_key_min_bits: z.number().int().min(2048).max(16384).default(3072).describe('An RSA host key smaller than this is not offered (the file stays). Default 3072.'),
      moduli_min_bits: z.number().int().min(2048).max(8192).default(3072).describe('DH group exchange uses only groups of at least this size, from a pruned copy of /etc/ssh/moduli (ModuliFile). Default 3072.'),
      allow_forwarding: yamlBoolean.default(false).describe('AllowTcpForwarding: true on a jump host (ssh_jump, ProxyJump) that provision or anyone reaches other hosts through. Default false.'),
      allow_agent_forwarding: yamlBoolean.default(false).describe('AllowAgentForwarding. Default false.'),
      permit_tunnel: yamlBoolean.default(false).describe('PermitTunnel (tun devices). Default false.'),
      permit_user_environment: yamlBoolean.default(false).describe('PermitUserEnvironment (~/.ssh/environment). Default false.'),
      max_startups: z
        .string()
        .regex(/^\d+(:\d+:\d+)?$/, 'expected start:rate:full, e.g. 10:30:60')
        .default('10:30:60')
        .describe('MaxStartups: unauthenticated connections before sshd drops new ones (start:rate%:full). Default 10:30:60.'),
      client_alive_interval: duration.default(300).describe('ClientAliveInterval: ask an idle client after this long. Default 5m.'),
      client_alive_count_max: z.number().int().min(0).max(100).default(3).describe('ClientAliveCountMax: unanswered checks before sshd ends the session. Default 3.'),
      log_level: z.enum(LOG_LEVELS).default('VERBOSE').describe('LogLevel; VERBOSE logs the key fingerprint of every login. Default VERBOSE.'),
    })
    .strict();
}

/** The validated `ssh` namespace. */
export type SshVars = z.output<ReturnType<typeof sshVars>>;

/** The port sshd listens on after this run: `ssh.port`, else the port the inventory connects to. */
export function sshPort(vars: { ssh: SshVars }, connectionPort: number): number {
  return vars.ssh.port ?? connectionPort;
}

/** The `ssh` namespace: the operator's keys, the admin user and sshd's settings. */
export const sshNamespace = defineNamespace('ssh', (inventoryDir) => sshVars(inventoryDir).prefault({}));

/** The host variables the SSH role reads. */
export type SshHostVars = VarsOf<typeof sshNamespace>;
