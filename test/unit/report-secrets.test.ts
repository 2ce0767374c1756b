/** Secrets never reach the output: redaction by value in text, diffs, JSON and errors. */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { clearSecrets, redact, registerSecret } from '../../src/report/redact.ts';
import { renderRun } from '../../src/report/text.ts';
import { runToJson } from '../../src/report/json.ts';
import { palette } from '../../src/report/palette.ts';
import { CommandError } from '../../src/errors.ts';
import { performStep } from '../../src/engine/steps.ts';
import { sh } from '../../src/transport/shell.ts';
import type { RunResult } from '../../src/engine/results.ts';
import { localRunner } from '../support/local-runner.ts';

afterEach(() => clearSecrets());

const KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dV\n-----END PRIVATE KEY-----\n';

function runWith(secretInDiff: string, error?: string): RunResult {
  return {
    mode: 'apply',
    summary: { ok: 0, changed: 1, failed: error ? 1 : 0, unreachable: 0, skipped: 0 },
    hosts: [
      {
        name: 'h1',
        status: error ? 'failed' : 'changed',
        handlers: [],
        stats: { connections: 1, commands: 1, commandMs: 1 },
        tasks: [
          {
            play: 'p',
            name: 'file /etc/app.conf',
            status: 'changed',
            changes: [{ summary: 'update /etc/app.conf', diff: { path: '/etc/app.conf', before: 'token = old\n', after: `token = ${secretInDiff}\n` } }],
            ...(error ? { error } : {}),
          },
          {
            play: 'p',
            name: 'file /etc/haproxy/site.pem',
            status: 'changed',
            changes: [{ summary: 'update site.pem', diff: { path: '/etc/haproxy/site.pem', before: null, after: KEY, secret: true } }],
          },
        ],
      },
    ],
  };
}

test('a registered secret is masked wherever it appears, multi-line keys line by line', () => {
  registerSecret('hunter2-password');
  registerSecret(KEY);
  assert.equal(redact('login with hunter2-password now'), 'login with ******** now');
  assert.doesNotMatch(redact(`cat <<EOF\n${KEY}EOF`), /MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7/);
  assert.doesNotMatch(redact('line: VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dV'), /VJTUt9Us8cKj/);
});

test('text and JSON reports never show a secret: not in diffs, not in errors, not a secret file', () => {
  registerSecret('s3cr3t-token-value');
  const run = runWith('s3cr3t-token-value', 'command failed: curl -H "Authorization: Bearer s3cr3t-token-value"');
  const text = renderRun(run, palette(false), { showOk: true, details: true });
  const json = runToJson(run);
  for (const output of [text, json]) {
    assert.doesNotMatch(output, /s3cr3t-token-value/);
    assert.doesNotMatch(output, /MIIEvQIBADANBgkqhkiG9w0/);
  }
  assert.match(text, /secret content of \/etc\/haproxy\/site\.pem created; not shown/);
  assert.match(text, /\+token = \*\*\*\*\*\*\*\*/);
});

test('the error of a failed command is redacted by value, stderr and stdout included', async () => {
  registerSecret('pa55-in-stderr');
  await assert.rejects(performStep(localRunner, { kind: 'run', command: sh`echo ${'pa55-in-stderr'} >&2; echo ${'pa55-in-stderr'}; exit 3` }), (error: unknown) => {
    assert.ok(error instanceof CommandError);
    assert.doesNotMatch(`${error.message} ${error.stderr} ${error.stdout} ${error.command}`, /pa55-in-stderr/);
    return true;
  });
});
