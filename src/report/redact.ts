/**
 * Redaction by value: every secret the run learns is replaced wherever it would be printed, in each form it can take
 * on the way: as it is, JSON-escaped (once or twice), URL-encoded, shell-quoted, in hex, and inside base64 at any of
 * the three byte alignments (a file's content travels base64-encoded, the secret anywhere in it).
 */

const MASK = '********';
const secrets = new Set<string>();
/** Every form of every secret, longest first; made again after a secret is added. */
let forms: string[] | undefined;

/** Encoded forms shorter than this are not masked: a few base64 or hex characters match ordinary text too often. */
const MIN_ENCODED = 8;

/** Registers a secret value (a password, token or key) so that no output ever shows it. */
export function registerSecret(value: string | undefined): void {
  if (!value) return;
  secrets.add(value);
  // Multi-line secrets (PEM keys) are also hidden line by line, since diffs print lines one at a time.
  if (value.includes('\n')) {
    for (const line of value.split('\n')) if (line.trim().length >= 8) secrets.add(line.trim());
  }
  forms = undefined;
}

/**
 * The base64 characters that depend on the secret alone, for a secret that starts 0, 1 or 2 bytes into a 3-byte group:
 * the characters at either end also carry the neighbouring bytes, so they are left out.
 */
function base64Cores(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const cores: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64').replace(/=+$/, '');
    const core = encoded.slice(Math.ceil((8 * shift) / 6), Math.floor((8 * (shift + bytes.length)) / 6));
    cores.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return cores;
}

/** Every way `secret` may be written in an output. */
function formsOf(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const url = encodeURIComponent(secret);
  const encoded = [...base64Cores(secret), Buffer.from(secret, 'utf8').toString('hex')].filter((form) => form.length >= MIN_ENCODED);
  return [secret, json, JSON.stringify(json).slice(1, -1), url, url.replace(/%20/g, '+'), secret.replace(/'/g, `'\\''`), ...encoded];
}

function allForms(): string[] {
  forms ??= [...new Set([...secrets].flatMap(formsOf))].sort((a, b) => b.length - a.length);
  return forms;
}

/** Replaces every registered secret in `text`, in any of its forms, by a mask. */
export function redact(text: string): string {
  if (secrets.size === 0 || !text) return text;
  let out = text;
  // Longest first, so that a secret containing another is masked whole.
  for (const form of allForms()) {
    if (out.includes(form)) out = out.split(form).join(MASK);
  }
  return out;
}

/** A copy of `value` with every string in it (keys included) redacted: for documents masked before they are serialised. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((item) => redactDeep(item)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [redact(key), redactDeep(item)])) as T;
  }
  return value;
}

/** True when `text` contains a registered secret, in any of its forms. */
export function containsSecret(text: string): boolean {
  if (secrets.size === 0) return false;
  return allForms().some((form) => text.includes(form));
}

/** Every secret registered so far, in the order registered (a saved plan keys its digests with them). */
export function secretValues(): string[] {
  return [...secrets];
}

/** Forgets every secret; for tests. */
export function clearSecrets(): void {
  secrets.clear();
  forms = undefined;
}
