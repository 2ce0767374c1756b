/** The motd role: a message of the day on every host, from `motd.*`. */
import { defineRole } from '../../src/engine/role.ts';
import { file } from '../../tasks/core/files.ts';
import { MOTD_PATH, renderMotd } from './render.ts';
import { motdNamespace } from './vars.ts';

/** /etc/motd with the host's name, the inventory's lines and a contact. */
export const motdRole = defineRole({
  name: 'motd',
  title: 'Message of the day',
  summary: 'Writes /etc/motd, which every SSH login shows: the host’s name, the lines of motd.lines, and who to contact.',
  hosts: 'all',
  vars: motdNamespace,
  tasks: (host) => [file(MOTD_PATH, renderMotd(host.name, host.vars.motd))],
});
