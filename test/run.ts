/**
 * `npm test`: type-check, make sure the test bed (Docker engine and the lab image) is ready, then run every
 * unit and e2e test file with node's test runner.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureTestBed } from './support/engine.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const only = process.argv.slice(2);

function run(command: string, args: string[]): number {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { PROVISION_SSH_PERSIST: '0', ...process.env, TESTCONTAINERS_RYUK_DISABLED: 'true' } });
  return result.status ?? 1;
}

const files = (dir: string) =>
  readdirSync(`${root}/test/${dir}`)
    .filter((name) => name.endsWith('.test.ts'))
    .sort()
    .map((name) => `test/${dir}/${name}`);

if (run(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, '--noEmit', '-p', root]) !== 0) {
  console.error('type check failed');
  process.exit(1);
}
const selected = only.length > 0 ? only : [...files('unit'), ...files('e2e')];
if (selected.some((file) => file.includes('/e2e/'))) await ensureTestBed((line) => console.error(line));
process.exit(run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...selected]));
