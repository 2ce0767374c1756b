/**
 * Ansible Vault decryption (formats 1.1 and 1.2, cipher AES256) with Node's crypto: PBKDF2-HMAC-SHA256 over the
 * password and salt gives the AES-256-CTR key, the HMAC-SHA256 key and the counter; the HMAC is checked first.
 */

import { createDecipheriv, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';

/** The header every vault text starts with. */
export const VAULT_HEADER = '$ANSIBLE_VAULT;';

/** A password to try, with the vault id it was given for (`default` when none). */
export interface VaultSecret {
  label: string;
  password: Buffer;
}

/** Why a vault text could not be decrypted; `message` is ready for the operator. */
export class VaultError extends Error {
  constructor(
    readonly reason: 'format' | 'password' | 'no-password',
    message: string,
  ) {
    super(message);
    this.name = 'VaultError';
  }
}

/** A parsed vault envelope: header fields and the three parts of its body. */
interface VaultEnvelope {
  vaultId: string | undefined;
  salt: Buffer;
  hmac: Buffer;
  ciphertext: Buffer;
}

/** True when `text` is vault-encrypted (its first line is a vault header). */
export function isVaultText(text: string): boolean {
  return text.trimStart().startsWith(VAULT_HEADER);
}

/** The vault id a 1.2 text names, if any; for choosing which password to try first. */
export function vaultIdOf(text: string): string | undefined {
  return parseEnvelope(text).vaultId;
}

/** The plaintext of a vault text, trying the secret of its vault id first and then every other one. */
export function decryptVault(text: string, secrets: readonly VaultSecret[]): Buffer {
  if (secrets.length === 0) {
    throw new VaultError('no-password', 'this value is encrypted with Ansible Vault: give --vault-password-file FILE, --ask-vault-pass or ANSIBLE_VAULT_PASSWORD_FILE');
  }
  const envelope = parseEnvelope(text);
  const ordered = [...secrets.filter((secret) => secret.label === envelope.vaultId), ...secrets.filter((secret) => secret.label !== envelope.vaultId)];
  for (const secret of ordered) {
    const plaintext = tryDecrypt(envelope, secret.password);
    if (plaintext) return plaintext;
  }
  const id = envelope.vaultId ? ` (vault id '${envelope.vaultId}')` : '';
  throw new VaultError('password', `cannot decrypt this vault value${id}: wrong vault password, or the encrypted text was altered (its HMAC does not match)`);
}

function parseEnvelope(text: string): VaultEnvelope {
  const lines = text.trim().split(/\r?\n/);
  const header = (lines[0] ?? '').trim().split(';');
  if (header[0] !== '$ANSIBLE_VAULT' || header.length < 3) throw new VaultError('format', 'not an Ansible Vault text (the first line must be $ANSIBLE_VAULT;1.1;AES256)');
  const [, version = '', cipher = '', vaultId] = header.map((part) => part.trim());
  if (version !== '1.1' && version !== '1.2') throw new VaultError('format', `vault format ${version} is not supported (1.1 and 1.2 are)`);
  if (cipher !== 'AES256') throw new VaultError('format', `vault cipher ${cipher} is not supported (AES256 is)`);
  const body = lines.slice(1).map((line) => line.trim()).join('');
  const inner = unhex(body, 'the encrypted body').toString('latin1').split('\n');
  if (inner.length < 3) throw new VaultError('format', 'the vault body is incomplete (salt, HMAC and ciphertext expected)');
  const [salt = '', hmac = '', ...rest] = inner;
  return { vaultId: vaultId || undefined, salt: unhex(salt, 'the salt'), hmac: unhex(hmac, 'the HMAC'), ciphertext: unhex(rest.join('\n'), 'the ciphertext') };
}

function unhex(text: string, what: string): Buffer {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw new VaultError('format', `the vault text is damaged: ${what} is not hexadecimal`);
  return Buffer.from(text, 'hex');
}

/** The plaintext, or undefined when this password's HMAC does not match. */
function tryDecrypt(envelope: VaultEnvelope, password: Buffer): Buffer | undefined {
  const derived = pbkdf2Sync(password, envelope.salt, 10_000, 80, 'sha256');
  const cipherKey = derived.subarray(0, 32);
  const hmacKey = derived.subarray(32, 64);
  const counter = derived.subarray(64, 80);
  const expected = createHmac('sha256', hmacKey).update(envelope.ciphertext).digest();
  if (expected.length !== envelope.hmac.length || !timingSafeEqual(expected, envelope.hmac)) return undefined;
  const decipher = createDecipheriv('aes-256-ctr', cipherKey, counter);
  const padded = Buffer.concat([decipher.update(envelope.ciphertext), decipher.final()]);
  // Ansible pads with PKCS#7 (16-byte blocks) even in CTR mode.
  const pad = padded.at(-1) ?? 0;
  if (pad < 1 || pad > 16 || pad > padded.length || !padded.subarray(padded.length - pad).every((byte) => byte === pad)) {
    throw new VaultError('format', 'the decrypted vault value has invalid padding');
  }
  return padded.subarray(0, padded.length - pad);
}
