/** Asks the operator before anything changes; refuses when nobody can answer. */
import { createInterface } from 'node:readline/promises';
import { InputError } from '../errors.ts';

/** Resolves true when the operator answers yes; without a TTY (and without --yes) it refuses. */
export async function confirmApply(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new InputError('refusing to apply: no terminal to confirm on. Review the plan with --dry-run, then re-run with --yes.');
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}
