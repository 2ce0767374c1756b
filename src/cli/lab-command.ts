/** `provision lab up|down`: the built-in lab of local Debian containers. */
import { labDown, labUp } from '../lab/lab.ts';
import { PROJECT_ROOT } from '../project-root.ts';

/** Starts or removes the lab; returns the exit code. */
export async function labCommand(action: 'up' | 'down', options: { nodes: number; balancers: number }): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (action === 'down') {
    await labDown({ projectDir: PROJECT_ROOT, log });
    log('lab removed');
    return 0;
  }
  const { inventoryFile } = await labUp({ ...options, projectDir: PROJECT_ROOT, log });
  log(`lab is up: ${inventoryFile}`);
  return 0;
}
