/** YAML files (inventories, group_vars and host_vars files, `-e @file`) parsed as Ansible reads them, with positions. */

import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import type { InputProblem } from '../errors.ts';
import { ProblemList } from './problems.ts';
import { SourceFile, asNode, isMergeKey, type SourceFileOptions } from './source-file.ts';
import { VAULT_TAG, ansibleYamlTags } from './yaml-typing.ts';

/**
 * The library counts (uses of an anchor × aliases inside it); 1000 lets a flat `&defaults` be reused
 * by a thousand hosts but stops "billion laughs" nesting after a few levels.
 */
export const MAX_ALIAS_COUNT = 1000;

/** The message for input nested deeper than the parser (or the loader) can recurse. */
export const NESTED_TOO_DEEPLY = 'the YAML is nested too deeply';

/**
 * Parses YAML text read from `file` (the name is only used in positions). Malformed YAML, duplicate keys,
 * unknown aliases and bad merge keys are added to `problems`; the result is undefined when there were any.
 */
export function parseYamlSource(file: string, text: string, problems: ProblemList, options: SourceFileOptions = {}): SourceFile | undefined {
  const lineCounter = new LineCounter();
  // merge: Ansible reads YAML 1.1, where `<<: *defaults` is common. Duplicate keys are found by SourceFile.
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    merge: true,
    uniqueKeys: false,
    schema: 'yaml-1.1',
    customTags: ansibleYamlTags,
  });
  const source = new SourceFile(file, doc.contents, lineCounter, options);
  const found = new ProblemList();
  let tooDeep = false;
  for (const error of doc.errors) {
    const message = yamlErrorMessage(error.code, error.message);
    // The parser reports a stack overflow once per level it unwinds; once is enough.
    if (message === NESTED_TOO_DEEPLY && tooDeep) continue;
    tooDeep ||= message === NESTED_TOO_DEEPLY;
    found.add({ message, position: source.positionAt(error.pos[0]) });
  }
  for (const keyNode of source.duplicateKeys) {
    // A silent "last one wins" would hide half of a host's settings, so a repeated key is an error.
    found.add(source.problemAt(keyNode, `duplicate key '${source.keyText(keyNode) ?? '?'}' (each key may appear once per mapping)`));
  }
  if (found.size === 0) found.addAll(constructProblems(source));
  if (found.size === 0) {
    try {
      // Only to trip the library's alias-bomb guard before anything expands aliases.
      doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      const message = /excessive alias count/i.test((error as Error).message)
        ? `too many YAML alias expansions (more than ${MAX_ALIAS_COUNT}); nested aliases that multiply are refused`
        : `YAML error: ${(error as Error).message}`;
      found.add({ message, position: source.positionAt(0) });
    }
  }
  problems.addAll(found.items);
  return found.size === 0 ? source : undefined;
}

/** The parser's messages, reworded where they name library internals. */
function yamlErrorMessage(code: string, message: string): string {
  if (code === 'MULTIPLE_DOCS') return 'an inventory is one YAML document; remove the second `---`';
  if (/call stack/i.test(message)) return NESTED_TOO_DEEPLY;
  return `YAML syntax error: ${message}`;
}

/** Unknown aliases, merge keys that do not name mappings, and `!vault` on anything but text, each at its position. */
function constructProblems(source: SourceFile): InputProblem[] {
  const problems: InputProblem[] = [];
  const visit = (node: Node | null): void => {
    if (!node) return;
    if (isAlias(node)) {
      if (source.resolve(node) === undefined) problems.push(source.problemAt(node, `unknown alias *${node.source} (anchors must be defined before they are used)`));
      return;
    }
    if (node.tag === VAULT_TAG && !(isScalar(node) && typeof node.value === 'string')) {
      problems.push(source.problemAt(node, '!vault must tag the text of an encrypted value (`!vault |` and the lines ansible-vault encrypt_string printed)'));
    }
    if (isMap(node)) {
      for (const pair of node.items) {
        const value = asNode(pair.value);
        if (isMergeKey(pair.key)) {
          const resolved = source.resolve(value);
          const items = resolved && isSeq(resolved) ? resolved.items.map((item) => source.resolve(asNode(item))) : [resolved];
          if (items.some((item) => !item || !isMap(item))) {
            problems.push(source.problemAt(value ?? asNode(pair.key), '`<<` must name a mapping (or a list of mappings), e.g. `<<: *defaults`'));
          }
        }
        visit(asNode(pair.key));
        visit(value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) visit(asNode(item));
    }
  };
  visit(source.root);
  return problems;
}
