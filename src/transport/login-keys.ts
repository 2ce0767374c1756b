/** The public keys a run can log in with: derived from the private key file, or listed by the SSH agent. */
import { readFile } from 'node:fs/promises';
import ssh2 from 'ssh2';
import type { ConnectionSettings } from '../inventory/types.ts';

/** Formats a public key blob as an authorized_keys line body: `type base64`. */
export function publicKeyLine(blob: Buffer): string {
  const typeLength = blob.readUInt32BE(0);
  return `${blob.subarray(4, 4 + typeLength).toString('latin1')} ${blob.toString('base64')}`;
}

/** The public half of a private key file, as `type base64`; undefined when the file cannot be parsed. */
export async function publicKeyOfFile(privateKeyFile: string): Promise<string | undefined> {
  const parsed = ssh2.utils.parseKey(await readFile(privateKeyFile));
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) return undefined;
  return publicKeyLine(key.getPublicSSH());
}

/**
 * The public keys a login with these settings can use: the key file's, else those the agent (`authSock`) offers.
 * A run asks this of its own connections; the connection keeper answers it for the connections it leases.
 */
export async function loginPublicKeys(settings: ConnectionSettings, authSock: string | undefined): Promise<string[]> {
  if (!settings.privateKeyFile) return agentPublicKeys(authSock);
  const key = await publicKeyOfFile(settings.privateKeyFile);
  return key ? [key] : [];
}

/** The keys an SSH agent offers, as `type base64` lines; empty when no agent answers. */
export function agentPublicKeys(socketPath: string | undefined): Promise<string[]> {
  if (!socketPath) return Promise.resolve([]);
  return new Promise((resolve) => {
    const agent = new ssh2.OpenSSHAgent(socketPath);
    agent.getIdentities((error, keys) => {
      if (error || !keys) return resolve([]);
      resolve(keys.map((key) => publicKeyLine((key as { getPublicSSH(): Buffer }).getPublicSSH())));
    });
  });
}
