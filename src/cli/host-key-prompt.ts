/** Asks the operator, on a terminal, whether to trust host keys seen for the first time (`ssh_host_key_checking: ask`). */
import { createInterface } from 'node:readline/promises';
import type { HostKeyAnswer, NewHostKey } from '../engine/new-host-keys.ts';

/** The question's text: one line per key, aligned, then where they will be recorded (pure, for tests). */
export function hostKeyQuestion(keys: readonly NewHostKey[]): string {
  const width = (pick: (key: NewHostKey) => string) => Math.max(...keys.map((key) => pick(key).length));
  const [host, where, type] = [width((key) => key.host), width((key) => key.where), width((key) => key.keyType)];
  const lines = keys.map((key) => `  ${key.host.padEnd(host)}  ${key.where.padEnd(where)}  ${key.keyType.padEnd(type)}  ${key.fingerprint}`);
  const files = [...new Set(keys.map((key) => key.knownHostsFile))];
  return [
    `New host ${keys.length === 1 ? 'key' : 'keys'} (first contact: nothing has been sent to ${keys.length === 1 ? 'this host' : 'these hosts'} yet):`,
    ...lines,
    `Compare each fingerprint with the host's own (on its console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).`,
    `Trust ${keys.length === 1 ? 'this key and connect? It is' : 'these keys and connect? They are'} recorded in ${files.join(', ')}. [y/N] `,
  ].join('\n');
}

/**
 * The operator's answer; without a terminal nobody can answer, and the keys are refused (writing
 * `ssh_host_key_checking: accept-new` in the inventory is how a run without one trusts first contact).
 */
export async function askAboutHostKeys(keys: readonly NewHostKey[]): Promise<HostKeyAnswer> {
  if (!process.stdin.isTTY) return { accepted: false, why: 'there is no terminal to confirm it on (ssh_host_key_checking: ask)' };
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(hostKeyQuestion(keys));
    return /^y(es)?$/i.test(answer.trim()) ? { accepted: true } : { accepted: false, why: 'the operator declined it' };
  } finally {
    prompt.close();
  }
}
