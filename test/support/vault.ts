/** Vault texts for tests: the fixture project's values (made with ansible-vault), and altered copies of them. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The fixture Ansible project (see test/fixtures/ansible-project). */
export const ANSIBLE_PROJECT = fileURLToPath(new URL('../fixtures/ansible-project/', import.meta.url));

/** The `!vault |` block of the variable `name` (a `name: !vault |` line) in a fixture file, its lines indented by `indent`. */
export function fixtureVaultBlock(file: string, name: string, indent: string): string {
  const lines = readFileSync(join(ANSIBLE_PROJECT, file), 'utf8').split('\n');
  const start = lines.findIndex((line) => line.trim() === `${name}: !vault |`);
  if (start === -1) throw new Error(`no ${name}: !vault | in ${file}`);
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!/^\s+[$0-9a-f]/.test(line)) break;
    body.push(`${indent}${line.trim()}`);
  }
  return `!vault |\n${body.join('\n')}`;
}

/** The same `!vault |` block with one hexadecimal digit of its ciphertext changed; salt and HMAC stay, so the HMAC no longer matches. */
export function tamperVaultBlock(block: string): string {
  const [tag, header, ...body] = block.split('\n');
  const indent = /^\s*/.exec(header!)![0];
  const [salt, hmac, ciphertext] = Buffer.from(body.map((line) => line.trim()).join(''), 'hex').toString('latin1').split('\n');
  const changed = `${ciphertext![0] === '0' ? '1' : '0'}${ciphertext!.slice(1)}`;
  const hex = Buffer.from([salt, hmac, changed].join('\n'), 'latin1').toString('hex');
  return [tag, header, ...(hex.match(/.{1,80}/g) ?? []).map((line) => indent + line)].join('\n');
}
