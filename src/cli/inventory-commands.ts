/** `provision validate` and `provision schema`: the inventory checked, or described, without touching any host. */
import { writeFileSync } from 'node:fs';
import { loadInventory } from '../inventory/load.ts';
import { inventoryJsonSchema } from '../inventory/json-schema.ts';
import { hostVarsSchema } from '../../tasks/vars.ts';

/** Validates the inventory (schema, files, `${ENV}`); prints a summary; throws InputError (exit 2) when it is wrong. */
export async function validateCommand(file: string, write: (text: string) => void): Promise<number> {
  const inventory = await loadInventory(file, { vars: hostVarsSchema });
  const groups = [...inventory.groups.entries()].filter(([name]) => name !== 'all' && name !== 'ungrouped');
  write(`${file}: valid — ${inventory.hosts.length} host${inventory.hosts.length === 1 ? '' : 's'}`);
  for (const [name, members] of groups) write(`  ${name}: ${members.join(', ')}`);
  return 0;
}

/** Writes the inventory's JSON Schema to `output`, or prints it. */
export function schemaCommand(output: string | undefined, write: (text: string) => void): number {
  const text = `${JSON.stringify(inventoryJsonSchema(hostVarsSchema(process.cwd())), null, 2)}\n`;
  if (output) {
    writeFileSync(output, text);
    write(`wrote ${output}`);
  } else {
    write(text.trimEnd());
  }
  return 0;
}
