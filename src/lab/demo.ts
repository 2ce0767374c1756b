/**
 * `npm run demo`: start the lab, apply the site playbook to it, then apply again and show that the second
 * run changes nothing.
 */
import { spawnSync } from 'node:child_process';
import { projectPath, PROJECT_ROOT } from '../project-root.ts';
import { labUp } from './lab.ts';

const bin = projectPath('bin', 'provision.js');
const log = (line: string) => process.stderr.write(`[demo] ${line}\n`);

function provision(args: string[], capture = false): { code: number; stdout: string } {
  log(`provision ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: PROJECT_ROOT,
    stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit',
    encoding: 'utf8',
  });
  return { code: result.status ?? 1, stdout: result.stdout ?? '' };
}

const { inventoryFile } = await labUp({ nodes: 2, balancers: 1, projectDir: PROJECT_ROOT, log });
const first = provision(['apply', inventoryFile, '--yes']);
if (first.code !== 0) {
  log(`the first apply failed with exit code ${first.code}`);
  process.exit(first.code);
}
const second = provision(['apply', inventoryFile, '--yes', '--json'], true);
const summary = JSON.parse(second.stdout).summary as { changed: number; failed: number; unreachable: number };
log(`second apply: changed=${summary.changed} failed=${summary.failed} unreachable=${summary.unreachable}`);
if (second.code !== 0 || summary.changed !== 0) {
  log('the second apply should have changed nothing');
  process.exit(1);
}
log('converged: the second run changed nothing. `npx provision lab down` removes the lab.');
