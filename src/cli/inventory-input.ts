/**
 * What every command that reads an inventory takes, with Ansible's flags: the inventory (a positional argument or
 * `-i`, repeatable), vault passwords (`--vault-password-file`, `--vault-id`, `--ask-vault-pass`) and `-e`.
 */
import type { Argv } from 'yargs';
import type { z } from 'zod';
import { InputError, formatProblem } from '../errors.ts';
import { resolveInventory, type ResolvedInventory } from '../inventory/load.ts';
import { vaultSecrets } from '../inventory/vault-secrets.ts';
import type { Inventory } from '../inventory/types.ts';
import { promptSecret } from './secret-prompt.ts';

/** The inventory flags as parsed. */
export interface InventoryInput {
  /** The positional inventory, then each `-i`, in order. */
  sources: string[];
  vaultPasswordFiles: string[];
  vaultIds: string[];
  askVaultPass: boolean;
  extraVars: string[];
}

/** Adds the inventory positional and flags to a command. */
export function withInventoryOptions<T>(y: Argv<T>) {
  return y
    .positional('inventory', { type: 'string', describe: 'inventory: a YAML or INI file, or a directory of them (as Ansible reads it)' })
    .option('i', { alias: 'inventory-file', type: 'string', array: true, nargs: 1, describe: 'inventory, as with ansible -i (repeatable: the inventories are merged)' })
    .option('extra-vars', { alias: 'e', type: 'string', array: true, nargs: 1, describe: 'variables above all others: key=value, JSON or YAML, or @FILE (repeatable)' })
    .option('vault-password-file', { type: 'string', array: true, nargs: 1, describe: 'file holding the vault password, or a script that prints it (repeatable)' })
    .option('vault-id', { type: 'string', array: true, nargs: 1, describe: 'vault password for a vault id: LABEL@FILE or LABEL@prompt (repeatable)' })
    .option('ask-vault-pass', { type: 'boolean', default: false, describe: 'ask for the vault password on the terminal' });
}

/** The parsed arguments withInventoryOptions adds. */
export interface InventoryArgs {
  inventory?: string | undefined;
  i?: string[] | undefined;
  'extra-vars'?: string[] | undefined;
  'vault-password-file'?: string[] | undefined;
  'vault-id'?: string[] | undefined;
  'ask-vault-pass'?: boolean | undefined;
}

/** The inventory flags of parsed arguments; no inventory at all is an input error. */
export function inventoryInput(args: InventoryArgs): InventoryInput {
  const sources = [...(args.inventory !== undefined ? [args.inventory] : []), ...(args.i ?? [])];
  if (sources.length === 0) throw new InputError('name an inventory: a file or directory after the command, or -i INVENTORY');
  return {
    sources,
    vaultPasswordFiles: args['vault-password-file'] ?? [],
    vaultIds: args['vault-id'] ?? [],
    askVaultPass: args['ask-vault-pass'] ?? false,
    extraVars: args['extra-vars'] ?? [],
  };
}

/** Reads the vault passwords, then loads and validates the inventory with the given task-variable schema. */
export async function resolveInventoryInput<S extends z.ZodType>(input: InventoryInput, vars: S | ((inventoryDir: string) => S)): Promise<ResolvedInventory<z.output<S>>> {
  const secrets = await vaultSecrets({
    passwordFiles: input.vaultPasswordFiles,
    vaultIds: input.vaultIds,
    askVaultPass: input.askVaultPass,
    env: process.env,
    prompt: promptSecret,
  });
  return resolveInventory(input.sources, { vars, vaultSecrets: secrets, extraVars: input.extraVars });
}

/** resolveInventoryInput's inventory alone. */
export async function loadInventoryInput<S extends z.ZodType>(input: InventoryInput, vars: S | ((inventoryDir: string) => S)): Promise<Inventory<z.output<S>>> {
  return (await resolveInventoryInput(input, vars)).inventory;
}

/** Lines naming the variables that are not provision's, where each is set; empty when there are none. */
export function ignoredVariableLines(inventory: Inventory<unknown>): string[] {
  const ignored = inventory.ignored ?? [];
  if (ignored.length === 0) return [];
  return [
    `not provision's variables (loaded and ignored): ${new Set(ignored.map((variable) => variable.name)).size}`,
    ...ignored.map((variable) => `  ${formatProblem({ message: variable.name, position: variable.position })}`),
  ];
}
