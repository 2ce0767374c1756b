/**
 * The Diffie-Hellman groups sshd offers for group exchange: a pruned copy of /etc/ssh/moduli with only the groups of
 * `ssh.moduli_min_bits` and more, in a file of provision's own that `ModuliFile` names. /etc/ssh/moduli itself is a
 * conffile of openssh-server: editing it would make every upgrade ask (or keep the old groups), so it stays as shipped,
 * and the copy is made again whenever it changes.
 */
import { sh } from '../../src/transport/shell.ts';
import { predict, type Fact, type FactOutput, type Task } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import type { OpensshVersion } from './facts.ts';
import { opensshVersion } from './facts.ts';
import type { SshHostVars } from './vars.ts';

/** The groups as OpenSSH ships them. */
export const SYSTEM_MODULI = '/etc/ssh/moduli';
/** provision's pruned copy, named by `ModuliFile`. */
export const PRUNED_MODULI = '/etc/ssh/moduli.provision';

/** What the two files hold. */
export interface ModuliState {
  /** The sha256 of /etc/ssh/moduli, or null when it is missing. */
  source: string | null;
  /** Usable groups of /etc/ssh/moduli (safe primes, 7 fields) by their size field (bits − 1, as the file writes it). */
  sizes: Record<number, number>;
  /** The pruned copy: its first line, its groups, the lines that are not usable groups, its smallest size field. */
  pruned: { header: string; groups: number; bad: number; smallest: number | null } | null;
}

/** The header of the pruned copy around the source's digest: it names the digest and the bound, so a change to either is noticed. */
function headerParts(minBits: number): [before: string, after: string] {
  return [`# provision: the groups of ${SYSTEM_MODULI} of at least ${minBits} bits (source sha256 `, '); sshd reads it (ModuliFile)'];
}

/** The first line of the pruned copy. */
export function prunedHeader(sourceDigest: string, minBits: number): string {
  const [before, after] = headerParts(minBits);
  return `${before}${sourceDigest}${after}`;
}

/** Parses the fact's output (pure). */
export function parseModuli(output: FactOutput): ModuliState {
  const state: ModuliState = { source: null, sizes: {}, pruned: null };
  let header = '';
  for (const row of output.stdout.split('\n')) {
    const [word = '', ...rest] = row.split(' ');
    if (word === 'source' && /^[0-9a-f]{64}$/.test(rest[0] ?? '')) state.source = rest[0]!;
    else if (word === 'size' && rest.length === 2) state.sizes[Number(rest[0])] = Number(rest[1]);
    else if (word === 'header') header = rest.join(' ');
    else if (word === 'pruned' && rest.length >= 2) {
      const smallest = rest[2] === undefined || rest[2] === '' ? null : Number(rest[2]);
      state.pruned = { header: '', groups: Number(rest[0]), bad: Number(rest[1]), smallest };
    }
  }
  if (state.pruned) state.pruned.header = header;
  return state;
}

/**
 * Both files in one awk (and one sha256sum): the source's usable groups by size, and the copy's header, groups,
 * unusable lines and smallest size. Cheap (~20 ms for the 570 KB file), and no content crosses the wire.
 */
export const moduliState: Fact<ModuliState> = {
  key: 'sshd:moduli',
  description: '/etc/ssh/moduli and its pruned copy',
  command: sh`[ -f ${SYSTEM_MODULI} ] || exit 0
set -- $(sha256sum < ${SYSTEM_MODULI}); echo "source $1"
if [ -f ${PRUNED_MODULI} ]; then set -- ${SYSTEM_MODULI} ${PRUNED_MODULI}; else set -- ${SYSTEM_MODULI}; fi
awk 'FNR == 1 { file++ }
file == 1 && !/^#/ && NF == 7 && $2 == 2 { sizes[$5]++ }
file == 2 && FNR == 1 { print "header " $0 }
file == 2 && !/^#/ { groups++; if (NF != 7 || $2 != 2) bad++; if (smallest == "" || $5 < smallest) smallest = $5 }
END { for (size in sizes) print "size " size " " sizes[size]; if (file == 2) print "pruned " groups + 0 " " bad + 0 " " smallest }' "$@"`,
  parse: parseModuli,
  staleAfter: ['packages', { path: '/etc/ssh' }],
};

/** ModuliFile is a keyword of OpenSSH 8.5 and later; older ones always read /etc/ssh/moduli. */
export function knowsModuliFile(version: OpensshVersion | null): boolean {
  return version !== null && (version.major > 8 || (version.major === 8 && version.minor >= 5));
}

/** The groups of `minBits` and more in the source (the file writes each size as bits − 1). */
export function groupsAtLeast(state: ModuliState, minBits: number): number {
  return Object.entries(state.sizes).reduce((sum, [size, count]) => (Number(size) >= minBits - 1 ? sum + count : sum), 0);
}

/** Why sshd cannot offer DH group exchange with strong groups only, or undefined when it can (pure). */
export function groupExchangeProblem(state: ModuliState, version: OpensshVersion | null, minBits: number): string | undefined {
  if (!knowsModuliFile(version)) return `OpenSSH ${version ? `${version.major}.${version.minor}` : '(version unknown)'} has no ModuliFile, and ${SYSTEM_MODULI} keeps its small groups`;
  if (state.source === null) return `${SYSTEM_MODULI} does not exist`;
  if (groupsAtLeast(state, minBits) === 0) return `${SYSTEM_MODULI} has no group of ${minBits} bits or more`;
  return undefined;
}

/** True when the pruned copy is the one the source and the bound call for (pure). */
export function prunedCopyCurrent(state: ModuliState, minBits: number): boolean {
  const pruned = state.pruned;
  if (!pruned || state.source === null) return false;
  return (
    pruned.header === prunedHeader(state.source, minBits) &&
    pruned.bad === 0 &&
    pruned.groups === groupsAtLeast(state, minBits) &&
    pruned.smallest !== null &&
    pruned.smallest >= minBits - 1
  );
}

/**
 * Makes the copy on the host: filtered into a temp file in /etc/ssh, checked (at least one group, every line a safe
 * prime of the bound or more), then renamed over the live one, so sshd never reads a half-written or empty file.
 */
export function pruneCommand(minBits: number) {
  const bound = minBits - 1;
  const [before, after] = headerParts(minBits);
  return sh`set -e
tmp=$(mktemp ${`${PRUNED_MODULI}.XXXXXX`})
trap 'rm -f "$tmp"' EXIT
set -- $(sha256sum < ${SYSTEM_MODULI})
{ printf '%s%s%s\n' ${before} "$1" ${after}
  awk -v bound=${bound} '!/^#/ && NF == 7 && $2 == 2 && $5 >= bound' ${SYSTEM_MODULI}; } > "$tmp"
if ! awk -v bound=${bound} '!/^#/ { groups++; if (NF != 7 || $2 != 2 || $5 < bound) bad++ } END { exit !(groups > 0 && !bad) }' "$tmp"; then
  echo ${`the pruned copy of ${SYSTEM_MODULI} has no group of ${minBits} bits or more, or a line that is not one`} >&2
  exit 1
fi
chmod 0644 "$tmp"
mv -f "$tmp" ${PRUNED_MODULI}
trap - EXIT`;
}

/** The pruned copy of /etc/ssh/moduli, when sshd can use it for DH group exchange. */
export function prunedModuli(host: Host<SshHostVars>): Task<SshHostVars> {
  return {
    kind: 'sshd.moduli',
    target: PRUNED_MODULI,
    facts: () => [moduliState, opensshVersion],
    plan: ({ facts }) => {
      const minBits = host.vars.ssh.moduli_min_bits;
      const state = facts.get(moduliState);
      const problem = groupExchangeProblem(state, facts.get(opensshVersion), minBits);
      if (problem) return { status: 'ok', reason: `${problem}: sshd does not offer DH group exchange (the other key exchanges need no groups)` };
      const kept = groupsAtLeast(state, minBits);
      const total = Object.values(state.sizes).reduce((sum, count) => sum + count, 0);
      if (prunedCopyCurrent(state, minBits)) return { status: 'ok', reason: `${PRUNED_MODULI} holds the ${kept} groups of ${SYSTEM_MODULI} of at least ${minBits} bits` };
      return {
        status: 'change',
        changes: [
          {
            summary: `write ${PRUNED_MODULI}: the ${kept} of ${total} groups of ${SYSTEM_MODULI} of at least ${minBits} bits`,
            details: [
              state.pruned ? `the current copy does not match ${SYSTEM_MODULI} and the bound of ${minBits} bits` : `${PRUNED_MODULI} does not exist yet`,
              `${SYSTEM_MODULI} stays as openssh-server ships it (a conffile); sshd reads the copy (ModuliFile)`,
            ],
            steps: [{ kind: 'run', command: pruneCommand(minBits), description: `write ${PRUNED_MODULI} (groups of at least ${minBits} bits), checked, then renamed into place` }],
            predicts: [predict(moduliState, { ...state, pruned: { header: prunedHeader(state.source!, minBits), groups: kept, bad: 0, smallest: smallestAtLeast(state, minBits) } })],
          },
        ],
      };
    },
  };
}

function smallestAtLeast(state: ModuliState, minBits: number): number | null {
  const sizes = Object.keys(state.sizes)
    .map(Number)
    .filter((size) => size >= minBits - 1);
  return sizes.length ? Math.min(...sizes) : null;
}
