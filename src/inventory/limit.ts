/** `--limit` host patterns, with Ansible's syntax and semantics. */

import picomatch from 'picomatch';
import { InputError } from '../errors.ts';
import type { Host, Inventory } from './types.ts';

/**
 * The hosts a pattern selects, in inventory order. The pattern is a list of terms separated by `,` (or `:`):
 * host names, group names, globs over either (`web*`), or `~regex`. Like Ansible, the plain terms are united,
 * then intersected with each `&term`, then each `!term` is removed; a pattern of only `&`/`!` terms starts
 * from all hosts. Undefined or empty selects every host. A term naming no host or group, or a pattern that
 * selects nothing, is an InputError.
 */
export function selectHosts<V>(inventory: Inventory<V>, pattern: string | undefined): Host<V>[] {
  const terms = splitPattern(pattern ?? '');
  if (terms.length === 0) return [...inventory.hosts];
  const plain = terms.filter((term) => !term.startsWith('!') && !term.startsWith('&'));
  let selected = plain.length === 0 ? new Set(inventory.hosts.map((host) => host.name)) : new Set<string>();
  for (const term of plain) for (const name of matchTerm(inventory, term)) selected.add(name);
  for (const term of terms.filter((t) => t.startsWith('&'))) {
    const keep = matchTerm(inventory, term.slice(1));
    selected = new Set([...selected].filter((name) => keep.has(name)));
  }
  for (const term of terms.filter((t) => t.startsWith('!'))) {
    for (const name of matchTerm(inventory, term.slice(1))) selected.delete(name);
  }
  const hosts = inventory.hosts.filter((host) => selected.has(host.name));
  if (hosts.length === 0) throw new InputError(`--limit '${pattern}' selects no host`);
  return hosts;
}

/** Terms of a pattern: split on `,`, or else on `:` unless the whole pattern is an IPv6 address. */
export function splitPattern(pattern: string): string[] {
  const trimmed = pattern.trim();
  const separator = trimmed.includes(',') || looksLikeIpv6(trimmed) ? ',' : ':';
  return trimmed
    .split(separator)
    .map((term) => term.trim())
    .filter((term) => term.length > 0);
}

function looksLikeIpv6(text: string): boolean {
  return /^[0-9a-f]*:[0-9a-f:]*:[0-9a-f.:]*$/i.test(text) && (text.includes('::') || text.split(':').length > 3);
}

/** Names of the hosts one term matches: a host, a group's members, or everything a glob or `~regex` matches. */
function matchTerm<V>(inventory: Inventory<V>, term: string): Set<string> {
  const hostNames = inventory.hosts.map((host) => host.name);
  const byName = (test: (name: string) => boolean): Set<string> => {
    const found = new Set<string>();
    for (const name of hostNames) if (test(name)) found.add(name);
    for (const [group, members] of inventory.groups) if (test(group)) for (const name of members) found.add(name);
    return found;
  };
  if (term.startsWith('~')) {
    let regex: RegExp;
    try {
      // Anchored at the start, like Python's re.match in Ansible.
      regex = new RegExp(`^(?:${term.slice(1)})`);
    } catch (error) {
      throw new InputError(`--limit: invalid regular expression '${term.slice(1)}': ${(error as Error).message}`);
    }
    return byName((name) => regex.test(name));
  }
  if (picomatch.scan(term).isGlob) return byName(picomatch(term, { dot: true }));
  const found = byName((name) => name === term);
  if (found.size === 0 && !inventory.groups.has(term)) throw new InputError(`--limit matches no host: '${term}'`);
  return found;
}
