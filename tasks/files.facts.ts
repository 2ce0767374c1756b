/** Facts about files: what is at a path, with its metadata and exact content. */
import { sh } from '../src/transport/shell.ts';
import type { Fact, FactOutput } from '../src/engine/types.ts';

/** The state of a path on the host. */
export type PathState =
  | { type: 'absent' }
  | { type: 'file'; mode: string; owner: string; group: string; content: string }
  | { type: 'directory' | 'link' | 'other'; mode: string; owner: string; group: string };

/** Normalises a mode to four octal digits, e.g. `644` → `0644`. */
export function normalizeMode(mode: string): string {
  return mode.replace(/^0+(?=\d{4})/, '').padStart(4, '0');
}

/** Parses the output of the path-state command (pure; tested with fixtures). */
export function parsePathState(output: FactOutput): PathState {
  const [head = '', body = ''] = splitOnce(output.stdout, '\n');
  if (head === 'absent') return { type: 'absent' };
  const [kind = '', mode = '', owner = '', group = ''] = head.split('|');
  const meta = { mode: normalizeMode(mode), owner, group };
  if (kind === 'regular file' || kind === 'regular empty file') {
    return { type: 'file', ...meta, content: Buffer.from(body.trim(), 'base64').toString('utf8') };
  }
  if (kind === 'directory') return { type: 'directory', ...meta };
  if (kind === 'symbolic link') return { type: 'link', ...meta };
  return { type: 'other', ...meta };
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + separator.length)];
}

/** What is at `path`: type, mode, owner, group and (for a regular file) its exact content. */
export function pathState(path: string): Fact<PathState> {
  return {
    key: `file:${path}`,
    // base64 keeps the content byte-exact through the batch output, trailing newlines included.
    command: sh`if [ -e ${path} ] || [ -L ${path} ]; then stat -c '%F|%a|%U|%G' ${path}; if [ -f ${path} ] && [ ! -L ${path} ]; then base64 -w0 ${path}; fi; else echo absent; fi`,
    parse: parsePathState,
  };
}
