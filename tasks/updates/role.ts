/** The updates role: Debian's unattended-upgrades, installed, scheduled and running. */
import { defineRole } from '../../src/engine/role.ts';
import { automaticUpdates } from './tasks.ts';
import { updatesNamespace } from './vars.ts';

/** Every host's base: daily security updates. Its play has always been called `base`; `--tags updates` selects it too. */
export const updatesRole = defineRole({
  name: 'base',
  title: 'Automatic security updates',
  summary: 'Installs unattended-upgrades and schedules daily security updates, with an optional reboot window.',
  hosts: 'all',
  vars: updatesNamespace,
  tags: ['updates'],
  tasks: (host) => automaticUpdates(host),
});
