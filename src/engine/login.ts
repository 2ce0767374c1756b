/** Finds out how this run logged in: method, usable public keys, and the controller's address as the host sees it. */
import { sh } from '../transport/shell.ts';
import type { HostConnection } from '../transport/connection.ts';
import { readKnownHosts } from '../transport/known-hosts.ts';
import { sshClientProfile } from '../transport/ssh-client-profile.ts';
import type { Fact, LoginInfo } from './types.ts';

/**
 * The login's `$SSH_CONNECTION`, as a fact: when commands run as the login user (no sudo, which drops it), it is
 * asked within the gather, and the probe costs no command of its own.
 */
export const sshConnectionFact: Fact<string> = {
  key: 'login:ssh-connection',
  command: sh`echo "$SSH_CONNECTION"`,
  parse: (output) => output.stdout,
  staleAfter: [],
};

/** Parses `$SSH_CONNECTION` ("client-ip client-port server-ip server-port"): the first field is the controller. */
export function controllerAddressOf(sshConnection: string): string | undefined {
  const [address] = sshConnection.trim().split(/\s+/);
  return address || undefined;
}

/**
 * Local key lookups, and `$SSH_CONNECTION` as gathered, or else asked by one command as the login user (not through
 * sudo, which drops it).
 */
export async function discoverLogin(connection: HostConnection, gathered?: Promise<string | undefined>): Promise<LoginInfo> {
  const settings = connection.settings;
  const asked = async (): Promise<string> => (await gathered) ?? (await connection.exec(sshConnectionFact.command, { asLoginUser: true })).stdout;
  // A kept connection comes with its keys (the keeper read them); else they are read here, while the gather runs,
  // with the SSH library loaded only now.
  const keys = async (): Promise<readonly string[]> =>
    connection.loginPublicKeys ?? (await import('../transport/login-keys.ts')).loginPublicKeys(settings, process.env.SSH_AUTH_SOCK);
  // known_hosts as it is now: the keys a new login of this run would trust (a missing or unreadable file trusts none).
  const knownHosts = async (): Promise<string> => (settings.hostKeyChecking === 'off' ? '' : readKnownHosts(settings.knownHostsFile).catch(() => ''));
  const [sshConnection, publicKeys, known] = await Promise.all([asked(), keys(), knownHosts()]);
  const controllerAddress = controllerAddressOf(sshConnection);
  return {
    user: settings.user,
    port: settings.port,
    method: connection.authenticatedWith,
    publicKeys: [...publicKeys],
    ...(controllerAddress ? { controllerAddress } : {}),
    sshClient: sshClientProfile(settings, known),
  };
}
