/**
 * Facts about the firewall's nftables table: what the kernel holds now (`nft list table inet provision`), what the
 * file on disk produces when loaded into a scratch network namespace (so "loaded" and "on disk" compare exactly,
 * in this host's own nft's words), the other tables, and whether a rollback timer is still armed (that one is a
 * unit's state, asked in the same `systemctl show` as every other unit's). The scratch load is skipped while the
 * load record vouches for the live table (see LOAD_RECORD).
 */
import { sh } from '../../src/transport/shell.ts';
import type { Fact, FactOutput } from '../../src/engine/types.ts';
import { splitOnce } from '../../src/text/split-once.ts';
import { unitState, type UnitState } from '../core/systemd.facts.ts';

/** Where the firewall's ruleset file lives; loading it replaces provision's table and nothing else. */
export const CONFIG_PATH = '/etc/nftables.d/provision.nft';

/** Where the firewall keeps its state on the host: the rollback's saved table and file, and the load record. */
export const STATE_DIR = '/var/lib/provision/firewall';

/**
 * Written by each load of the file: the file's sha256 on the first line, then the table as nft listed it right after
 * the load. While the file and the live table both still match it, the scratch load would only repeat that load.
 */
export const LOAD_RECORD = `${STATE_DIR}/loaded`;

/**
 * Present from the moment a change is armed until it is confirmed or rolled back: at boot it means the file holds
 * rules nobody confirmed, so the boot unit restores the previous ones instead of loading it.
 */
export const PENDING_MARKER = `${STATE_DIR}/pending`;

/** The transient systemd unit (timer + service) that restores the previous table unless a change is confirmed. */
export const ROLLBACK_UNIT = 'provision-firewall-rollback';

/** What loading the file on disk into an empty network namespace gives. */
export type FileLoad =
  | { kind: 'absent' }
  /** The table as nft lists it after loading the file. */
  | { kind: 'loads'; listing: string }
  | { kind: 'fails'; error: string }
  /** The scratch namespace could not be made (no CAP_SYS_ADMIN, e.g. in an unprivileged container). */
  | { kind: 'unchecked' };

/** The state of provision's table on a host. */
export type TableState =
  | { nft: 'missing' }
  | { nft: 'broken'; error: string }
  | {
      nft: 'present';
      /** Every table in the ruleset, as `family name`. */
      tables: string[];
      /** `nft list table inet provision`, or null when the table is not loaded. */
      live: string | null;
      file: FileLoad;
    };

/** The rollback timer's unit. */
export const rollbackTimer: Fact<UnitState> = unitState(`${ROLLBACK_UNIT}.timer`);

/** A rollback timer is armed: an earlier run loaded rules and never confirmed them. */
export function rollbackPending(timer: UnitState): boolean {
  return timer.active === 'active';
}

/** The timer's state once nothing is armed, for predictions. */
export const NO_ROLLBACK: UnitState = { load: 'not-found', active: 'inactive', unitFile: '' };

function decode(base64: string): string {
  return Buffer.from(base64, 'base64').toString('utf8');
}

/** A listing as nft prints it, with exactly one final newline (the shell's `$(…)` strips them all). */
export function normalizeListing(text: string): string {
  return `${text.replace(/\s+$/, '')}\n`;
}

/** Parses the output of the table-state command (pure; tested with fixtures). */
export function parseTableState(output: FactOutput): TableState {
  const lines = output.stdout.split('\n');
  if (lines[0] === 'nft-missing') return { nft: 'missing' };
  if (lines[0]?.startsWith('nft-error ')) return { nft: 'broken', error: decode(lines[0].slice('nft-error '.length)).trim() };
  // `== name [value]` opens a section; the lines up to the next one are its text. nft never starts a line with `==`.
  const sections = new Map<string, { value: string; text: string[] }>();
  let current: { value: string; text: string[] } | undefined;
  for (const line of lines) {
    if (line.startsWith(SECTION)) {
      const [name = '', value = ''] = splitOnce(line.slice(SECTION.length), ' ');
      current = { value, text: [] };
      sections.set(name, current);
    } else current?.text.push(line);
  }
  const text = (name: string) => sections.get(name)?.text.join('\n') ?? '';
  const tables = text('tables')
    .split('\n')
    .map((row) => row.trim().replace(/^table\s+/, ''))
    .filter(Boolean);
  const live = sections.has('live') ? normalizeListing(text('live')) : null;
  let file: FileLoad = { kind: 'absent' };
  if (sections.has('file-fails')) file = { kind: 'fails', error: decode(sections.get('file-fails')!.value).trim() };
  else if (sections.has('file-unchecked')) file = { kind: 'unchecked' };
  else if (sections.has('file-loads')) file = { kind: 'loads', listing: normalizeListing(text('file-loads')) };
  else if (sections.has('file-loads-as-live') && live !== null) file = { kind: 'loads', listing: live };
  return { nft: 'present', tables, live, file };
}

const SECTION = '== ';

/** The state of `table inet provision`: loaded, and on disk (as loaded in a scratch namespace). */
export const tableState: Fact<TableState> = {
  key: 'nft:table:inet:provision',
  description: 'the firewall (nftables table inet provision and its file)',
  // Listings are printed as nft prints them, each in a section of its own; only error text, which may hold any
  // line, goes through base64. The scratch namespace exists only for the one `unshare` process: loading the file
  // there touches nothing on the host. Whether such a namespace can be made at all is asked only when the load
  // failed, and then the load is repeated for its error. One nft lists the tables and then provision's table (a
  // `list tables` line never holds the `{` the split looks for); without the table that batch fails, and the tables
  // are listed alone. The line match on the tables is the shell's own `case`.
  // When the load record holds this file's sha256 and exactly the live table, the file loads as that table: nft
  // made the record from this same file, so the scratch load (4 processes and a namespace, a third of the fact's
  // cost) is left out. A live table changed since, or an edited file, no longer matches it, and the scratch load runs.
  command: sh`command -v nft >/dev/null 2>&1 || { echo nft-missing; exit 0; }
if both=$(nft -f - 2>/dev/null <<'LIST'
list tables
list table inet provision
LIST
); then
  tables=\${both%%"table inet provision {"*}
  live="table inet provision {\${both#*"table inet provision {"}"
  printf '== tables\n%s\n== live\n%s\n' "$tables" "$live"
else
  tables=$(nft list tables 2>&1) || { echo "nft-error $(printf '%s' "$tables" | base64 -w0)"; exit 0; }
  printf '== tables\n%s\n' "$tables"
  live=
  case "
$tables
" in *"
table inet provision
"*) live=$(nft list table inet provision); printf '== live\n%s\n' "$live" ;; esac
fi
if [ -f ${CONFIG_PATH} ]; then
  if [ -n "$live" ] && [ -f ${LOAD_RECORD} ] && sum=$(sha256sum <${CONFIG_PATH}) && [ "$(cat ${LOAD_RECORD})" = "\${sum%% *}
$live" ]; then
    echo '== file-loads-as-live'
    exit 0
  fi
  echo '== file-loads'
  if ! unshare --net sh -c 'nft -f "$1" && nft list table inet provision' scratch ${CONFIG_PATH} 2>/dev/null; then
    if ! unshare --net true 2>/dev/null; then echo '== file-unchecked'
    else echo "== file-fails $(unshare --net nft -f ${CONFIG_PATH} 2>&1 | base64 -w0)"; fi
  fi
fi`,
  parse: parseTableState,
  // The table is provision's own: the firewall's changes predict it, and no package install loads or removes it.
  staleAfter: [],
};
