/**
 * A default-deny nftables firewall in provision's own table (`inet provision`), applied like a router's
 * "commit confirmed": the previous table is saved on the host, a systemd timer that restores it is armed, the new
 * table is loaded, and only a NEW SSH login cancels the timer. If this run's connection dies with the new rules,
 * the host puts the old ones back by itself. Other tables (fail2ban's, Docker's) are never touched.
 */
import { sh } from '../../src/transport/shell.ts';
import { predict, type Change, type FileDiff, type Plan, type PlanContext, type Step, type Task } from '../../src/engine/types.ts';
import type { RoleContext } from '../../src/engine/role.ts';
import type { Host } from '../../src/inventory/types.ts';
import { aptPackages } from '../core/apt.ts';
import { directory, planFileWrite } from '../core/files.ts';
import { pathState } from '../core/files.facts.ts';
import { CONFIG_PATH, LOAD_RECORD, NO_ROLLBACK, PENDING_MARKER, STATE_DIR, ROLLBACK_UNIT, rollbackPending, rollbackTimer, tableState, type TableState } from './facts.ts';
import { TABLE, describeOpenings, firewallInputs, inputRules, openings, renderConfigFile, renderTable } from './render.ts';
import { effectiveSshdConfig, type EffectiveConfig } from '../ssh/facts.ts';
import { service, unitFile } from '../core/systemd.ts';
import type { FirewallHostVars } from './vars.ts';

/** The unit that loads the firewall's file at boot, instead of nftables.service (see `renderBootUnit`). */
export const BOOT_UNIT = 'provision-firewall.service';

const RESTORE_SCRIPT = `${STATE_DIR}/restore.sh`;
const PREVIOUS_RULESET = `${STATE_DIR}/previous.nft`;
const PREVIOUS_CONFIG = `${STATE_DIR}/previous-config`;
/** Written by the restore script: the change was rolled back (by `timer` or by `provision`). */
export const ROLLED_BACK_MARKER = `${STATE_DIR}/rolled-back`;

/** The label of the ruleset diff: what the kernel holds, as `nft list` prints it. */
export const RULESET_DIFF_PATH = `/(nft list table ${TABLE})`;

/** What the firewall table holds: its input rules, and the report's lines about them. */
export interface TableContent {
  rules: string[];
  description: string[];
}

/** Builds the table's content while planning (it depends on this run's controller address). */
export type ContentSource = (context: PlanContext<FirewallHostVars>) => TableContent;

/**
 * The unit that loads the file at boot. A unit of its own rather than nftables.service: Debian's stock
 * /etc/nftables.conf begins with `flush ruleset`, and that unit's ExecStop is `nft flush ruleset`; either would
 * delete fail2ban's and Docker's tables with ours. No ExecStop: stopping the unit must not open the host.
 * A boot while a change waits for its confirming login (the rollback timer died with the old boot) restores the last
 * confirmed rules instead: unconfirmed rules never become permanent by a reboot.
 */
export function renderBootUnit(): string {
  return `# Managed by provision (firewall.*): loads ${CONFIG_PATH} at boot, or, while a change is still
# unconfirmed (${PENDING_MARKER} exists), restores the rules that were confirmed before it.
# Not nftables.service: its stock /etc/nftables.conf starts with \`flush ruleset\` and its ExecStop runs
# \`nft flush ruleset\`, which would delete fail2ban's and Docker's tables too. This file replaces only table ${TABLE}.
[Unit]
Description=provision firewall (nftables table ${TABLE})
Documentation=file:${CONFIG_PATH}
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
After=nftables.service
Conflicts=shutdown.target
ConditionPathExists=|${CONFIG_PATH}
ConditionPathExists=|${PENDING_MARKER}

[Service]
Type=oneshot
RemainAfterExit=yes
StandardInput=null
ExecStart=/bin/sh -c 'if [ -e ${PENDING_MARKER} ]; then exec /bin/sh ${RESTORE_SCRIPT} boot; fi; exec /usr/sbin/nft -f ${CONFIG_PATH}'
ExecReload=/usr/sbin/nft -f ${CONFIG_PATH}

[Install]
WantedBy=sysinit.target
`;
}

/** The script that puts back the saved table and file; the rollback timer runs it with `timer`, provision with `provision`. */
export function renderRestoreScript(): string {
  return `#!/bin/sh
# Managed by provision: restores the firewall that was in place before an unconfirmed change.
# The table comes back first (that is what reopens the way in), then the file that loads it at boot.
set -u
nft -f ${PREVIOUS_RULESET} || exit 1
if [ -f ${PREVIOUS_CONFIG} ]; then
  cp -p ${PREVIOUS_CONFIG} ${CONFIG_PATH}.restore && mv -f ${CONFIG_PATH}.restore ${CONFIG_PATH}
else
  rm -f ${CONFIG_PATH}
fi
rm -f ${PENDING_MARKER}
echo "\${1:-timer}" > ${ROLLED_BACK_MARKER}
echo "restored the previous table ${TABLE} (rolled back by \${1:-timer})"
`;
}

/** The SSH ports to open: every port sshd -T reports, plus ssh.port; the connection's port when sshd -T fails. */
export function sshdPorts(effective: EffectiveConfig, configured: number | undefined, connectionPort: number): number[] {
  const listening = effective.ok ? (effective.values.get('port') ?? []).map(Number).filter((port) => Number.isInteger(port) && port > 0) : [];
  const ports = [...listening, ...(configured === undefined ? [] : [configured])];
  return [...new Set(ports.length > 0 ? ports : [connectionPort])].sort((a, b) => a - b);
}

/** The standard content: SSH, the host's roles' ports and `firewall.allow`, from the host, the inventory and this run. */
export function standardContent(host: Host<FirewallHostVars>, roles: RoleContext<FirewallHostVars>): ContentSource {
  return (context) => {
    const ports = sshdPorts(context.facts.get(effectiveSshdConfig), host.vars.ssh.port, host.connection.port);
    const controllerAddress = context.login?.controllerAddress;
    const inputs = firewallInputs(host, roles, { sshPorts: ports, ...(controllerAddress ? { controllerAddress } : {}) });
    return { rules: inputRules(inputs), description: describeOpenings(openings(inputs)) };
  };
}

/** Steps that save the loaded table and file, then arm the timer that restores them after `seconds`. */
function armRollback(seconds: number): Step[] {
  const save = sh`set -e
rm -f ${ROLLED_BACK_MARKER}
tables=$(nft list tables)
{ printf 'table inet provision {}\\ndelete table inet provision\\n'
  if printf '%s\\n' "$tables" | grep -qxF 'table inet provision'; then nft list table inet provision; fi
} > ${`${PREVIOUS_RULESET}.new`}
nft -c -f ${`${PREVIOUS_RULESET}.new`}
mv -f ${`${PREVIOUS_RULESET}.new`} ${PREVIOUS_RULESET}
if [ -f ${CONFIG_PATH} ]; then cp -p ${CONFIG_PATH} ${PREVIOUS_CONFIG}; else rm -f ${PREVIOUS_CONFIG}; fi
: > ${PENDING_MARKER}`;
  const arm = sh`systemctl stop ${`${ROLLBACK_UNIT}.timer`} 2>/dev/null || true
systemctl reset-failed ${`${ROLLBACK_UNIT}.timer`} ${`${ROLLBACK_UNIT}.service`} 2>/dev/null || true
systemd-run --quiet --unit=${ROLLBACK_UNIT} --description=${`restore table ${TABLE} unless provision confirms the change`} --on-active=${seconds} --timer-property=AccuracySec=1s /bin/sh ${RESTORE_SCRIPT} timer`;
  return [
    { kind: 'run', command: sh`install -d -m 0700 ${STATE_DIR}` },
    { kind: 'write-file', path: RESTORE_SCRIPT, content: renderRestoreScript(), mode: '0700', owner: 'root', group: 'root' },
    { kind: 'run', command: save, description: `save the loaded table ${TABLE} and ${CONFIG_PATH} for a rollback` },
    { kind: 'run', command: arm, description: `arm the rollback timer (${seconds}s)` },
  ];
}

/**
 * Steps that disarm the timer, then fail if it fired already (the rules were rolled back before the login was
 * confirmed). A restore that is running is given 10 s to finish first, so its result is what gets reported.
 */
function confirm(seconds: number): Step {
  const command = sh`systemctl stop ${`${ROLLBACK_UNIT}.timer`} 2>/dev/null || true
i=0
while [ "$i" -lt 20 ] && systemctl is-active --quiet ${`${ROLLBACK_UNIT}.service`}; do sleep 0.5; i=$((i + 1)); done
if [ -e ${ROLLED_BACK_MARKER} ]; then
  echo ${`the rollback timer fired before the new rules were confirmed (firewall.rollback_after is ${seconds}s): the previous table is back`} >&2
  exit 1
fi
rm -f ${PENDING_MARKER}`;
  return { kind: 'run', command, description: 'confirm the new rules: disarm the rollback timer' };
}

/** The fast path of the rollback, while this run's connection still works: disarm the timer and restore now. */
const restoreNow: Step[] = [
  {
    kind: 'run',
    command: sh`systemctl stop ${`${ROLLBACK_UNIT}.timer`} 2>/dev/null || true; /bin/sh ${RESTORE_SCRIPT} provision`,
    description: `restore the previous table ${TABLE} and ${CONFIG_PATH}`,
  },
];

/**
 * Loads the file, then writes the load record (the file's sha256 and the table as now listed) that lets later facts
 * skip the scratch load. A record that cannot be written is removed, so that none vouches for an older load.
 */
const loadAndRecord = sh`nft -f ${CONFIG_PATH} || exit 1
if sum=$(sha256sum <${CONFIG_PATH}) && { printf '%s\n' "\${sum%% *}"; nft list table inet provision; } >${`${LOAD_RECORD}.new`}; then
  mv -f ${`${LOAD_RECORD}.new`} ${LOAD_RECORD}
else
  rm -f ${`${LOAD_RECORD}.new`} ${LOAD_RECORD}
fi`;

/** What the table fact will say once the change is confirmed. */
function loadedState(state: TableState, listing: string): TableState {
  const tables = state.nft === 'present' ? state.tables : [];
  return {
    nft: 'present',
    tables: tables.includes(TABLE) ? tables : [...tables, TABLE],
    live: listing,
    file: { kind: 'loads', listing },
  };
}

/** Why the loaded table has to be (re)loaded, for the report; null when it matches. */
function loadReason(state: TableState, pending: boolean, expected: string, fileChanges: boolean): string | null {
  const live = state.nft === 'present' ? state.live : null;
  if (pending) return 'a rollback armed by an earlier, unconfirmed run is still pending: confirm the rules now';
  if (fileChanges) return null;
  if (live === null) return `table ${TABLE} is not loaded although ${CONFIG_PATH} is in place (flushed or deleted outside provision)`;
  if (live !== expected) return `the loaded table ${TABLE} differs from ${CONFIG_PATH} (changed outside provision)`;
  return null;
}

/**
 * `table inet provision` loaded from /etc/nftables.d/provision.nft, with the commit-confirmed safety net. In place
 * only when the file has this content AND the kernel holds exactly what that file loads (compared in a scratch
 * network namespace, so the comparison uses this host's own nft's words).
 */
export function firewallTable(host: Host<FirewallHostVars>, content: ContentSource): Task<FirewallHostVars> {
  const file = pathState(CONFIG_PATH);
  return {
    kind: 'nft.table',
    target: TABLE,
    facts: () => [file, tableState, rollbackTimer, effectiveSshdConfig],
    plan: (context): Plan => {
      const seconds = host.vars.firewall.rollback_after;
      const { rules, description } = content(context);
      const table = renderTable(rules);
      const wanted = renderConfigFile(table);
      const state = context.facts.get(tableState);
      if (state.nft === 'broken') throw new Error(`nft cannot list the ruleset on ${host.name}: ${state.error}`);
      const fileState = context.facts.get(file);
      const fileChanges = fileState.type !== 'file' || fileState.content !== wanted;
      const fileLoad = state.nft === 'present' ? state.file : { kind: 'absent' as const };
      if (!fileChanges && fileLoad.kind === 'fails') throw new Error(`${CONFIG_PATH} does not load on this host's nft: ${fileLoad.error}`);
      // The file on disk is the wanted one: what it loads (in the scratch namespace) is the exact expected table.
      const expected = !fileChanges && fileLoad.kind === 'loads' ? fileLoad.listing : table;
      const live = state.nft === 'present' ? state.live : null;
      const reason = loadReason(state, rollbackPending(context.facts.get(rollbackTimer)), expected, fileChanges);
      const fileWrite = planFileWrite(CONFIG_PATH, fileState, wanted, { validate: 'nft -c -f %s' });
      if (!fileChanges && reason === null) {
        if (fileWrite.status === 'change') return fileWrite; // owner or mode only: the rules are in place
        return { status: 'ok', reason: `table ${TABLE} is loaded and matches ${CONFIG_PATH} (input policy drop)` };
      }

      const others = state.nft === 'present' ? state.tables.filter((name) => name !== TABLE) : [];
      const changes: Change[] = [];
      if (fileChanges && fileWrite.status === 'change') {
        const [write] = fileWrite.changes;
        changes.push({
          ...write,
          steps: [...armRollback(seconds), ...write.steps],
          rollback: restoreNow,
          details: [`first saves the loaded table and arms a timer that restores it in ${seconds}s unless the change is confirmed`],
        });
      }
      const diff: FileDiff = { path: RULESET_DIFF_PATH, before: live, after: expected };
      changes.push({
        summary: `load table ${TABLE} and confirm it with a new SSH login (else the host restores the previous table in ${seconds}s)`,
        diff,
        details: [
          ...(reason ? [reason] : []),
          ...description,
          `other tables, left as they are: ${others.length > 0 ? others.join(', ') : 'none'}`,
        ],
        steps: [
          ...(changes.length === 0 ? armRollback(seconds) : []),
          { kind: 'run', command: loadAndRecord, description: `load ${CONFIG_PATH}` },
          // What the rules must let through is a new connection of this run's: on a host that does not have the
          // key yet (first contact by password), the password is the way in, and the SSH play proves the key later.
          { kind: 'verify-login', with: 'run' },
          confirm(seconds),
        ],
        rollback: restoreNow,
        predicts: [
          predict(tableState, loadedState(state, expected)),
          predict(rollbackTimer, NO_ROLLBACK),
        ],
      });
      return { status: 'change', changes: changes as [Change, ...Change[]] };
    },
  };
}

/** The boot unit's file, made known to systemd at once, and enabled by the same step on a first run. */
export function firewallBootUnit(): Task<FirewallHostVars> {
  return unitFile(BOOT_UNIT, renderBootUnit(), { enable: true });
}

/** With `firewall.enabled: false`: provision's table and file are gone (other tables stay). */
export function firewallRemoved(): Task<FirewallHostVars> {
  const file = pathState(CONFIG_PATH);
  return {
    kind: 'nft.table',
    target: TABLE,
    facts: () => [file, tableState, rollbackTimer],
    plan: ({ facts }) => {
      const state = facts.get(tableState);
      if (state.nft === 'broken') throw new Error(`nft cannot list the ruleset: ${state.error}`);
      const live = state.nft === 'present' ? state.live : null;
      const fileState = facts.get(file);
      const pending = rollbackPending(facts.get(rollbackTimer));
      if (live === null && fileState.type === 'absent' && !pending) return { status: 'ok', reason: `table ${TABLE} is not loaded and ${CONFIG_PATH} is absent` };
      const remove = sh`systemctl stop ${`${ROLLBACK_UNIT}.timer`} 2>/dev/null || true
if command -v nft >/dev/null 2>&1 && nft list tables | grep -qxF 'table inet provision'; then nft delete table inet provision; fi
rm -f ${CONFIG_PATH} ${LOAD_RECORD} ${PENDING_MARKER}`;
      return {
        status: 'change',
        changes: [
          {
            summary: `delete table ${TABLE} and remove ${CONFIG_PATH} (firewall.enabled is false)`,
            ...(live !== null ? { diff: { path: RULESET_DIFF_PATH, before: live, after: null } } : fileState.type === 'file' ? { diff: { path: CONFIG_PATH, before: fileState.content, after: null } } : {}),
            steps: [{ kind: 'run', command: remove, description: `delete table ${TABLE}` }],
            predicts: [
              predict(file, { type: 'absent' }),
              ...(state.nft === 'present' ? [predict(tableState, { ...state, live: null, file: { kind: 'absent' } })] : []),
              predict(rollbackTimer, NO_ROLLBACK),
            ],
          },
        ],
      };
    },
  };
}

/** Options of `firewall`. */
export interface FirewallOptions {
  /** Replaces the table's content (tests use it to load rules that cut the controller off). Default: `standardContent`. */
  content?: ContentSource;
}

/**
 * The firewall play's tasks: nftables installed, the table loaded with the safety net, and the boot unit enabled
 * (only after the table was confirmed: a failed confirmation skips the rest). With `enabled: false`, the removal.
 */
export function firewall(host: Host<FirewallHostVars>, roles: RoleContext<FirewallHostVars>, options: FirewallOptions = {}): Task<FirewallHostVars>[] {
  if (!host.vars.firewall.enabled) return [firewallRemoved(), service('provision-firewall', { enabled: false, running: false })];
  return [
    aptPackages(['nftables']),
    directory('/etc/nftables.d'),
    firewallTable(host, options.content ?? standardContent(host, roles)),
    firewallBootUnit(),
    service('provision-firewall'),
  ];
}

/**
 * The table once more, after the SSH play: when that play moved sshd to `ssh.port`, the firewall kept the old port
 * open for the logins that proved the move, and closes it here, in the same run. Otherwise it is in place already.
 */
export function firewallAfterSshMove(host: Host<FirewallHostVars>, roles: RoleContext<FirewallHostVars>): Task<FirewallHostVars>[] {
  if (!host.vars.firewall.enabled || host.vars.ssh.port === undefined) return [];
  return [firewallTable(host, standardContent(host, roles))];
}
