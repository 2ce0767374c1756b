/** Where the run may still find hosts after an earlier run moved their SSH: the roles that move it say where. */
import type { Host, Inventory } from '../inventory/types.ts';
import { playHosts } from './play-hosts.ts';
import type { Playbook } from './playbook.ts';

/** Sets each host's fallback ports and user from the roles it runs (the whole playbook's, whatever --tags selects). */
export function applyLoginFallbacks(playbook: Playbook, inventory: Inventory, hosts: readonly Host[]): void {
  for (const role of playbook.roles) {
    if (!role.loginFallbacks) continue;
    const runs = new Set(playHosts(inventory, role.hosts).map((host) => host.name));
    for (const host of hosts) {
      if (!runs.has(host.name)) continue;
      const fallbacks = role.loginFallbacks(host);
      if (fallbacks.ports) host.connection.fallbackPorts = [...(host.connection.fallbackPorts ?? []), ...fallbacks.ports];
      if (fallbacks.user !== undefined) host.connection.fallbackUser = fallbacks.user;
    }
  }
}
