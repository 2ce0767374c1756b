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

/** A host connection backed by /bin/sh that keeps each command's text, for engine tests that apply (in temp dirs only). */
export function localConnection() {
  const commands: string[] = [];
  return {
    commands,
    usesSudo: false,
    stats: { connections: 1, commands: 0, commandMs: 0 },
    async exec(command: ShellCommand) {
      commands.push(command.text);
      const result = spawnSync('/bin/sh', ['-c', command.text], { encoding: 'utf8' });
      return { stdout: result.stdout, stderr: result.stderr, code: result.status ?? 255 };
    },
  };
}
