/** The text of /etc/motd (pure). */
import { plainConfigValues } from '../../src/engine/config-values.ts';
import type { MotdHostVars } from './vars.ts';

/** Where Debian's pam_motd reads the message every login shows. */
export const MOTD_PATH = '/etc/motd';

/** /etc/motd for a host: its name (unless `show_host` is false), the lines, and the contact. */
export function renderMotd(hostName: string, vars: MotdHostVars['motd']): string {
  const values = plainConfigValues(MOTD_PATH, { hostName, lines: vars.lines, contact: vars.contact });
  const lines = [...(vars.show_host ? [values.hostName, ''] : []), ...values.lines, ...(values.contact ? ['', `Contact: ${values.contact}`] : [])];
  return `${lines.join('\n')}\n`;
}
