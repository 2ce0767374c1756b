/** The fail2ban files provision owns, rendered from plain settings (pure: no host, no I/O). */
import { plainConfigValues } from '../../src/engine/config-values.ts';
import type { BAN_ACTIONS, SSHD_FILTER_MODES } from './vars.ts';

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
  /** The jail over HAProxy's log (balancers only), or null for none. */
  haproxy: HaproxyJailSettings | null;
}

/** The haproxy-abuse jail: HAProxy's ports and its own limits. */
export interface HaproxyJailSettings {
  /** haproxy.http_port and haproxy.https_port. */
  ports: readonly number[];
  maxretry: number;
  /** Seconds. */
  findtime: number;
  /** Seconds. */
  bantime: number;
}

/** The jail's name, as `fail2ban-client status` takes it. */
export const HAPROXY_JAIL = 'haproxy-abuse';

/** The filter's name: our own file, so no Debian filter is replaced; an operator may still override it in a `.local`. */
export const HAPROXY_FILTER = 'provision-haproxy-abuse';

/**
 * HAProxy logs through /dev/log (bind-mounted into its chroot); journald stores the syslog tag `haproxy` as
 * SYSLOG_IDENTIFIER (seen on Debian 12: _TRANSPORT=syslog, SYSLOG_IDENTIFIER=haproxy). A match on the tag, not on
 * haproxy's user id: that id does not exist before HAProxy is installed, and the jail starts before it is.
 */
export const HAPROXY_JOURNAL_MATCH = 'SYSLOG_IDENTIFIER=haproxy';

/**
 * The part of the failregex after fail2ban's line prefix: an httplog line (`option httplog`) whose status is 429 (the
 * rate limit) or 401 (missing or wrong credentials). The line starts with the client's address and port, then the
 * accept date, the frontend, backend/server and the timers; the status follows. Everything up to the status is
 * HAProxy's own text, and the client's request line comes last, so no URL or header can fake a match or the address.
 */
export const HAPROXY_ABUSE_MATCH = String.raw`<HOST>:\d+ \[[^\]]+\] \S+ \S+ \S+ (?:401|429)\s`;

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
  plainConfigValues('/etc/fail2ban/jail.d/provision.local', settings);
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
    ...haproxyJail(settings.haproxy),
  ];
  return `${lines.join('\n')}\n`;
}

function haproxyJail(haproxy: HaproxyJailSettings | null): string[] {
  if (!haproxy) return [];
  return [
    '',
    `[${HAPROXY_JAIL}]`,
    '# Sources that keep hitting the rate limit (429) or failing authentication (401) at HAProxy.',
    'enabled = true',
    '# The journal backend needs no log file: the jail starts even before HAProxy is installed.',
    'backend = systemd',
    `journalmatch = ${HAPROXY_JOURNAL_MATCH}`,
    `filter = ${HAPROXY_FILTER}`,
    `port = ${haproxy.ports.join(',')}`,
    '# seconds',
    `maxretry = ${haproxy.maxretry}`,
    `findtime = ${haproxy.findtime}`,
    `bantime = ${haproxy.bantime}`,
  ];
}

/** Renders /etc/fail2ban/filter.d/provision-haproxy-abuse.conf: 429 and 401 answers in HAProxy's httplog lines. */
export function renderHaproxyFilter(): string {
  return [
    HEADER.trimEnd(),
    '# HAProxy\'s httplog lines (journal tag haproxy) that answered 429 (rate limit) or 401 (authentication failed).',
    '',
    '[INCLUDES]',
    '# __prefix_line: the "host haproxy[pid]: " fail2ban puts before each journal message.',
    'before = common.conf',
    '',
    '[Definition]',
    '_daemon = haproxy',
    '# client address:port [accept date] frontend backend/server timers STATUS ... "request line" (the client\'s text, last)',
    `failregex = ^%(__prefix_line)s${HAPROXY_ABUSE_MATCH}`,
    'ignoreregex =',
    '',
  ].join('\n');
}

/** How long fail2ban keeps ban history: a day, or the longest ban when that is longer (so restarts restore it). */
export function historySeconds(settings: Pick<JailSettings, 'bantime' | 'increment'>): number {
  const longestBan = settings.increment ? settings.increment.maxtimeSeconds : settings.bantime;
  return Math.max(86_400, longestBan);
}

/** Renders /etc/fail2ban/fail2ban.d/provision.local: the server's settings. */
export function renderServerSettings(settings: Pick<JailSettings, 'bantime' | 'increment'>): string {
  plainConfigValues('/etc/fail2ban/fail2ban.d/provision.local', settings);
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
