/** Finds out how this run logged in: method, usable public keys, and the controller's address as the host sees it. */
import { agentPublicKeys, publicKeyOfFile } from '../transport/login-keys.ts';
import { sh } from '../transport/shell.ts';
import type { SshConnection } from '../transport/ssh.ts';
import type { LoginInfo } from './types.ts';

/** Parses `$SSH_CONNECTION` ("client-ip client-port server-ip server-port"): the first field is the controller. */
export function controllerAddressOf(sshConnection: string): string | undefined {
  const [address] = sshConnection.trim().split(/\s+/);
  return address || undefined;
}

/** One command as the login user (not through sudo, which drops SSH_CONNECTION) plus local key lookups. */
export async function discoverLogin(connection: SshConnection): Promise<LoginInfo> {
  const settings = connection.settings;
  const [echo, keys] = await Promise.all([
    connection.exec(sh`echo "$SSH_CONNECTION"`, { asLoginUser: true }),
    settings.privateKeyFile
      ? publicKeyOfFile(settings.privateKeyFile).then((key) => (key ? [key] : []))
      : agentPublicKeys(process.env.SSH_AUTH_SOCK),
  ]);
  const controllerAddress = controllerAddressOf(echo.stdout);
  return {
    user: settings.user,
    port: settings.port,
    method: connection.authenticatedWith,
    publicKeys: keys,
    ...(controllerAddress ? { controllerAddress } : {}),
  };
}
