/** POSIX shell quoting. A ShellCommand can only be made by the `sh` tag, so every value in it is quoted. */

/** A shell command line whose interpolated values were all quoted by `sh`. */
export class ShellCommand {
  /** Use the `sh` tag; the constructor is for this module. */
  private constructor(readonly text: string) {}

  /** @internal */
  static fromQuoted(text: string): ShellCommand {
    return new ShellCommand(text);
  }

  toString(): string {
    return this.text;
  }
}

/** What `sh` accepts in a placeholder: data (quoted), a command (kept as code), or a list of either. */
export type ShellValue = string | number | ShellCommand | readonly (string | number | ShellCommand)[];

/** Quotes one value so that the shell reads it back byte for byte. */
export function quote(value: string): string {
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function render(value: ShellValue): string {
  if (value instanceof ShellCommand) return value.text;
  if (Array.isArray(value)) return value.map((item) => render(item)).join(' ');
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`not a finite number: ${value}`);
    return String(value);
  }
  return quote(value as string);
}

/**
 * Template tag for shell commands: the literal parts are code, every placeholder is data and is quoted.
 * A placeholder holding a ShellCommand is inserted as code.
 */
export function sh(strings: TemplateStringsArray, ...values: ShellValue[]): ShellCommand {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return ShellCommand.fromQuoted(out);
}

/** Joins commands with a shell operator. */
export function join(commands: readonly ShellCommand[], operator: '&&' | ';' | '||' | '|' | '\n' = '&&'): ShellCommand {
  const glue = operator === '\n' ? '\n' : ` ${operator} `;
  return ShellCommand.fromQuoted(commands.map((c) => c.text).join(glue));
}
