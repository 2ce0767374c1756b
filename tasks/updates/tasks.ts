/** Automatic security updates with Debian's unattended-upgrades: installed, scheduled, and running. */
import type { Task } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { plainConfigValues } from '../../src/engine/config-values.ts';
import { aptPackages } from '../core/apt.ts';
import { file } from '../core/files.ts';
import { service } from '../core/systemd.ts';
import type { UpdatesHostVars } from './vars.ts';

/** Renders /etc/apt/apt.conf.d/20auto-upgrades (pure). */
export function renderAutoUpgrades(enabled: boolean): string {
  const flag = enabled ? '1' : '0';
  return `// Managed by provision.\nAPT::Periodic::Update-Package-Lists "${flag}";\nAPT::Periodic::Unattended-Upgrade "${flag}";\n`;
}

/** Renders /etc/apt/apt.conf.d/52provision-reboot: the reboot policy (pure). */
export function renderRebootPolicy(reboot: boolean, time: string): string {
  plainConfigValues('/etc/apt/apt.conf.d/52provision-reboot', time);
  return `// Managed by provision.\nUnattended-Upgrade::Automatic-Reboot "${reboot ? 'true' : 'false'}";\nUnattended-Upgrade::Automatic-Reboot-Time "${time}";\n`;
}

/** The tasks that keep a host patched. */
export function automaticUpdates(host: Host<UpdatesHostVars>): Task[] {
  const vars = host.vars.updates;
  if (!vars.automatic) return [file('/etc/apt/apt.conf.d/20auto-upgrades', renderAutoUpgrades(false))];
  return [
    aptPackages(['unattended-upgrades']),
    file('/etc/apt/apt.conf.d/20auto-upgrades', renderAutoUpgrades(true)),
    file('/etc/apt/apt.conf.d/52provision-reboot', renderRebootPolicy(vars.reboot, vars.reboot_time)),
    service('unattended-upgrades'),
  ];
}
