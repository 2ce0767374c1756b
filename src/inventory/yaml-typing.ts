/**
 * Plain YAML scalars typed as Ansible types them. Ansible reads YAML with PyYAML, i.e. YAML 1.1: `yes`, `no`, `on`
 * and `off` are booleans, `0755` is octal, `1e3` (no dot) stays a string. Dates stay strings (Ansible prints them
 * back as written), and so do `14:00`-style base-60 numbers, which YAML 1.1 would read as 840.
 * `!vault` and `!unsafe` are Ansible's own tags: the vault text (decrypted later), and a string.
 */

import type { ScalarTag, Tags } from 'yaml';

const number = (value: unknown) => typeof value === 'number';

/** PyYAML's booleans: the words, in these three spellings each; not `y` or `n`. */
const TRUE_WORDS = /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const FALSE_WORDS = /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/;

const trueTag: ScalarTag = { identify: (value) => value === true, default: true, tag: 'tag:yaml.org,2002:bool', test: TRUE_WORDS, resolve: () => true };
const falseTag: ScalarTag = { identify: (value) => value === false, default: true, tag: 'tag:yaml.org,2002:bool', test: FALSE_WORDS, resolve: () => false };

/** `[-+]?` then the digits, underscores dropped, in `radix`. */
function signed(text: string, prefixLength: number, radix: number): number {
  const sign = text[0] === '-' || text[0] === '+' ? text[0] : '';
  const magnitude = parseInt(text.slice(sign.length + prefixLength).replace(/_/g, ''), radix);
  return sign === '-' ? -magnitude : magnitude;
}

const intTags: ScalarTag[] = [
  { identify: Number.isInteger, default: true, tag: 'tag:yaml.org,2002:int', format: 'BIN', test: /^[-+]?0b[01_]+$/, resolve: (text) => signed(text, 2, 2) },
  { identify: Number.isInteger, default: true, tag: 'tag:yaml.org,2002:int', format: 'HEX', test: /^[-+]?0x[0-9a-fA-F_]+$/, resolve: (text) => signed(text, 2, 16) },
  { identify: Number.isInteger, default: true, tag: 'tag:yaml.org,2002:int', format: 'OCT', test: /^[-+]?0[0-7_]+$/, resolve: (text) => signed(text, 1, 8) },
  { identify: Number.isInteger, default: true, tag: 'tag:yaml.org,2002:int', test: /^[-+]?(?:0|[1-9][0-9_]*)$/, resolve: (text) => signed(text, 0, 10) },
];

const floatTags: ScalarTag[] = [
  {
    identify: number,
    default: true,
    tag: 'tag:yaml.org,2002:float',
    // A dot is required, and an exponent needs its sign: `1.5e+3` is a number, `1e3` and `1.5e3` are strings.
    test: /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?)$/,
    resolve: (text) => parseFloat(text.replace(/_/g, '')),
  },
  {
    identify: number,
    default: true,
    tag: 'tag:yaml.org,2002:float',
    test: /^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
    resolve: (text) => (/nan$/i.test(text) ? NaN : text.startsWith('-') ? -Infinity : Infinity),
  },
];

/** Ansible's vault text; the loader decrypts it when the value is read. */
export const VAULT_TAG = '!vault';

/** Ansible's `!unsafe` (a string Jinja must not template): provision templates nothing, so it is a plain string. */
const UNSAFE_TAG = '!unsafe';

const identity = (text: string) => text;

/** The yaml library's YAML 1.1 tags, with scalars typed as PyYAML types them and Ansible's two tags added. */
export function ansibleYamlTags(tags: Tags): Tags {
  const replaced = ['bool', 'int', 'float', 'timestamp'].map((name) => `tag:yaml.org,2002:${name}`);
  const kept = tags.filter((tag) => typeof tag !== 'string' && !replaced.includes(tag.tag));
  return [
    ...kept,
    trueTag,
    falseTag,
    ...intTags,
    ...floatTags,
    { default: false, tag: VAULT_TAG, resolve: identity },
    { default: false, tag: UNSAFE_TAG, resolve: identity },
  ];
}

/** A `-e key=value` value typed as a plain YAML scalar would be (`2222` a number, `true` a boolean); empty stays ''. */
export function plainScalarValue(text: string): unknown {
  if (text === '') return '';
  if (/^(?:~|null|Null|NULL)$/.test(text)) return null;
  for (const tag of [trueTag, falseTag, ...intTags, ...floatTags]) {
    if (tag.test?.test(text)) return tag.resolve(text, () => undefined, {} as never);
  }
  return text;
}
