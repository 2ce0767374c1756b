import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { duration, parseDuration } from '../../src/inventory/duration.ts';
import { expandEnvRefs } from '../../src/inventory/env-refs.ts';
import { closestName, didYouMean, levenshtein } from '../../src/inventory/did-you-mean.ts';
import { expandHostRanges } from '../../src/inventory/host-ranges.ts';
import { secretString } from '../../src/inventory/secret.ts';
import { yamlBoolean } from '../../src/inventory/connection.ts';
import { clearSecrets, redact } from '../../src/report/redact.ts';

describe('durations', () => {
  test('units and bare seconds', () => {
    assert.equal(parseDuration('10s'), 10);
    assert.equal(parseDuration('10m'), 600);
    assert.equal(parseDuration('1h'), 3600);
    assert.equal(parseDuration('2d'), 172_800);
    assert.equal(parseDuration('1h30m'), 5400);
    assert.equal(parseDuration('45'), 45);
    assert.equal(parseDuration(45), 45);
    assert.equal(parseDuration(0), 0);
  });

  test('anything else is refused', () => {
    for (const bad of ['', '10x', '1.5h', '-5', 'h', '10 minutes', 'm10']) assert.equal(parseDuration(bad), undefined, bad);
    for (const bad of [-1, 1.5, Number.NaN]) assert.equal(parseDuration(bad), undefined, String(bad));
  });

  test('the zod schema outputs seconds and explains bad input', () => {
    assert.equal(duration.parse('5m'), 300);
    assert.equal(duration.parse(7), 7);
    for (const bad of ['soon', true, 2.5]) {
      const result = duration.safeParse(bad);
      assert.equal(result.success, false);
      assert.equal(result.error?.issues[0]?.message, 'expected a duration like 10s, 10m or 1h (or a whole number of seconds)');
    }
  });
});

describe('${NAME} expansion', () => {
  const env = { A: 'alpha', EMPTY: '' };

  test('whole, embedded and repeated references', () => {
    assert.equal(expandEnvRefs('${A}', env).text, 'alpha');
    assert.equal(expandEnvRefs('x/${A}/${A}.pem', env).text, 'x/alpha/alpha.pem');
    assert.equal(expandEnvRefs('[${EMPTY}]', env).text, '[]');
    assert.deepEqual(expandEnvRefs('${A}-${A}', env).values, ['alpha', 'alpha']);
  });

  test('$${NAME} is a literal ${NAME}', () => {
    assert.deepEqual(expandEnvRefs('$${A} and ${A}', env), { text: '${A} and alpha', missing: [], malformed: [], values: ['alpha'] });
  });

  test('text without references, and a lone $, are untouched', () => {
    assert.equal(expandEnvRefs('cost $5 {x}', env).text, 'cost $5 {x}');
  });

  test('unset and malformed references are reported', () => {
    assert.deepEqual(expandEnvRefs('${NOPE}/${NOPE}', env).missing, ['NOPE']);
    assert.deepEqual(expandEnvRefs('${A-B} ${unclosed', env).malformed, ['${A-B}', '${unclosed']);
  });
});

describe('did you mean', () => {
  test('levenshtein', () => {
    assert.equal(levenshtein('port', 'prot'), 2);
    assert.equal(levenshtein('', 'abc'), 3);
    assert.equal(levenshtein('fail2ban', 'fail2bam'), 1);
  });

  test('suggests the closest name within the limit only', () => {
    assert.equal(closestName('prot', ['user', 'port']), 'port');
    assert.equal(closestName('SSH', ['ssh', 'node']), 'ssh');
    assert.equal(closestName('xyz', ['ssh', 'node']), undefined);
    assert.equal(didYouMean('nod', ['node']), "; did you mean 'node'?");
    assert.equal(didYouMean('completely_else', ['node']), '');
  });
});

describe('host ranges', () => {
  test('numeric, zero-padded, stepped, alphabetic and multiple ranges', () => {
    assert.deepEqual(expandHostRanges('db'), ['db']);
    assert.deepEqual(expandHostRanges('web[1:3]'), ['web1', 'web2', 'web3']);
    assert.deepEqual(expandHostRanges('web[08:10]'), ['web08', 'web09', 'web10']);
    assert.deepEqual(expandHostRanges('n[0:6:3]'), ['n0', 'n3', 'n6']);
    assert.deepEqual(expandHostRanges('[a:c]-[1:2]'), ['a-1', 'a-2', 'b-1', 'b-2', 'c-1', 'c-2']);
  });

  test('bad or huge ranges are refused', () => {
    assert.throws(() => expandHostRanges('web[3:1]'), /begin is after end/);
    assert.throws(() => expandHostRanges('web[1:b]'), /both be numbers or both letters/);
    assert.throws(() => expandHostRanges('web[0:99999999]'), /more than/);
  });
});

describe('schemas', () => {
  test('secretString registers the parsed value for redaction', () => {
    clearSecrets();
    assert.equal(secretString().parse('tok-123456789'), 'tok-123456789');
    assert.equal(redact('token is tok-123456789'), 'token is ********');
  });

  test('yamlBoolean accepts booleans and yes/no/true/false in any case', () => {
    const schema = z.object({ b: yamlBoolean });
    for (const [input, output] of [[true, true], ['yes', true], ['True', true], ['NO', false], ['false', false], [false, false]] as const) {
      assert.equal(schema.parse({ b: input }).b, output, String(input));
    }
    assert.equal(yamlBoolean.safeParse('maybe').success, false);
    assert.equal(yamlBoolean.safeParse(1).success, false);
  });
});
