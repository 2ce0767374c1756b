/** INI inventories: Ansible's format, its value typing, and located errors. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { loadInventory } from '../../src/inventory/load.ts';
import { readPythonLiteral } from '../../src/inventory/python-literal.ts';
import { splitShellWords } from '../../src/inventory/shlex.ts';
import { looksLikeYaml } from '../../src/inventory/inventory-files.ts';
import { problemsOf, summarize, testVars, writeInventory } from './inventory-helpers.ts';

const loadIni = (text: string, name = 'hosts') => loadInventory(writeInventory(text, name), { vars: testVars, env: {} });
const varsOf = async (text: string, host: string) => {
  const { resolveInventory } = await import('../../src/inventory/load.ts');
  const resolved = await resolveInventory(writeInventory(text, 'hosts'), { vars: testVars, env: {} });
  const found = resolved.hosts.find((candidate) => candidate.host.name === host) ?? assert.fail(`no host ${host}`);
  return Object.fromEntries([...found.definitions].map(([name, def]) => [name, resolved.reader.read(def, { expandEnv: false }).value]));
};

describe('INI structure', () => {
  test('groups, children, ranges, host:port, [all:vars] and ungrouped hosts, as Ansible reads them', async () => {
    const inventory = await loadIni(`# comment
; another comment
loose ansible_host=10.0.0.9

[web]
web[01:02] ansible_host=10.0.0.1
db1:2201

[db]
db1

[prod:children]
web
db

[all:vars]
ansible_user=deploy
`);
    assert.deepEqual(inventory.hosts.map((host) => host.name), ['loose', 'web01', 'web02', 'db1']);
    assert.deepEqual(inventory.groups.get('prod'), ['web01', 'web02', 'db1']);
    assert.deepEqual(inventory.groups.get('ungrouped'), ['loose']);
    const db1 = inventory.hosts.find((host) => host.name === 'db1')!;
    assert.equal(db1.connection.port, 2201);
    assert.equal(db1.connection.user, 'deploy');
    assert.deepEqual(db1.groups, ['all', 'prod', 'db', 'web']);
  });

  test('a [group:children] line may name a group defined further down', async () => {
    const inventory = await loadIni('[prod:children]\nweb\n\n[web]\nw1\n');
    assert.deepEqual(inventory.groups.get('prod'), ['w1']);
  });

  test('precedence inside an INI file: all < parent < child < host line, priority beats name', async () => {
    const inventory = await loadIni(`[web]
w1 level=host
w2

[a]
w2
[b]
w2

[prod:children]
web

[a:vars]
tie=a
ansible_group_priority=5
[b:vars]
tie=b
[web:vars]
level=web
[prod:vars]
level=prod
[all:vars]
level=all
`);
    const host = (name: string) => inventory.hosts.find((candidate) => candidate.name === name)!.vars;
    assert.equal(host('w1').level, 'host');
    assert.equal(host('w2').level, 'web');
    assert.equal(host('w2').tie, 'a');
  });

  test('host-line values are Python literals after shell-style quoting; [group:vars] values are Python literals as written', async () => {
    const vars = await varsOf(
      `[g]
h1 a=1 b=True c=true d="True" e='[1, 2]' f=0x1F g=01 h=1.5 i=None j="a b" k=x#y
h2 motd="hello # world" q='it''s' u=\\"w v={'k':'v'} w="{'k': 'v'}" x=-5 y=1_000

[g:vars]
v1=FALSE
v2=False
v3="quoted" # comment
v4 = spaced value
v5=1 # comment
v8=
`,
      'h1',
    );
    assert.deepEqual(vars, { a: 1, b: true, c: 'true', d: true, e: [1, 2], f: 31, g: '01', h: 1.5, i: null, j: 'a b', k: 'x', v1: 'FALSE', v2: false, v3: 'quoted', v4: 'spaced value', v5: 1, v8: '' });
    const h2 = await varsOf('[g]\nh2 motd="hello # world" q=\'it\'\'s\' u=\\"w v={\'k\':\'v\'} w="{\'k\': \'v\'}" x=-5 y=1_000\n', 'h2');
    assert.deepEqual(h2, { motd: 'hello # world', q: 'its', u: '"w', v: '{k:v}', w: { k: 'v' }, x: -5, y: 1000 });
  });

  test('the format is chosen by content: INI named .yaml and YAML named hosts both load', async () => {
    assert.deepEqual((await loadIni('[web]\nw1\n', 'inventory.yaml')).hosts.map((host) => host.name), ['w1']);
    assert.deepEqual((await loadIni('all:\n  hosts:\n    y1:\n', 'hosts')).hosts.map((host) => host.name), ['y1']);
    assert.equal(looksLikeYaml('# c\n[web]\n'), false);
    assert.equal(looksLikeYaml('web1 ansible_host=1.2.3.4 motd="a: b"\n'), false);
    assert.equal(looksLikeYaml('host1:2222\n'), false);
    assert.equal(looksLikeYaml('---\nall:\n'), true);
    assert.equal(looksLikeYaml('{"all": {}}'), true);
    assert.equal(looksLikeYaml('"all":\n'), true);
  });
});

describe('INI errors name the file, line and column', () => {
  test('a broken line, an unclosed quote, a bad section and a missing child are each reported, together', async () => {
    const problems = await problemsOf(
      loadIni(`[web]
w1 ansible_port
w2 motd="unclosed
[web
[web:bogus]
x

[prod:children]
nosuchgroup

[other:vars]
novalue
`),
    );
    assert.deepEqual(summarize(problems), [
      "2:4 : expected key=value after the host name, got 'ansible_port'",
      '3:1 : cannot read this host line: no closing quotation for the " that opens the word at column 4',
      "4:1 : invalid section header '[web': write [group], [group:vars] or [group:children], without spaces inside the brackets",
      "5:1 : section [web:bogus] has the unknown type 'bogus': expected [web], [web:vars] or [web:children]",
      "9:1 : [prod:children] names group 'nosuchgroup', which no section defines (add a [nosuchgroup] section)",
      "11:2 : [other:vars] sets variables of group 'other', which no section defines (add a [other] section)",
      "12:1 : expected name=value in [other:vars], got 'novalue'",
    ]);
    assert.match(problems[0]?.position?.file ?? '', /hosts$/);
  });

  test('a wrong value is reported where it is written on the host line, with the variable as its path', async () => {
    const problems = await problemsOf(loadIni('[web]\nw1 ansible_host=1.2.3.4 ansible_port=abc\n'));
    assert.deepEqual(summarize(problems), ['2:38 ansible_port: expected a port number from 1 to 65535, not the string "abc" (write it without quotes)']);
    const nested = await problemsOf(loadIni('[web]\nw1\n[web:vars]\nssh={"port": "x"}\n'));
    assert.deepEqual(summarize(nested), ['4:5 ssh.port: Invalid input: expected number, received string']);
  });

  test('a group that contains itself through children', async () => {
    const problems = await problemsOf(loadIni('[a:children]\nb\n[b:children]\na\n[a]\nh1\n'));
    assert.match(summarize(problems).join('\n'), /cannot be a child of '.': that makes a loop/);
  });
});

describe('Python literals and shell words', () => {
  test('literals as ast.literal_eval reads them; anything else is not one', () => {
    const cases: [string, unknown][] = [
      ['42', 42],
      ['-5', -5],
      ['0o17', 15],
      ['0b101', 5],
      ['1e3', 1000],
      ['.5', 0.5],
      ['"a\\tb"', 'a\tb'],
      ["r'a\\tb'", 'a\\tb'],
      ["'a' 'b'", 'ab'],
      ['"\\x41\\u00e9"', 'Aé'],
      ["b'xy'", 'xy'],
      ['(1,)', [1]],
      ['()', []],
      ['(1)', 1],
      ['{1: "a", "b": [True, None]}', { 1: 'a', b: [true, null] }],
      ['[1, 2,]', [1, 2]],
      ['1 # comment', 1],
    ];
    for (const [text, value] of cases) assert.deepEqual(readPythonLiteral(text), { value }, text);
    for (const text of ['yes', 'true', '01', '1_', 'x + 1', "f'x'", '--5', '1j', '[1, 2', '"unclosed', '', 'None None']) {
      assert.equal(readPythonLiteral(text), undefined, text);
    }
  });

  test('shell words: quotes group and go, backslashes escape, # starts a comment even inside a word', () => {
    assert.deepEqual(splitShellWords('a b="c d" e=\'f g\' h\\ i j#k l').map((word) => word.text), ['a', 'b=c d', 'e=f g', 'h i', 'j']);
    assert.deepEqual(splitShellWords('x="a\\"b\\q"').map((word) => word.text), ['x=a"b\\q']);
    assert.deepEqual(splitShellWords('p=a#b', { comments: false }).map((word) => word.text), ['p=a#b']);
    assert.throws(() => splitShellWords('x="open'), /no closing quotation/);
  });
});
