/**
 * One `apt-get install` for a host instead of one per task: a first play installs the union of every package the
 * later plays install on that host. Each apt.packages task after it then finds its packages in place.
 */
import type { Play } from '../../src/engine/types.ts';
import { playHosts } from '../../src/engine/play-hosts.ts';
import { aptPackages, isAptTask } from './apt.ts';

/** A play, to run first, that installs every package the given plays install on each host. */
export function installPackagesFirst<Vars>(plays: readonly Play<Vars>[]): Play<Vars> {
  return {
    name: 'packages',
    hosts: 'all',
    tasks: (host, inventory) => {
      const sets = plays
        .filter((play) => playHosts(inventory, play.hosts).some((candidate) => candidate.name === host.name))
        .flatMap((play) => play.tasks(host, inventory))
        .filter((task) => isAptTask(task as never))
        .map((task) => (task as unknown as { packages: readonly string[] }).packages);
      const unique = [...new Set(sets.flat())];
      return unique.length > 0 ? [aptPackages(unique, { covers: sets }) as never] : [];
    },
  };
}
