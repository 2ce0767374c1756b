/** Reading one input file's text, decrypting it when the whole file is Ansible Vault-encrypted. */

import { readFile } from 'node:fs/promises';
import type { ProblemList } from './problems.ts';
import { VaultError, decryptVault, isVaultText, type VaultSecret } from './vault.ts';

/** A file's text, and whether it was decrypted (then all of it is secret). */
export interface SourceText {
  text: string;
  decrypted: boolean;
}

/**
 * The text of `path` (shown as `shown` in messages), decrypted when it is a vault file; undefined after adding
 * the reason to `problems` when it cannot be read or decrypted. `what` names the file's role, e.g. "inventory file".
 */
export async function readSourceText(path: string, shown: string, what: string, secrets: readonly VaultSecret[], problems: ProblemList): Promise<SourceText | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? `${what} not found` : code === 'EISDIR' ? `${what} is a directory, not a file` : `cannot read ${what} (${code ?? String(error)})`;
    problems.add({ message: `${reason}: ${shown}` });
    return undefined;
  }
  if (!isVaultText(text)) return { text, decrypted: false };
  try {
    // Its values are registered as secrets one by one as they are read (see values.ts), not as lines of text.
    return { text: decryptVault(text, secrets).toString('utf8'), decrypted: true };
  } catch (error) {
    if (!(error instanceof VaultError)) throw error;
    // The whole file is one vault value: its first line is where the problem is.
    problems.add({ message: error.message.replace('this vault value', `this vault-encrypted ${what}`), position: { file: shown, line: 1, column: 1 } });
    return undefined;
  }
}
