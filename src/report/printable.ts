/**
 * Text from hosts made safe for a terminal. A file's content, a command's error or a fact is the host's to choose: an
 * escape sequence in it could recolour, hide or rewrite lines of the diff the operator approves. Control characters
 * (but tab and newline) are shown as Unicode's control pictures (ESC as ␛, CR as ␍), others as `\uXXXX`, and so are
 * the bidirectional overrides that reorder what a line seems to say.
 */

const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function picture(char: string): string {
  const code = char.charCodeAt(0);
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return '\u2421';
  return `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every control character (but tab and newline) and bidirectional override made visible. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, picture);
}

/** A copy of `value` with every string in it made printable (for whole results before they are rendered). */
export function printableDeep<T>(value: T): T {
  if (typeof value === 'string') return printable(value) as T;
  if (Array.isArray(value)) return value.map((item) => printableDeep(item)) as T;
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, printableDeep(item)])) as T;
  return value;
}
