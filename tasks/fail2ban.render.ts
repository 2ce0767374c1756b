/** The fail2ban files provision owns, rendered from plain settings (pure: no host, no I/O). */
import type { BAN_ACTIONS, SSHD_FILTER_MODES } from './fail2ban.vars.ts';

/** Addresses fail2ban must never ban, whatever the inventory says: the host itself. */
export const LOOPBACK_ADDRESSES = ['127.0.0.1/8', '::1'] as const;

/** Everything the jail file says. */
export interface JailSettings {
  /** Seconds. */
  bantime: number;
  /** Seconds. */
  findtime: number;
  maxretry: number;
  /** Incremental bans, or null for fixed-length bans. */
  increment: { factor: number; maxtimeSeconds: number } | null;
  /** The final list, loopback and the controller included. */
  ignoreip: readonly string[];
  banaction: (typeof BAN_ACTIONS)[number];
  sshd: { ports: readonly number[]; mode: (typeof SSHD_FILTER_MODES)[number] };
}

/**
 * Where the sshd jail reads: sshd's own lines, logged as root, and anything from ssh.service. The filter's default
 * (`_SYSTEMD_UNIT=sshd.service + _COMM=sshd`) misses lines: journald reads _COMM and _SYSTEMD_UNIT from /proc, and a
 * connection's process that exits right after logging has neither (seen for 1 to 3 lines in 40). SYSLOG_IDENTIFIER
 * comes with the message and _UID with the socket, so they are always there; _UID=0 keeps other users from posing as sshd.
 */
export const SSHD_JOURNAL_MATCH = 'SYSLOG_IDENTIFIER=sshd _UID=0 + _SYSTEMD_UNIT=ssh.service';

const HEADER = '# Managed by provision from the inventory (fail2ban.*): local edits are overwritten.\n';

/** The ignore list: loopback first, then the given addresses, each once, in order. */
export function ignoreList(addresses: readonly string[]): string[] {
  return [...new Set([...LOOPBACK_ADDRESSES, ...addresses])];
}

/** Renders /etc/fail2ban/jail.d/provision.local. */
export function renderJail(settings: JailSettings): string {
  const increment = settings.increment
    ? ['bantime.increment = true', `bantime.factor = ${settings.increment.factor}`, `bantime.maxtime = ${settings.increment.maxtimeSeconds}`]
    : ['bantime.increment = false'];
  const lines = [
    HEADER.trimEnd(),
    '# jail.d/*.local files are read after jail.conf, jail.d/*.conf (Debian\'s defaults-debian.conf) and jail.local.',
    '',
    '[DEFAULT]',
    '# seconds',
    `bantime = ${settings.bantime}`,
    `findtime = ${settings.findtime}`,
    `maxretry = ${settings.maxretry}`,
    ...increment,
    `ignoreip = ${settings.ignoreip.join(' ')}`,
    '# fail2ban keeps its bans in its own nftables table (inet f2b-table), beside the firewall\'s.',
    `banaction = ${settings.banaction}`,
    'banaction_allports = nftables-allports',
    '',
    '[sshd]',
    'enabled = true',
    '# Debian 12 logs sshd to the journal only: there is no /var/log/auth.log.',
    'backend = systemd',
    `journalmatch = ${SSHD_JOURNAL_MATCH}`,
    `mode = ${settings.sshd.mode}`,
    `port = ${settings.sshd.ports.join(',')}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** How long fail2ban keeps ban history: a day, or the longest ban when that is longer (so restarts restore it). */
export function historySeconds(settings: Pick<JailSettings, 'bantime' | 'increment'>): number {
  const longestBan = settings.increment ? settings.increment.maxtimeSeconds : settings.bantime;
  return Math.max(86_400, longestBan);
}

/** Renders /etc/fail2ban/fail2ban.d/provision.local: the server's settings. */
export function renderServerSettings(settings: Pick<JailSettings, 'bantime' | 'increment'>): string {
  return [
    HEADER.trimEnd(),
    '',
    '[DEFAULT]',
    '# seconds of ban history: restarts restore bans, and incremental bans remember repeat offenders',
    `dbpurgeage = ${historySeconds(settings)}`,
    '',
    '[Definition]',
    '# Debian 12\'s fail2ban.conf lacks this key, and fail2ban warns about it at every start.',
    'allowipv6 = auto',
    '',
  ].join('\n');
}
