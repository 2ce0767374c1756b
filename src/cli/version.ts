/** The version of provision that runs, from its package.json. */
import { readFileSync } from 'node:fs';
import { projectPath } from '../project-root.ts';

let version: string | undefined;

/** provision's own version, e.g. `0.1.0`. */
export function provisionVersion(): string {
  version ??= (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version;
  return version;
}
