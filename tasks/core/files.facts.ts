/** Facts about files: what is at a path, with its metadata and exact content. */
import { createHash } from 'node:crypto';
import { ShellCommand, sh } from '../../src/transport/shell.ts';
import type { Fact, FactOutput } from '../../src/engine/types.ts';
import { splitOnce } from '../../src/text/split-once.ts';

/** The state of a path on the host. */
export type PathState =
  | { type: 'absent' }
  | {
      type: 'file';
      mode: string;
      owner: string;
      group: string;
      content: string;
      /** SHA-256 of the exact bytes read (the content is their UTF-8 reading), not enumerable; absent on a predicted state. */
      sha256?: string;
    }
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
    const bytes = Buffer.from(body.trim(), 'base64');
    const state: PathState = { type: 'file', ...meta, content: bytes.toString('utf8') };
    // Not enumerable: a state predicted by spreading this one with new content (`{ ...state, content }`) must not
    // carry the old bytes' digest along.
    Object.defineProperty(state, 'sha256', { value: createHash('sha256').update(bytes).digest('hex'), enumerable: false });
    return state;
  }
  if (kind === 'directory') return { type: 'directory', ...meta };
  if (kind === 'symbolic link') return { type: 'link', ...meta };
  return { type: 'other', ...meta };
}

/** The fact key of a path's state; `followSymlinks` reads what a link leads to (still under `file:`, which installs stale). */
export function pathStateKey(path: string, followSymlinks = false): string {
  return followSymlinks ? `file:followed:${path}` : `file:${path}`;
}

/**
 * What is at `path`: type, mode, owner, group and (for a regular file) its exact content. A link is reported as a link,
 * unless `followSymlinks`: then what it leads to is (absent when it leads nowhere).
 */
export function pathState(path: string, options: { followSymlinks?: boolean } = {}): Fact<PathState> {
  const follow = options.followSymlinks === true;
  return {
    key: pathStateKey(path, follow),
    description: path,
    // base64 keeps the content byte-exact through the batch output, trailing newlines included.
    command: follow
      ? sh`if [ -e ${path} ]; then stat -L -c '%F|%a|%U|%G' -- ${path}; if [ -f ${path} ]; then base64 -w0 -- ${path}; fi; else echo absent; fi`
      : sh`if [ -e ${path} ] || [ -L ${path} ]; then stat -c '%F|%a|%U|%G' -- ${path}; if [ -f ${path} ] && [ ! -L ${path} ]; then base64 -w0 -- ${path}; fi; else echo absent; fi`,
    parse: parsePathState,
    // The batch's output is line-based: a path with a newline in it is asked on its own.
    ...(path.includes('\n')
      ? {}
      : { batch: follow ? { kind: 'path-state-followed', item: path, command: followedPathStatesCommand, split: splitPathStates } : { kind: 'path-state', item: path, command: pathStatesCommand, split: splitPathStates } }),
  };
}

/**
 * How the batch reads files without being fooled by whoever owns a directory on the way (a node's config, a home),
 * who could otherwise swap a file for a link to a root file between the test and the read, and have that file's content
 * planned into a file of theirs. A file of root's (or the login user's) whose directories on the way are too, none of
 * them a link, is read by name: nobody else can change that way. Any other is opened first, then checked to be the
 * file its path names at that moment: no link in its place, the same inode as the path has now, and no link on the way
 * in a directory that anyone but root could have put there. A failed check stops the output, and the short output fails
 * the batch's size check. All by the shell itself: one `cat` for up to seven opened files (descriptors 3 to 9) and any
 * number read by name.
 */
const READ_FILES = `by_name() {
  [ -O "$1" ] || return 1
  p=\${1%/*}
  while [ -n "$p" ]; do [ -O "$p" ] && [ ! -L "$p" ] || return 1; p=\${p%/*}; done
}
read_files() {
  held=; fd=3
  while [ "$1" != -- ]; do
    if [ "$fd" -gt 9 ]; then cat -- $held || return 1; held=; fd=3; fi
    eval "exec $fd<\\"\\$1\\"" || return 1
    [ ! -L "$1" ] && [ "$1" -ef "/dev/fd/$fd" ] || return 1
    p=\${1%/*}
    while [ -n "$p" ]; do
      if [ -L "$p" ] && ! [ -O "\${p%/*}/" ]; then return 1; fi
      p=\${p%/*}
    done
    held="$held /dev/fd/$fd"; fd=$((fd + 1)); shift
  done
  shift
  cat -- $held "$@"
}`;

/**
 * Every path's state in one go: one `stat` for all of them (absent paths print nothing), then the contents of the
 * regular files, one after another, in one `cat` through one `base64` (see READ_FILES). The sizes `stat` printed cut
 * them apart: four processes for any number of paths.
 */
export function pathStatesCommand(paths: readonly string[]): ShellCommand {
  return sh`stat -c '%F|%a|%U|%G|%s|%n' -- ${paths} 2>/dev/null
printf '\n%s\n' ${CONTENTS}
${ShellCommand.fromQuoted(READ_FILES)}
set --
for path in ${paths}; do if [ -f "$path" ] && [ ! -L "$path" ] && ! by_name "$path"; then printf '%s\n' "$path"; set -- "$@" "$path"; fi; done
set -- "$@" --
for path in ${paths}; do if [ -f "$path" ] && [ ! -L "$path" ] && by_name "$path"; then printf '%s\n' "$path"; set -- "$@" "$path"; fi; done
if [ $# -gt 1 ]; then echo; read_files "$@" | base64 -w0; fi`;
}

/** As pathStatesCommand, for paths whose links are followed: what each leads to. */
export function followedPathStatesCommand(paths: readonly string[]): ShellCommand {
  return sh`stat -L -c '%F|%a|%U|%G|%s|%n' -- ${paths} 2>/dev/null
printf '\n%s\n' ${CONTENTS}
set --
for path in ${paths}; do if [ -f "$path" ]; then set -- "$@" "$path"; fi; done
if [ $# -gt 0 ]; then printf '%s\n' "$@"; echo; cat -- "$@" | base64 -w0; fi`;
}

const CONTENTS = '--contents--';

/**
 * Splits the batch's output into each path's, as the single-path command prints it (pure). A file whose size
 * changed between `stat` and `cat` would shift the cut: the total is checked, and a mismatch is an error.
 */
export function splitPathStates(output: FactOutput, paths: readonly string[]): FactOutput[] {
  const [statPart = '', contentPart = ''] = splitOnce(output.stdout, `\n${CONTENTS}\n`);
  const meta = new Map<string, { head: string; size: number }>();
  for (const line of statPart.split('\n')) {
    const fields = line.split('|');
    if (fields.length >= 6) meta.set(fields.slice(5).join('|'), { head: fields.slice(0, 4).join('|'), size: Number(fields[4]) });
  }
  const [names = '', encoded = ''] = splitOnce(contentPart, '\n\n');
  const read = names === '' ? [] : names.split('\n');
  const bytes = Buffer.from(encoded.trim(), 'base64');
  const expected = read.reduce((total, path) => total + (meta.get(path)?.size ?? 0), 0);
  if (bytes.length !== expected) {
    throw new Error(`${read.join(', ')} changed while being read, or a link was put in the way (${bytes.length} bytes read, ${expected} expected): run again`);
  }
  const contents = new Map<string, string>();
  let offset = 0;
  for (const path of read) {
    const size = meta.get(path)?.size ?? 0;
    contents.set(path, bytes.subarray(offset, offset + size).toString('base64'));
    offset += size;
  }
  return paths.map((path) => {
    const entry = meta.get(path);
    if (entry === undefined) return { stdout: 'absent\n', code: 0 };
    return { stdout: `${entry.head}\n${contents.get(path) ?? ''}`, code: 0 };
  });
}
