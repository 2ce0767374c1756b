/** The host key check of a connection: the policy's decision (host-key-policy.ts), with the files and fetches it needs. */
import type { ConnectionSettings } from '../inventory/types.ts';
import { UnreachableError } from '../errors.ts';
import { decideHostKey, preferredHostKeyAlgorithms, type HostKeyCheck } from './host-key-policy.ts';
import { fetchHostCertificates } from './keyscan.ts';
import { recordHostKey } from './known-hosts.ts';

/** The trusted ports of a connection: its own, the one whose key vouches when sshd moved, and the inventory's. */
function trustedPorts(settings: ConnectionSettings, trustedPort: number): number[] {
  return [...new Set([trustedPort, settings.hostKeyPort ?? trustedPort])];
}

/** The host key algorithms a connection offers: those of the keys already trusted for the host first (see the policy). */
export function hostKeyAlgorithms(settings: ConnectionSettings, trustedPort: number, knownHosts: string): string[] | undefined {
  return preferredHostKeyAlgorithms({ address: settings.address, port: settings.port, trustedPorts: trustedPorts(settings, trustedPort), knownHosts, pins: settings.hostKeys ?? [] });
}

/**
 * Why the key the server offered is not trusted, or undefined when it is (recorded in known_hosts when the policy
 * says so). `knownHosts` is the file's content as read for this connection; `trustedPort` is the port whose known key
 * vouches for the host when this connection tries a port sshd moved to.
 */
export async function verifyHostKey(
  settings: ConnectionSettings,
  trustedPort: number,
  knownHosts: string,
  key: Buffer,
  options: { certificates?: boolean } = {},
): Promise<UnreachableError | undefined> {
  const check: HostKeyCheck = {
    address: settings.address,
    port: settings.port,
    trustedPorts: trustedPorts(settings, trustedPort),
    checking: settings.hostKeyChecking,
    knownHostsFile: settings.knownHostsFile,
    knownHosts,
    pins: settings.hostKeys ?? [],
    key,
    now: Date.now() / 1000,
  };
  let decision = decideHostKey(check);
  if (decision.verdict === 'needs-certificates') {
    // ssh-keyscan connects directly: behind a jump host it would not reach the server, or reach another one.
    const fetched =
      options.certificates === false
        ? { problem: 'host certificates are not read through a jump host (ssh-keyscan connects directly); record the key in known_hosts instead' }
        : await fetchHostCertificates(settings.address, settings.port, settings.connectTimeout);
    decision = decideHostKey({ ...check, certificates: 'certificates' in fetched ? fetched.certificates : fetched });
  }
  if (decision.verdict === 'refused') return decision.error;
  if (decision.verdict !== 'trusted' || !decision.record) return undefined;
  try {
    await recordHostKey(settings.knownHostsFile, settings.address, settings.port, key);
  } catch (error) {
    // A key trusted through the inventory's port needs no entry of its own: the entry only helps a plain `ssh -p`.
    if (decision.by === 'accepted-new') return new UnreachableError(`cannot record the host key in ${settings.knownHostsFile}: ${(error as Error).message}`);
  }
  return undefined;
}
