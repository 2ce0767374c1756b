/**
 * Would this run's SSH client still log in once sshd has new algorithm lists and host keys? (pure)
 *
 * SSH picks each algorithm as the client's first choice that the server also has (RFC 4253 §7.1); a MAC matters only
 * for a cipher that is not AEAD; the server offers a host key algorithm only for a key it holds. `sshd -t` checks none
 * of this: a config whose HostKeyAlgorithms match none of the loaded keys passes it, and then refuses every login.
 * Then the key the client gets must be one it trusts: pinned, known, or recorded before the change.
 */
import { createHash } from 'node:crypto';
import type { SshClientProfile } from '../../src/engine/types.ts';

/** What the server offers: its algorithm lists, and the key types of the host keys it holds. */
export interface ServerOffer {
  kex: readonly string[];
  hostKeyAlgorithms: readonly string[];
  ciphers: readonly string[];
  macs: readonly string[];
  /** Key types of the loaded host keys, as their public keys name them (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`). */
  hostKeyTypes: readonly string[];
}

/** What the client offers, in its order of preference. */
export interface ClientOffer {
  kex: readonly string[];
  hostKey: readonly string[];
  cipher: readonly string[];
  mac: readonly string[];
}

/** The algorithms a handshake ends up with, or why it fails. */
export type Negotiation =
  | { ok: true; kex: string; hostKey: string; cipher: string; mac?: string }
  | { ok: false; problems: string[] };

/** Ciphers with their own integrity: no MAC is negotiated for them. */
const AEAD = new Set(['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com']);

const CERTIFICATE = /-cert-v01@openssh\.com$/;

/** The key type a host key algorithm signs with: `rsa-sha2-512` → `ssh-rsa`; certificate algorithms stay as they are. */
export function keyTypeOf(algorithm: string): string {
  return algorithm.replace(/^rsa-sha2-(256|512)$/, 'ssh-rsa');
}

/**
 * The host key algorithms the server really offers: those it lists whose key it holds. Certificate algorithms need a
 * HostCertificate, which the hardening does not set; they are left out (ssh2 asks for none anyway).
 */
export function offeredHostKeyAlgorithms(server: ServerOffer): string[] {
  return server.hostKeyAlgorithms.filter((algorithm) => !CERTIFICATE.test(algorithm) && server.hostKeyTypes.includes(keyTypeOf(algorithm)));
}

const first = (client: readonly string[], server: readonly string[]) => client.find((name) => server.includes(name));

/** The handshake between `client` and `server`: each category's first common algorithm, or every reason it fails. */
export function negotiate(client: ClientOffer, server: ServerOffer): Negotiation {
  const problems: string[] = [];
  const kex = first(client.kex, server.kex);
  if (!kex) problems.push(`no common key exchange: the client offers ${client.kex.join(',')}; sshd would accept ${server.kex.join(',')}`);
  const offered = offeredHostKeyAlgorithms(server);
  const hostKey = first(client.hostKey, offered);
  if (offered.length === 0) {
    problems.push(`sshd would offer no host key: HostKeyAlgorithms (${server.hostKeyAlgorithms.join(',')}) names none of its keys (${server.hostKeyTypes.join(', ') || 'none'})`);
  } else if (!hostKey) problems.push(`no common host key algorithm: the client asks for ${client.hostKey.join(',')}; sshd would offer ${offered.join(',')}`);
  const cipher = first(client.cipher, server.ciphers);
  if (!cipher) problems.push(`no common cipher: the client offers ${client.cipher.join(',')}; sshd would accept ${server.ciphers.join(',')}`);
  const mac = cipher && !AEAD.has(cipher) ? first(client.mac, server.macs) : undefined;
  if (cipher && !AEAD.has(cipher) && !mac) problems.push(`no common MAC for ${cipher}: the client offers ${client.mac.join(',')}; sshd would accept ${server.macs.join(',')}`);
  if (problems.length > 0 || !kex || !hostKey || !cipher) return { ok: false, problems };
  return { ok: true, kex, hostKey, cipher, ...(mac ? { mac } : {}) };
}

/**
 * The host key algorithms the client asks for: those of the key types it trusts for the host first, then the rest in
 * the library's order (as src/transport/host-key-policy.ts's preferredHostKeyAlgorithms orders them, for the same
 * reason: a host known by one key type is asked for that type).
 */
export function clientHostKeyOrder(library: readonly string[], trustedTypes: readonly string[]): string[] {
  const preferred = [...new Set(trustedTypes.flatMap((type) => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type])))].filter((name) => library.includes(name));
  return [...preferred, ...library.filter((name) => !preferred.includes(name))];
}

/** The client's offer from its profile: the key types of the pinned or known keys are asked for first. */
export function clientOffer(profile: SshClientProfile): ClientOffer {
  const trustedTypes = profile.trust === 'unchecked' ? [] : profile.trustedKeys.map((key) => key.split(' ')[0]!);
  return { kex: profile.kex, hostKey: clientHostKeyOrder(profile.hostKey, trustedTypes), cipher: profile.cipher, mac: profile.mac };
}

/** Whether the client trusts the key it would get, may learn it first (known_hosts), or cannot (pins). */
export type KeyTrust = { status: 'trusted' } | { status: 'record' } | { status: 'refused'; reason: string };

/** A public key's `SHA256:…` fingerprint, as ssh-keygen -l prints it. */
export function fingerprintOf(publicKey: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(publicKey.split(' ')[1] ?? '', 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/**
 * How the client would treat the host's key `publicKey` (`type base64`; null for a key this run makes, not known
 * yet): trusted when unchecked, pinned (by key or fingerprint) or known; under known_hosts otherwise to be recorded
 * over this run's verified connection before sshd offers it; under pins, refused (the inventory must say so).
 */
export function keyTrust(profile: SshClientProfile, publicKey: string | null): KeyTrust {
  if (profile.trust === 'unchecked') return { status: 'trusted' };
  const known = publicKey !== null && profile.trustedKeys.some((key) => key === publicKey);
  if (known) return { status: 'trusted' };
  if (profile.trust === 'pinned') {
    if (publicKey !== null && profile.trustedFingerprints.includes(fingerprintOf(publicKey))) return { status: 'trusted' };
    return { status: 'refused', reason: 'it is not among the keys pinned by ssh_host_key' };
  }
  return { status: 'record' };
}
