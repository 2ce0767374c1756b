/** Facts about Debian packages: what dpkg has installed, and how old the apt lists are. */
import { sh, type ShellCommand } from '../../src/transport/shell.ts';
import type { Fact, FactBatch, FactOutput } from '../../src/engine/types.ts';

/** Installed state of the packages asked about. */
export type PackageStates = Record<string, 'installed' | 'absent'>;

/** Parses `dpkg-query -W -f '${Package} ${db:Status-Status} ${Version}\n'` output (pure). */
export function parsePackageStates(names: readonly string[], output: FactOutput): PackageStates {
  const states: PackageStates = Object.fromEntries(names.map((name) => [name, 'absent' as const]));
  for (const { name } of installedRows(output)) if (name in states) states[name] = 'installed';
  return states;
}

/** The installed packages in dpkg-query's output, each with its version. */
function installedRows(output: FactOutput): { name: string; version: string }[] {
  return output.stdout.split('\n').flatMap((row) => {
    const [listed = '', status = '', version = ''] = row.trim().split(/\s+/);
    // dpkg-query prints arch-qualified names (libc6:amd64) for Multi-Arch: same packages.
    return status === 'installed' ? [{ name: listed.replace(/:.*$/, ''), version }] : [];
  });
}

/** Whether each named package is installed. */
export function packageStates(names: readonly string[]): Fact<PackageStates> {
  const sorted = [...names].sort();
  return {
    key: `apt:packages:${sorted.join(',')}`,
    description: `the package${sorted.length === 1 ? '' : 's'} ${sorted.join(', ')}`,
    command: packageStatesCommand([sorted.join(' ')]),
    parse: (output) => parsePackageStates(sorted, output),
    batch: packageBatch(sorted.join(' ')),
  };
}

/** Every task's packages in one dpkg-query: each fact reads its own names from the shared output. */
function packageBatch(item: string): FactBatch {
  return { kind: 'package-states', item, command: packageStatesCommand, split: (output, items) => items.map(() => output) };
}

/** One dpkg-query for every package of these lists (each a space-separated list of names), with its version. */
function packageStatesCommand(lists: readonly string[]): ShellCommand {
  return sh`dpkg-query -W -f '\${Package} \${db:Status-Status} \${Version}\n' ${[...new Set(lists.flatMap((list) => list.split(' ')))]}`;
}

/** The installed version of `name` in dpkg-query's output, or null when it is not installed (pure). */
export function parsePackageVersion(name: string, output: FactOutput): string | null {
  return installedRows(output).find((row) => row.name === name && row.version !== '')?.version ?? null;
}

/**
 * The installed version of one package, read by the same dpkg-query as the package states. Its key is under
 * `apt:packages:`, so a package install has it read again.
 */
export function packageVersion<T = string | null>(name: string, parse: (version: string | null) => T = (version) => version as T): Fact<T> {
  return {
    key: `apt:packages:version:${name}`,
    description: `the installed version of ${name}`,
    command: packageStatesCommand([name]),
    parse: (output) => parse(parsePackageVersion(name, output)),
    batch: packageBatch(name),
  };
}

/** Age of the apt package lists in seconds; null when there are none (apt-get update never ran). */
export interface ListsAge {
  ageSeconds: number | null;
}

/** Parses `<now> <each list's mtime>…`, the mtimes with fractions (pure). */
export function parseListsAge(output: FactOutput): ListsAge {
  const [now, ...mtimes] = output.stdout.trim().split(/\s+/).map(Number);
  const newest = Math.max(0, ...mtimes.filter((mtime) => Number.isFinite(mtime)).map(Math.floor));
  if (!now || !newest) return { ageSeconds: null };
  return { ageSeconds: Math.max(0, now - newest) };
}

/** How long ago the apt lists were last refreshed. */
export const listsAge: Fact<ListsAge> = {
  key: 'apt:lists-age',
  description: "the apt lists' age",
  // It grows by the second: the plan says whether it refreshes the lists, and no plan rests on the age itself.
  volatile: true,
  // The newest is picked here, not by a sort | tail | cut on the host. The host's clock is read without a process:
  // the boot time (btime in /proc/stat) plus the uptime is now, in epoch seconds.
  command: sh`read -r up _ </proc/uptime
while read -r key boot; do [ "$key" = btime ] && break; done </proc/stat
printf '%s ' "$((boot + \${up%.*}))"; find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -printf '%T@ ' 2>/dev/null`,
  parse: parseListsAge,
  // An install predicts the lists' age when it refreshes them, and leaves them as they are when it does not.
  staleAfter: [],
};
