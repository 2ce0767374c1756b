/** `motd.*`: the message of the day every SSH login shows. */
import { z } from 'zod';
import { defineNamespace, type VarsOf } from '../../src/engine/role.ts';
import { yamlBoolean } from '../../src/inventory/connection.ts';

/** A line a login shows: printable text, no control characters, at most 120 characters. */
const messageLine = z
  .string()
  .max(120, 'expected a line of at most 120 characters')
  .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'expected printable text on one line (no tabs or control characters)');

/** The `motd` namespace, every key with its default and its description (shown by `provision tasks` and the docs). */
export const motdNamespace = defineNamespace(
  'motd',
  z
    .object({
      lines: z
        .array(messageLine, { error: 'expected a list of lines' })
        .max(20, 'expected at most 20 lines')
        .default(['This host is managed by provision: changes made by hand may be undone.'])
        .describe('The message, one list item per line.'),
      contact: z
        .string()
        .regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'expected an e-mail address, e.g. ops@example.org')
        .optional()
        .describe('Who to ask about this host; shown under the message.'),
      show_host: yamlBoolean.default(true).describe('Start the message with the inventory name of the host.'),
    })
    .strict()
    .prefault({}),
);

/** The host variables the motd role reads. */
export type MotdHostVars = VarsOf<typeof motdNamespace>;
