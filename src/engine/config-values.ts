/**
 * The one guard every config renderer puts its values through. A config file is lines of words: a value with a
 * newline in it (from a `${ENV}`, a fact, a host's name) would end its line and start a directive of its own, e.g. a
 * `server backdoor …` in haproxy.cfg. Values are validated where they enter (the inventory's schemas); this is the
 * last line, at the one place where every value becomes text.
 */
import { SafetyError } from '../errors.ts';
import { redact } from '../report/redact.ts';

/** A control character: C0 (newline, carriage return, tab, NUL …), DEL, C1, and Unicode's line and paragraph separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** A value a renderer was given that has no place in a config file. */
export class ConfigValueError extends SafetyError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigValueError';
  }
}

/** Where the first control character is in `value` (a string, or arrays and objects of them), as a key path; null when none. */
function controlCharacterAt(value: unknown, path: string, seen: Set<object>): { path: string; text: string } | null {
  if (typeof value === 'string') return CONTROL.test(value) ? { path, text: value } : null;
  if (typeof value !== 'object' || value === null || seen.has(value)) return null;
  seen.add(value);
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((item, index) => [`${path}[${index}]`, item]) : Object.entries(value).map(([key, item]) => [path ? `${path}.${key}` : key, item]);
  for (const [at, item] of entries) {
    const found = controlCharacterAt(item, at, seen);
    if (found) return found;
  }
  return null;
}

/** `text` as a short JSON string, control characters escaped, secrets masked. */
function shown(text: string): string {
  const cut = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return redact(JSON.stringify(cut));
}

/**
 * Returns `values` unchanged when no string in them (at any depth) holds a control character; throws ConfigValueError
 * naming the file, the value's key path and the value (escaped) otherwise. Renderers call it on everything they write.
 */
export function plainConfigValues<T>(file: string, values: T): T {
  const found = controlCharacterAt(values, '', new Set());
  if (found) {
    throw new ConfigValueError(`refusing to write ${file}: ${found.path ? `${found.path} ` : 'a value '}holds a control character (${shown(found.text)}); a config value must stay on its line`);
  }
  return values;
}
