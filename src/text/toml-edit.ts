/**
 * Edits one `key = value` of a TOML document in place: the other lines, comments, spacing and line endings stay as
 * they were. The lines are classified without a full parser (tables, keys, multi-line values), the document is read
 * with one (smol-toml) to check what the edit means.
 */
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigEditError } from './json-edit.ts';

/** What a line of a TOML file is, as far as finding a table and one key in it goes. */
export type TomlLineKind = 'blank' | 'comment' | 'table' | 'array-table' | 'key' | 'continuation';

/** One line, without its line ending (kept in `eol`). */
export interface TomlLine {
  text: string;
  eol: string;
  kind: TomlLineKind;
  /** For `table` lines: the dotted table name, quotes removed. For `key` lines: the key. */
  name?: string;
}

const KEY_LINE = /^\s*((?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*'))*)\s*=(.*)$/;

function unquoteDotted(name: string): string {
  return name
    .split('.')
    .map((part) => part.trim().replace(/^"(.*)"$|^'(.*)'$/, '$1$2'))
    .join('.');
}

/** Where a value's scan ends: inside a multi-line string, and how many brackets are still open. */
interface ValueState {
  openString: '"""' | "'''" | null;
  depth: number;
}

/** Follows strings, comments and brackets through one line of a value, so multi-line arrays and strings are skipped. */
function scanValue(text: string, state: ValueState): ValueState {
  let { openString, depth } = state;
  let i = 0;
  while (i < text.length) {
    if (openString) {
      const end = text.indexOf(openString, i);
      if (end < 0) return { openString, depth };
      i = end + 3;
      openString = null;
      continue;
    }
    const char = text[i]!;
    if (char === '#') break;
    if (text.startsWith('"""', i) || text.startsWith("'''", i)) {
      openString = text.slice(i, i + 3) as '"""' | "'''";
      i += 3;
    } else if (char === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
    } else if (char === "'") {
      const end = text.indexOf("'", i + 1);
      i = end < 0 ? text.length : end + 1;
    } else {
      if (char === '[' || char === '{') depth++;
      if (char === ']' || char === '}') depth--;
      i++;
    }
  }
  return { openString, depth };
}

/** Splits a TOML file into classified lines (pure; exported for tests). */
export function scanTomlLines(text: string): TomlLine[] {
  const lines: TomlLine[] = [];
  let state: ValueState = { openString: null, depth: 0 };
  for (const raw of text.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
    const eol = /\r?\n$/.exec(raw)?.[0] ?? '';
    const line = raw.slice(0, raw.length - eol.length);
    if (state.openString || state.depth > 0) {
      state = scanValue(line, state);
      lines.push({ text: line, eol, kind: 'continuation' });
      continue;
    }
    const trimmed = line.trim();
    if (trimmed === '') lines.push({ text: line, eol, kind: 'blank' });
    else if (trimmed.startsWith('#')) lines.push({ text: line, eol, kind: 'comment' });
    else if (trimmed.startsWith('[[')) lines.push({ text: line, eol, kind: 'array-table', name: unquoteDotted(trimmed.replace(/^\[\[|\]\].*$/g, '')) });
    else if (trimmed.startsWith('[')) lines.push({ text: line, eol, kind: 'table', name: unquoteDotted(trimmed.replace(/^\[|\].*$/g, '')) });
    else {
      const match = KEY_LINE.exec(line);
      lines.push({ text: line, eol, kind: 'key', name: unquoteDotted(match?.[1] ?? trimmed) });
      state = scanValue(match?.[2] ?? '', state);
    }
  }
  return lines;
}

export function parseTomlText(text: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) throw new ConfigEditError(`invalid TOML at line ${error.line}, column ${error.column}: ${error.message.split('\n')[0]}`);
    throw error;
  }
}

/** The value line `key = value  # comment` with the value replaced, spacing and comment kept. */
const VALUE_LINE = /^(\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s#]+)(.*)$/;

/** Sets `key = value` in `[table]`: the one value line changes, or one line is added at the end of the table. */
export function setTomlValue(text: string, table: string, key: string, value: boolean): string {
  const document = parseTomlText(text);
  const lines = scanTomlLines(text);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const header = lines.findIndex((line) => line.kind === 'table' && line.name === table);
  if (header < 0) {
    if (document[table] !== undefined) throw new ConfigEditError(`${table} is not written as a [${table}] section (dotted keys or an inline table); set ${key} by hand`);
    const separator = text === '' ? '' : text.endsWith('\n') ? eol : eol + eol;
    return `${text}${separator}[${table}]${eol}${key} = ${value}${eol}`;
  }
  const next = lines.findIndex((line, index) => index > header && (line.kind === 'table' || line.kind === 'array-table'));
  const end = next < 0 ? lines.length : next;
  const section = lines.slice(header + 1, end);
  const found = section.findIndex((line) => line.kind === 'key' && line.name === key);
  if (found >= 0) {
    const line = section[found]!;
    const match = VALUE_LINE.exec(line.text);
    if (!match) throw new ConfigEditError(`cannot read the line of ${table}.${key}: ${line.text.trim()}`);
    line.text = `${match[1]}${value}${match[3]}`;
  } else {
    let lastValue = -1;
    section.forEach((line, index) => {
      if (line.kind === 'key' || line.kind === 'continuation') lastValue = index;
    });
    const keyLines = section.filter((line) => line.kind === 'key');
    const indent = /^\s*/.exec(keyLines.at(-1)?.text ?? '')![0];
    // Align with the table's `=` signs when they are aligned (Bee's own examples are).
    const columns = new Set(keyLines.map((line) => line.text.indexOf('=')));
    const column = columns.size === 1 && keyLines.length > 1 ? [...columns][0]! : -1;
    const padding = ' '.repeat(Math.max(1, column - indent.length - key.length));
    const at = header + 1 + (lastValue < 0 ? 0 : lastValue + 1);
    const before = lines[at - 1]!;
    // After a last line without a line ending, the added line becomes the last one and goes without it instead.
    lines.splice(at, 0, { text: `${indent}${key}${padding}= ${value}`, eol: before.eol === '' ? '' : eol, kind: 'key', name: key });
    if (before.eol === '') before.eol = eol;
  }
  return lines.map((line) => line.text + line.eol).join('');
}
