/**
 * Splits an INI host line into words as Ansible does (Python's `shlex.split(line, comments=True)`): quotes group
 * and are removed, a backslash escapes the next character, and `#` starts a comment even inside a word.
 */

/** One word of the line: its text after quote removal, and where it was written. */
export interface ShellWord {
  text: string;
  /** Offset of the word's first character in the line. */
  start: number;
  /** Offset just past the word's last character in the line. */
  end: number;
}

/**
 * The words of `line`; throws an Error with a user-facing message for an unclosed quote or a trailing backslash.
 * With `comments: false` a `#` is an ordinary character (as in `-e key=value`).
 */
export function splitShellWords(line: string, options: { comments?: boolean } = {}): ShellWord[] {
  const comments = options.comments ?? true;
  const words: ShellWord[] = [];
  let text = '';
  let start = -1;
  let at = 0;
  const finish = (end: number) => {
    if (start !== -1) words.push({ text, start, end });
    text = '';
    start = -1;
  };
  while (at < line.length) {
    const char = line[at]!;
    if (char === ' ' || char === '\t' || char === '\r' || char === '\n') {
      finish(at);
      at += 1;
      continue;
    }
    if (char === '#' && comments) {
      finish(at);
      return words;
    }
    if (start === -1) start = at;
    if (char === '\\') {
      if (at + 1 >= line.length) throw new Error('a backslash at the end of the line escapes nothing');
      text += line[at + 1];
      at += 2;
    } else if (char === "'") {
      const close = line.indexOf("'", at + 1);
      if (close === -1) throw new Error(`no closing quotation for the ' at column ${at + 1}`);
      text += line.slice(at + 1, close);
      at = close + 1;
    } else if (char === '"') {
      at += 1;
      for (;;) {
        if (at >= line.length) throw new Error(`no closing quotation for the " that opens the word at column ${start + 1}`);
        const inner = line[at]!;
        if (inner === '"') break;
        // Inside double quotes a backslash escapes only `"` and itself.
        if (inner === '\\' && (line[at + 1] === '"' || line[at + 1] === '\\')) {
          text += line[at + 1];
          at += 2;
        } else {
          text += inner;
          at += 1;
        }
      }
      at += 1;
    } else {
      text += char;
      at += 1;
    }
  }
  finish(at);
  return words;
}
