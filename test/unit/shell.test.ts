import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join, quote, sh } from '../../src/transport/shell.ts';

const hostile = [
  `it's`,
  '$(touch /tmp/pwned)',
  '`id`',
  'a; rm -rf /',
  'line1\nline2',
  '"double" \\ back',
  '',
  '  spaces  ',
  '*',
  'ünïcødé ✓',
];

test('every hostile value reaches the shell as data, byte for byte', () => {
  for (const value of hostile) {
    const command = sh`printf '%s' ${value}`;
    const output = execFileSync('/bin/sh', ['-c', command.text], { encoding: 'utf8' });
    assert.equal(output, value, `value ${JSON.stringify(value)} came back as ${JSON.stringify(output)}`);
  }
});

test('safe words are left unquoted, everything else single-quoted', () => {
  assert.equal(quote('/etc/ssh/sshd_config'), '/etc/ssh/sshd_config');
  assert.equal(quote('a b'), `'a b'`);
  assert.equal(quote(''), `''`);
  assert.equal(quote(`it's`), `'it'\\''s'`);
});

test('lists become separately quoted words and commands nest as code', () => {
  const inner = sh`echo ${'a b'}`;
  assert.equal(sh`x ${['p q', 'r']} && ${inner}`.text, `x 'p q' r && echo 'a b'`);
  assert.equal(join([sh`true`, sh`false`], '||').text, 'true || false');
});

test('a string that looks like a command is still quoted as data', () => {
  const text = sh`echo hi`.text;
  assert.equal(sh`run ${text}`.text, `run 'echo hi'`);
});

test('non-finite numbers are refused', () => {
  assert.throws(() => sh`sleep ${Number.NaN}`);
});
