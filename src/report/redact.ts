/** Redaction by value: every secret the run learns is replaced wherever it would be printed. */

const MASK = '********';
const secrets = new Set<string>();

/** Registers a secret value (a password, token or key) so that no output ever shows it. */
export function registerSecret(value: string | undefined): void {
  if (!value) return;
  secrets.add(value);
  // Multi-line secrets (PEM keys) are also hidden line by line, since diffs print lines one at a time.
  if (value.includes('\n')) {
    for (const line of value.split('\n')) if (line.trim().length >= 8) secrets.add(line.trim());
  }
}

/** Replaces every registered secret in `text` by a mask. */
export function redact(text: string): string {
  if (secrets.size === 0 || !text) return text;
  let out = text;
  // Longest first, so that a secret containing another is masked whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  return out;
}

/** True when `text` contains a registered secret. */
export function containsSecret(text: string): boolean {
  for (const secret of secrets) if (text.includes(secret)) return true;
  return false;
}

/** Forgets every secret; for tests. */
export function clearSecrets(): void {
  secrets.clear();
}
