/**
 * The shell scripts that put a file on a host: the atomic write, and the dry run's check of a candidate.
 *
 * Both make a temp file beside the target and act on it by name, which is safe only where no one else can rename
 * entries on the way: a service user who owns the directory (the node's config under /var/lib/hornet) could swap the
 * temp file for a link to a root file between two commands, and have root chown or overwrite that file instead. So
 * every directory on the way, as written and as it resolves, is checked first with one `stat`. Where all of them are
 * root's (or the login user's) and no one else may write to them (a sticky one, as /tmp, is fine), the write runs as it
 * is. Where a user owns one, that user could redirect anything below it anyway: the write runs as that user
 * (`setpriv`, no PAM), so the kernel's own checks bound it to what the user may do already. Where a directory of root's
 * lets its group write, the write of a user's file runs as that user, and one of root's is refused; one anyone may
 * write to (not sticky), or a way through two users' directories, is refused.
 */
import { posix } from 'node:path';
import { ShellCommand, sh } from '../transport/shell.ts';
import type { WriteFileStep } from './types.ts';

/** The candidate file's path inside the write script; `%s` in a validate template is replaced by it. */
const CANDIDATE = '"$candidate"';

/** The step's validate template with `%s` replaced by the candidate; empty when it has none. */
export function validateCommand(step: Pick<WriteFileStep, 'validate'>): string {
  return step.validate ? step.validate.split('%s').join(CANDIDATE) : '';
}

/** Refuses (throws) a path the scripts cannot handle safely: not absolute, with a control character, or naming no file. */
export function checkedPath(path: string): { dir: string; base: string } {
  // A newline would split the `stat` output's lines, and a relative path would depend on the login's directory.
  if (!path.startsWith('/') || /[\u0000-\u001f\u007f]/.test(path)) throw new Error(`cannot write ${JSON.stringify(path)}: a file path must be absolute, without control characters`);
  const base = posix.basename(path);
  if (base === '' || base === '.' || base === '..' || path.endsWith('/')) throw new Error(`cannot write ${path}: it names no file`);
  return { dir: posix.dirname(path), base };
}

/** Shell code that adds `$<variable>` and every directory above it to "$@" (the shell's own work: no process). */
function addPrefixes(variable: string): string {
  return `p=$${variable}; while :; do set -- "$@" "$p"; [ "$p" = / ] && break; p=\${p%/*}; [ -n "$p" ] || p=/; done`;
}

/**
 * Shell code that judges the directories in "$@". It sets `as_uid`/`as_name` to the one user who owns any of them
 * (empty when root or the login user owns them all), `open` to one that anyone may write to though root owns it, and
 * `shared` to one that its group may (sticky ones, as /tmp, excepted), `mixed` when two users own some, and `setgid`
 * when the directory the shell is in passes its group on. One `stat` for all of them; the rest is the shell's own.
 */
const JUDGE_DIRECTORIES = `if [ -O / ]; then me=0; else me=$(id -u); fi
info=$(stat -c '%u|%a|%U|%F|%n' -- "$@") || exit 3
as_uid=; as_name=; open=; shared=; setgid=; mixed=
while IFS='|' read -r uid mode name kind path; do
  bits=$((0$mode))
  [ "$path" = "$PWD" ] && [ $((bits & 02000)) -ne 0 ] && setgid=1
  case "$kind" in
    directory) ;;
    'symbolic link') [ "$uid" = 0 ] || [ "$uid" = "$me" ] && continue ;;
    *) echo "$path is a $kind, not a directory" >&2; exit 3 ;;
  esac
  if [ "$uid" = 0 ] || [ "$uid" = "$me" ]; then
    if [ $((bits & 01000)) -eq 0 ]; then
      if [ $((bits & 02)) -ne 0 ]; then open="$path (mode $mode)"; elif [ $((bits & 020)) -ne 0 ]; then shared="$path (mode $mode)"; fi
    fi
    continue
  fi
  if [ -z "$as_uid" ]; then as_uid=$uid; as_name=$name; elif [ "$as_uid" != "$uid" ]; then mixed="$as_name and $name"; fi
done <<EOF
$info
EOF`;

/**
 * Enters `$dir` (the shell then holds it, whatever happens to the path) and judges the way there: every directory
 * above it as written, and as it resolves (`cd -P` leaves its real path in `$PWD`). `between` runs after the written
 * way is listed and before the directory is entered (a followed link changes `$dir` there).
 */
function enterAndJudge(between: ShellCommand = sh``): ShellCommand {
  return ShellCommand.fromQuoted(`set --
${addPrefixes('dir')}
asked=$dir
${between.text}cd -P -- "$dir" || exit 3
if [ "$PWD" != "$asked" ]; then ${addPrefixes('PWD')}; fi
${JUDGE_DIRECTORIES}`);
}

/**
 * The start of the write and of the check: the target's directory, entered and judged. A target that is a link is
 * refused (by the write itself), unless the step follows links: then the file it leads to is written, and the link
 * itself is judged with the rest.
 */
function enterDirectory(step: WriteFileStep): ShellCommand {
  const { dir, base } = checkedPath(step.path);
  const follow = step.followSymlinks
    ? sh`if [ -L ${step.path} ]; then
  real=$(readlink -f -- ${step.path}) && [ -n "$real" ] || { echo ${`${step.path} is a link that leads nowhere`} >&2; exit 3; }
  set -- "$@" ${step.path}; dir=\${real%/*}; base=\${real##*/}; [ -n "$dir" ] || dir=/
fi
`
    : sh``;
  return sh`dir=${dir}; base=${base}
${enterAndJudge(follow)}`;
}

/** The refusals every guarded script shares: a way that two users, or others beside root, could change. */
function refuseUnsafeWay(target: string): ShellCommand {
  return sh`if [ -n "$mixed" ]; then echo ${`refusing to change ${target}:`} "directories on the way belong to $mixed, who could each swap it" >&2; exit 3; fi
if [ -n "$open" ]; then echo ${`refusing to change ${target}:`} "$open is root's but writable by others, who could swap it on the way" >&2; exit 3; fi`;
}

/**
 * Runs the shell function `provision_step` (defined by `definition`) with `args`, as root, or, where a user owns a
 * directory on the way, as that user (who must be `owner`): `setpriv` with the user's own groups, no PAM. The
 * function's last argument is `chown` as root and `chgrp` as the user (who can only give a file a group of theirs).
 */
function runAsWayOwner(target: string, owner: string, definition: string, args: string, rootOwnership: ShellCommand): ShellCommand {
  // A directory of root's that its group may write to: its members could swap root's work, but not a user's own.
  return sh`${ShellCommand.fromQuoted(definition)}
if [ -z "$as_uid" ] && [ -n "$shared" ]; then
  case ${owner} in root|0) echo ${`refusing to change ${target} as root:`} "$shared is root's but its group may write to it, whose members could swap it on the way" >&2; exit 3 ;; esac
  entry=$(getent passwd -- ${owner}) || { echo ${`cannot change ${target}: no account ${owner}`} >&2; exit 3; }
  as_name=\${entry%%:*}; as_uid=\${entry#*:*:}; as_uid=\${as_uid%%:*}
fi
if [ -n "$as_uid" ]; then
  case ${owner} in "$as_uid"|"$as_name") ;; *) echo ${`refusing to change ${target} for ${owner}:`} "a directory on the way belongs to $as_name, who could replace it anyway; make it $as_name's, or the directory root's" >&2; exit 3 ;; esac
  [ "$me" = 0 ] || { echo ${`cannot change ${target}:`} "a directory on the way belongs to $as_name, and only root can act as another user" >&2; exit 3; }
  entry=$(getent passwd "$as_uid") || { echo ${`cannot change ${target}:`} "no account has uid $as_uid" >&2; exit 3; }
  gid=\${entry#*:*:*:}; gid=\${gid%%:*}
  exec setpriv --reuid="$as_uid" --regid="$gid" --init-groups -- /bin/sh -c ${`${definition}\nprovision_step "$@"`} provision-step ${ShellCommand.fromQuoted(args)} chgrp
fi
${rootOwnership}
provision_step ${ShellCommand.fromQuoted(args)} "$how"`;
}

/** True when the step's owner and group are what a file root makes gets anyway (outside a setgid directory). */
function rootOwned(step: WriteFileStep): boolean {
  return (step.owner === 'root' || step.owner === '0') && (step.group === 'root' || step.group === '0');
}

/**
 * The write itself, in the target's directory, as a shell function: a temp file given its group (and, as root, its
 * owner) and final mode while still empty, filled from stdin, validated, flushed, then renamed over the target. $1 is
 * the file's name, $2 `chown`, `chgrp` or nothing. A failure at any point leaves the target as it was.
 * (Not `install /dev/stdin`: a stdin that is a socket, as some sshd and sudo set-ups give, cannot be opened by path.)
 */
function writeFunction(step: WriteFileStep): string {
  const validate = validateCommand(step);
  const mode = step.mode.replace(/^0+(?=\d{3})/, '');
  return sh`provision_step() {
set -e
umask 077
if [ -L "$1" ]; then echo "$1 became a link; refusing to replace it" >&2; exit 3; fi
candidate=$(mktemp "./$1.provision-XXXXXX")
trap 'rm -f "$candidate"' EXIT
trap 'rm -f "$candidate"; exit 129' HUP INT TERM PIPE
case "$2" in
  chown) chown -- ${`${step.owner}:${step.group}`} "$candidate" ;;
  chgrp) chgrp -- ${step.group} "$candidate" ;;
esac
${ShellCommand.fromQuoted(mode === '600' ? ':' : sh`chmod -- ${step.mode} "$candidate"`.text)}
cat > "$candidate"
${ShellCommand.fromQuoted(validate ? `${validate} >&2` : ':')}
sync "$candidate" 2>/dev/null || true
${compareBeforeSwap(step)}
mv -fT -- "$candidate" "$1"
trap - EXIT
}`.text;
}

/** The exit code of a write refused by its compare-and-swap check; the message on stderr starts with CONFLICT. */
export const CONFLICT_EXIT = 4;

/** How a refused compare-and-swap begins its message, so the engine tells it from a validator's own exit 4. */
export const CONFLICT = 'compare-and-swap:';

/**
 * The compare-and-swap check, just before the rename: the file must still be what the plan saw (its SHA-256, read
 * through the descriptor the shell opens, so one `sha256sum` is the only process), or still be absent. No hash is
 * printed: a file's digest could help guess a secret in it.
 */
function compareBeforeSwap(step: WriteFileStep): ShellCommand {
  const refuse = (why: string) => sh`{ echo ${`${CONFLICT} ${step.path} ${why} since the plan; nothing was written`} >&2; exit ${CONFLICT_EXIT}; }`;
  if (!step.expect) return sh`:`;
  if ('absent' in step.expect) return sh`if [ -e "$1" ] || [ -L "$1" ]; then ${refuse('was created')}; fi`;
  return sh`if [ -L "$1" ] || [ ! -f "$1" ]; then ${refuse('was removed or replaced')}; fi
sum=$(sha256sum <"$1")
[ "\${sum%% *}" = ${step.expect.sha256} ] || ${refuse('changed')}`;
}

/**
 * The atomic write of a step, with its directory judged first (see the module's comment). Runs as root, or as the
 * user who owns a directory on the way, for whom the file must be (owner-wise) their own: a root file in a user's
 * directory would be theirs to replace anyway, so it is refused rather than pretended.
 */
export function writeFileScript(step: WriteFileStep): ShellCommand {
  const chownWhenRoot = rootOwned(step) ? sh`if [ -n "$setgid" ]; then how=chown; else how=; fi` : sh`how=chown`;
  return sh`# write ${step.path}
set -e
${enterDirectory(step)}
${refuseUnsafeWay(step.path)}
${runAsWayOwner(step.path, step.owner, writeFunction(step), '"$base"', chownWhenRoot)}`;
}

/**
 * A directory with this owner, group and mode, its missing parents made as well, guarded as a write is: the nearest
 * directory that exists (above it, when it exists itself) is entered and judged, and the rest is done from there.
 */
export function directoryScript(path: string, ownership: { owner: string; group: string; mode: string }): ShellCommand {
  checkedPath(path);
  const definition = sh`provision_step() {
set -e
if [ -L "$1" ]; then echo ${`${path} is a link; refusing to change what it leads to`} >&2; exit 3; fi
mkdir -p -- "$1"
case "$2" in
  chown) chown -- ${`${ownership.owner}:${ownership.group}`} "$1" ;;
  chgrp) chgrp -- ${ownership.group} "$1" ;;
esac
chmod -- ${ownership.mode} "$1"
}`.text;
  return sh`# directory ${path}
set -e
target=${path}
dir=$target; while [ ! -e "$dir" ] && [ ! -L "$dir" ]; do dir=\${dir%/*}; [ -n "$dir" ] || dir=/; done
if [ "$dir" = "$target" ]; then dir=\${target%/*}; [ -n "$dir" ] || dir=/; fi
rest=\${target#"$dir"}; rest=\${rest#/}
${enterAndJudge()}
${refuseUnsafeWay(path)}
${runAsWayOwner(path, ownership.owner, definition, '"$rest"', sh`how=chown`)}`;
}

/**
 * The dry-run check of a candidate: written beside the target when its directory exists and is one only root (or the
 * login user) can change (validators resolve includes relative to it), else in a directory of its own under /tmp,
 * validated and removed. Exit 127 means the validator is not installed yet. The candidate's bytes are read from the
 * script's stdin (`head -c`), so that several checks share one command.
 */
export function candidateCheck(step: WriteFileStep, bytes: number): ShellCommand {
  const { dir } = checkedPath(step.path);
  return sh`umask 077
beside=
if [ -d ${dir} ]; then
  ( ${enterDirectory({ ...step, followSymlinks: false })}
    [ -z "$as_uid$open$shared$mixed" ] ) >/dev/null 2>&1 && beside=1
fi
if [ -n "$beside" ]; then candidate=$(mktemp ${`${dir === '/' ? '' : dir}/.provision-check-XXXXXX`}); else work=$(mktemp -d) && candidate=$work/candidate && : > "$candidate"; fi || { head -c ${bytes} >/dev/null; exit 1; }
trap 'rm -f "$candidate"; [ -z "$work" ] || rmdir "$work"' EXIT
head -c ${bytes} > "$candidate"
${ShellCommand.fromQuoted(validateCommand(step))} </dev/null >&2`;
}
