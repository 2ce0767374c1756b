/** Facts about files: what is at a path, with its metadata and exact content. */
import { sh, type ShellCommand } from '../src/transport/shell.ts';
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
    // The batch's output is line-based: a path with a newline in it is asked on its own.
    ...(path.includes('\n') ? {} : { batch: { kind: 'path-state', item: path, command: pathStatesCommand, split: splitPathStates } }),
  };
}

/**
 * Every path's state in one go: one `stat` for all of them (absent paths print nothing), then each regular file's
 * name and content. Three processes for ten paths instead of thirty.
 */
export function pathStatesCommand(paths: readonly string[]): ShellCommand {
  return sh`stat -c '%F|%a|%U|%G|%n' -- ${paths} 2>/dev/null
printf '\n%s\n' ${CONTENTS}
for path in ${paths}; do if [ -f "$path" ] && [ ! -L "$path" ]; then printf '%s\n' "$path"; base64 -w0 -- "$path"; echo; fi; done`;
}

const CONTENTS = '--contents--';

/** Splits the batch's output into each path's, as the single-path command prints it (pure). */
export function splitPathStates(output: FactOutput, paths: readonly string[]): FactOutput[] {
  const [statPart = '', contentPart = ''] = splitOnce(output.stdout, `\n${CONTENTS}\n`);
  const meta = new Map<string, string>();
  for (const line of statPart.split('\n')) {
    const fields = line.split('|');
    if (fields.length >= 5) meta.set(fields.slice(4).join('|'), fields.slice(0, 4).join('|'));
  }
  const contents = new Map<string, string>();
  const lines = contentPart.split('\n');
  for (let at = 0; at + 1 < lines.length; at += 2) contents.set(lines[at]!, lines[at + 1]!);
  return paths.map((path) => {
    const head = meta.get(path);
    if (head === undefined) return { stdout: 'absent\n', code: 0 };
    return { stdout: `${head}\n${contents.get(path) ?? ''}`, code: 0 };
  });
}
