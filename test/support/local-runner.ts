/** Runs commands on this machine's /bin/sh, for unit tests of generated scripts (in temp dirs only). */
import { spawnSync } from 'node:child_process';
import type { ShellCommand } from '../../src/transport/shell.ts';

/** A CommandRunner backed by /bin/sh. */
export const localRunner = {
  async exec(command: ShellCommand, options: { stdin?: string } = {}) {
    const result = spawnSync('/bin/sh', ['-c', command.text], { encoding: 'utf8', input: options.stdin ?? '' });
    return { stdout: result.stdout, stderr: result.stderr, code: result.status ?? 255 };
  },
};
