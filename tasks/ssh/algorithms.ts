/**
 * sshd's cryptography by the host's OpenSSH version (pure): key exchange, ciphers, MACs, host key algorithms and the
 * host keys to offer. The defaults are what ssh-audit passes without a failure or a warning (see README "What the
 * auditors say"); each list can be set in `ssh.*` instead.
 */
import type { OpensshVersion } from './facts.ts';
import { KEY_ALGORITHM, hostKeyPath, type HostKeys } from './host-keys.ts';
import type { HostKeyType, SshVars } from './vars.ts';

/** The algorithm lists and host keys that go into the managed block. */
export interface SshdCrypto {
  kex: string[];
  ciphers: string[];
  macs: string[];
  hostKeyAlgorithms: string[];
  /** HostKey paths, in the order sshd loads them. */
  hostKeys: string[];
  /** Key types sshd will hold (`ssh-ed25519`, `ssh-rsa`), from those files. */
  hostKeyTypes: string[];
  /** ModuliFile, when DH group exchange is offered. */
  moduliFile?: string;
  /** What was left out and why, for the plan. */
  notes: string[];
}

/** True when `version` is at least major.minor; an unknown version counts as 8.4 (Debian 11), which every list here runs on. */
export function atLeast(version: OpensshVersion | null, major: number, minor: number): boolean {
  const { major: have, minor: haveMinor } = version ?? { major: 8, minor: 4 };
  return have > major || (have === major && haveMinor >= minor);
}

/** The oldest OpenSSH whose defaults this module knows (curve25519-sha256 and the rsa-sha2 algorithms). */
export const OLDEST_KNOWN = { major: 7, minor: 4 } as const;

/**
 * Key exchange: post-quantum hybrids first (ML-KEM from 9.9, sntrup761 from 8.5), curve25519, then DH group
 * exchange (only with the pruned moduli) and the fixed 4096/8192-bit groups. No NIST curves, no SHA-1.
 */
export function defaultKex(version: OpensshVersion | null, groupExchange: boolean): string[] {
  return [
    ...(atLeast(version, 9, 9) ? ['mlkem768x25519-sha256'] : []),
    ...(atLeast(version, 8, 5) ? ['sntrup761x25519-sha512@openssh.com'] : []),
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    ...(groupExchange ? ['diffie-hellman-group-exchange-sha256'] : []),
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group18-sha512',
  ];
}

/** Ciphers: AEAD first, then CTR (its MACs are encrypt-then-MAC below). */
export const DEFAULT_CIPHERS = ['chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-gcm@openssh.com', 'aes256-ctr', 'aes192-ctr', 'aes128-ctr'];

/** MACs: encrypt-then-MAC only, no SHA-1, no 64-bit tags. */
export const DEFAULT_MACS = ['hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256-etm@openssh.com', 'umac-128-etm@openssh.com'];

/** Host key algorithms of each offered key type: plain and certified, SHA-2 signatures only for RSA. */
export function hostKeyAlgorithmsFor(types: readonly HostKeyType[], version: OpensshVersion | null): string[] {
  const byType: Record<HostKeyType, string[]> = {
    ed25519: ['ssh-ed25519', 'ssh-ed25519-cert-v01@openssh.com', ...(atLeast(version, 8, 2) ? ['sk-ssh-ed25519@openssh.com', 'sk-ssh-ed25519-cert-v01@openssh.com'] : [])],
    rsa: ['rsa-sha2-512', 'rsa-sha2-512-cert-v01@openssh.com', 'rsa-sha2-256', 'rsa-sha2-256-cert-v01@openssh.com'],
  };
  return types.flatMap((type) => byType[type]);
}

/**
 * The host keys sshd offers: each type of `ssh.host_key_types` whose key exists (or is made by this run), except an
 * RSA key smaller than `ssh.rsa_host_key_min_bits`, which is left out rather than replaced (a new key would be a
 * changed key for every client that knows it).
 */
export function offeredHostKeys(vars: Pick<SshVars, 'host_key_types' | 'rsa_host_key_min_bits'>, keys: HostKeys): { types: HostKeyType[]; notes: string[] } {
  const notes: string[] = [];
  const types = vars.host_key_types.filter((type) => {
    const key = keys[type];
    if (!key) return false;
    if (type === 'rsa' && key.bits !== undefined && key.bits < vars.rsa_host_key_min_bits) {
      notes.push(
        `the RSA host key has ${key.bits} bits (< ssh.rsa_host_key_min_bits ${vars.rsa_host_key_min_bits}): not offered; ` +
          `to offer RSA again, make a new one on the host (ssh-keygen -t rsa -b ${vars.rsa_host_key_min_bits} -f ${hostKeyPath('rsa')})`,
      );
      return false;
    }
    return true;
  });
  return { types, notes };
}

/**
 * The lists and host keys for this host: `ssh.*` where set, else the defaults of its OpenSSH version. `moduliFile` is
 * the pruned groups' file when DH group exchange can be offered with them, else undefined (it is then not offered).
 */
export function sshdCrypto(vars: SshVars, version: OpensshVersion | null, keys: HostKeys, moduliFile: string | undefined): SshdCrypto {
  const listsGiven = vars.kex_algorithms && vars.ciphers && vars.macs && vars.host_key_algorithms;
  if (version && !atLeast(version, OLDEST_KNOWN.major, OLDEST_KNOWN.minor) && !listsGiven) {
    throw new Error(
      `OpenSSH ${version.major}.${version.minor} is older than ${OLDEST_KNOWN.major}.${OLDEST_KNOWN.minor}: its algorithms are not known here; ` +
        'set ssh.kex_algorithms, ssh.ciphers, ssh.macs and ssh.host_key_algorithms for it',
    );
  }
  const { types, notes } = offeredHostKeys(vars, keys);
  if (types.length === 0) {
    throw new Error(`sshd would have no host key to offer: none of ssh.host_key_types (${vars.host_key_types.join(', ')}) has a usable key on the host`);
  }
  const kex = vars.kex_algorithms ?? defaultKex(version, moduliFile !== undefined);
  const groupExchange = kex.some((name) => name.startsWith('diffie-hellman-group-exchange'));
  return {
    kex,
    ciphers: vars.ciphers ?? DEFAULT_CIPHERS,
    macs: vars.macs ?? DEFAULT_MACS,
    hostKeyAlgorithms: vars.host_key_algorithms ?? hostKeyAlgorithmsFor(types, version),
    hostKeys: types.map(hostKeyPath),
    hostKeyTypes: types.map((type) => KEY_ALGORITHM[type]),
    ...(groupExchange && moduliFile ? { moduliFile } : {}),
    notes,
  };
}
