/** Loads a playbook module (.ts is compiled on the fly) and checks its shape. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectPath } from '../project-root.ts';
import { InputError } from '../errors.ts';
import type { Playbook } from '../engine/types.ts';

/** The playbook `apply` runs when --playbook is not given. */
export const DEFAULT_PLAYBOOK = projectPath('playbooks', 'site.ts');

/** Imports the playbook's default export. */
export async function loadPlaybook(file: string | undefined): Promise<Playbook<never>> {
  // A static import, so that the CLI's bundle carries the site playbook.
  if (file === undefined) return (await import('../../playbooks/site.ts')).default as Playbook<never>;
  const path = resolve(file);
  if (!existsSync(path)) throw new InputError(`playbook not found: ${path}`);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    throw new InputError(`cannot load playbook ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const playbook = module.default as Playbook<never> | undefined;
  if (!playbook || !Array.isArray(playbook.plays)) {
    throw new InputError(`playbook ${path} must export default definePlaybook({ plays: [...] })`);
  }
  return playbook;
}
