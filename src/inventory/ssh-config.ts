/**
 * OpenSSH's client configuration (~/.ssh/config, then /etc/ssh/ssh_config), read as ssh reads it for a host: the
 * `ssh-config` package parses the files; which lines apply to a host is decided here, after ssh_config(5): `Host`
 * patterns (`*`, `?`, `!negated`), `Match` on host, originalhost, user, localuser, all, canonical and final, `Include`
 * (globs, relative to ~/.ssh or /etc/ssh, inside a block too), and the first value obtained wins. The package's own
 * lookup is not used: it lets `?` match no character, runs `Match exec` commands and DNS lookups while it reads, and
 * cannot say which block a value came from, which an error has to name.
 *
 * Not followed: `Match exec` (never run, so those blocks never apply), `Match address`, `localaddress`, `localport`,
 * `localnetwork`, `rdomain`, `tagged`, `sessiontype`, `command` and `version` (never match), and
 * `CanonicalizeHostname` (no DNS lookups).
 */

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import picomatch from 'picomatch';
import SSHConfig, { LineType, type Line } from 'ssh-config';

/** The system-wide file, read after the user's unless a file is named (as `ssh -F` does). */
export const SYSTEM_SSH_CONFIG = '/etc/ssh/ssh_config';

/** ssh's limit on nested `Include`s. */
const MAX_INCLUDE_DEPTH = 16;

/** A value obtained for a host, and where: for messages. */
export interface ObtainedValue {
  value: string;
  /** `FILE, Host PATTERN` (or `FILE` for a line outside any block). */
  where: string;
}

/** What the configuration says for one host: the first value of each keyword (lower case), every IdentityFile. */
export interface HostConfig {
  values: Map<string, ObtainedValue>;
  identityFiles: ObtainedValue[];
  /** Files or `Include`s that could not be read: reported, since a host might then be reached the wrong way. */
  problems: string[];
}

/** The names a lookup matches: the host as written (`originalhost`) and, as ssh does, the user it logs in as. */
export interface LookupOptions {
  /** The user as the inventory gives it, if it does; else a `User` of the configuration, else the local user. */
  user?: string;
}

type ParsedFile = { lines: Line[] } | { problem: string };

/** The client configuration files, each read and parsed once per inventory load. */
export class SshConfigFiles {
  readonly #parsed = new Map<string, ParsedFile>();
  readonly #globbed = new Map<string, string[]>();
  readonly #home: string;
  readonly #localUser: string;

  constructor(options: { home?: string; localUser?: string } = {}) {
    this.#home = options.home ?? homedir();
    this.#localUser = options.localUser ?? localUserName();
  }

  /** The local user's name: ssh's default login name, and what `Match localuser` matches. */
  get localUser(): string {
    return this.#localUser;
  }

  /** The files ssh would read: the one named (`ssh_config_file`, `-F`), else ~/.ssh/config and the system file. */
  defaultFiles(): string[] {
    return [join(this.#home, '.ssh', 'config'), SYSTEM_SSH_CONFIG];
  }

  /** `~/` expanded to the home directory. */
  expandTilde(path: string): string {
    if (path === '~') return this.#home;
    return path.startsWith('~/') ? join(this.#home, path.slice(2)) : path;
  }

  /** What `files` say for `host`, read in order: the first value obtained for a keyword wins. */
  lookup(host: string, files: readonly string[], options: LookupOptions = {}): HostConfig {
    const result: HostConfig = { values: new Map(), identityFiles: [], problems: [] };
    const context: MatchContext = { originalHost: host, host, hostName: host, user: options.user, finalPass: false, wantsFinal: false };
    const obtain = (keyword: string, value: string, where: string) => {
      if (keyword === 'identityfile') result.identityFiles.push({ value, where });
      else if (!result.values.has(keyword)) {
        result.values.set(keyword, { value, where });
        // Later `Match host` and `Match user` test the values obtained so far, as ssh's do.
        if (keyword === 'hostname') context.hostName = expandHostName(value, context.originalHost);
        if (keyword === 'user' && context.user === undefined) context.user = value;
      }
    };
    const walk = new ConfigWalk(this, context, obtain, result.problems);
    for (const file of files) walk.file(file, file === SYSTEM_SSH_CONFIG, 0);
    if (context.wantsFinal) {
      // `Match final` (or `canonical`): ssh reads everything again for the resolved name, first values still winning.
      context.finalPass = true;
      context.host = context.hostName;
      for (const file of files) walk.file(file, file === SYSTEM_SSH_CONFIG, 0);
    }
    return result;
  }

  /** A file's lines, parsed once; a missing file has none. */
  parsed(file: string): ParsedFile {
    let parsed = this.#parsed.get(file);
    if (!parsed) {
      parsed = parseFile(file);
      this.#parsed.set(file, parsed);
    }
    return parsed;
  }

  /** The files an `Include` pattern names, looked up once. */
  included(pattern: string): string[] {
    let files = this.#globbed.get(pattern);
    if (!files) {
      files = globFiles(pattern);
      this.#globbed.set(pattern, files);
    }
    return files;
  }

  /** The local user, for `Match localuser`. */
  matchesLocalUser(patterns: string): boolean {
    return matchPatternList(patterns, this.#localUser, false);
  }
}

/** The names `Host` and `Match` lines are tested against while one host is looked up. */
interface MatchContext {
  originalHost: string;
  /** What `Host` patterns match: the host as written, or its HostName in the final pass. */
  host: string;
  /** The HostName obtained so far (the host itself until one is), `%h` expanded. */
  hostName: string;
  user: string | undefined;
  finalPass: boolean;
  /** Set when a `Match final` or `canonical` asks for a final pass. */
  wantsFinal: boolean;
}

/** One lookup's walk through the files, their blocks and their `Include`s. */
class ConfigWalk {
  constructor(
    private readonly files: SshConfigFiles,
    private readonly context: MatchContext,
    private readonly obtain: (keyword: string, value: string, where: string) => void,
    private readonly problems: string[],
  ) {}

  file(path: string, system: boolean, depth: number): void {
    const parsed = this.files.parsed(path);
    if ('problem' in parsed) {
      if (!this.context.finalPass && !this.problems.includes(parsed.problem)) this.problems.push(parsed.problem);
      return;
    }
    this.lines(parsed.lines, path, path, system, depth);
  }

  private lines(lines: readonly Line[], path: string, where: string, system: boolean, depth: number): void {
    for (const line of lines) {
      if (line.type !== LineType.DIRECTIVE) continue;
      const keyword = line.param.toLowerCase();
      const words = valueWords(line.value);
      if (keyword === 'host' && 'config' in line) {
        if (hostMatches(words, this.context.host)) this.lines(line.config, path, `${path}, Host ${words.join(' ')}`, system, depth);
      } else if (keyword === 'match' && 'config' in line) {
        if (this.matches(words)) this.lines(line.config, path, `${path}, Match ${words.join(' ')}`, system, depth);
      } else if (keyword === 'include') {
        this.include(words, where, system, depth);
      } else {
        this.obtain(keyword, words.join(' '), where);
      }
    }
  }

  private include(patterns: readonly string[], where: string, system: boolean, depth: number): void {
    if (depth + 1 > MAX_INCLUDE_DEPTH) {
      this.problems.push(`${where}: Include nested deeper than ${MAX_INCLUDE_DEPTH} levels (a file including itself?)`);
      return;
    }
    for (const pattern of patterns) {
      const expanded = this.files.expandTilde(pattern);
      // ssh reads a relative Include from ~/.ssh for the user's files, from /etc/ssh for the system's.
      const absolute = isAbsolute(expanded) ? expanded : join(system ? dirname(SYSTEM_SSH_CONFIG) : this.files.expandTilde('~/.ssh'), expanded);
      for (const file of this.files.included(absolute)) this.file(file, system, depth + 1);
    }
  }

  /** Whether a `Match` line's criteria all hold (each may be negated with `!`). */
  private matches(words: readonly string[]): boolean {
    const context = this.context;
    for (let at = 0; at < words.length; at++) {
      const written = words[at]!.toLowerCase();
      const negated = written.startsWith('!');
      const criterion = negated ? written.slice(1) : written;
      let holds: boolean;
      if (criterion === 'all') holds = true;
      else if (criterion === 'canonical' || criterion === 'final') {
        if (!context.finalPass) context.wantsFinal = true;
        holds = context.finalPass;
      } else {
        const argument = words[++at];
        if (argument === undefined) return false;
        if (criterion === 'host') holds = matchPatternList(argument, context.hostName, true);
        else if (criterion === 'originalhost') holds = matchPatternList(argument, context.originalHost, true);
        else if (criterion === 'user') holds = matchPatternList(argument, context.user ?? this.files.localUser, false);
        else if (criterion === 'localuser') holds = this.files.matchesLocalUser(argument);
        // exec is never run; the others depend on the connection itself: neither applies here.
        else return false;
      }
      if (holds === negated) return false;
    }
    return true;
  }
}

/** A directive's value as words (the package gives one string, or a list for multi-value keywords). */
function valueWords(value: string | ReadonlyArray<{ val: string }>): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  return value.map((item) => item.val);
}

/** `Host` patterns: any positive pattern matches and no negated one does (names compared without case). */
function hostMatches(patterns: readonly string[], host: string): boolean {
  let matched = false;
  for (const written of patterns.flatMap((pattern) => pattern.split(','))) {
    const negated = written.startsWith('!');
    if (!wildcardMatch(negated ? written.slice(1) : written, host, true)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** A comma-separated pattern list, as `Match` criteria take it. */
function matchPatternList(list: string, text: string, ignoreCase: boolean): boolean {
  let matched = false;
  for (const written of list.split(',')) {
    const negated = written.startsWith('!');
    if (!wildcardMatch(negated ? written.slice(1) : written, text, ignoreCase)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** ssh's patterns: `*` any run of characters, `?` exactly one. */
export function wildcardMatch(pattern: string, text: string, ignoreCase: boolean): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(text);
}

/** `%h` (the host as written) and `%%` in a HostName, as ssh expands them. */
export function expandHostName(value: string, host: string): string {
  return value.replace(/%([%h])/g, (_whole, token: string) => (token === '%' ? '%' : host));
}

function parseFile(file: string): ParsedFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A file that is not there is a configuration with nothing in it, as for ssh.
    if (code === 'ENOENT' || code === 'ENOTDIR') return { lines: [] };
    return { problem: `cannot read the ssh config file ${file}: ${code ?? (error as Error).message}` };
  }
  try {
    return { lines: [...SSHConfig.parse(text)] };
  } catch (error) {
    return { problem: `cannot parse the ssh config file ${file}: ${(error as Error).message}` };
  }
}

/** The files an `Include` path names: itself, or what its wildcards match, in name order (as glob(3) sorts them). */
function globFiles(path: string): string[] {
  const parts = resolve(path).split('/').slice(1);
  let found = ['/'];
  for (const part of parts) {
    if (!/[*?[]/.test(part)) {
      found = found.map((dir) => join(dir, part));
      continue;
    }
    const matcher = picomatch(part);
    found = found.flatMap((dir) => {
      try {
        return readdirSync(dir).filter((name) => matcher(name)).sort().map((name) => join(dir, name));
      } catch {
        return [];
      }
    });
  }
  return found.filter((file) => {
    try {
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

function localUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'root';
  }
}
