/**
 * Values in INI inventories, typed as Ansible types them: Python literals (`ast.literal_eval`), so `2222` is a
 * number, `True` a boolean, `[1, 2]` a list, `'x'` a string, and anything that is not a literal (`yes`, `true`,
 * `web01`) stays the text as written.
 */

/** The value of a Python literal, or undefined when the text is not one (the caller keeps the text). */
export function readPythonLiteral(text: string): { value: unknown } | undefined {
  const parser = new LiteralParser(text.replace(/^[ \t]+/, ''));
  try {
    const value = parser.expression();
    parser.end();
    return { value };
  } catch (error) {
    if (error instanceof NotALiteral) return undefined;
    throw error;
  }
}

/** Thrown inside the parser when the text is not a literal; never escapes readPythonLiteral. */
class NotALiteral extends Error {}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

const NUMBER = new RegExp(
  [
    '0[xX](?:_?[0-9a-fA-F])+',
    '0[oO](?:_?[0-7])+',
    '0[bB](?:_?[01])+',
    // floats: 1.5, 1., .5, 1e3, 1.5e-3 (digit groups may hold single underscores)
    '(?:\\d(?:_?\\d)*)?\\.\\d(?:_?\\d)*(?:[eE][-+]?\\d(?:_?\\d)*)?',
    '\\d(?:_?\\d)*\\.(?:[eE][-+]?\\d(?:_?\\d)*)?',
    '\\d(?:_?\\d)*[eE][-+]?\\d(?:_?\\d)*',
    '[1-9](?:_?\\d)*',
    '0(?:_?0)*',
  ]
    .map((alternative) => `(?:${alternative})`)
    .join('|'),
  'y',
);

/** A recursive-descent reader of the literal subset of Python expressions. */
class LiteralParser {
  readonly #text: string;
  #at = 0;

  constructor(text: string) {
    this.#text = text;
  }

  /** expression := ['+' | '-'] number | atom */
  expression(): unknown {
    this.#skipBlank();
    const sign = this.#text[this.#at];
    if (sign === '+' || sign === '-') {
      this.#at += 1;
      this.#skipBlank();
      const value = this.#number();
      if (value === undefined) throw new NotALiteral();
      return sign === '-' ? -value : value;
    }
    return this.#atom();
  }

  /** Only blanks and a comment may follow the literal. */
  end(): void {
    this.#skipBlank();
    if (this.#at < this.#text.length) throw new NotALiteral();
  }

  #atom(): unknown {
    const char = this.#text[this.#at];
    if (char === undefined) throw new NotALiteral();
    if (char === '[') return this.#sequence(']');
    if (char === '(') return this.#parenthesised();
    if (char === '{') return this.#braces();
    const number = this.#number();
    if (number !== undefined) return number;
    const word = /[A-Za-z_][A-Za-z0-9_]*/y;
    word.lastIndex = this.#at;
    const name = word.exec(this.#text)?.[0];
    if (name !== undefined && /^[rRuUbB]{1,2}$/.test(name) && /['"]/.test(this.#text[this.#at + name.length] ?? '')) return this.#strings();
    if (char === "'" || char === '"') return this.#strings();
    if (name === 'True' || name === 'False' || name === 'None') {
      this.#at += name.length;
      return name === 'True' ? true : name === 'False' ? false : null;
    }
    throw new NotALiteral();
  }

  #number(): number | undefined {
    NUMBER.lastIndex = this.#at;
    const match = NUMBER.exec(this.#text);
    if (!match) return undefined;
    const after = this.#text[this.#at + match[0].length] ?? '';
    // `1j` is complex, `1abc` and `1_` are syntax errors, `01` is refused by Python 3.
    if (/[A-Za-z0-9_.]/.test(after)) throw new NotALiteral();
    this.#at += match[0].length;
    const digits = match[0].replace(/_/g, '');
    if (/^0[xXoObB]/.test(digits)) return Number(digits.toLowerCase());
    return Number(digits);
  }

  /** Adjacent string literals concatenate, as in Python; str and bytes do not mix. */
  #strings(): string {
    let out = '';
    let kind: 'str' | 'bytes' | undefined;
    for (;;) {
      this.#skipBlank();
      const prefix = /[rRuUbBfF]{0,2}(?=['"])/y;
      prefix.lastIndex = this.#at;
      const found = prefix.exec(this.#text);
      if (!found) break;
      const flags = found[0].toLowerCase();
      if (flags.includes('f') || (flags.includes('u') && flags.length > 1) || (flags.length === 2 && flags[0] === flags[1])) throw new NotALiteral();
      const thisKind = flags.includes('b') ? 'bytes' : 'str';
      if (kind !== undefined && kind !== thisKind) throw new NotALiteral();
      kind = thisKind;
      this.#at += found[0].length;
      out += this.#quoted(flags.includes('r'), thisKind === 'bytes');
    }
    if (kind === undefined) throw new NotALiteral();
    return out;
  }

  #quoted(raw: boolean, bytes: boolean): string {
    const text = this.#text;
    const quote = text.startsWith(text[this.#at]!.repeat(3), this.#at) ? text[this.#at]!.repeat(3) : text[this.#at]!;
    this.#at += quote.length;
    let out = '';
    for (;;) {
      const char = text[this.#at];
      if (char === undefined) throw new NotALiteral();
      if (text.startsWith(quote, this.#at)) {
        this.#at += quote.length;
        return out;
      }
      if (bytes && char.charCodeAt(0) > 0x7f) throw new NotALiteral();
      if (char !== '\\') {
        out += char;
        this.#at += 1;
        continue;
      }
      const next = text[this.#at + 1];
      if (next === undefined) throw new NotALiteral();
      if (raw) {
        // A raw string keeps the backslash, but it still stops a quote from ending the string.
        out += char + next;
        this.#at += 2;
        continue;
      }
      out += this.#escape(next, bytes);
    }
  }

  /** One escape sequence after a backslash; unknown escapes keep their backslash, as Python does. */
  #escape(next: string, bytes: boolean): string {
    const text = this.#text;
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      this.#at += 2;
      return simple;
    }
    const octal = /[0-7]{1,3}/y;
    octal.lastIndex = this.#at + 1;
    const octalDigits = octal.exec(text)?.[0];
    if (octalDigits) {
      this.#at += 1 + octalDigits.length;
      return String.fromCodePoint(parseInt(octalDigits, 8) & (bytes ? 0xff : 0x1ff));
    }
    const width = next === 'x' ? 2 : !bytes && next === 'u' ? 4 : !bytes && next === 'U' ? 8 : 0;
    if (width > 0) {
      const hex = text.slice(this.#at + 2, this.#at + 2 + width);
      if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) throw new NotALiteral();
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) throw new NotALiteral();
      this.#at += 2 + width;
      return String.fromCodePoint(code);
    }
    // \N{NAME} needs Unicode's name table; such a value stays the text as written.
    if (next === 'N' && !bytes) throw new NotALiteral();
    this.#at += 2;
    return `\\${next}`;
  }

  /** `(…)`: a tuple (read as a list) when it has a comma or is empty, else the value inside. */
  #parenthesised(): unknown {
    this.#at += 1;
    this.#skipBlank();
    if (this.#text[this.#at] === ')') {
      this.#at += 1;
      return [];
    }
    const first = this.expression();
    this.#skipBlank();
    if (this.#text[this.#at] === ')') {
      this.#at += 1;
      return first;
    }
    if (this.#text[this.#at] !== ',') throw new NotALiteral();
    this.#at += 1;
    return [first, ...this.#items(')')];
  }

  #sequence(close: string): unknown[] {
    this.#at += 1;
    return this.#items(close);
  }

  /** Comma-separated expressions up to `close` (a trailing comma allowed). */
  #items(close: string): unknown[] {
    const items: unknown[] = [];
    for (;;) {
      this.#skipBlank();
      if (this.#text[this.#at] === close) {
        this.#at += 1;
        return items;
      }
      items.push(this.expression());
      this.#skipBlank();
      const separator = this.#text[this.#at];
      if (separator === ',') this.#at += 1;
      else if (separator !== close) throw new NotALiteral();
    }
  }

  /** `{…}`: a dict (keys as JSON would write them) or a set (read as a list). */
  #braces(): unknown {
    this.#at += 1;
    this.#skipBlank();
    if (this.#text[this.#at] === '}') {
      this.#at += 1;
      return {};
    }
    const first = this.expression();
    this.#skipBlank();
    if (this.#text[this.#at] !== ':') {
      if (this.#text[this.#at] === '}') {
        this.#at += 1;
        return [first];
      }
      if (this.#text[this.#at] !== ',') throw new NotALiteral();
      this.#at += 1;
      return [first, ...this.#items('}')];
    }
    const out: Record<string, unknown> = {};
    let key: unknown = first;
    for (;;) {
      this.#skipBlank();
      if (this.#text[this.#at] !== ':') throw new NotALiteral();
      this.#at += 1;
      const value = this.expression();
      // defineProperty: a key named `__proto__` stays a key.
      Object.defineProperty(out, jsonKey(key), { value, enumerable: true, writable: true, configurable: true });
      this.#skipBlank();
      const separator = this.#text[this.#at];
      this.#at += 1;
      if (separator === '}') return out;
      if (separator !== ',') throw new NotALiteral();
      this.#skipBlank();
      if (this.#text[this.#at] === '}') {
        this.#at += 1;
        return out;
      }
      key = this.expression();
    }
  }

  #skipBlank(): void {
    const text = this.#text;
    while (this.#at < text.length) {
      const char = text[this.#at];
      if (char === ' ' || char === '\t' || char === '\f') this.#at += 1;
      else if (char === '#') this.#at = text.length;
      else break;
    }
  }
}

/** A dict key as Python's json module writes it; lists (tuples) cannot be JSON keys. */
function jsonKey(key: unknown): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number') return Number.isInteger(key) ? String(key) : String(key);
  if (typeof key === 'boolean') return key ? 'true' : 'false';
  if (key === null) return 'null';
  throw new NotALiteral();
}
