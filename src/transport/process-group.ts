/**
 * A shell's own process group, for stopping a command past its timeout: sshd (9.2 at least) refuses to pass signals
 * on, so the command's group is killed from a channel of its own. sshd starts each session's shell as the leader of a
 * new session (setsid); a shell in a group that is not its session's (some other server) names no group, so that a
 * kill never reaches beyond the command's own processes.
 */
import { sh, type ShellCommand } from './shell.ts';

/**
 * Shell code (POSIX sh) that sets `provision_group` to the shell's process group when that group is its session, else
 * to 0. It uses the positional parameters and clears them, as in `sh -c TEXT`, where there are none.
 */
export const SESSION_GROUP_PROBE = `provision_group=0
if IFS= read -r provision_stat 2>/dev/null </proc/$$/stat; then
  set -- \${provision_stat##*) }
  if [ "$#" -ge 4 ] && [ "$3" = "$4" ]; then provision_group=$3; fi
  set --
fi
unset provision_stat`;

/** Shell code that prints `MARKER GROUP` as the first line of stderr, then leaves no variable behind. */
export function reportGroup(marker: string): string {
  return `${SESSION_GROUP_PROBE}
printf '%s %s\\n' '${marker}' "$provision_group" >&2
unset provision_group`;
}

/** The group named on stderr's first line, and stderr without that line; the group is 0 when none was named. */
export function takeGroupReport(stderr: string, marker: string): { group: number; stderr: string } {
  const prefix = `${marker} `;
  if (!stderr.startsWith(prefix)) return { group: 0, stderr };
  const end = stderr.indexOf('\n');
  if (end < 0) return { group: 0, stderr: '' };
  const group = Number(stderr.slice(prefix.length, end));
  return { group: Number.isInteger(group) && group > 1 ? group : 0, stderr: stderr.slice(end + 1) };
}

/** The command that stops a process group (`kill -s` is the form dash's kill takes too). */
export function killGroupCommand(group: number): ShellCommand {
  return sh`kill -s TERM -- ${`-${group}`} 2>/dev/null || true`;
}
