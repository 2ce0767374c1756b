import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { diffLines } from 'diff';
import { parse as parseToml } from 'smol-toml';
import { configSecrets, maskCredentials, NodeConfigError, POW_CONFIG_FORMATS } from '../../tasks/node/config.ts';
import { scanTomlLines } from '../../src/text/toml-edit.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/node/${name}`, import.meta.url), 'utf8');

/** The lines the edit removed and added; everything else must be byte-identical. */
function changedLines(before: string, after: string): { removed: string[]; added: string[] } {
  const removed: string[] = [];
  const added: string[] = [];
  for (const part of diffLines(before, after)) {
    if (part.removed) removed.push(...part.value.split('\n').filter(Boolean));
    if (part.added) added.push(...part.value.split('\n').filter(Boolean));
  }
  return { removed, added };
}

test('hornet-2: restAPI.pow.enabled and workerCount change in place; every other byte stays', () => {
  const format = POW_CONFIG_FORMATS['hornet-2'];
  const text = fixture('hornet-2.config.json');
  assert.deepEqual(format.read(text), { enabled: false, workers: 1 });
  const next = format.write(text, { enabled: true, workers: 3 });
  assert.deepEqual(changedLines(text, next), {
    removed: ['      "enabled": false,', '      "workerCount": 1'],
    added: ['      "enabled": true,', '      "workerCount": 3'],
  });
  assert.deepEqual(format.read(next), { enabled: true, workers: 3 });
  assert.equal(format.write(next, { enabled: true, workers: 3 }), next, 'writing the same setting again changes nothing');
  assert.deepEqual(Object.keys(JSON.parse(next)), Object.keys(JSON.parse(text)), 'key order is kept');
  assert.equal(JSON.parse(next).inx.pow.workerCount, 0, 'the INX pow section is a different key and stays');
});

test('hornet-1: restAPI.powEnabled and powWorkerCount, tab indentation kept', () => {
  const format = POW_CONFIG_FORMATS['hornet-1'];
  const text = fixture('hornet-1.config.json');
  assert.deepEqual(format.read(text), { enabled: true, workers: 4 });
  const next = format.write(text, { enabled: true, workers: 1 });
  assert.deepEqual(changedLines(text, next), { removed: ['\t\t"powWorkerCount": 4,'], added: ['\t\t"powWorkerCount": 1,'] });
  const off = format.write(next, { enabled: false });
  assert.deepEqual(changedLines(next, off), { removed: ['\t\t"powEnabled": true,'], added: ['\t\t"powEnabled": false,'] });
  assert.deepEqual(format.read(off), { enabled: false, workers: 1 });
});

test('missing JSON keys are added last in their object, indented and line-ended as the file is', () => {
  const format = POW_CONFIG_FORMATS['hornet-2'];
  const text = fixture('hornet-2.crlf-no-pow.json');
  const next = format.write(text, { enabled: true, workers: 1 });
  assert.equal(
    next,
    '{\r\n    "restAPI": {\r\n        "bindAddress": "0.0.0.0:14265",\r\n        "pow": {\r\n            "enabled": true,\r\n' +
      '            "workerCount": 1\r\n        }\r\n    },\r\n    "db": {\r\n        "path": "mainnet"\r\n    }\r\n}\r\n',
  );
  assert.equal(format.write(next, { enabled: true, workers: 1 }), next);
  const oneLine = fixture('hornet-2.one-line.json');
  assert.equal(
    format.write(oneLine, { enabled: true, workers: 2 }),
    '{"restAPI":{"bindAddress":"0.0.0.0:14265","pow":{"enabled":true,"workerCount":2}},"node":{"alias":"one line"}}',
  );
  assert.equal(format.write('{\n  "node": {}\n}\n', { enabled: false }), '{\n  "node": {},\n  "restAPI": {\n    "pow": {\n      "enabled": false\n    }\n  }\n}\n');
  assert.equal(POW_CONFIG_FORMATS['hornet-1'].write('{\n  "restAPI": {}\n}\n', { enabled: true, workers: 2 }), '{\n  "restAPI": {\n    "powEnabled": true,\n    "powWorkerCount": 2\n  }\n}\n');
});

test('bee: the one value line of [rest_api] feature_proof_of_work changes, its comment stays', () => {
  const format = POW_CONFIG_FORMATS.bee;
  const text = fixture('bee.config.toml');
  assert.deepEqual(format.read(text), { enabled: false, workers: undefined });
  const next = format.write(text, { enabled: true, workers: 4 });
  assert.deepEqual(changedLines(text, next), {
    removed: ['feature_proof_of_work = false # remote PoW for API clients'],
    added: ['feature_proof_of_work = true # remote PoW for API clients'],
  });
  assert.deepEqual(format.read(next), { enabled: true, workers: undefined });
  assert.equal(format.write(next, { enabled: true }), next);
  assert.equal(format.keys.workers, undefined, 'Bee has no worker key');
});

test('bee: a missing key is added after the table’s last value (past a multi-line array), a missing table at the end', () => {
  const format = POW_CONFIG_FORMATS.bee;
  const text = fixture('bee.no-key.toml');
  const next = format.write(text, { enabled: true });
  assert.deepEqual(changedLines(text, next), { removed: [], added: ['feature_proof_of_work = true'] });
  assert.match(next, /"\/api\/v1\/info",\n\]\nfeature_proof_of_work = true\n\n# the snapshot section\n\[snapshot\]/);
  const noTable = fixture('bee.no-table.toml');
  assert.equal(format.write(noTable, { enabled: false }), `${noTable}\n\n[rest_api]\nfeature_proof_of_work = false\n`);
  const aligned = '[rest_api]\nbinding_port    = 14265\nbinding_ip_addr = "0.0.0.0"\n';
  assert.equal(format.write(aligned, { enabled: true }), `${aligned}feature_proof_of_work = true\n`);
  const wide = '[rest_api]\nbinding_port                      = 14265\nwhite_flag_solidification_timeout = 2\n';
  assert.equal(format.write(wide, { enabled: true }), `${wide}feature_proof_of_work             = true\n`);
});

test('each format round-trips: parse(write(text)) is parse(text) plus the setting', () => {
  for (const [flavor, file] of [
    ['hornet-2', 'hornet-2.config.json'],
    ['hornet-1', 'hornet-1.config.json'],
    ['bee', 'bee.config.toml'],
  ] as const) {
    const format = POW_CONFIG_FORMATS[flavor];
    const text = fixture(file);
    for (const target of [{ enabled: true, workers: 2 }, { enabled: false }]) {
      const next = format.write(text, target);
      const parse = (content: string) => (format.format === 'JSON' ? JSON.parse(content) : JSON.parse(JSON.stringify(parseToml(content))));
      const expected = parse(text);
      if (flavor === 'hornet-2') Object.assign(expected.restAPI.pow, { enabled: target.enabled }, target.workers ? { workerCount: target.workers } : {});
      if (flavor === 'hornet-1') Object.assign(expected.restAPI, { powEnabled: target.enabled }, target.workers ? { powWorkerCount: target.workers } : {});
      if (flavor === 'bee') expected.rest_api.feature_proof_of_work = target.enabled;
      assert.deepEqual(parse(next), expected, `${flavor} ${JSON.stringify(target)}`);
    }
  }
});

test('an invalid file is a NodeConfigError with its position; a structural conflict is named', () => {
  assert.throws(() => POW_CONFIG_FORMATS['hornet-2'].read(fixture('hornet-2.invalid.json')), (error: Error) => {
    assert.ok(error instanceof NodeConfigError);
    assert.match(error.message, /^invalid JSON at line 5, column 5: PropertyNameExpected$/);
    return true;
  });
  assert.throws(() => POW_CONFIG_FORMATS.bee.read(fixture('bee.invalid.toml')), /^NodeConfigError: invalid TOML at line 2, column \d+/);
  assert.throws(() => POW_CONFIG_FORMATS['hornet-2'].read('[1, 2]'), /not a JSON object/);
  assert.throws(() => POW_CONFIG_FORMATS['hornet-2'].read('// comment\n{}'), /invalid JSON/);
  assert.throws(() => POW_CONFIG_FORMATS['hornet-2'].write('{"restAPI": {"pow": true}}', { enabled: true }), /restAPI\.pow is a boolean, expected an object/);
  assert.throws(() => POW_CONFIG_FORMATS.bee.write('rest_api.feature_proof_of_work = false\n', { enabled: true }), /not written as a \[rest_api\] section/);
  assert.throws(() => POW_CONFIG_FORMATS.bee.read('rest_api = 3\n'), /rest_api is not a table/);
});

test('the TOML scanner skips multi-line arrays and strings, so a bracket line inside them is no table', () => {
  const lines = scanTomlLines('a = """\n[not_a_table]\n"""\nb = [\n  ["x"]\n]\n[real]\nc = 1 # [comment]\n[[list]]\n');
  assert.deepEqual(
    lines.map((line) => [line.kind, line.name ?? '']),
    [
      ['key', 'a'],
      ['continuation', ''],
      ['continuation', ''],
      ['key', 'b'],
      ['continuation', ''],
      ['continuation', ''],
      ['table', 'real'],
      ['key', 'c'],
      ['array-table', 'list'],
    ],
  );
});

test('credentials in the config are found, so the plan can mask them; short defaults are not', () => {
  assert.deepEqual(configSecrets('JSON', fixture('hornet-2.config.json')), ['9f1c2e3d4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0']);
  assert.deepEqual(configSecrets('TOML', fixture('bee.config.toml')), ['5e6f7a8b9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012']);
  assert.deepEqual(configSecrets('JSON', '{"dashboard": {"auth": {"passwordHash": "0123456789abcdef", "passwordSalt": "fedcba9876543210"}}}'), ['0123456789abcdef', 'fedcba9876543210']);
  assert.deepEqual(configSecrets('JSON', 'not json'), []);
});

test('the diff masks every credential where it stands, however short, in JSON and TOML; the rest stays as it was', () => {
  const json = `{
  "dashboard": {"auth": {"username": "admin", "passwordHash": "abc", "passwordSalt": "x1"}},
  "restAPI": {"jwtAuth": {"salt": "HORNET"}, "pow": {"enabled": true}},
  "p2p": {"identityPrivateKey": "k", "peers": ["/dns/peer/tcp/15600/p2p/12D3KooWRvo1zQ8ZRnpTGeyKkN9QSQJpJtV77vkcxpDdKZVnWJ8Z"]},
  "inx": {"address": "localhost:9029", "apiToken": ["t1", "t2"], "note": "0123456789abcdef0123456789abcdef"}
}
`;
  assert.equal(
    maskCredentials('JSON', json),
    `{
  "dashboard": {"auth": {"username": "********", "passwordHash": "********", "passwordSalt": "********"}},
  "restAPI": {"jwtAuth": {"salt": "********"}, "pow": {"enabled": true}},
  "p2p": {"identityPrivateKey": "********", "peers": ["/dns/peer/tcp/15600/p2p/12D3KooWRvo1zQ8ZRnpTGeyKkN9QSQJpJtV77vkcxpDdKZVnWJ8Z"]},
  "inx": {"address": "localhost:9029", "apiToken": ["********", "********"], "note": "********"}
}
`,
  );
  const toml = `[peering]\nidentity_private_key = 'k1'\n[dashboard.auth]\nuser = "admin"\npassword_hash = "abc" # set by hand\n[rest_api]\nfeature_proof_of_work = true\nname = "abc"\n`;
  // Values are found by the parser and masked where they are quoted: "abc" elsewhere goes too, which hides no credential.
  assert.equal(
    maskCredentials('TOML', toml),
    `[peering]\nidentity_private_key = "********"\n[dashboard.auth]\nuser = "********"\npassword_hash = "********" # set by hand\n[rest_api]\nfeature_proof_of_work = true\nname = "********"\n`,
  );
  assert.equal(maskCredentials('JSON', 'not json'), 'not json');
  assert.deepEqual(configSecrets('JSON', json), ['0123456789abcdef0123456789abcdef']);
});
