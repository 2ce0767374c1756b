/** `${NAME}` in inventory strings: secrets and per-operator paths come from the environment, not the file. */

/** The environment to expand from; `process.env` by default. */
export type Env = Record<string, string | undefined>;

/** The result of expanding one string. */
export interface Expansion {
  /** The text with references replaced (unset ones left as written) and `$${` turned into `${`. */
  text: string;
  /** Names referenced but not set in the environment. */
  missing: string[];
  /** References that are not `${NAME}` with NAME a shell-style identifier, e.g. `${FOO` or `${a-b}`. */
  malformed: string[];
  /** The environment values substituted, so callers can treat them as secrets. */
  values: string[];
}

// `$${` is the escape; otherwise `${` must be followed by NAME and `}`.
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{[^}]*\}?/g;

/** Replaces `${NAME}` with `env[NAME]` anywhere in `text`; `$${NAME}` stays a literal `${NAME}`. */
export function expandEnvRefs(text: string, env: Env): Expansion {
  const missing: string[] = [];
  const malformed: string[] = [];
  const values: string[] = [];
  if (!text.includes('${')) return { text, missing, malformed, values };
  const out = text.replace(REFERENCE, (match, name: string | undefined) => {
    if (match === '$${') return '${';
    if (name === undefined) {
      malformed.push(match);
      return match;
    }
    const value = env[name];
    if (value === undefined) {
      if (!missing.includes(name)) missing.push(name);
      return match;
    }
    values.push(value);
    return value;
  });
  return { text: out, missing, malformed, values };
}
