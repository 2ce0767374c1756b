/** Zod validation issues turned into input problems that point at the offending value or key in the file. */

import { isMap, isSeq, type Node } from 'yaml';
import type { z } from 'zod';
import type { InputProblem } from '../errors.ts';
import { joinPath, type SourceFile } from './source-file.ts';
import type { HostModel, VarDef } from './model.ts';
import { didYouMean } from './did-you-mean.ts';
import { objectKeysAt } from './schema-keys.ts';

/** What is needed to place the issues of one host's validation. */
export interface IssueContext {
  /** The schema that produced the issues, for the keys it knows. */
  schema: z.ZodType;
  /** The host's merged top-level variables, each with the node it came from. */
  vars: ReadonlyMap<string, VarDef>;
  host: HostModel;
  /** More names a misspelt top-level variable may have meant (the other schema's variables). */
  otherTopLevelNames: readonly string[];
}

/** One problem per issue (one per key for unknown keys), at the node the issue's path leads to. */
export function issueProblems(issues: readonly z.core.$ZodIssue[], context: IssueContext): InputProblem[] {
  return issues.flatMap((issue) => problemsOf(issue, context));
}

function problemsOf(issue: z.core.$ZodIssue, context: IssueContext): InputProblem[] {
  const { vars, host } = context;
  const [top, ...below] = issue.path;
  if (issue.code === 'unrecognized_keys' && top === undefined) {
    const candidates = [...objectKeysAt(context.schema, []), ...context.otherTopLevelNames];
    return issue.keys.map((key) => {
      const def = vars.get(key);
      const message = `unknown variable '${key}'${didYouMean(key, candidates)}`;
      return def ? def.source.problemAt(def.keyNode, message) : host.source.problemAt(host.keyNode, message);
    });
  }
  const def = top === undefined ? undefined : vars.get(String(top));
  if (!def) {
    // Nothing in the file to point at: the variable is missing for this host.
    const name = joinPath('', issue.path);
    const message = issue.code === 'invalid_type' && below.length === 0 ? `required variable '${name}' is not set for host '${host.name}'` : `${name || 'variables'} of host '${host.name}': ${issue.message}`;
    return [host.source.problemAt(host.keyNode, message)];
  }
  const source = def.source;
  const { node, rest } = descend(source, def.value ?? def.keyNode, below);
  if (issue.code === 'unrecognized_keys' && rest.length === 0 && node && isMap(node)) {
    const candidates = objectKeysAt(context.schema, issue.path);
    const entries = source.entries(node);
    return issue.keys.map((key) => {
      const keyNode = entries.find((entry) => entry.key === key)?.keyNode ?? node;
      return source.problemAt(keyNode, `unknown key '${key}'${didYouMean(key, candidates)}`);
    });
  }
  if (issue.code === 'invalid_type' && rest.length === 1 && node && isMap(node)) {
    return [source.problemAt(node, `missing required key '${String(rest[0])}'`, rest)];
  }
  return [source.problemAt(node, issue.message, rest)];
}

/**
 * Follows an issue path from a value node through mappings (with merges) and lists. Returns the deepest
 * node reached (aliases resolved to where the value is written) and the part of the path that had no node.
 */
export function descend(source: SourceFile, start: Node, path: readonly PropertyKey[]): { node: Node; rest: PropertyKey[] } {
  let node: Node = source.resolve(start) ?? start;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    let next: Node | null | undefined;
    if (isMap(node)) {
      const entry = source.entries(node).find((candidate) => candidate.key === String(segment));
      next = entry ? (entry.value ?? entry.keyNode) : undefined;
    } else if (isSeq(node) && typeof segment === 'number') {
      next = node.items[segment] as Node | null | undefined;
    }
    if (!next) return { node, rest: path.slice(i) };
    node = source.resolve(next) ?? next;
  }
  return { node, rest: [] };
}
