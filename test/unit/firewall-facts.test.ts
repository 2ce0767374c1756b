/** The table-state fact: its command's shape, and its parser on outputs captured from a Debian 12 host. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOAD_RECORD, normalizeListing, parseTableState, rollbackPending, rollbackTimer, tableState } from '../../tasks/firewall/facts.ts';

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/firewall/${name}`, import.meta.url), 'utf8');
}

test('the command lists the live table, loads the file only in a scratch network namespace, and asks about the timer', () => {
  const text = tableState.command.text;
  assert.match(text, /nft list table inet provision/);
  assert.match(text, /unshare --net sh -c 'nft -f "\$1" && nft list table inet provision' scratch \/etc\/nftables\.d\/provision\.nft/);
  assert.ok(!/\bnft -f \/etc\/nftables\.d/.test(text.replace(/unshare --net (sh -c '[^']*'|nft -f)/g, '')), 'the file is never loaded outside the scratch namespace');
  assert.ok(!/systemctl/.test(text), 'the rollback timer is asked with the other units');
  assert.ok(!/\bgrep\b/.test(text), 'the shell matches the table line itself');
});

test('the command, run by a POSIX shell against a stand-in nft, prints each section as the parser reads it', () => {
  // A stand-in nft and unshare on PATH: tables, the live table, and a scratch load that works or fails.
  const bin = mkdtempSync(join(tmpdir(), 'provision-nft-'));
  try {
    const listing = fixture('node.listing.nft');
    writeFileSync(join(bin, 'listing'), listing);
    // NFT_NO_TABLE: provision's table is not loaded (outside the scratch namespace). Like nft, a batch read from
    // stdin is checked whole before it runs: one that lists a missing table prints nothing and fails.
    writeFileSync(join(bin, 'nft'), `#!/bin/sh
[ -n "$SCRATCH" ] && NFT_NO_TABLE=
tables() { printf 'table inet f2b-table\\n'; [ -n "$NFT_NO_TABLE" ] || printf 'table inet provision\\n'; }
table() { [ -z "$NFT_NO_TABLE" ] || { echo 'Error: No such file or directory' >&2; exit 1; }; cat "${bin}/listing"; }
case "$*" in
  'list tables') tables ;;
  'list table inet provision') table ;;
  '-f -')
    batch=$(cat)
    case "$batch" in *'list table inet provision'*) [ -z "$NFT_NO_TABLE" ] || { echo 'Error: No such file or directory' >&2; exit 1; } ;; esac
    printf '%s\\n' "$batch" | while read -r line; do case "$line" in 'list tables') tables ;; 'list table inet provision') table ;; esac; done ;;
  -f*) [ -n "$NFT_LOAD_FAILS" ] && { echo 'provision.nft:3:1-4: Error: syntax error' >&2; exit 1; }; exit 0 ;;
  *) echo "unexpected: nft $*" >&2; exit 2 ;;
esac
`, { mode: 0o755 });
    writeFileSync(join(bin, 'unshare'), `#!/bin/sh\necho "$*" >>${bin}/unshare.log\nshift; SCRATCH=1 exec "$@"\n`, { mode: 0o755 });
    writeFileSync(join(bin, 'systemctl'), '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    const file = join(bin, 'provision.nft');
    writeFileSync(file, '# stand-in\n');
    const record = join(bin, 'loaded');
    const command = tableState.command.text.replaceAll('/etc/nftables.d/provision.nft', file).replaceAll(LOAD_RECORD, record);
    const run = (env: Record<string, string> = {}) =>
      parseTableState({ stdout: execFileSync('/bin/sh', ['-c', command], { encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin`, ...env } }), code: 0 });
    assert.deepEqual(run(), { nft: 'present', tables: ['inet f2b-table', 'inet provision'], live: listing, file: { kind: 'loads', listing } });
    // Without the table: the tables listed alone, no live table, and the file checked in the scratch namespace.
    assert.deepEqual(run({ NFT_NO_TABLE: '1' }), { nft: 'present', tables: ['inet f2b-table'], live: null, file: { kind: 'loads', listing } });
    const failing = run({ NFT_LOAD_FAILS: '1' });
    assert.deepEqual(failing.nft === 'present' && failing.file, { kind: 'fails', error: 'provision.nft:3:1-4: Error: syntax error' });

    // A load record with this file's sha256 and the live table vouches for the file: no scratch load (none that fails).
    const scratchLoads = () => (existsSync(join(bin, 'unshare.log')) ? readFileSync(join(bin, 'unshare.log'), 'utf8').split('\n').filter(Boolean).length : 0);
    const sha = createHash('sha256').update('# stand-in\n').digest('hex');
    writeFileSync(record, `${sha}\n${listing}`);
    const before = scratchLoads();
    assert.deepEqual(run({ NFT_LOAD_FAILS: '1' }), { nft: 'present', tables: ['inet f2b-table', 'inet provision'], live: listing, file: { kind: 'loads', listing } });
    assert.equal(scratchLoads(), before, 'the record stood in for the scratch load');
    // A record of another file, or of another table, vouches for nothing: the scratch load runs (and here fails).
    for (const stale of [`${'0'.repeat(64)}\n${listing}`, `${sha}\n${listing.replace('policy drop', 'policy accept')}`, `${sha}\n`]) {
      writeFileSync(record, stale);
      const checked = run({ NFT_LOAD_FAILS: '1' });
      assert.deepEqual(checked.nft === 'present' && checked.file.kind, 'fails', stale.slice(0, 80));
    }
    assert.equal(scratchLoads(), before + 3 * 3, 'each stale record: the load, then the namespace check and the load again for its error');
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test('no table loaded and no file: only the other tables', () => {
  assert.deepEqual(parseTableState({ stdout: fixture('fact-no-table.txt'), code: 0 }), {
    nft: 'present',
    tables: ['inet f2b-table'],
    live: null,
    file: { kind: 'absent' },
  });
});

test('a file on disk that is not loaded: its scratch listing is what it would load', () => {
  const state = parseTableState({ stdout: fixture('fact-file-not-loaded.txt'), code: 0 });
  assert.equal(state.nft, 'present');
  if (state.nft !== 'present') return;
  assert.equal(state.live, null);
  assert.equal(state.file.kind, 'loads');
  if (state.file.kind === 'loads') assert.equal(state.file.listing, fixture('node.listing.nft'));
});

test('loaded: the live listing equals the scratch one', () => {
  const state = parseTableState({ stdout: fixture('fact-loaded.txt'), code: 0 });
  assert.equal(state.nft, 'present');
  if (state.nft !== 'present') return;
  assert.deepEqual(state.tables, ['inet f2b-table', 'inet provision']);
  assert.equal(state.live, fixture('node.listing.nft'));
  assert.deepEqual(state.file, { kind: 'loads', listing: state.live });
});

test('a file that does not load reports nft\'s error', () => {
  const state = parseTableState({ stdout: fixture('fact-file-fails.txt'), code: 0 });
  assert.equal(state.nft === 'present' && state.file.kind, 'fails');
  if (state.nft === 'present' && state.file.kind === 'fails') assert.match(state.file.error, /syntax error/);
});

test('nft missing, nft failing, and a host where no scratch namespace can be made', () => {
  assert.deepEqual(parseTableState({ stdout: 'nft-missing\n', code: 0 }), { nft: 'missing' });
  const error = Buffer.from('Error: Operation not permitted').toString('base64');
  assert.deepEqual(parseTableState({ stdout: `nft-error ${error}\n`, code: 0 }), { nft: 'broken', error: 'Error: Operation not permitted' });
  const state = parseTableState({ stdout: '== tables\n\n== file-loads\n== file-unchecked\n', code: 0 });
  assert.deepEqual(state, { nft: 'present', tables: [], live: null, file: { kind: 'unchecked' } });
  assert.equal(rollbackPending({ load: 'loaded', active: 'active', unitFile: '' }), true);
  assert.equal(rollbackPending({ load: 'not-found', active: 'inactive', unitFile: '' }), false);
  assert.equal(rollbackTimer.key, 'systemd:provision-firewall-rollback.timer');
  assert.equal(normalizeListing('table x {\n}\n\n\n'), 'table x {\n}\n');
});
