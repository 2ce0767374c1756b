/**
 * `provision validate`, `provision inventory` and `provision schema`: the inventory checked, shown as provision
 * resolves it, or described, without touching any host.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.ts';
import { inventoryJsonSchema } from '../inventory/json-schema.ts';
import { findHost, hostListing, inventoryListing, listingSchemas } from '../inventory/listing.ts';
import type { Playbook } from '../engine/playbook.ts';
import { ignoredVariableLines, resolveInventoryInput, type InventoryInput } from './inventory-input.ts';

/** Validates the inventory (schema, files, `${ENV}`, vault); prints a summary; throws InputError (exit 2) when it is wrong. */
export async function validateCommand(input: InventoryInput, playbook: Playbook, write: (text: string) => void): Promise<number> {
  const resolved = await resolveInventoryInput(input, playbook.varsSchema);
  const { inventory } = resolved;
  const groups = [...inventory.groups.entries()].filter(([name]) => name !== 'all' && name !== 'ungrouped');
  write(`${input.sources.join(', ')}: valid — ${inventory.hosts.length} host${inventory.hosts.length === 1 ? '' : 's'}`);
  for (const [name, members] of groups) write(`  ${name}: ${members.join(', ')}`);
  for (const line of ignoredVariableLines(inventory)) write(line);
  if (resolved.skippedFiles.length > 0) write(`not read (skipped in an inventory directory, as Ansible does): ${resolved.skippedFiles.join(', ')}`);
  if (resolved.unusedVarsFiles.length > 0) {
    write(`not read (no group or host of that name, or NAME/ is read instead): ${resolved.unusedVarsFiles.map((file) => file.path).join(', ')}`);
  }
  // Ansible also reads group_vars/ beside the playbook; provision's playbooks are its own, so only the inventory's count.
  const here = process.cwd();
  const besidePlaybook = ['group_vars', 'host_vars'].filter((name) => existsSync(join(here, name)) && !resolved.varsDirectories.includes(here));
  if (besidePlaybook.length > 0) {
    write(`not read: ${besidePlaybook.map((name) => `./${name}/`).join(' and ')} of this directory (only those beside the inventory are read; move them there)`);
  }
  return 0;
}

/** The flags of `provision inventory`. */
export interface InventoryCommandFlags {
  list: boolean;
  host?: string;
  showSecrets: boolean;
}

/** Prints the resolved inventory as ansible-inventory's JSON: `--list` (everything) or `--host NAME` (one host's variables). */
export async function inventoryCommand(input: InventoryInput, playbook: Playbook, flags: InventoryCommandFlags, write: (text: string) => void): Promise<number> {
  if (flags.list === (flags.host !== undefined)) throw new InputError('give either --list or --host NAME');
  if (flags.showSecrets && !process.stdout.isTTY) {
    throw new InputError('--show-secrets prints secrets only to a terminal; without it they are masked as ********');
  }
  const resolved = await resolveInventoryInput(input, playbook.varsSchema);
  const schemas = listingSchemas(resolved.inventoryDir, playbook.varsSchema);
  const options = { showSecrets: flags.showSecrets };
  const document = flags.host !== undefined ? hostListing(resolved, findHost(resolved, flags.host), schemas, options) : inventoryListing(resolved, schemas, options);
  write(JSON.stringify(document, null, 4));
  return 0;
}

/** Writes the JSON Schema of inventories for the playbook to `output`, or prints it. */
export function schemaCommand(playbook: Playbook, output: string | undefined, write: (text: string) => void): number {
  const text = `${JSON.stringify(inventoryJsonSchema(playbook.varsSchema(process.cwd())), null, 2)}\n`;
  if (output) {
    writeFileSync(output, text);
    write(`wrote ${output}`);
  } else {
    write(text.trimEnd());
  }
  return 0;
}
