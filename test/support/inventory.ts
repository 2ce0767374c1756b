/** Writes an inventory for started test hosts, with per-host and global variables, for tests that need their own. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { TestHosts } from './containers.ts';
import { scratchDir } from './scratch.ts';

/** Variables for the whole inventory and for single hosts; `null` removes a default. */
export interface InventoryOverrides {
  vars?: Record<string, unknown>;
  hosts?: Record<string, Record<string, unknown>>;
  /** Only these hosts (default: all). */
  only?: string[];
  /** More inventory hosts by group, e.g. several names for one container. */
  extraHosts?: Record<string, Record<string, Record<string, unknown>>>;
}

/** An inventory YAML file listing the test hosts in their groups, like the lab's, with overrides merged in. */
export function writeInventory(lab: TestHosts, overrides: InventoryOverrides = {}): string {
  const children: Record<string, { hosts: Record<string, Record<string, unknown>> }> = {};
  for (const host of lab.hosts) {
    if (!host.managed || (overrides.only && !overrides.only.includes(host.name))) continue;
    // A host whose port is not published is reached at its own address (through a jump host the test sets).
    const address = host.sshPort === 0 ? { ansible_host: host.privateIp, ansible_port: 22 } : { ansible_host: '127.0.0.1', ansible_port: host.sshPort };
    const vars = dropNulls({ ...address, private_ip: host.privateIp, ...overrides.hosts?.[host.name] });
    (children[host.group] ??= { hosts: {} }).hosts[host.name] = vars;
  }
  for (const [group, hosts] of Object.entries(overrides.extraHosts ?? {})) {
    (children[group] ??= { hosts: {} }).hosts = { ...children[group]!.hosts, ...hosts };
  }
  const all = {
    vars: dropNulls({
      ansible_user: 'root',
      ansible_ssh_private_key_file: lab.keyFile,
      ssh_known_hosts_file: lab.knownHostsFile,
      ssh_host_key_checking: 'strict',
      ...overrides.vars,
    }),
    children,
  };
  const file = join(scratchDir('provision-inventory-'), 'inventory.yaml');
  writeFileSync(file, stringify({ all }));
  return file;
}

function dropNulls(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== null));
}
