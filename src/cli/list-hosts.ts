/**
 * `apply --list-hosts` and `--list-tasks`: the hosts each play would run on, and the tasks it would run on each, as
 * ansible-playbook lists them. Contacts no host: the tasks are listed from the inventory alone.
 */
import { playHosts } from '../engine/play-hosts.ts';
import type { Playbook } from '../engine/playbook.ts';
import type { Host, Inventory } from '../inventory/types.ts';

/** Writes each play with the selected hosts its pattern matches. */
export function listPlayHosts(name: string, playbook: Playbook, inventory: Inventory, selected: readonly Host[], write: (line: string) => void): void {
  const chosen = new Set(selected.map((host) => host.name));
  write(`playbook: ${name}`);
  playbook.plays.forEach((play, index) => {
    const hosts = playHosts(inventory, play.hosts).filter((host) => chosen.has(host.name));
    write('');
    write(`  play #${index + 1} (${play.hosts}): ${play.name}`);
    write(`    hosts (${hosts.length}):`);
    for (const host of hosts) write(`      ${host.name}`);
  });
}

/** Writes each play with, for each selected host it matches, the tasks it would run there (kind and target). */
export function listPlayTasks(name: string, playbook: Playbook, inventory: Inventory, selected: readonly Host[], write: (line: string) => void): void {
  const chosen = new Set(selected.map((host) => host.name));
  write(`playbook: ${name}`);
  playbook.plays.forEach((play, index) => {
    write('');
    write(`  play #${index + 1} (${play.hosts}): ${play.name}${tagsText(play.tags)}`);
    for (const host of playHosts(inventory, play.hosts).filter((candidate) => chosen.has(candidate.name))) {
      const tasks = play.tasks(host, inventory);
      write(`    ${host.name} (${tasks.length} task${tasks.length === 1 ? '' : 's'}):`);
      for (const task of tasks) write(`      ${task.kind} ${task.target}`);
    }
  });
}

function tagsText(tags: readonly string[] | undefined): string {
  return tags && tags.length > 0 ? `\tTAGS: [${tags.join(', ')}]` : '';
}
