/** Whether a private key file named by ~/.ssh/config can be used as it is, or is left to the SSH agent. */

import { readFileSync } from 'node:fs';

/** `usable`, or why the file is passed over: not there (ssh skips it too), or locked with a passphrase. */
export type IdentityFileState = 'usable' | 'missing' | 'encrypted';

/** Reads the file's header: a key with a passphrase is not read here (its unlocked copy is the agent's to offer). */
export function identityFileState(path: string): IdentityFileState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return 'missing';
  }
  return isEncryptedPrivateKey(text) ? 'encrypted' : 'usable';
}

/** True for a private key protected by a passphrase: OpenSSH's format with a cipher, or an encrypted PEM. */
export function isEncryptedPrivateKey(text: string): boolean {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text) || /^Proc-Type:\s*4,ENCRYPTED/m.test(text)) return true;
  const body = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text)?.[1];
  if (body === undefined) return false;
  const blob = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  const magic = 'openssh-key-v1\0';
  if (blob.length < magic.length + 4 || blob.subarray(0, magic.length).toString('latin1') !== magic) return false;
  const length = blob.readUInt32BE(magic.length);
  const cipher = blob.subarray(magic.length + 4, magic.length + 4 + length).toString('latin1');
  return cipher !== 'none';
}
