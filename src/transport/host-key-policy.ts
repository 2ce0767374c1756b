/**
 * What a connection does with the key a server offers, decided before any credential is sent: trust it, refuse it,
 * or ask for the server's certificates first. Pure (the caller reads files and fetches certificates), so every rule
 * is tested without a server.
 *
 * The rules, in order: a key pinned in the inventory (`ssh_host_key`) must be one of the pins, whatever the checking
 * mode; `off` trusts anything else; a `@revoked` key never passes; a key known for the host (on its port, or on the
 * inventory's port when sshd moved) passes, and a different key of a known host is a changed key; a certificate from
 * a `@cert-authority` of the host passes; what is left is a new key: `strict` refuses it, `accept-new` records it,
 * and `ask` refuses it until the operator accepts it (UnknownHostKeyError: the engine asks, once for all hosts).
 */
import type { HostKeyChecking } from '../inventory/types.ts';
import { UnreachableError } from '../errors.ts';
import { certificateAuthorities, checkHostKey, fingerprint, hostPattern, keyType, knownKeyTypes, revokedAt, type HostKeyVerdict } from './known-hosts.ts';
import { certificateProblem, parseHostCertificate } from './host-certificate.ts';
import { SSH2_DEFAULT_ALGORITHMS } from './ssh-client-profile.ts';

/** A key refused only because nobody has accepted it yet (`ask`): nothing but the key exchange reached the host. */
export class UnknownHostKeyError extends UnreachableError {
  constructor(
    /** Where the key was offered: the address and the port the connection went to. */
    readonly address: string,
    readonly port: number,
    /** The offered key as `type base64`, as a known_hosts line or `ssh_host_key` takes it. */
    readonly publicKey: string,
    readonly knownHostsFile: string,
    message?: string,
    /** True when the key is a jump host's (`ssh_jump`), on the way to the host: it is recorded, never pinned. */
    readonly jumpHost = false,
  ) {
    super(
      message ??
        `new host key for ${jumpHost ? 'jump host ' : ''}${hostPattern(address, port)}: ${publicKey.split(' ')[0]} ${fingerprintOfLine(publicKey)} is not in ${knownHostsFile}, ` +
          `and nobody accepted it (ssh_host_key_checking: ask); nothing was sent to ${jumpHost ? 'it' : 'the host'}`,
    );
    this.name = 'UnknownHostKeyError';
  }

  /** The same key, offered by a jump host. */
  asJumpHost(): UnknownHostKeyError {
    return this.jumpHost ? this : new UnknownHostKeyError(this.address, this.port, this.publicKey, this.knownHostsFile, undefined, true);
  }

  /** The key's `SHA256:…` fingerprint, as `ssh-keygen -l` prints it. */
  get fingerprint(): string {
    return fingerprintOfLine(this.publicKey);
  }

  /** The key's algorithm, e.g. `ssh-ed25519`. */
  get keyType(): string {
    return this.publicKey.split(' ')[0] ?? '';
  }

  /** The same key, refused for the reason given, with what the operator can do about it. */
  refusedBecause(why: string): UnknownHostKeyError {
    // sshd's key files are named after the algorithm's family: ssh_host_ed25519_key, ssh_host_ecdsa_key, ssh_host_rsa_key.
    const family = this.keyType.replace(/^ssh-/, '').replace(/-.*$/, '');
    const where = hostPattern(this.address, this.port);
    const head = `new host key for ${this.jumpHost ? 'jump host ' : ''}${where}: ${this.keyType} ${this.fingerprint} is not in ${this.knownHostsFile} and was not accepted: ${why}. `;
    // A jump host's key goes to known_hosts: ssh_host_key pins the host's own key.
    const message = this.jumpHost
      ? `${head}Nothing was sent to it. If it is the jump host's key (on it: ssh-keygen -lf /etc/ssh/ssh_host_${family}_key.pub), ` +
        `add the line "${where} ${this.publicKey}" to ${this.knownHostsFile} or accept it when a run on a terminal asks`
      : `${head}Nothing was sent to the host. If it is the host's key (on the host: ssh-keygen -lf /etc/ssh/ssh_host_${family}_key.pub), ` +
        `pin it in the inventory (ssh_host_key: ${this.publicKey}) or accept it when a run on a terminal asks`;
    return new UnknownHostKeyError(this.address, this.port, this.publicKey, this.knownHostsFile, message, this.jumpHost);
  }
}

function fingerprintOfLine(publicKey: string): string {
  return fingerprint(Buffer.from(publicKey.split(' ')[1] ?? '', 'base64'));
}

/** Everything the decision rests on. */
export interface HostKeyCheck {
  address: string;
  /** The port this connection goes to. */
  port: number;
  /** Other ports whose known keys vouch for the host: the inventory's port, when sshd has moved from it. */
  trustedPorts: readonly number[];
  checking: HostKeyChecking;
  knownHostsFile: string;
  /** The known_hosts file's content ('' when missing). */
  knownHosts: string;
  /** `ssh_host_key` values in their normal form. */
  pins: readonly string[];
  /** The key the server offered (its wire-format blob). */
  key: Buffer;
  /** The server's certificates, once fetched (or why none could be); undefined until then. */
  certificates?: Buffer[] | { problem: string };
  /** Seconds since the epoch, for certificate validity. */
  now: number;
}

/** How a trusted key was trusted, for tests and messages. */
export type TrustedBy = 'pinned' | 'unchecked' | 'known' | 'known-on-inventory-port' | 'certificate' | 'accepted-new';

/** The decision: trust (recording the key for this port when `record`), fetch certificates first, or refuse. */
export type HostKeyDecision =
  | { verdict: 'trusted'; by: TrustedBy; record: boolean }
  | { verdict: 'needs-certificates' }
  | { verdict: 'refused'; error: UnreachableError };

const refused = (message: string): HostKeyDecision => ({ verdict: 'refused', error: new UnreachableError(message) });

/** True when the pin names this key (its blob, or its SHA256 fingerprint). */
function pinMatches(pin: string, key: Buffer): boolean {
  if (pin.startsWith('SHA256:')) return pin === fingerprint(key);
  return Buffer.from(pin.split(' ')[1] ?? '', 'base64').equals(key);
}

function pinLabel(pin: string): string {
  return pin.startsWith('SHA256:') ? pin : `${pin.split(' ')[0]} ${fingerprintOfLine(pin)}`;
}

/** Decides what to do with the key the server offered; see the module's comment for the rules. */
export function decideHostKey(check: HostKeyCheck): HostKeyDecision {
  const { address, port, key, knownHostsFile } = check;
  const where = hostPattern(address, port);
  const offered = `${keyType(key)} ${fingerprint(key)}`;
  const ports = [port, ...check.trustedPorts.filter((other) => other !== port)];

  if (check.checking !== 'off' || check.pins.length > 0) {
    for (const candidate of ports) {
      const line = revokedAt(check.knownHosts, address, candidate, key);
      if (line !== undefined) return refused(`host key ${offered} of ${where} is marked @revoked in ${knownHostsFile} line ${line}`);
    }
  }

  if (check.pins.length > 0) {
    if (check.pins.some((pin) => pinMatches(pin, key))) return { verdict: 'trusted', by: 'pinned', record: false };
    return refused(
      `HOST KEY MISMATCH for ${where}: the server offered ${offered}, which is not the key pinned in the inventory ` +
        `(ssh_host_key: ${check.pins.map(pinLabel).join(', ')}). This may be an attack; if the host was rebuilt, update ssh_host_key.`,
    );
  }
  if (check.checking === 'off') return { verdict: 'trusted', by: 'unchecked', record: false };

  const verdicts: Array<{ port: number; verdict: HostKeyVerdict }> = ports.map((candidate) => ({ port: candidate, verdict: checkHostKey(check.knownHosts, address, candidate, key) }));
  const own = verdicts[0]!.verdict;
  if (own.status === 'match') return { verdict: 'trusted', by: 'known', record: false };
  if (verdicts.some(({ verdict }) => verdict.status === 'match')) {
    // The same host on the port sshd moved to: its key is trusted for the inventory's port, and recorded for this one.
    return { verdict: 'trusted', by: 'known-on-inventory-port', record: check.checking !== 'strict' };
  }
  const changed = verdicts.find(({ verdict }) => verdict.status === 'mismatch');
  if (changed && changed.verdict.status === 'mismatch') {
    const known = hostPattern(address, changed.port);
    return refused(
      `HOST KEY CHANGED for ${where}: the server offered ${offered}, which does not match the key known for ${known} ` +
        `in ${knownHostsFile} line ${changed.verdict.line} (known: ${changed.verdict.knownTypes.join(', ')}). ` +
        `This may be an attack; if the host was rebuilt, remove the old entry.`,
    );
  }

  let certificateNote = '';
  const authorities = ports.flatMap((candidate) => certificateAuthorities(check.knownHosts, address, candidate));
  if (authorities.length > 0) {
    if (check.certificates === undefined) return { verdict: 'needs-certificates' };
    const problems: string[] = [];
    if (Array.isArray(check.certificates)) {
      for (const blob of check.certificates) {
        let certificate;
        try {
          certificate = parseHostCertificate(blob);
        } catch (error) {
          problems.push((error as Error).message);
          continue;
        }
        if (!certificate.key.equals(key)) continue;
        const revokedCa = ports.map((candidate) => revokedAt(check.knownHosts, address, candidate, certificate.signatureKey)).find((line) => line !== undefined);
        if (revokedCa !== undefined) {
          problems.push(`its CA is marked @revoked in ${knownHostsFile} line ${revokedCa}`);
          continue;
        }
        const verdicts = authorities.map((authority) => certificateProblem(certificate, key, address, authority.key, check.now));
        if (verdicts.some((problem) => problem === undefined)) return { verdict: 'trusted', by: 'certificate', record: false };
        problems.push(...new Set(verdicts.filter((problem): problem is string => problem !== undefined)));
      }
      if (problems.length === 0) problems.push('the server offers no certificate for the key it signed with');
    } else problems.push(check.certificates.problem);
    certificateNote = ` and not certified by the @cert-authority in ${knownHostsFile} line ${authorities.map((authority) => authority.line).join(', ')} (${[...new Set(problems)].join('; ')})`;
  }

  switch (check.checking) {
    case 'strict':
      return refused(`host key for ${where} is not in ${knownHostsFile}${certificateNote} (ssh_host_key_checking: strict); the server offered ${offered}`);
    case 'accept-new':
      return { verdict: 'trusted', by: 'accepted-new', record: true };
    case 'ask': {
      const publicKey = `${keyType(key)} ${key.toString('base64')}`;
      const error = new UnknownHostKeyError(address, port, publicKey, knownHostsFile);
      if (certificateNote) error.message = `${error.message}; it is${certificateNote}`;
      return { verdict: 'refused', error };
    }
  }
}

/** The SSH library's host key algorithms, in its own order of preference. */
const LIBRARY_HOST_KEY_ALGORITHMS: readonly string[] = SSH2_DEFAULT_ALGORITHMS.hostKey;

/**
 * The host key algorithms to offer, those of the keys already trusted for the host first (pins, else known_hosts on
 * the port and the inventory's port), as OpenSSH orders them: a host known by its RSA key is then asked for that key,
 * not for an ed25519 key that would look like a changed one. Undefined: nothing known, the library's own order.
 */
export function preferredHostKeyAlgorithms(check: Pick<HostKeyCheck, 'address' | 'port' | 'trustedPorts' | 'knownHosts' | 'pins'>): string[] | undefined {
  const pinnedTypes = check.pins.filter((pin) => !pin.startsWith('SHA256:')).map((pin) => pin.split(' ')[0]!);
  const types = check.pins.length > 0 ? pinnedTypes : [check.port, ...check.trustedPorts].flatMap((port) => knownKeyTypes(check.knownHosts, check.address, port));
  const first = [...new Set(types.flatMap((type) => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type])))].filter((name) => LIBRARY_HOST_KEY_ALGORITHMS.includes(name));
  if (first.length === 0) return undefined;
  return [...first, ...LIBRARY_HOST_KEY_ALGORITHMS.filter((name) => !first.includes(name))];
}
