/** The lab's SSH key pair, made once per project checkout with ssh2 so that no ssh-keygen is needed. */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';

/** Paths and public half of the lab key. */
export interface LabKey {
  privateKeyFile: string;
  publicKeyFile: string;
  /** One `ssh-ed25519 AAAA… comment` line, ready for authorized_keys. */
  publicKey: string;
}

/** The directory that holds the lab's key and known_hosts (git-ignored). */
export function labDir(projectDir: string): string {
  return join(projectDir, '.lab');
}

/**
 * An ed25519 pair that parses back. ssh2's generator drops a leading zero byte of the public key (about 1 key in 256),
 * writing a 31-byte key that nothing can use: draw again.
 */
function wellFormedKeyPair(): { private: string; public: string } {
  for (let attempt = 0; ; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'provision-lab' });
    if (!(ssh2.utils.parseKey(pair.public) instanceof Error) && !(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair;
    if (attempt >= 20) throw new Error('could not generate a well-formed ed25519 key');
  }
}

/** Returns the project's lab key, generating `<project>/.lab/id_ed25519` (0600) and `.pub` the first time. */
export function ensureLabKey(projectDir: string): LabKey {
  const dir = labDir(projectDir);
  const privateKeyFile = join(dir, 'id_ed25519');
  const publicKeyFile = `${privateKeyFile}.pub`;
  if (!existsSync(privateKeyFile) || !existsSync(publicKeyFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pair = wellFormedKeyPair();
    // 'wx' on the private key: if another process wrote one meanwhile, keep theirs rather than mix halves.
    try {
      writeFileSync(privateKeyFile, pair.private, { mode: 0o600, flag: 'wx' });
      writeFileSync(publicKeyFile, `${pair.public.trim()}\n`, { mode: 0o644 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      waitForFile(publicKeyFile);
    }
  }
  // ssh refuses a private key that others can read.
  chmodSync(privateKeyFile, 0o600);
  return { privateKeyFile, publicKeyFile, publicKey: readFileSync(publicKeyFile, 'utf8').trim() };
}

function waitForFile(file: string): void {
  const deadline = Date.now() + 2000;
  // The other writer writes the public half right after the private one.
  while (!existsSync(file) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
}
