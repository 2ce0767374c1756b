/**
 * The inventory variables the task library reads, by namespace. Each namespace is a strict schema with
 * documented defaults, so a misspelt key stops the run before any host is touched.
 */
import { z } from 'zod';
import { yamlBoolean } from '../src/inventory/connection.ts';
import { SSH_DEFAULTS, sshVars } from './ssh/vars.ts';
import { nodeVars } from './node/vars.ts';
import { fail2banVars } from './fail2ban/vars.ts';
import { haproxyVars } from './haproxy/vars.ts';
import { firewallVars } from './firewall/vars.ts';

/** `updates.*`: automatic security updates (Debian's unattended-upgrades). */
export const updatesVars = z
  .object({
    /** Install unattended-upgrades and apply security updates daily. Default true. */
    automatic: yamlBoolean.default(true),
    /** Reboot automatically when an update requires it, at `reboot_time`. Default false. */
    reboot: yamlBoolean.default(false),
    /** Local time for automatic reboots, HH:MM. Default 04:00. */
    reboot_time: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time as HH:MM')
      .default('04:00'),
  })
  .strict();

/** Every task variable namespace, for an inventory in `inventoryDir`; the loader validates each host's vars with it. */
export function hostVarsSchema(inventoryDir: string) {
  return z
    .object({
      updates: updatesVars.default({ automatic: true, reboot: false, reboot_time: '04:00' }),
      ssh: sshVars(inventoryDir).default(SSH_DEFAULTS),
      node: nodeVars,
      fail2ban: fail2banVars.prefault({}),
      haproxy: haproxyVars(inventoryDir).prefault({}),
      firewall: firewallVars.prefault({}),
    })
    .strict();
}

/** The validated task variables of one host. */
export type HostVars = z.output<ReturnType<typeof hostVarsSchema>>;
