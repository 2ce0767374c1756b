/**
 * sshd's host keys: which of the standard key files exist, their public keys and (for RSA) their size; and the task
 * that makes a missing key of a type sshd is to offer. A key that exists is never replaced: a client that knows it
 * would then see "HOST KEY CHANGED". A small RSA key is not offered instead (see algorithms.ts).
 */
import { sh } from '../../src/transport/shell.ts';
import { predict, type Fact, type FactOutput, type Task } from '../../src/engine/types.ts';
import type { HostKeyType, SshHostVars } from './vars.ts';
import type { Host } from '../../src/inventory/types.ts';

/** Every host key type this module knows: the ones sshd may offer, and ECDSA, which it never offers. */
export const KEY_FILE_TYPES = ['ed25519', 'rsa', 'ecdsa'] as const;
/** A key file type, as in `/etc/ssh/ssh_host_<type>_key`. */
export type KeyFileType = (typeof KEY_FILE_TYPES)[number];

/** The private key file of a type (its public key is beside it, with `.pub`). */
export function hostKeyPath(type: KeyFileType): string {
  return `/etc/ssh/ssh_host_${type}_key`;
}

/** The algorithm a key file of this type holds, as its public key line names it. */
export const KEY_ALGORITHM: Record<KeyFileType, string> = { ed25519: 'ssh-ed25519', rsa: 'ssh-rsa', ecdsa: 'ecdsa-sha2-nistp256' };

/** One host key file that exists. */
export interface HostKey {
  path: string;
  /** `type base64` of its .pub file, or null when that is missing or unreadable (or the key is made by this run). */
  publicKey: string | null;
  /** The RSA modulus size in bits, read from the public key. */
  bits?: number;
}

/** The standard host key files, by type; a type without a private key file is absent. */
export type HostKeys = Partial<Record<KeyFileType, HostKey>>;

/** The size in bits of an `ssh-rsa` public key blob's modulus (type string, e, n), or undefined when malformed. */
export function rsaModulusBits(blob: Buffer): number | undefined {
  let offset = 0;
  const next = (): Buffer | undefined => {
    if (offset + 4 > blob.length) return undefined;
    const length = blob.readUInt32BE(offset);
    if (offset + 4 + length > blob.length) return undefined;
    const field = blob.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
    return field;
  };
  const type = next();
  next();
  const modulus = next();
  if (!type || type.toString('latin1') !== 'ssh-rsa' || !modulus) return undefined;
  let start = 0;
  while (start < modulus.length && modulus[start] === 0) start += 1;
  if (start === modulus.length) return undefined;
  return (modulus.length - start) * 8 - Math.clz32(modulus[start]!) + 24;
}

/** Parses the listing: `== <type> <public key line>` for each key whose private file exists (pure). */
export function parseHostKeys(output: FactOutput): HostKeys {
  const keys: HostKeys = {};
  for (const row of output.stdout.split('\n')) {
    const match = /^== (\w+) ?(.*)$/.exec(row);
    if (!match) continue;
    const type = match[1] as KeyFileType;
    if (!KEY_FILE_TYPES.includes(type)) continue;
    const [algorithm = '', data = ''] = (match[2] ?? '').trim().split(/\s+/);
    const valid = algorithm !== '' && /^[A-Za-z0-9+/]+={0,2}$/.test(data);
    const key: HostKey = { path: hostKeyPath(type), publicKey: valid ? `${algorithm} ${data}` : null };
    if (valid && algorithm === 'ssh-rsa') {
      const bits = rsaModulusBits(Buffer.from(data, 'base64'));
      if (bits !== undefined) key.bits = bits;
    }
    keys[type] = key;
  }
  return keys;
}

/** The standard host key files and their public keys; read with the shell's own `read` (no process per key). */
export const hostKeys: Fact<HostKeys> = {
  key: 'sshd:host-keys',
  description: "sshd's host keys (/etc/ssh/ssh_host_*_key)",
  command: sh`for type in ${KEY_FILE_TYPES}; do key=/etc/ssh/ssh_host_\${type}_key; if [ -f "$key" ]; then line=; [ -f "$key.pub" ] && read -r line < "$key.pub"; printf '== %s %s\n' "$type" "$line"; fi; done; true`,
  parse: parseHostKeys,
  staleAfter: [{ path: '/etc/ssh' }],
};

/** The command that makes a host key of `type` (RSA of `bits`), or its missing .pub from the private key. */
function makeKeyCommand(type: HostKeyType, bits: number, privateExists: boolean) {
  const path = hostKeyPath(type);
  if (privateExists) return sh`umask 022 && ssh-keygen -y -f ${path} > ${`${path}.pub.provision`} && mv -f ${`${path}.pub.provision`} ${`${path}.pub`}`;
  const size = type === 'rsa' ? sh`-b ${bits}` : sh``;
  // ssh-keygen refuses to overwrite, so a key made meanwhile by someone else is kept.
  return sh`ssh-keygen -q -t ${type} ${size} -N '' -C '' -f ${path}`;
}

/**
 * Every type of `ssh.host_key_types` has a host key: a missing one is made on the host (its private key never leaves
 * it), and a missing .pub is made from its private key. An existing key is never replaced.
 */
export function hostKeysPresent(host: Host<SshHostVars>): Task<SshHostVars> {
  return {
    kind: 'sshd.host_keys',
    target: '/etc/ssh/ssh_host_*_key',
    facts: () => [hostKeys],
    plan: ({ facts }) => {
      const vars = host.vars.ssh;
      const current = facts.get(hostKeys);
      const missing = vars.host_key_types.filter((type) => current[type]?.publicKey == null);
      if (missing.length === 0) {
        const listed = vars.host_key_types.map((type) => `${type}${current[type]?.bits ? ` (${current[type]!.bits} bits)` : ''}`);
        return { status: 'ok', reason: `sshd has its ${listed.join(' and ')} host key${listed.length > 1 ? 's' : ''}` };
      }
      const predicted: HostKeys = { ...current };
      for (const type of missing) {
        const exists = current[type] !== undefined;
        predicted[type] = { path: hostKeyPath(type), publicKey: null, ...(type === 'rsa' ? { bits: exists ? (current[type]!.bits ?? vars.rsa_host_key_min_bits) : vars.rsa_host_key_min_bits } : {}) };
      }
      const [first, ...rest] = missing.map((type) => {
        const exists = current[type] !== undefined;
        return {
          summary: exists ? `write ${hostKeyPath(type)}.pub from its private key` : `make ${type === 'rsa' ? `a ${vars.rsa_host_key_min_bits}-bit RSA` : 'an ed25519'} host key on the host`,
          details: [exists ? `${hostKeyPath(type)} has no readable public key` : `${hostKeyPath(type)} does not exist; the private key is made on the host and never leaves it`],
          steps: [{ kind: 'run' as const, command: makeKeyCommand(type, vars.rsa_host_key_min_bits, exists), description: `make ${hostKeyPath(type)}${exists ? '.pub' : ''}` }],
          predicts: [predict(hostKeys, predicted)],
        };
      });
      return { status: 'change', changes: [first!, ...rest] };
    },
  };
}
