/** What hosts say reaches the terminal as text: no escape sequence in a file, an error or a fact acts on it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printable } from '../../src/report/printable.ts';
import { palette } from '../../src/report/palette.ts';
import { renderRun } from '../../src/report/text.ts';
import type { RunResult } from '../../src/engine/results.ts';

// Erase the line above and rewrite it: a diff line could claim to be something else.
const HIDE = 'PermitRootLogin yes\u001b[1A\u001b[2K\r# harmless comment';

function runShowing(text: string): RunResult {
  return {
    mode: 'dry-run',
    summary: { ok: 0, changed: 1, failed: 1, unreachable: 0, skipped: 0, stale: 0 },
    hosts: [
      {
        name: 'h1',
        status: 'failed',
        handlers: [{ name: 'reload', status: 'failed', error: text }],
        stats: { connections: 1, commands: 1, commandMs: 1 },
        tasks: [
          { play: 'p', name: 'file /etc/x', status: 'would-change', changes: [{ summary: 'update /etc/x', details: [text], diff: { path: '/etc/x', before: `${text}\n`, after: 'new\n' } }] },
          { play: 'p', name: 'file /etc/y', status: 'failed', changes: [], error: text },
        ],
      },
    ],
  };
}

test('control characters and bidirectional overrides from a host are shown, not obeyed', () => {
  const shown = renderRun(runShowing(`${HIDE}\u202eevil\u0085`), palette(false), { showOk: true, details: true });
  assert.doesNotMatch(shown, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
  assert.match(shown, /-PermitRootLogin yes␛\[1A␛\[2K␍# harmless comment\\u202eevil\\u0085/);
  // Colour codes are the report's own, added after: a coloured report still colours.
  assert.match(renderRun(runShowing(HIDE), palette(true), { showOk: true, details: true }), /\u001b\[31m-PermitRootLogin yes␛/);
  assert.equal(printable('tabs\tand\nnewlines stay'), 'tabs\tand\nnewlines stay');
});
