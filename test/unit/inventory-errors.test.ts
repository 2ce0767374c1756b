import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { relative as relative_ } from 'node:path';
import { z } from 'zod';
import { loadInventory } from '../../src/inventory/load.ts';
import { loadText, problemsOf, summarize, testVars, writeInventory } from './inventory-helpers.ts';

describe('unknown keys', () => {
  test('a misspelt nested key is reported at the key itself, with did-you-mean', async () => {
    const problems = await problemsOf(
      loadText(`all:
  children:
    web:
      vars:
        ssh:
          prot: 2222
      hosts:
        w1:
`),
    );
    assert.deepEqual(problems, [
      {
        message: "unknown key 'prot'; did you mean 'port'?",
        path: 'all.children.web.vars.ssh.prot',
        position: { file: problems[0]?.position?.file, line: 6, column: 11 },
      },
    ]);
  });

  test('a misspelt top-level variable suggests task and connection variables; another project\'s variable is left alone', async () => {
    const problems = await problemsOf(
      loadText(`all:
  hosts:
    h1:
      fail2bam: {}
      ansible_usr: bob
      zzz: 1
`),
    );
    assert.deepEqual(summarize(problems), [
      "4:7 all.hosts.h1.fail2bam: unknown variable 'fail2bam'; did you mean 'fail2ban'?",
      "5:7 all.hosts.h1.ansible_usr: unknown variable 'ansible_usr'; did you mean 'ansible_user'?",
    ]);
  });

  test("Ansible's legacy connection names are refused with the name to use", async () => {
    const problems = await problemsOf(loadText('all:\n  hosts:\n    h1:\n      ansible_ssh_user: bob\n'));
    assert.deepEqual(summarize(problems), [
      "4:7 all.hosts.h1.ansible_ssh_user: 'ansible_ssh_user' is an old Ansible name that provision does not read; use 'ansible_user'",
    ]);
  });

  test('an unknown key in a group definition', async () => {
    const problems = await problemsOf(loadText('all:\n  children:\n    web:\n      host:\n        w1:\n'));
    assert.deepEqual(summarize(problems), [
      "4:7 all.children.web.host: unknown key 'host' in group 'web': expected hosts, vars or children; did you mean 'hosts'?",
    ]);
  });
});

describe('wrong values', () => {
  test('a wrong type is reported at the value with its document path', async () => {
    const problems = await problemsOf(loadText('all:\n  hosts:\n    h1:\n      ssh:\n        port: "abc"\n'));
    assert.deepEqual(summarize(problems), ['5:15 all.hosts.h1.ssh.port: Invalid input: expected number, received string']);
  });

  test('a missing required key points at the mapping that lacks it', async () => {
    const vars = testVars.extend({ node: z.object({ api_port: z.number() }).strict().optional() });
    const file = writeInventory('all:\n  hosts:\n    h1:\n      node: {}\n');
    const problems = await problemsOf(loadInventory(file, { vars }));
    assert.deepEqual(summarize(problems), ["4:13 all.hosts.h1.node.api_port: missing required key 'api_port'"]);
  });

  test('a required variable that no group or host sets is reported at each host', async () => {
    const vars = testVars.extend({ node: z.object({ api_port: z.number() }).strict() });
    const file = writeInventory('all:\n  hosts:\n    h1:\n    h2:\n');
    const problems = await problemsOf(loadInventory(file, { vars }));
    assert.deepEqual(summarize(problems), [
      "3:5 all.hosts.h1: required variable 'node' is not set for host 'h1'",
      "4:5 all.hosts.h2: required variable 'node' is not set for host 'h2'",
    ]);
  });

  test('a wrong group var is reported once, not once per host', async () => {
    const problems = await problemsOf(
      loadText(`all:
  children:
    nodes:
      vars:
        ssh: {port: nope}
        ansible_port: "2222"
      hosts:
        n1:
        n2:
        n3:
`),
    );
    assert.deepEqual(summarize(problems), [
      '5:21 all.children.nodes.vars.ssh.port: Invalid input: expected number, received string',
      '6:23 all.children.nodes.vars.ansible_port: expected a port number from 1 to 65535, not the string "2222" (write it without quotes)',
    ]);
  });

  test('a group var every host overrides is not validated (as in Ansible, it never applies)', async () => {
    const inventory = await loadText('all:\n  vars:\n    ssh: {port: nope}\n  hosts:\n    h1: {ssh: {port: 1}}\n');
    assert.deepEqual(inventory.hosts[0]?.vars.ssh, { port: 1, user: 'admin' });
  });

  test('every problem of the file is reported together, in file order', async () => {
    const problems = await problemsOf(
      loadText(`all:
  hosts:
    h1:
      ssh: {port: x}
    h2:
      level: 3
      ansible_become_password: \${UNSET_ONE}
`),
    );
    assert.deepEqual(
      problems.map((p) => p.position?.line),
      [4, 6, 7],
    );
  });

  test('a value reused through an alias is reported once, where it is written', async () => {
    const problems = await problemsOf(
      loadText(`all:
  hosts:
    h1: &defaults
      ssh: {port: bad}
    h2: *defaults
    h3:
      <<: *defaults
`),
    );
    assert.deepEqual(summarize(problems), ['4:19 all.hosts.h1.ssh.port: Invalid input: expected number, received string']);
  });
});

describe('hostile connection values', () => {
  test('values that would break out of a config line or pass for an option are refused where they are written', async () => {
    const problems = await problemsOf(
      loadText(
        `all:
  hosts:
    h1:
      ansible_host: "10.0.0.1\\nProxyCommand evil"
      private_ip: "\${NODE_IP}"
      ansible_user: "-oProxyCommand=evil"
    h2:
      ansible_host: "-oProxyCommand=evil"
      private_ip: "10.0.0.2 backup"
      ansible_user: "root\\u0000"
`,
        { NODE_IP: '10.0.0.5\n    server backdoor 203.0.113.66:80' },
      ),
    );
    assert.deepEqual(summarize(problems), [
      '4:21 all.hosts.h1.ansible_host: expected an IP address or DNS name (letters, digits, dots, - and _), not "10.0.0.1\\nProxyCommand evil"',
      '5:19 all.hosts.h1.private_ip: expected an IP address or DNS name (letters, digits, dots, - and _), not "10.0.0.5\\n    server backdoor 203.0.113.66:80"',
      '6:21 all.hosts.h1.ansible_user: expected a user name (letters, digits, _ . @ -; not starting with -)',
      '8:21 all.hosts.h2.ansible_host: expected an IP address or DNS name (letters, digits, dots, - and _), not "-oProxyCommand=evil"',
      '9:19 all.hosts.h2.private_ip: expected an IP address or DNS name (letters, digits, dots, - and _), not "10.0.0.2 backup"',
      '10:21 all.hosts.h2.ansible_user: expected a user name (letters, digits, _ . @ -; not starting with -)',
    ]);
  });
});

describe('structure problems', () => {
  test('hosts given as a list', async () => {
    const problems = await problemsOf(loadText('all:\n  children:\n    db:\n      hosts: [a, b]\n'));
    assert.deepEqual(summarize(problems), [
      "4:14 all.children.db.hosts: hosts of group 'db' must be a mapping of host name to vars (or empty), not a list",
    ]);
  });

  test('a host whose value is a string, and vars that are not a mapping', async () => {
    const problems = await problemsOf(loadText('all:\n  vars: [x]\n  hosts:\n    h1: web\n'));
    assert.deepEqual(summarize(problems), [
      "2:9 all.vars: vars of group 'all' must be a mapping of variables (or empty), not a list",
      "4:9 all.hosts.h1: host 'h1' must be a mapping of variables (or empty), not the string 'web'",
    ]);
  });

  test('a file that is not a mapping', async () => {
    const problems = await problemsOf(loadText('- a\n- b\n'));
    assert.deepEqual(summarize(problems), ['1:1 : an inventory is a mapping of groups (starting with `all:`), not a list']);
  });

  test('an empty inventory, and one with groups but no hosts', async () => {
    assert.match((await problemsOf(loadText('')))[0]?.message ?? '', /defines no hosts/);
    assert.match((await problemsOf(loadText('all:\n  children:\n    web:\n')))[0]?.message ?? '', /defines no hosts/);
  });

  test('hosts: at the top level, outside any group', async () => {
    const problems = await problemsOf(loadText('hosts:\n  h1:\n'));
    assert.deepEqual(summarize(problems), ["1:1 hosts: 'hosts:' belongs inside a group, e.g. `all: {hosts: …}`; top-level keys are group names"]);
  });

  test('a missing inventory file', async () => {
    const problems = await problemsOf(loadInventory('does/not/exist.yaml', { vars: testVars }));
    assert.deepEqual(problems, [{ message: 'inventory file not found: does/not/exist.yaml' }]);
  });

  test('the file name in positions is the one the user gave', async () => {
    const relative = relative_(process.cwd(), writeInventory('all:\n  hosts:\n    h1: {ansible_port: x}\n'));
    const problems = await problemsOf(loadInventory(relative, { vars: testVars }));
    assert.equal(problems[0]?.position?.file, relative);
  });

  test('a group that contains itself through children', async () => {
    const problems = await problemsOf(loadText('all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n          hosts: {h: }\n'));
    assert.deepEqual(summarize(problems), ["7:13 all.children.a.children.b.children.a: group 'a' cannot be a child of 'b': that makes a loop"]);
  });
});

describe('YAML problems', () => {
  test('a syntax error has a position', async () => {
    const problems = await problemsOf(loadText('all:\n  hosts:\n    h1: [unclosed\n    h2:\n'));
    assert.ok(problems.length >= 1);
    assert.match(problems[0]?.message ?? '', /^YAML syntax error: /);
    // The parser notices the unclosed list where the next key starts.
    assert.deepEqual(problems[0]?.position, { file: problems[0]?.position?.file, line: 4, column: 5 });
  });

  test('a second YAML document is refused', async () => {
    const problems = await problemsOf(loadText('all:\n  hosts: {h1: }\n---\nall: {}\n'));
    assert.deepEqual(summarize(problems), ['3:1 : an inventory is one YAML document; remove the second `---`']);
  });

  test('a duplicate key is an error naming the key', async () => {
    const problems = await problemsOf(loadText('all:\n  hosts:\n    h1:\n    h1:\n'));
    assert.deepEqual(summarize(problems), ["4:5 all.hosts.h1: duplicate key 'h1' (each key may appear once per mapping)"]);
    const nested = await problemsOf(loadText('all:\n  hosts:\n    h1:\n      ssh: {port: 1, port: 2}\n'));
    assert.deepEqual(summarize(nested), ["4:22 all.hosts.h1.ssh.port: duplicate key 'port' (each key may appear once per mapping)"]);
  });

  test('an alias bomb is refused quickly', { timeout: 10_000 }, async () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const text = `all:\n  hosts:\n    h1:\n      paths:\n${levels.map((line) => `        ${line}`).join('\n')}\n`;
    const started = Date.now();
    const problems = await problemsOf(loadText(text));
    assert.ok(Date.now() - started < 2000, 'took too long');
    assert.match(problems[0]?.message ?? '', /too many YAML alias expansions/);
  });

  test('an unknown alias is reported at the alias', async () => {
    const problems = await problemsOf(loadText('all:\n  hosts:\n    h1: *nothing\n'));
    assert.deepEqual(summarize(problems), ['3:9 all.hosts.h1: unknown alias *nothing (anchors must be defined before they are used)']);
  });

  test('a self-referencing anchor does not hang', async () => {
    const problems = await problemsOf(loadText('all:\n  hosts:\n    h1:\n      paths: &p {self: *p}\n'));
    assert.match(problems[0]?.message ?? '', /alias refers to a mapping or list that contains it/);
  });

  test('a vault value without a vault password names the flags that give one, at the value', async () => {
    const problems = await problemsOf(loadText('all:\n  hosts:\n    h1:\n      ansible_password: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162\n'));
    assert.match(problems[0]?.message ?? '', /encrypted with Ansible Vault: give --vault-password-file FILE, --ask-vault-pass or ANSIBLE_VAULT_PASSWORD_FILE/);
    assert.equal(problems[0]?.position?.line, 4);
  });
});
