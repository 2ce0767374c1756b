/** Loads a playbook module (.ts is compiled on the fly) and checks its shape. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InputError } from '../errors.ts';
import { definePlaybook, type Playbook, type PlaybookSpec } from '../engine/playbook.ts';

/** Where the CLI's default playbook comes from: the program that starts the CLI names it (see bin/main.ts). */
export type DefaultPlaybook = () => Promise<{ default: Playbook }>;

/** The playbook's display name when --playbook is not given. */
export const DEFAULT_PLAYBOOK_NAME = 'playbooks/site.ts';

/** A module's default export as a playbook: one made by definePlaybook, or a bare `{ plays }` / `{ roles }` object. */
function asPlaybook(value: unknown, path: string): Playbook {
  const candidate = value as Partial<Playbook> & PlaybookSpec;
  if (candidate && Array.isArray(candidate.plays) && typeof candidate.varsSchema === 'function') return candidate as Playbook;
  if (candidate && (Array.isArray(candidate.plays) || Array.isArray(candidate.roles))) {
    try {
      return definePlaybook({ ...(candidate.roles ? { roles: candidate.roles } : {}), ...(candidate.plays ? { plays: candidate.plays } : {}) });
    } catch (error) {
      throw new InputError(`playbook ${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new InputError(`playbook ${path} must export default definePlaybook({ roles: [...] })`);
}

/** Imports the playbook's default export: the file given, or the default playbook. */
export async function loadPlaybook(file: string | undefined, fallback: DefaultPlaybook): Promise<Playbook> {
  if (file === undefined) return (await fallback()).default;
  const path = resolve(file);
  if (!existsSync(path)) throw new InputError(`playbook not found: ${path}`);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    throw new InputError(`cannot load playbook ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return asPlaybook(module.default, path);
}
