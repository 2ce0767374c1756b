/** Secrets never reach the output: redaction by value in text, diffs, JSON and errors. */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/errors.ts';
import { elideContents, logToFile } from '../../src/report/run-log.ts';
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
    summary: { ok: 0, changed: 1, failed: error ? 1 : 0, unreachable: 0, skipped: 0, stale: 0 },
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

test('a secret is masked in every form it can take: JSON-escaped, URL-encoded, shell-quoted, hex, base64 at any offset', () => {
  const secret = `pa"ss\\wo'rd /+?&=ü-123`;
  registerSecret(secret);
  const forms = [
    JSON.stringify(secret),
    JSON.stringify(JSON.stringify(secret)),
    encodeURIComponent(secret),
    `curl -d 'x=${secret.replace(/'/g, `'\\''`)}'`,
    Buffer.from(secret).toString('hex'),
  ];
  // A file's content travels base64-encoded: the secret may start at any byte, and the encoding depends on where.
  for (const prefix of ['', 'a', 'ab', 'abc', 'token = ']) {
    const encoded = Buffer.from(`${prefix}${secret}\nmore content\n`).toString('base64');
    forms.push(encoded, encoded.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  for (const form of forms) {
    const masked = redact(`before ${form} after`);
    assert.ok(masked.includes('********'), `masked in ${form}`);
    assert.doesNotMatch(masked, /wo'rd|wo\\'rd|776f27|d28n|b3Jk/, form);
  }
  assert.equal(redact('nothing secret here: YWJjZGVm and 616263'), 'nothing secret here: YWJjZGVm and 616263');
});

test('--json masks before serialising: a secret with a quote or a backslash never comes out escaped and in clear', () => {
  const secret = 'tok"en\\with-quotes-1234';
  registerSecret(secret);
  const json = runToJson(runWith(secret), undefined, { showContents: true });
  assert.doesNotMatch(json, /tok\\"en|with-quotes-1234/);
  const document = JSON.parse(json);
  assert.equal(document.hosts.h1.tasks[0].changes[0].diff.after, 'token = ********\n');
});

test('--json leaves files\' contents out unless asked: sizes and digests instead, none for a file with a secret in it', () => {
  registerSecret('s3cr3t-token-value');
  const run = runWith('plain-value');
  run.hosts[0]!.tasks.push({
    play: 'p',
    name: 'file /etc/app/secret.conf',
    status: 'changed',
    changes: [{ summary: 'update', diff: { path: '/etc/app/secret.conf', before: null, after: 'key = s3cr3t-token-value\n' } }],
  });
  const document = JSON.parse(runToJson(run));
  const [plain, pem, withSecret] = document.hosts.h1.tasks.map((task: { changes: { diff: unknown }[] }) => task.changes[0]!.diff);
  assert.deepEqual(plain, {
    path: '/etc/app.conf',
    before: { bytes: 12, sha256: createHash('sha256').update('token = old\n').digest('hex') },
    after: { bytes: 20, sha256: createHash('sha256').update('token = plain-value\n').digest('hex') },
  });
  assert.deepEqual(pem, { path: '/etc/haproxy/site.pem', before: null, after: null, secret: true });
  assert.deepEqual(withSecret, { path: '/etc/app/secret.conf', before: null, after: { bytes: 25 } });
  const shown = JSON.parse(runToJson(run, undefined, { showContents: true }));
  assert.equal(shown.hosts.h1.tasks[0].changes[0].diff.after, 'token = plain-value\n');
  assert.equal(shown.hosts.h1.tasks[2].changes[0].diff.after, 'key = ********\n');
  assert.deepEqual(shown.hosts.h1.tasks[1].changes[0].diff, { path: '/etc/haproxy/site.pem', before: null, after: null, secret: true });
});

test('the run log is 0600 and the user\'s own: an existing file is set to 0600, a link or another user\'s file is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-log-unit-'));
  try {
    const existing = join(dir, 'run.log');
    writeFileSync(existing, 'old content that must go\n', { mode: 0o644 });
    chmodSync(existing, 0o644);
    const log = logToFile(existing);
    log.line('first line');
    log.stop();
    assert.equal(statSync(existing).mode & 0o777, 0o600);
    assert.match(readFileSync(existing, 'utf8'), /^# provision run log, started .*\nfirst line\n$/);
    const link = join(dir, 'link.log');
    symlinkSync(join(dir, 'elsewhere'), link);
    assert.throws(() => logToFile(link), (error: unknown) => error instanceof InputError && /is a symbolic link/.test(error.message));
    assert.equal(existsSync(join(dir, 'elsewhere')), false, 'nothing was made through the link');
    assert.throws(() => logToFile(dir), (error: unknown) => error instanceof InputError);
    if (process.getuid?.() === 0) {
      const others = join(dir, 'others.log');
      writeFileSync(others, 'theirs\n', { mode: 0o644 });
      chownSync(others, 4242, 4242);
      assert.throws(() => logToFile(others), (error: unknown) => error instanceof InputError && /belongs to uid 4242/.test(error.message));
      assert.equal(readFileSync(others, 'utf8'), 'theirs\n', 'their file is left as it was');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the run log keeps no file contents, however short: the files\' batch is cut where its contents begin', () => {
  const batch = "regular file|600|root|root|12|/etc/a\n\n--contents--\n/etc/a\n\nc2hvcnQ=\n--provision-gather-x-- 1 0\nLoadState=loaded";
  assert.equal(elideContents(batch).includes('c2hvcnQ='), false);
  assert.match(elideContents(batch), /\n\/etc\/a\n\n<base64: 8 chars, sha256 [0-9a-f]{12}>\n--provision-gather-x-- 1 0\nLoadState=loaded$/);
  // No file read: nothing after the marker is taken for contents.
  assert.equal(elideContents('x\n--contents--\n--provision-gather-x-- 1 0\n\nLoadState=loaded'), 'x\n--contents--\n--provision-gather-x-- 1 0\n\nLoadState=loaded');
});
