/**
 * `-e` / `--extra-vars`, as Ansible takes them: `key=value` pairs (several in one argument, quoted as in a shell),
 * a JSON or YAML mapping (`'{"ssh": {"port": 2222}}'`), or `@FILE` (YAML or JSON, possibly vault-encrypted).
 * Later arguments win per variable; together they sit above every other source.
 */

import { Scalar, isMap, type Node } from 'yaml';
import type { ProblemList } from './problems.ts';
import type { VarDef } from './model.ts';
import type { VaultSecret } from './vault.ts';
import { SourceFile, countLines } from './source-file.ts';
import { splitShellWords } from './shlex.ts';
import { plainScalarValue } from './yaml-typing.ts';
import { parseYamlSource } from './yaml-source.ts';
import { readSourceText } from './source-text.ts';
import { fileVars } from './vars-files.ts';
import { expandHome } from './paths.ts';

/** The name positions use for a value given on the command line. */
const COMMAND_LINE = '--extra-vars';

/** The variables of every `-e` argument, later ones winning. */
export async function readExtraVars(values: readonly string[], secrets: readonly VaultSecret[], problems: ProblemList): Promise<Map<string, VarDef>> {
  const vars = new Map<string, VarDef>();
  for (const value of values) {
    for (const def of await extraVarsOf(value, secrets, problems)) vars.set(def.name, def);
  }
  return vars;
}

async function extraVarsOf(value: string, secrets: readonly VaultSecret[], problems: ProblemList): Promise<VarDef[]> {
  if (value.startsWith('@')) {
    const file = expandHome(value.slice(1));
    const read = await readSourceText(file, file, 'extra-vars file', secrets, problems);
    if (!read) return [];
    const source = parseYamlSource(file, read.text, problems, { decrypted: read.decrypted });
    return source ? fileVars(source, problems) : [];
  }
  const trimmed = value.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    const source = parseYamlSource(COMMAND_LINE, value, problems);
    if (!source) return [];
    const root = source.resolve(source.root);
    if (!root || !isMap(root)) {
      problems.add(source.problemAt(root, '-e takes a mapping of variables (JSON or YAML), key=value pairs, or @FILE'));
      return [];
    }
    return fileVars(source, problems);
  }
  return keyValuePairs(value, problems);
}

/** `key=value key2="two words"`: each value typed as a plain YAML scalar (2222 a number, true a boolean). */
function keyValuePairs(value: string, problems: ProblemList): VarDef[] {
  const paths = new Map<Node, string>();
  const source = new SourceFile(COMMAND_LINE, null, countLines(value), { paths });
  let words;
  try {
    words = splitShellWords(value, { comments: false });
  } catch (error) {
    problems.add({ message: `cannot read -e '${value}': ${(error as Error).message}`, position: source.positionAt(0) });
    return [];
  }
  const defs: VarDef[] = [];
  for (const word of words) {
    const equals = word.text.indexOf('=');
    if (equals <= 0) {
      problems.add({ message: `-e takes key=value pairs, a JSON or YAML mapping, or @FILE; got '${word.text}'`, position: source.positionAt(word.start) });
      continue;
    }
    const name = word.text.slice(0, equals);
    const keyNode = placed(name, word.start);
    const valueNode = placed(plainScalarValue(word.text.slice(equals + 1)), word.start + Math.max(value.slice(word.start, word.end).indexOf('='), 0) + 1);
    paths.set(valueNode, name);
    defs.push({ name, keyNode, value: valueNode, source });
  }
  return defs;
}

function placed(value: unknown, start: number): Node {
  const node = new Scalar(value);
  node.range = [start, start, start];
  return node;
}
