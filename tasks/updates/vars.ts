/** `updates.*`: automatic security updates (Debian's unattended-upgrades). */
import { z } from 'zod';
import { yamlBoolean } from '../../src/inventory/connection.ts';
import { defineNamespace, type VarsOf } from '../../src/engine/role.ts';

/** The schema of `updates`, every key with its default. */
export const updatesVars = z
  .object({
    automatic: yamlBoolean.default(true).describe('Install unattended-upgrades and apply security updates daily. Default true.'),
    reboot: yamlBoolean.default(false).describe('Reboot automatically when an update requires it, at `reboot_time`. Default false.'),
    reboot_time: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time as HH:MM')
      .default('04:00')
      .describe('Local time for automatic reboots, HH:MM. Default 04:00.'),
  })
  .strict();

/** The `updates` namespace. */
export const updatesNamespace = defineNamespace('updates', updatesVars.default({ automatic: true, reboot: false, reboot_time: '04:00' }));

/** The host variables the updates role reads. */
export type UpdatesHostVars = VarsOf<typeof updatesNamespace>;
