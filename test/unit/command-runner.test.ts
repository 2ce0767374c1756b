import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { frameRequest, ReplyStream, runnerScript } from '../../src/transport/command-runner.ts';

const MARKER = '--provision-runner-0123456789abcdef01234567--';

test('a reply ends only at its own end line, however the bytes were cut', () => {
  const stream = new ReplyStream(new RegExp(`${MARKER} 7 (\\d+)\\n$`));
  const bytes = Buffer.from(`größe\n${MARKER} 6 0\nno newline${MARKER} 7 3\n`);
  // One byte at a time: the end line and a multi-byte character are both split across chunks.
  for (let i = 0; i < bytes.length - 1; i++) {
    stream.push(bytes.subarray(i, i + 1));
    assert.equal(stream.finished(), undefined, `finished after ${i + 1} of ${bytes.length} bytes`);
  }
  stream.push(bytes.subarray(bytes.length - 1));
  const done = stream.finished();
  assert.ok(done);
  assert.equal(done.value, '3');
  assert.equal(done.body.toString('utf8'), `größe\n${MARKER} 6 0\nno newline`);
});

test('a long reply is found at its end', () => {
  const stream = new ReplyStream(new RegExp(`${MARKER} 1 (\\d+)\\n$`));
  for (let i = 0; i < 1000; i++) stream.push(Buffer.from(`line ${i}\n`));
  assert.equal(stream.finished(), undefined);
  stream.push(Buffer.from(`${MARKER} 1 0\n`));
  assert.equal(stream.finished()?.body.toString().split('\n').length, 1001);
});

test('a request names its lines, and its closing line names the same request', () => {
  assert.equal(frameRequest(MARKER, 4, 'echo a\necho b'), `${MARKER} 4 2\necho a\necho b\n${MARKER} end 4\n`);
  assert.equal(frameRequest(MARKER, 5, 'true\n'), `${MARKER} 5 2\ntrue\n\n${MARKER} end 5\n`);
});

for (const shell of ['sh', 'bash']) {
  test(`the loop runs under ${shell}: starts at its hello, replies in order, stdin empty, a request that does not parse ends it unrun`, () => {
    const input =
      // A line before the hello (a password sudo did not read) is skipped, never run.
      `echo must-not-run-either\n${MARKER} hello\n` +
      frameRequest(MARKER, 1, "printf 'a\\n'; echo e >&2; exit 4") +
      frameRequest(MARKER, 2, 'cat; x=1\nif [ "$x" = 1 ]; then printf b; fi') +
      frameRequest(MARKER, 5, 'echo "[${M-}${head-}${id-}${n-}${cmd-}${line-}${tail-}${status-}${stat-}] $#"') +
      `${MARKER} 3 1\necho must-not-run\n${MARKER} end 99\n` +
      frameRequest(MARKER, 4, 'echo after');
    const run = spawnSync(shell, ['-c', runnerScript(MARKER)], { input, encoding: 'utf8', timeout: 10_000 });
    assert.equal(run.status, 3, run.stderr);
    // The loop's own variables and arguments are not the command's.
    assert.match(run.stdout, new RegExp(`^${MARKER} ready \\d+\\na\\n${MARKER} 1 4\\nb${MARKER} 2 0\\n\\[\\] 0\\n${MARKER} 5 0\\n$`));
    assert.equal(run.stderr, `e\n${MARKER} 1\n${MARKER} 2\n${MARKER} 5\n`);
  });
}

test('a shell that does not split words (like zsh) says so at once, and runs nothing', () => {
  // sh with an empty IFS splits no words, as zsh does not by default.
  const run = spawnSync('sh', ['-c', 'IFS=; eval "$1"', 'sh', runnerScript(MARKER)], {
    input: `${MARKER} hello\n${frameRequest(MARKER, 1, 'echo ran')}`,
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(run.stdout, `${MARKER} ready -\n`);
  assert.equal(run.status, 3);
});
