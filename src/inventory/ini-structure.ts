/**
 * Ansible's INI inventory format read into the model: `[group]` host lines with `key=value` variables,
 * `[group:vars]` lines, `[group:children]`, host ranges, `host:port`, `#` and `;` comments. Values are typed as
 * Ansible types them (Python literals; see python-literal.ts). Every key and value becomes a node placed in the
 * file, so errors name the line and column, as they do for YAML.
 */

import { Scalar, type Node } from 'yaml';
import type { ProblemList } from './problems.ts';
import { SourceFile, countLines } from './source-file.ts';
import { splitShellWords } from './shlex.ts';
import { readPythonLiteral } from './python-literal.ts';
import { expandHostRanges } from './host-ranges.ts';
import { addHost, linkGroups, namedGroup, setGroupVar, wouldLoop, type InventoryModel, type VarDef } from './model.ts';

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/;
const GROUP_NAME = /^([^:\]\s]+)\s*(?:#.*)?$/;
const SECTION_KINDS = ['hosts', 'vars', 'children'];

/** A group named by a `[group:children]` or `[group:vars]` line before any section defines it. */
interface PendingGroup {
  kind: 'vars' | 'children';
  /** Where it was named, for the error if it is never defined. */
  node: Node;
  /** For `children`: the groups that want it as a child. */
  parents: string[];
}

/** Reads INI text from `file` into `model`, adding every problem to `problems` (reading on past a bad line). */
export function readIniInventory(file: string, text: string, problems: ProblemList, model: InventoryModel, options: { decrypted?: boolean } = {}): void {
  new IniReader(file, text, problems, model, options.decrypted === true).read(text);
}

/** A typed value for INI text: the Python literal it spells, else the text itself. */
export function iniValue(text: string): unknown {
  const literal = readPythonLiteral(text);
  return literal === undefined ? text : literal.value;
}

class IniReader {
  readonly #problems: ProblemList;
  readonly #model: InventoryModel;
  readonly #paths = new Map<Node, string>();
  readonly #source: SourceFile;
  readonly #pending = new Map<string, PendingGroup>();
  #group = 'ungrouped';
  #kind: 'hosts' | 'vars' | 'children' | 'skip' = 'hosts';

  constructor(file: string, text: string, problems: ProblemList, model: InventoryModel, decrypted: boolean) {
    this.#problems = problems;
    this.#model = model;
    this.#source = new SourceFile(file, null, countLines(text), { paths: this.#paths, decrypted });
  }

  read(text: string): void {
    let lineStart = 0;
    for (const raw of text.split('\n')) {
      const start = lineStart;
      lineStart += raw.length + 1;
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
      const at = start + (raw.length - raw.trimStart().length);
      const section = SECTION.exec(line);
      if (section) this.#section(section[1]!, section[2], at, line);
      else if (line.startsWith('[') && (line.endsWith(']') || !line.split(/\s/)[0]!.includes(']'))) {
        this.#problem(at, `invalid section header '${line}': write [group], [group:vars] or [group:children], without spaces inside the brackets`);
      } else if (this.#kind === 'hosts') this.#hostLine(line, at);
      else if (this.#kind === 'vars') this.#varLine(line, at);
      else if (this.#kind === 'children') this.#childLine(line, at);
    }
    for (const [name, pending] of this.#pending) {
      const message =
        pending.kind === 'vars'
          ? `[${name}:vars] sets variables of group '${name}', which no section defines (add a [${name}] section)`
          : `[${pending.parents.at(-1)}:children] names group '${name}', which no section defines (add a [${name}] section)`;
      this.#problems.add(this.#source.problemAt(pending.node, message));
    }
  }

  #section(name: string, kind: string | undefined, at: number, line: string): void {
    const node = this.#node(name, at + 1, at + 1 + name.length);
    const state = kind ?? 'hosts';
    if (!SECTION_KINDS.includes(state)) {
      this.#problem(at, `section ${line} has the unknown type '${state}': expected [${name}], [${name}:vars] or [${name}:children]`);
      this.#kind = 'skip';
      return;
    }
    this.#group = name;
    this.#kind = state as 'hosts' | 'vars' | 'children';
    // As Ansible: a group is defined by a hosts or children section; a vars section alone leaves it pending.
    if (!this.#model.groups.has(name)) {
      if (state === 'vars' && !this.#pending.has(name)) this.#pending.set(name, { kind: 'vars', node, parents: [] });
      namedGroup(this.#model, name, node, this.#source);
    }
    const pending = this.#pending.get(name);
    if (pending && state !== 'vars') {
      if (pending.kind === 'children') this.#adoptPending(name);
      else this.#pending.delete(name);
    }
  }

  /** A group named as a child before its own section: now defined, it joins the parents that named it. */
  #adoptPending(name: string): void {
    const pending = this.#pending.get(name);
    if (!pending) return;
    this.#pending.delete(name);
    const child = namedGroup(this.#model, name, pending.node, this.#source);
    for (const parentName of pending.parents) {
      if (wouldLoop(this.#model, parentName, name)) {
        this.#problems.add(this.#source.problemAt(pending.node, `group '${name}' cannot be a child of '${parentName}': that makes a loop`));
        continue;
      }
      linkGroups(namedGroup(this.#model, parentName, undefined, undefined), child);
      if (this.#pending.get(parentName)?.kind === 'children') this.#adoptPending(parentName);
    }
  }

  #hostLine(line: string, at: number): void {
    let words;
    try {
      words = splitShellWords(line);
    } catch (error) {
      this.#problem(at, `cannot read this host line: ${(error as Error).message}`);
      return;
    }
    const [first, ...rest] = words;
    if (!first) return;
    const hostNode = this.#node(first.text, at + first.start, at + first.end);
    const { pattern, port } = splitHostPort(first.text);
    if (pattern.endsWith(':') && port === undefined) {
      this.#problem(at + first.start, `host '${first.text}' ends in ':', which introduces a port: write host:PORT or the host alone`);
      return;
    }
    let names: string[];
    try {
      names = expandHostRanges(pattern);
    } catch (error) {
      this.#problem(at + first.start, (error as Error).message);
      return;
    }
    const vars = new Map<string, VarDef>();
    if (port !== undefined) {
      const portAt = at + first.start + first.text.lastIndexOf(':') + 1;
      this.#define(vars, 'ansible_port', hostNode, this.#node(port, portAt, portAt + String(port).length));
    }
    for (const word of rest) {
      const written = line.slice(word.start, word.end);
      const equals = word.text.indexOf('=');
      if (equals <= 0) {
        this.#problem(at + word.start, `expected key=value after the host name, got '${word.text}'`);
        continue;
      }
      const name = word.text.slice(0, equals);
      const valueAt = at + word.start + Math.max(written.indexOf('='), 0) + 1;
      const keyNode = this.#node(name, at + word.start, at + word.start + name.length);
      this.#define(vars, name, keyNode, this.#node(iniValue(word.text.slice(equals + 1)), valueAt, at + word.end));
    }
    const group = namedGroup(this.#model, this.#group, undefined, undefined);
    for (const name of names) addHost(this.#model, group, name, hostNode, this.#source, vars);
  }

  #varLine(line: string, at: number): void {
    const equals = line.indexOf('=');
    const name = equals === -1 ? '' : line.slice(0, equals).trim();
    if (equals === -1 || name === '') {
      this.#problem(at, `expected name=value in [${this.#group}:vars], got '${line}'`);
      return;
    }
    const rawValue = line.slice(equals + 1);
    const valueAt = at + equals + 1 + (rawValue.length - rawValue.trimStart().length);
    const vars = new Map<string, VarDef>();
    this.#define(vars, name, this.#node(name, at, at + name.length), this.#node(iniValue(rawValue.trim()), valueAt, at + line.length));
    const group = namedGroup(this.#model, this.#group, undefined, undefined);
    for (const def of vars.values()) setGroupVar(group, def);
  }

  #childLine(line: string, at: number): void {
    const match = GROUP_NAME.exec(line);
    if (!match) {
      this.#problem(at, `expected a group name in [${this.#group}:children], got '${line}'`);
      return;
    }
    const name = match[1]!;
    if (name === 'all') {
      this.#problem(at, "'all' cannot be a child group: every group is already inside it");
      return;
    }
    const node = this.#node(name, at, at + name.length);
    if (!this.#model.groups.has(name)) {
      const pending = this.#pending.get(name);
      if (pending?.kind === 'children') pending.parents.push(this.#group);
      else this.#pending.set(name, { kind: 'children', node, parents: [this.#group] });
      return;
    }
    if (wouldLoop(this.#model, this.#group, name)) {
      this.#problem(at, `group '${name}' cannot be a child of '${this.#group}': that makes a loop`);
      return;
    }
    linkGroups(namedGroup(this.#model, this.#group, undefined, undefined), namedGroup(this.#model, name, node, this.#source));
  }

  #define(into: Map<string, VarDef>, name: string, keyNode: Node, value: Node): void {
    this.#paths.set(value, name);
    into.set(name, { name, keyNode, value, source: this.#source });
  }

  /** A scalar node placed at [start, end) of the file, so positions and messages can name it. */
  #node(value: unknown, start: number, end: number): Node {
    const node = new Scalar(value);
    node.range = [start, end, end];
    return node;
  }

  #problem(offset: number, message: string): void {
    this.#problems.add({ message, position: this.#source.positionAt(offset) });
  }
}

/** `host:port` and `[host]:port` (for IPv6 addresses) split as Ansible splits them; the port as a number. */
export function splitHostPort(text: string): { pattern: string; port?: number } {
  const bracketed = /^\[(.+)\]:([0-9]+)$/.exec(text);
  if (bracketed) return { pattern: bracketed[1]!, port: Number(bracketed[2]) };
  const plain = /^((?:[^:[\]]|\[[^\]]*\])*):([0-9]+)$/.exec(text);
  if (plain) return { pattern: plain[1]!, port: Number(plain[2]) };
  return { pattern: text };
}
