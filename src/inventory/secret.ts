/**
 * Secret values: passwords, tokens, keys and whatever a vault or a secret field holds. A secret is a string with a
 * type of its own, made only by `secret()`, which is also what makes every output path (stdout, diffs, JSON, logs,
 * errors) mask it, by value and in every encoding. Values are made secrets where they enter: the inventory loader
 * (connection passwords, `${ENV}` values in secret fields, vault plaintexts), the schemas (secretString), the files a
 * role reads its keys from.
 */
import { z } from 'zod';
import { registerSecret } from '../report/redact.ts';

declare const SECRET: unique symbol;

/** True while a task plans: values become secrets where they enter (loader, schemas, gathered facts), or by a change's `secrets`. */
let planning = false;

/** Runs a task's planning with `secret()` closed, so what a plan holds reaches the masks through the plan itself. */
export function whilePlanning<T>(plan: () => T): T {
  planning = true;
  try {
    return plan();
  } finally {
    planning = false;
  }
}

/** Makes the values a plan's changes declare secrets (see Change.secrets). */
export function declarePlanSecrets(values: Iterable<string>): void {
  for (const value of values) registerSecret(value);
}

/** A string that must never be shown. */
export type Secret = string & { readonly [SECRET]: true };

/** `value` as a secret: from now on no output shows it (a multi-line one, such as a PEM key, not even line by line). */
export function secret(value: string): Secret {
  if (planning) throw new Error('secret() was called while a task planned: declare the value in its change\'s `secrets` instead');
  registerSecret(value);
  return value as Secret;
}

/** A string schema whose parsed value is a secret, so logs, diffs and errors mask it. */
export const secretString = () => z.string().transform((value) => secret(value));
