/** `provision init`: a starter inventory from flags, or from questions on a terminal. */
import { existsSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { basename, dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { inventoryJsonSchema } from '../inventory/json-schema.ts';
import type { Playbook } from '../engine/playbook.ts';
import { InputError } from '../errors.ts';

/** What the starter inventory is made of. */
export interface InitOptions {
  output: string;
  nodes?: string;
  balancers?: string;
  user?: string;
  key?: string;
  domain?: string;
  force: boolean;
}

/** Parses `name=address,name=address` (a bare address names the host after it). */
export function parseHostList(text: string, flag: string): Record<string, { ansible_host: string }> {
  const hosts: Record<string, { ansible_host: string }> = {};
  for (const item of text.split(',').map((part) => part.trim()).filter(Boolean)) {
    const [name, address] = item.includes('=') ? item.split('=', 2) : [item, item];
    if (!name || !address || !/^[A-Za-z0-9_.:-]+$/.test(name) || /\s/.test(address)) {
      throw new InputError(`${flag}: expected name=address[,name=address…], got '${item}'`);
    }
    hosts[name] = { ansible_host: address };
  }
  return hosts;
}

/** The starter inventory's text (pure). */
export function renderStarterInventory(options: Required<Omit<InitOptions, 'force' | 'output'>>, schemaFile: string): string {
  const document = {
    all: {
      vars: {
        ansible_user: options.user,
        ansible_ssh_private_key_file: options.key,
        ssh: { authorized_keys: [`${options.key}.pub`] },
      },
      children: {
        nodes: { hosts: parseHostList(options.nodes, '--nodes') },
        balancers: { vars: { haproxy: { domain: options.domain } }, hosts: parseHostList(options.balancers, '--balancers') },
      },
    },
  };
  return [
    `# yaml-language-server: $schema=./${schemaFile}`,
    '# Written by `provision init`. Check it with `provision validate`, then `provision apply --dry-run`.',
    stringify(document).trimEnd(),
    '',
  ].join('\n');
}

async function ask(question: string, fallback: string): Promise<string> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await prompt.question(`${question} [${fallback}] `)).trim();
    return answer || fallback;
  } finally {
    prompt.close();
  }
}

/** Writes the starter inventory; asks for what the flags left out when a terminal can answer. */
export async function initCommand(options: InitOptions, playbook: Playbook, write: (text: string) => void): Promise<number> {
  if (existsSync(options.output) && !options.force) throw new InputError(`${options.output} exists; use --force to replace it`);
  const interactive = process.stdin.isTTY === true;
  const value = async (given: string | undefined, question: string, fallback: string) =>
    given ?? (interactive ? ask(question, fallback) : fallback);
  const nodes = await value(options.nodes, 'Nodes (name=address, comma separated)', 'node1=192.0.2.11');
  const balancers = await value(options.balancers, 'Balancers (name=address, comma separated)', 'balancer1=192.0.2.10');
  const user = await value(options.user, 'SSH user', 'root');
  const key = await value(options.key, 'Private key file', '~/.ssh/id_ed25519');
  const domain = await value(options.domain, 'Domain the balancer serves', 'api.example.org');
  // The schema beside the inventory gives editors completion and checking (see the modeline).
  const schemaFile = `${basename(options.output).replace(/\.ya?ml$/, '')}.schema.json`;
  writeFileSync(join(dirname(options.output), schemaFile), `${JSON.stringify(inventoryJsonSchema(playbook.varsSchema(dirname(options.output))), null, 2)}\n`);
  writeFileSync(options.output, renderStarterInventory({ nodes, balancers, user, key, domain }, schemaFile));
  write(`wrote ${options.output} and ${schemaFile}: check it with \`provision validate ${options.output}\``);
  return 0;
}
