/**
 * Fuzzing the inventory loader and the variable schemas: random, mutated and hostile documents must either load
 * or fail with an InputError (a located, readable message) — never any other exception, never a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../../src/errors.ts';
import { loadInventory } from '../../src/inventory/load.ts';
import { hostVarsSchema } from '../../playbooks/site.ts';
import { runCli } from '../support/cli.ts';
import { scratchDir } from '../support/scratch.ts';

const dir = scratchDir('provision-fuzz-');
const example = readFileSync(fileURLToPath(new URL('../../inventory/example.yaml', import.meta.url)), 'utf8');

/** A small seeded generator, so a failure can be replayed from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const JUNK = [':', '- ', '{', '}', '[', ']', '&a ', '*a', '!!binary ', '|', '>', '"', "'", '#', '\t', '\u0000', '\u202e', '😀', 'ünï', '${', '${X}', '$(id)', '`id`', '\n', '  ', '? ', '<<: ', '%YAML 1.1\n', '---\n', '...\n',
  // Values that would end a config line or pass for an option on a command line.
  '10.0.0.5\n    server backdoor 203.0.113.66:80', '-oProxyCommand=x', '--help', '\u2028', '\r\n', '$6$rounds=999999999$x$'];

function mutate(text: string, next: () => number): string {
  let out = text;
  const edits = 1 + Math.floor(next() * 6);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(next() * out.length);
    const kind = next();
    if (kind < 0.35) out = out.slice(0, at) + out.slice(at + 1 + Math.floor(next() * 20));
    else if (kind < 0.75) out = out.slice(0, at) + JUNK[Math.floor(next() * JUNK.length)] + out.slice(at);
    else {
      const other = Math.floor(next() * out.length);
      out = out.slice(0, at) + out.slice(other, other + 30) + out.slice(at);
    }
  }
  return out;
}

function randomValue(next: () => number, depth = 0): unknown {
  const kind = Math.floor(next() * (depth > 3 ? 6 : 9));
  switch (kind) {
    case 0: return Math.floor(next() * 1e6) - 5e5;
    case 1: return next() < 0.5;
    case 2: return null;
    case 3: return 'x'.repeat(Math.floor(next() * 50));
    case 4: return JUNK[Math.floor(next() * JUNK.length)];
    case 5: return next() * 1e308;
    case 6: return [randomValue(next, depth + 1), randomValue(next, depth + 1)];
    default: {
      const keys = ['ssh', 'updates', 'port', 'ansible_port', 'ansible_host', 'hosts', 'vars', 'children', 'admin_user', 'authorized_keys', 'reboot', 'ssh_host_key', 'ssh_host_key_checking', 'private_ip', 'ansible_user', 'node', 'service', 'haproxy', 'allow'];
      return Object.fromEntries(Array.from({ length: 1 + Math.floor(next() * 3) }, () => [keys[Math.floor(next() * keys.length)]!, randomValue(next, depth + 1)]));
    }
  }
}

const env = { HOME: fileURLToPath(new URL('../fixtures/inventory/home', import.meta.url)) };
// `~/` in the inventory is resolved with this process's HOME: the same one the CLI runs get, so that an inventory
// that fails here fails there too (one that loads would make the CLI connect to the example's hosts).
process.env.HOME = env.HOME;

async function outcome(text: string, name: string): Promise<'loaded' | 'input-error'> {
  const file = join(dir, name);
  writeFileSync(file, text);
  try {
    await loadInventory(file, { vars: hostVarsSchema, env });
    return 'loaded';
  } catch (error) {
    if (error instanceof InputError) {
      assert.ok(error.message.length > 0 && error.message.length < 100_000, 'a readable message');
      return 'input-error';
    }
    throw new Error(`${name}: not an InputError: ${(error as Error)?.stack}\n--- input ---\n${text.slice(0, 2000)}`);
  }
}

test('300 mutations of the example inventory load or fail with an InputError', async () => {
  const counts = { loaded: 0, 'input-error': 0 };
  for (let seed = 1; seed <= 300; seed++) counts[await outcome(mutate(example, random(seed)), `mutated-${seed}.yaml`)] += 1;
  assert.ok(counts['input-error'] > 50, `mutations should mostly break it: ${JSON.stringify(counts)}`);
});

const iniExample = readFileSync(fileURLToPath(new URL('../fixtures/ansible-project/hosts.ini', import.meta.url)), 'utf8');
const INI_JUNK = ['=', '[', ']', ':', ':vars]', ':children]', '[a:c]', '"', "'", '\\', '#', ';', '{', '(', '0x', "u'", 'True', '\n[', '\n', ' ', '\u0000', '😀'];

test('300 mutations of an INI inventory load or fail with an InputError', async () => {
  const counts = { loaded: 0, 'input-error': 0 };
  for (let seed = 1; seed <= 300; seed++) {
    const next = random(seed * 31);
    let text = mutate(iniExample, next);
    for (let i = 0; i < 3; i++) {
      const at = Math.floor(next() * text.length);
      text = text.slice(0, at) + INI_JUNK[Math.floor(next() * INI_JUNK.length)] + text.slice(at);
    }
    counts[await outcome(text, `mutated-${seed}.ini`)] += 1;
  }
  assert.ok(counts['input-error'] > 50 && counts.loaded > 0, `mutations should break it often, not always: ${JSON.stringify(counts)}`);
});

test('random text never throws from the INI value reader', async () => {
  const { readPythonLiteral } = await import('../../src/inventory/python-literal.ts');
  const pieces = ['1', '0', '_', '.', 'e', '-', '+', 'x', 'o', 'b', 'j', "'", '"', '\\', 'u', 'r', '[', ']', '(', ')', '{', '}', ',', ':', ' ', '#', 'True', 'None', 'N{', 'x41'];
  for (let seed = 1; seed <= 2000; seed++) {
    const next = random(seed);
    const text = Array.from({ length: 1 + Math.floor(next() * 12) }, () => pieces[Math.floor(next() * pieces.length)]).join('');
    const result = readPythonLiteral(text);
    if (result !== undefined) assert.doesNotThrow(() => JSON.stringify(result.value), text);
  }
});

test('300 random documents of wrong types load or fail with an InputError', async () => {
  const { stringify } = await import('yaml');
  for (let seed = 1; seed <= 300; seed++) {
    const next = random(seed * 7919);
    const document = { all: { vars: randomValue(next), hosts: { h1: randomValue(next) }, children: { nodes: randomValue(next) } } };
    await outcome(stringify(document), `random-${seed}.yaml`);
  }
});

test('huge values, deep nesting, unicode and alias bombs are refused cleanly', async () => {
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`), 'all: {hosts: {h: {ansible_host: *i}}}'].join('\n');
  const cases: Record<string, string> = {
    'alias-bomb': bomb,
    'huge-string': `all:\n  hosts:\n    h1:\n      ansible_host: "${'a'.repeat(5_000_000)}"\n`,
    'huge-number': 'all:\n  hosts:\n    h1:\n      ansible_port: 1e400\n',
    'deep-nesting': `all:\n  vars:\n    ssh: ${'['.repeat(5000)}${']'.repeat(5000)}\n  hosts: {h1: }\n`,
    'unicode-names': 'all:\n  hosts:\n    "nöde‮1😀": {ansible_host: "ḧöst"}\n',
    'control-chars': 'all:\n  hosts:\n    "a\\u0000b": {}\n',
    'newline-private-ip': 'all:\n  hosts:\n    h1: {private_ip: "10.0.0.5\\n    server backdoor 203.0.113.66:80"}\n',
    'newline-host-name': 'all:\n  hosts:\n    "n1\\n    server backdoor 203.0.113.66:80": {}\n',
    'dash-user-and-service': 'all:\n  hosts:\n    h1: {ansible_user: "-oProxyCommand=x", node: {service: "-H x"}}\n',
    'many-hosts-no-vars': `all:\n  hosts:\n${Array.from({ length: 2000 }, (_, i) => `    h${i}:`).join('\n')}\n`,
    'not-yaml': '\u0000\u0001\u0002binary',
    'empty': '',
    'list-at-top': '- a\n- b\n',
  };
  for (const [name, text] of Object.entries(cases)) await outcome(text, `${name}.yaml`);
});

test('through the CLI, broken inventories exit 2 with a message and no stack trace', async () => {
  let checked = 0;
  for (let seed = 1; checked < 5 && seed < 100; seed++) {
    const text = mutate(example, random(seed));
    // Only inventories that fail to load go to the CLI: a valid one would make it connect to the example's hosts.
    if ((await outcome(text, `cli-${seed}.yaml`)) === 'loaded') continue;
    checked += 1;
    const result = await runCli(['apply', join(dir, `cli-${seed}.yaml`), '--dry-run'], { env });
    assert.equal(result.code, 2, `seed ${seed}: ${result.stderr}`);
    assert.match(result.stderr, /^error: /);
    assert.doesNotMatch(result.stderr, /\n\s+at [\w.<]+ \(/, `seed ${seed} printed a stack trace`);
  }
  assert.equal(checked, 5);
});
