/** Variable values from YAML nodes to plain data, with `${NAME}` expanded and problems placed at the scalar. */

import { isAlias, isMap, isScalar, isSeq, type Node } from 'yaml';
import type { ProblemList } from './problems.ts';
import type { YamlSource } from './yaml-source.ts';
import type { VarDef } from './structure.ts';
import { expandEnvRefs, type Env } from './env-refs.ts';

/** A variable's plain value and the environment values that went into it. */
export interface ReadValue {
  value: unknown;
  envValues: string[];
}

/** Converts variable definitions once each, so an unset `${X}` in a group var is reported once, not per host. */
export class ValueReader {
  readonly #source: YamlSource;
  readonly #env: Env;
  readonly #problems: ProblemList;
  readonly #cache = new Map<VarDef, ReadValue>();

  constructor(source: YamlSource, env: Env, problems: ProblemList) {
    this.#source = source;
    this.#env = env;
    this.#problems = problems;
  }

  /** The plain value of one definition. */
  read(def: VarDef): ReadValue {
    let result = this.#cache.get(def);
    if (!result) {
      const envValues: string[] = [];
      result = { value: this.#convert(def.value, new Set(), envValues), envValues };
      this.#cache.set(def, result);
    }
    return result;
  }

  #convert(node: Node | null, stack: Set<Node>, envValues: string[]): unknown {
    const source = this.#source;
    if (!node) return null;
    const target = isAlias(node) ? source.resolve(node) : node;
    if (!target) return null; // unknown aliases were reported when the file was parsed
    if (stack.has(target)) {
      this.#problems.add(source.problemAt(node, 'this alias refers to a mapping or list that contains it'));
      return null;
    }
    if (isScalar(target)) return this.#scalar(target.value, target, envValues);
    stack.add(target);
    try {
      if (isSeq(target)) return target.items.map((item) => this.#convert(item as Node | null, stack, envValues));
      if (isMap(target)) {
        const out: Record<string, unknown> = {};
        for (const entry of source.entries(target)) {
          if (entry.key === undefined) {
            this.#problems.add(source.problemAt(entry.keyNode, 'keys must be plain strings, numbers or booleans'));
            continue;
          }
          // defineProperty: a key named `__proto__` must stay a key, not change the object's prototype.
          Object.defineProperty(out, entry.key, {
            value: this.#convert(entry.value, stack, envValues),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return out;
      }
      return null;
    } finally {
      stack.delete(target);
    }
  }

  #scalar(value: unknown, node: Node, envValues: string[]): unknown {
    if (typeof value !== 'string') return value;
    const expansion = expandEnvRefs(value, this.#env);
    for (const name of expansion.missing) {
      this.#problems.add(this.#source.problemAt(node, `environment variable ${name} is not set (referenced as \${${name}}; write $\${${name}} for a literal)`));
    }
    for (const text of expansion.malformed) {
      this.#problems.add(this.#source.problemAt(node, `malformed reference '${text}': write \${NAME} with NAME made of letters, digits and _, or $\${ for a literal \${`));
    }
    envValues.push(...expansion.values);
    return expansion.text;
  }
}
