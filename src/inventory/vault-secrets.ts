/**
 * Vault passwords from where Ansible takes them: `--vault-password-file FILE` (the file's text, or what it prints
 * when it is executable), `--vault-id [LABEL@]FILE|prompt`, `--ask-vault-pass`, and ANSIBLE_VAULT_PASSWORD_FILE.
 */

import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { InputError } from '../errors.ts';
import { secret } from './secret.ts';
import { expandHome } from './paths.ts';
import type { VaultSecret } from './vault.ts';
import type { Env } from './env-refs.ts';

/** Where the passwords come from. */
export interface VaultPasswordSources {
  /** `--vault-password-file`, in the order given. */
  passwordFiles?: readonly string[];
  /** `--vault-id LABEL@SOURCE` (or `SOURCE`), SOURCE a file, an executable or `prompt`. */
  vaultIds?: readonly string[];
  /** `--ask-vault-pass`. */
  askVaultPass?: boolean;
  /** The environment, for ANSIBLE_VAULT_PASSWORD_FILE. */
  env?: Env;
  /** Asks for a password on the terminal without echo; absent: asking is an input error. */
  prompt?: (question: string) => Promise<string>;
}

/** A password script gets this long to answer (it may ask a keyring or the operator). */
const SCRIPT_TIMEOUT_MS = 120_000;

/** The label Ansible gives a password that names no vault id. */
const DEFAULT_LABEL = 'default';

/** Every password the sources give, each registered as a secret; an unreadable source is an InputError. */
export async function vaultSecrets(sources: VaultPasswordSources): Promise<VaultSecret[]> {
  const wanted: { label: string; source: string }[] = [];
  for (const id of sources.vaultIds ?? []) {
    const at = id.indexOf('@');
    wanted.push(at > 0 ? { label: id.slice(0, at), source: id.slice(at + 1) } : { label: DEFAULT_LABEL, source: id });
  }
  for (const file of sources.passwordFiles ?? []) wanted.push({ label: DEFAULT_LABEL, source: file });
  if (sources.askVaultPass) wanted.push({ label: DEFAULT_LABEL, source: 'prompt' });
  const fromEnv = (sources.env ?? process.env).ANSIBLE_VAULT_PASSWORD_FILE;
  if (fromEnv) wanted.push({ label: DEFAULT_LABEL, source: fromEnv });

  const secrets: VaultSecret[] = [];
  for (const { label, source } of wanted) {
    const password = source === 'prompt' ? await askPassword(label, sources.prompt) : await readPasswordSource(source, label);
    if (password.length === 0) throw new InputError(`the vault password from ${source === 'prompt' ? 'the prompt' : source} is empty`);
    secret(password);
    secrets.push({ label, password: Buffer.from(password, 'utf8') });
  }
  return secrets;
}

async function askPassword(label: string, prompt: VaultPasswordSources['prompt']): Promise<string> {
  if (!prompt) throw new InputError('--ask-vault-pass needs a terminal to ask on; use --vault-password-file FILE instead');
  return prompt(label === DEFAULT_LABEL ? 'Vault password: ' : `Vault password (${label}): `);
}

/** A password file's text (surrounding whitespace removed), or an executable's output (its last line breaks removed). */
async function readPasswordSource(given: string, label: string): Promise<string> {
  const file = resolve(expandHome(given));
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch {
    throw new InputError(`vault password file not found: ${file}`);
  }
  if (!isFile) throw new InputError(`vault password file is not a file: ${file}`);
  if (!isExecutable(file)) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new InputError(`cannot read the vault password file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  // A script named `…-client` serves several vault ids and is told which one, as Ansible does.
  const args = basename(file, extname(file)).endsWith('-client') ? ['--vault-id', label] : [];
  return new Promise((done, fail) => {
    // stdin and stderr are the operator's terminal: the script may ask for something itself.
    const child = spawn(file, args, { stdio: ['inherit', 'pipe', 'inherit'], timeout: SCRIPT_TIMEOUT_MS });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.on('error', (error) => fail(new InputError(`cannot run the vault password script ${file}: ${error.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) done(stdout.replace(/^[\r\n]+|[\r\n]+$/g, ''));
      else fail(new InputError(`the vault password script ${file} failed (${signal ? `killed by ${signal}` : `exit code ${code}`})`));
    });
  });
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
