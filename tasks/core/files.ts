/** File tasks: whole-file content, directories, and single lines in a file. */
import { createHash } from 'node:crypto';
import { checkedPath, directoryScript } from '../../src/engine/write-script.ts';
import { type Change, type FileDiff, type Plan, type Task, type WriteFileStep, predict } from '../../src/engine/types.ts';
import { normalizeMode, pathState, pathStateKey, type PathState } from './files.facts.ts';

/** Ownership and permissions of a managed path. */
export interface Ownership {
  mode?: string;
  owner?: string;
  group?: string;
}

/** Options shared by tasks that write a file. */
export interface WriteOptions extends Ownership {
  /** Command run on the candidate before it replaces the file; `%s` is the candidate's path. */
  validate?: string;
  /** Writes of this scope validate the same whole configuration, so one pass stands for all (see WriteFileStep). */
  validationScope?: string;
  /** Handlers to notify when the file changes. */
  notify?: string[];
  /** The content is secret (a TLS key): the diff never shows it. */
  secret?: boolean;
  /** When the path is a symbolic link, manage the file it leads to (by default a link there is refused). */
  followSymlinks?: boolean;
}

const DEFAULT_FILE = { mode: '0644', owner: 'root', group: 'root' };
const DEFAULT_DIRECTORY = { mode: '0755', owner: 'root', group: 'root' };

function metaLine(state: { mode: string; owner: string; group: string }): string {
  return `mode ${state.mode}, owner ${state.owner}:${state.group}`;
}

/**
 * What a write must find in place of the file (its compare-and-swap check): the content the plan was made on, or
 * nothing. A predicted state (an earlier change of the run writes it) is expected as that change writes it.
 */
export function expectedBefore(state: PathState): WriteFileStep['expect'] {
  if (state.type !== 'file') return { absent: true };
  return { sha256: state.sha256 ?? createHash('sha256').update(state.content, 'utf8').digest('hex') };
}

/** Plans a write of `content` to `path` over its current state; shared by `file` and `line`. */
export function planFileWrite(path: string, state: PathState, content: string, options: WriteOptions): Plan {
  checkedPath(path); // a path the write cannot take is refused while planning, before anything is applied
  const wanted = {
    mode: normalizeMode(options.mode ?? DEFAULT_FILE.mode),
    owner: options.owner ?? DEFAULT_FILE.owner,
    group: options.group ?? DEFAULT_FILE.group,
  };
  if (state.type !== 'absent' && state.type !== 'file') {
    throw new Error(`${path} exists and is a ${state.type}, not a regular file; refusing to replace it`);
  }
  const contentChanges = state.type === 'absent' || state.content !== content;
  const metaChanges = state.type === 'file' && (state.mode !== wanted.mode || state.owner !== wanted.owner || state.group !== wanted.group);
  if (!contentChanges && !metaChanges) return { status: 'ok', reason: `${path} is up to date` };

  const predicted: PathState = { type: 'file', ...wanted, content };
  const common: Pick<Change, 'predicts' | 'affects'> & { notify?: string[] } = {
    // Facts about files under this path (sshd's view of /etc/ssh, say) are read again; its own state is predicted.
    affects: [{ path }],
    predicts: [predict(pathState(path, options), predicted)],
    ...(options.notify ? { notify: options.notify } : {}),
  };
  const diff: FileDiff = {
    path,
    before: state.type === 'file' ? state.content : null,
    after: content,
    metaAfter: metaLine(wanted),
    ...(state.type === 'file' ? { metaBefore: metaLine(state) } : {}),
    ...(options.secret ? { secret: true } : {}),
  };
  const write: WriteFileStep = {
    kind: 'write-file',
    path,
    content,
    ...wanted,
    ...(options.validate ? { validate: options.validate } : {}),
    ...(options.validationScope ? { validationScope: options.validationScope } : {}),
    ...(options.followSymlinks ? { followSymlinks: true } : {}),
    expect: expectedBefore(state),
  };
  if (contentChanges) {
    return { status: 'change', changes: [{ summary: state.type === 'absent' ? `create ${path}` : `update ${path}`, diff, steps: [write], ...common }] };
  }
  // Owner and mode alone: the same content written again, atomically, rather than chown and chmod by name, which
  // follow a link that whoever owns the directory may have put there since the facts were read.
  return { status: 'change', changes: [{ summary: `set ${metaLine(wanted)} on ${path}`, diff: { ...diff, before: content }, steps: [write], ...common }] };
}

/** A file with exactly this content, owner, group and mode; replaced atomically. */
export function file(path: string, content: string, options: WriteOptions = {}): Task {
  const fact = pathState(path, options);
  return {
    kind: 'file',
    target: path,
    facts: () => [fact],
    plan: ({ facts }) => planFileWrite(path, facts.get(fact), content, options),
  };
}

/** A directory with this owner, group and mode (parents are created as needed). */
export function directory(path: string, options: Ownership = {}): Task {
  const fact = pathState(path);
  const wanted = {
    mode: normalizeMode(options.mode ?? DEFAULT_DIRECTORY.mode),
    owner: options.owner ?? DEFAULT_DIRECTORY.owner,
    group: options.group ?? DEFAULT_DIRECTORY.group,
  };
  return {
    kind: 'directory',
    target: path,
    facts: () => [fact],
    plan: ({ facts }) => {
      const state = facts.get(fact);
      if (state.type === 'directory' && state.mode === wanted.mode && state.owner === wanted.owner && state.group === wanted.group) {
        return { status: 'ok', reason: `${path} exists with ${metaLine(wanted)}` };
      }
      if (state.type !== 'absent' && state.type !== 'directory') {
        throw new Error(`${path} exists and is a ${state.type}, not a directory; refusing to replace it`);
      }
      const summary = state.type === 'absent' ? `create directory ${path} (${metaLine(wanted)})` : `set ${metaLine(wanted)} on ${path}`;
      return {
        status: 'change',
        changes: [
          {
            summary,
            // Guarded as a file write is: never chown or chmod through a link a directory's owner may have put there.
            steps: [{ kind: 'run', command: directoryScript(path, wanted), description: summary }],
            predicts: [predict(fact, { type: 'directory', ...wanted })],
          },
        ],
      };
    },
  };
}

/** Options of the `line` task, after Ansible's lineinfile. */
export interface LineOptions extends WriteOptions {
  /** Lines matching this are replaced by `line` (the last match), or removed when `state` is absent. */
  regexp?: RegExp;
  state?: 'present' | 'absent';
  /** Create the file when it is missing (default false: a missing file is an error). */
  create?: boolean;
}

/** Computes the new content for a line edit; pure, exported for unit tests. */
export function editLine(content: string, line: string, options: Pick<LineOptions, 'regexp' | 'state'>): string {
  const lines = content === '' ? [] : content.replace(/\n$/, '').split('\n');
  const matches = (candidate: string) => (options.regexp ? options.regexp.test(candidate) : candidate === line);
  if ((options.state ?? 'present') === 'absent') {
    const kept = lines.filter((candidate) => !matches(candidate));
    return kept.length === 0 ? '' : `${kept.join('\n')}\n`;
  }
  let last = -1;
  lines.forEach((candidate, index) => {
    if (matches(candidate)) last = index;
  });
  if (last < 0 && lines.includes(line)) return content;
  if (last >= 0) lines[last] = line;
  else lines.push(line);
  return `${lines.join('\n')}\n`;
}

/** One line present in (or absent from) a file; the rest of the file is kept. */
export function line(path: string, text: string, options: LineOptions = {}): Task {
  const fact = pathState(path, options);
  return {
    kind: 'line',
    target: `${path}: ${text}`,
    facts: () => [fact],
    plan: ({ facts }) => {
      const state = facts.get(fact);
      if (state.type === 'absent' && !options.create) {
        if (options.state === 'absent') return { status: 'ok', reason: `${path} does not exist` };
        throw new Error(`${path} does not exist (set create: true to create it)`);
      }
      const current = state.type === 'file' ? state.content : '';
      const next = editLine(current, text, options);
      const ownership: WriteOptions =
        state.type === 'file' ? { mode: state.mode, owner: state.owner, group: state.group, ...options } : options;
      if (state.type === 'file' && next === current) {
        return { status: 'ok', reason: options.state === 'absent' ? `${path} has no such line` : `${path} has the line` };
      }
      return planFileWrite(path, state, next, ownership);
    },
  };
}
