/** Facts about Debian packages: what dpkg has installed, and how old the apt lists are. */
import { sh, type ShellCommand } from '../src/transport/shell.ts';
import type { Fact, FactOutput } from '../src/engine/types.ts';

/** Installed state of the packages asked about. */
export type PackageStates = Record<string, 'installed' | 'absent'>;

/** Parses `dpkg-query -W -f '${Package} ${db:Status-Status}\n'` output (pure). */
export function parsePackageStates(names: readonly string[], output: FactOutput): PackageStates {
  const states: PackageStates = Object.fromEntries(names.map((name) => [name, 'absent' as const]));
  for (const row of output.stdout.split('\n')) {
    const [name = '', status = ''] = row.trim().split(/\s+/);
    // dpkg-query prints arch-qualified names (libc6:amd64) for Multi-Arch: same packages.
    const bare = name.replace(/:.*$/, '');
    if (bare in states && status === 'installed') states[bare] = 'installed';
  }
  return states;
}

/** Whether each named package is installed. */
export function packageStates(names: readonly string[]): Fact<PackageStates> {
  const sorted = [...names].sort();
  return {
    key: `apt:packages:${sorted.join(',')}`,
    command: packageStatesCommand([sorted.join(' ')]),
    parse: (output) => parsePackageStates(sorted, output),
    // Every task's packages in one dpkg-query: each fact reads its own names from the shared output.
    batch: { kind: 'package-states', item: sorted.join(' '), command: packageStatesCommand, split: (output, items) => items.map(() => output) },
  };
}

/** One dpkg-query for every package of these lists (each a space-separated list of names). */
function packageStatesCommand(lists: readonly string[]): ShellCommand {
  return sh`dpkg-query -W -f '\${Package} \${db:Status-Status}\n' ${[...new Set(lists.flatMap((list) => list.split(' ')))]}`;
}

/** Age of the apt package lists in seconds; null when there are none (apt-get update never ran). */
export interface ListsAge {
  ageSeconds: number | null;
}

/** Parses `<now> <newest list mtime or empty>` (pure). */
export function parseListsAge(output: FactOutput): ListsAge {
  const [now, newest] = output.stdout.trim().split(/\s+/).map(Number);
  if (!now || !newest) return { ageSeconds: null };
  return { ageSeconds: Math.max(0, now - newest) };
}

/** How long ago the apt lists were last refreshed. */
export const listsAge: Fact<ListsAge> = {
  key: 'apt:lists-age',
  command: sh`printf '%s ' "$(date +%s)"; find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -printf '%T@\n' 2>/dev/null | sort -n | tail -n 1 | cut -d. -f1`,
  parse: parseListsAge,
};
