/**
 * Finds what in sshd's other config files would defeat the managed block: keywords sshd accumulates rather than
 * taking the first value (Port, AllowUsers, AllowGroups), and Match blocks that override managed keywords (pure).
 */

/** A config file's path and content. */
export interface ConfigFile {
  path: string;
  content: string;
}

/** A line that conflicts with the managed settings. */
export interface Conflict {
  path: string;
  line: number;
  text: string;
  why: string;
}

/** Keywords whose every occurrence counts: a second `Port` adds a port instead of being ignored; so does a HostKey. */
const CUMULATIVE = new Set(['port', 'allowusers', 'allowgroups', 'hostkey']);

function keywordOf(line: string): string | undefined {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  return /^([A-Za-z]+)/.exec(trimmed)?.[1]?.toLowerCase();
}

/** The value of a config line (after the keyword and an optional `=`), lowercased, spaces squeezed. */
function valueOf(line: string): string {
  return line.trim().replace(/^[A-Za-z]+\s*=?\s*/, '').replace(/\s+/g, ' ').toLowerCase();
}

/**
 * Conflicts in `file` with the managed settings: `managed` maps each keyword the block sets (lowercase) to the value it
 * writes. Cumulative keywords conflict anywhere; others only inside Match blocks (which override global values for
 * the connections they match), and only with another value: a Match that sets the hardened value again is harmless.
 */
export function findConflicts(file: ConfigFile, managed: ReadonlyMap<string, string>, skip: (lineIndex: number) => boolean = () => false): Conflict[] {
  const conflicts: Conflict[] = [];
  let inMatch = false;
  file.content.split('\n').forEach((text, index) => {
    if (skip(index)) return;
    const keyword = keywordOf(text);
    if (!keyword) return;
    if (keyword === 'match') {
      inMatch = true;
      return;
    }
    if (!managed.has(keyword)) return;
    if (inMatch && valueOf(text) === managed.get(keyword)?.toLowerCase()) return;
    if (inMatch) conflicts.push({ path: file.path, line: index + 1, text: text.trim(), why: 'a Match block overrides the hardened value for the connections it matches' });
    else if (CUMULATIVE.has(keyword)) conflicts.push({ path: file.path, line: index + 1, text: text.trim(), why: `sshd adds every ${keyword} line instead of keeping the first` });
  });
  return conflicts;
}

/** Comments out the given 1-based lines, saying why: used for the main config, which the task owns. */
export function commentOutLines(content: string, lines: ReadonlySet<number>): string {
  return content
    .split('\n')
    .map((text, index) => (lines.has(index + 1) ? `# disabled by provision (ssh.* decides): ${text.trim()}` : text))
    .join('\n');
}

/** Parses the drop-in listing: `== path` lines, each followed by the file's base64 content. */
export function parseDropIns(stdout: string): ConfigFile[] {
  const files: ConfigFile[] = [];
  const lines = stdout.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const header = /^== (.+)$/.exec(lines[index] ?? '');
    if (!header) continue;
    files.push({ path: header[1]!, content: Buffer.from((lines[index + 1] ?? '').trim(), 'base64').toString('utf8') });
    index += 1;
  }
  return files;
}
