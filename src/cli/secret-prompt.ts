/** Asks for a secret (a vault password) on the terminal, without echoing what is typed. */
import { InputError } from '../errors.ts';

/** The line typed after `question` (shown on stderr); Ctrl-C or Ctrl-D stop with an input error. */
export function promptSecret(question: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) return Promise.reject(new InputError('--ask-vault-pass needs a terminal to ask on; use --vault-password-file FILE instead'));
  // No echo from here on: what is typed after the question never shows.
  input.setRawMode(true);
  process.stderr.write(question);
  input.resume();
  input.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (error?: Error) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003' || char === '\u0004') return finish(new InputError('no vault password given'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else if (char >= ' ') typed += char;
      }
    };
    input.on('data', onData);
  });
}
