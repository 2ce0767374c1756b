/** `apply --list-hosts`: the hosts each play would run on, as ansible-playbook --list-hosts shows them; contacts no host. */
import { playHosts } from '../engine/play-hosts.ts';
import type { Playbook } from '../engine/types.ts';
import type { Host, Inventory } from '../inventory/types.ts';

/** Writes each play with the selected hosts its pattern matches. */
export function listPlayHosts<Vars>(name: string, playbook: Playbook<Vars>, inventory: Inventory<Vars>, selected: readonly Host<Vars>[], write: (line: string) => void): void {
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
