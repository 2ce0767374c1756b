/** Secret strings in the inventory: validated like any string, and never printed. */

import { z } from 'zod';
import { registerSecret } from '../report/redact.ts';

/** A string schema whose parsed value is registered for redaction, so logs, diffs and errors mask it. */
export const secretString = () =>
  z.string().transform((value) => {
    registerSecret(value);
    return value;
  });
