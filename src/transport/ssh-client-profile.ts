/**
 * This run's SSH client as a host meets it (see SshClientProfile): the algorithms ssh2 offers by default, which the
 * connections leave as they are except for the host key order, and the keys trusted for the host. Read without
 * loading ssh2: a run on kept connections never loads it.
 */
import type { SshClientProfile } from '../engine/types.ts';
import type { ConnectionSettings } from '../inventory/types.ts';
import { certificateAuthorities, knownKeys } from './known-hosts.ts';

/**
 * ssh2 1.17's default offer (lib/protocol/constants.js: DEFAULT_KEX, DEFAULT_CIPHER, DEFAULT_MAC and
 * DEFAULT_SERVER_HOST_KEY), in its order (chacha20-poly1305's place varies with the CPU and ssh2's native binding);
 * test/unit/ssh-negotiation.test.ts compares them with the library's own.
 */
export const SSH2_DEFAULT_ALGORITHMS = {
  kex: [
    'curve25519-sha256@libssh.org',
    'curve25519-sha256',
    'ecdh-sha2-nistp256',
    'ecdh-sha2-nistp384',
    'ecdh-sha2-nistp521',
    'diffie-hellman-group-exchange-sha256',
    'diffie-hellman-group14-sha256',
    'diffie-hellman-group15-sha512',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group17-sha512',
    'diffie-hellman-group18-sha512',
  ],
  cipher: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'chacha20-poly1305@openssh.com', 'aes256-ctr'],
  mac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha1-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512', 'hmac-sha1'],
  hostKey: ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
} as const;

/**
 * The profile of a connection with these settings (the port it landed on; `hostKeyPort` is the inventory's) and this
 * known_hosts content ('' when unchecked).
 */
export function sshClientProfile(settings: ConnectionSettings, knownHosts: string): SshClientProfile {
  const pins = settings.hostKeys ?? [];
  const ports = [...new Set([settings.port, settings.hostKeyPort ?? settings.port])];
  const known = pins.length > 0 || settings.hostKeyChecking === 'off' ? [] : [...new Set(ports.flatMap((port) => knownKeys(knownHosts, settings.address, port)))];
  return {
    kex: SSH2_DEFAULT_ALGORITHMS.kex,
    cipher: SSH2_DEFAULT_ALGORITHMS.cipher,
    mac: SSH2_DEFAULT_ALGORITHMS.mac,
    hostKey: SSH2_DEFAULT_ALGORITHMS.hostKey,
    trust: pins.length > 0 ? 'pinned' : settings.hostKeyChecking === 'off' ? 'unchecked' : 'known-hosts',
    trustedKeys: pins.length > 0 ? pins.filter((pin) => !pin.startsWith('SHA256:')).map((pin) => pin.split(' ').slice(0, 2).join(' ')) : known,
    trustedFingerprints: pins.filter((pin) => pin.startsWith('SHA256:')),
    certificateAuthority: pins.length === 0 && settings.hostKeyChecking !== 'off' && ports.some((port) => certificateAuthorities(knownHosts, settings.address, port).length > 0),
    knownHostsFile: settings.knownHostsFile,
  };
}
