/**
 * fail2ban on every host: the sshd jail reads the systemd journal (Debian 12 has no auth.log), counts the failures
 * of a key-only sshd (invalid users, rejected keys, connections dropped before authentication), and bans through
 * nftables in fail2ban's own table. On balancers a second jail reads HAProxy's log lines in the journal and bans
 * sources that keep getting 429 (rate limit) or 401 (authentication). The controller's address is never banned. Candidate files are tested with
 * `fail2ban-client -t` on a copy of the whole configuration before they replace the live ones.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { SafetyError } from '../../src/errors.ts';
import { sh } from '../../src/transport/shell.ts';
import type { Handler, Plan, PlanContext, Task } from '../../src/engine/types.ts';
import { aptPackages } from '../core/apt.ts';
import { planFileWrite } from '../core/files.ts';
import { pathState } from '../core/files.facts.ts';
import { HAPROXY_FILTER, HAPROXY_JAIL, ignoreList, renderHaproxyFilter, renderJail, renderServerSettings, type HaproxyJailSettings, type JailSettings } from './render.ts';
import type { Fail2banHostVars, Fail2banVars } from './vars.ts';
import { effectiveSshdConfig, type EffectiveConfig } from '../ssh/facts.ts';
import { restartService, service } from '../core/systemd.ts';
import { balancerRole } from '../haproxy/role.ts';

/** fail2ban, the journal reader its systemd backend imports, and the `nft` its ban actions call. */
export const FAIL2BAN_PACKAGES = ['fail2ban', 'python3-systemd', 'nftables'] as const;

const CONFIG_DIR = '/etc/fail2ban';
/** A `.local` in jail.d is read after every `.conf` (Debian's defaults-debian.conf included) and after jail.local. */
const JAIL_FILE = 'jail.d/provision.local';
const SERVER_FILE = 'fail2ban.d/provision.local';
/** A filter of our own name: fail2ban reads filter.d/NAME.conf, then NAME.local, so an operator can still override it. */
const FILTER_FILE = `filter.d/${HAPROXY_FILTER}.conf`;

/** The jail file provision writes. */
export const JAIL_PATH = `${CONFIG_DIR}/${JAIL_FILE}`;
/** The server settings file provision writes. */
export const SERVER_PATH = `${CONFIG_DIR}/${SERVER_FILE}`;
/** The filter of the haproxy-abuse jail, on balancers. */
export const HAPROXY_FILTER_PATH = `${CONFIG_DIR}/${FILTER_FILE}`;

/** fail2ban's control socket: systemd's RuntimeDirectory, so it exists only while a server runs. */
const SOCKET = '/run/fail2ban/fail2ban.sock';

/** The name changes to fail2ban's files notify. */
export const RESTART_FAIL2BAN = 'restart fail2ban';

/**
 * Restarts fail2ban after its files changed, and waits (at most 15 s) until the sshd jail answers: the unit counts as
 * started as soon as the server process runs, before it has read its configuration. A restart, not a reload: a reload
 * updates the jail's settings but keeps the nftables rule it built at start (with the old ports). Bans survive:
 * fail2ban restores them from its database.
 */
export const restartFail2ban: Handler = {
  name: RESTART_FAIL2BAN,
  steps: [
    {
      kind: 'run',
      // A stop that reaches fail2ban before its socket exists fails, and the server then ignores SIGTERM until
      // systemd kills it 90 s later. The socket test is cheap; fail2ban-client is a Python start-up each time.
      command: sh`if systemctl is-active --quiet fail2ban; then i=0; while [ ! -S ${SOCKET} ] && [ "$i" -lt 60 ]; do i=$((i + 1)); sleep 0.25; done; fi`,
      description: 'let a fail2ban that is still starting open its socket before it is stopped',
    },
    ...restartService('fail2ban').steps,
    {
      kind: 'run',
      // Until the socket exists it is looked for every 0.05 s (a test, no program); then fail2ban-client, a Python
      // start-up, is asked every 0.25 s. 15 s in all: the count goes up by the twentieths of a second waited.
      command: sh`i=0; until [ -S ${SOCKET} ] && fail2ban-client status sshd >/dev/null 2>&1; do if [ "$i" -ge 300 ]; then systemctl status fail2ban --no-pager -n 8 >&2; exit 1; fi; if [ -S ${SOCKET} ]; then i=$((i + 5)); sleep 0.25; else i=$((i + 1)); sleep 0.05; fi; done`,
      description: 'wait until the sshd jail of fail2ban answers',
    },
  ],
  services: [{ name: 'fail2ban', action: 'restart' }],
};

/** A file of provision's under /etc/fail2ban, by its path relative to that directory, with the content it will have. */
export interface ConfigFile {
  relativePath: string;
  content: string;
}

/**
 * The `validate` template for `relativePath` under /etc/fail2ban. `fail2ban-client -t` only tests a whole
 * configuration directory, so the check copies the live one, puts provision's other files in as they will be
 * (`companions`: the two files are only valid together on a host whose stock jail cannot start), drops the
 * candidate (`%s`) in, and tests the copy. Exit 127 when fail2ban is not installed yet (the dry run says so).
 */
export function candidateCheck(relativePath: string, companions: readonly ConfigFile[] = []): string {
  // base64, because the engine replaces every `%s` in a validate template, and the content is then inert data.
  const placeCompanions = companions.map(
    (companion) => sh` && echo ${Buffer.from(companion.content).toString('base64')} | base64 -d > "$copy"/${companion.relativePath}`,
  );
  const script = sh`command -v fail2ban-client >/dev/null 2>&1 || exit 127
copy=$(mktemp -d) || exit 1
trap 'rm -rf "$copy"' EXIT
cp -a ${`${CONFIG_DIR}/.`} "$copy/"${placeCompanions} && cp "$1" "$copy"/${relativePath} && fail2ban-client -c "$copy" -t`;
  return `${sh`/bin/sh -c ${script.text} fail2ban-candidate-check`.text} %s`;
}

/** The SSH ports to guard: `ssh.port` plus every port sshd -T reports; the connection port when sshd -T fails. */
export function sshPorts(effective: EffectiveConfig, configuredPort: number | undefined, connectionPort: number): number[] {
  const listening = effective.ok ? (effective.values.get('port') ?? []).map(Number).filter((port) => Number.isInteger(port) && port > 0) : [];
  const ports = [...(configuredPort === undefined ? [] : [configuredPort]), ...listening];
  return [...new Set(ports.length > 0 ? ports : [connectionPort])].sort((a, b) => a - b);
}

/**
 * The addresses never banned: loopback, this run's controller (unless `ignore_controller` is false) and
 * `fail2ban.ignoreip`. Refuses when the controller must be protected but its address is unknown or not an address.
 */
export function ignoredAddresses(vars: Fail2banVars, hostName: string, controllerAddress: string | undefined): string[] {
  if (!vars.ignore_controller) return ignoreList(vars.ignoreip);
  if (controllerAddress === undefined || isIP(controllerAddress) === 0) {
    throw new SafetyError(
      `refusing to configure fail2ban on ${hostName}: the address this run connects from is unknown` +
        `${controllerAddress === undefined ? '' : ` (SSH_CONNECTION says ${JSON.stringify(controllerAddress.slice(0, 64))})`}, so it could be banned. ` +
        `List your address in fail2ban.ignoreip and set fail2ban.ignore_controller: false.`,
    );
  }
  return ignoreList([controllerAddress, ...vars.ignoreip]);
}

/** The haproxy-abuse jail for a host: on balancers with `fail2ban.haproxy.enabled`, on HAProxy's ports; else null. */
export function haproxyJailSettings(host: PlanContext<Fail2banHostVars>['host'], onBalancer: boolean): HaproxyJailSettings | null {
  const vars = host.vars.fail2ban.haproxy;
  if (!vars.enabled || !onBalancer) return null;
  const ports = [...new Set([host.vars.haproxy.http_port, host.vars.haproxy.https_port])].sort((a, b) => a - b);
  return { ports, maxretry: vars.maxretry, findtime: vars.findtime, bantime: vars.bantime };
}

/** The jail's settings for this host: the inventory's, with the ports and addresses of this run. */
export function jailSettings(context: PlanContext<Fail2banHostVars>): JailSettings {
  const { host } = context;
  const vars = host.vars.fail2ban;
  const effective = context.facts.get(effectiveSshdConfig);
  return {
    bantime: vars.bantime,
    findtime: vars.findtime,
    maxretry: vars.maxretry,
    increment: vars.bantime_increment ? { factor: vars.bantime_factor, maxtimeSeconds: vars.bantime_maxtime } : null,
    ignoreip: ignoredAddresses(vars, host.name, context.login?.controllerAddress),
    banaction: vars.banaction,
    sshd: { ports: sshPorts(effective, host.vars.ssh.port, host.connection.port), mode: vars.sshd_mode },
    haproxy: haproxyJailSettings(host, context.roles.runs(host, balancerRole)),
  };
}

/** Seconds as the inventory writes them: `90s`, `10m`, `1h`, `7d`, or a combination. */
export function formatSeconds(seconds: number): string {
  const units: [string, number][] = [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]];
  let rest = seconds;
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('') || '0s';
}

/** What the jail does, in words, for the report. */
function describeJail(settings: JailSettings, controllerAddress: string | undefined): string[] {
  const ports = settings.sshd.ports.join(',');
  const scope = settings.banaction === 'nftables-allports' ? 'every port' : `port ${ports}`;
  const ban = settings.increment
    ? `${formatSeconds(settings.bantime)}, doubling with each repeat ban (× factor ${settings.increment.factor}) up to ${formatSeconds(settings.increment.maxtimeSeconds)}`
    : formatSeconds(settings.bantime);
  const ignored = settings.ignoreip.map((address) => (address === controllerAddress ? `${address} (this controller)` : address));
  const haproxy = settings.haproxy;
  return [
    `sshd jail (mode ${settings.sshd.mode}): ${settings.maxretry} failures within ${formatSeconds(settings.findtime)} ban the address on ${scope} for ${ban}`,
    ...(haproxy
      ? [
          `${HAPROXY_JAIL} jail: ${haproxy.maxretry} HAProxy answers 429 or 401 within ${formatSeconds(haproxy.findtime)} ban the source on ` +
            `${settings.banaction === 'nftables-allports' ? 'every port' : `port ${haproxy.ports.join(',')}`} for ${formatSeconds(haproxy.bantime)}`,
        ]
      : []),
    `never banned: ${ignored.join(', ')}`,
  ];
}

/** provision's fail2ban files as this host should have them; `filter` only where the haproxy-abuse jail is. */
export function desiredFiles(context: PlanContext<Fail2banHostVars>): { jail: ConfigFile; server: ConfigFile; filter: ConfigFile | null; settings: JailSettings } {
  const settings = jailSettings(context);
  return {
    jail: { relativePath: JAIL_FILE, content: renderJail(settings) },
    server: { relativePath: SERVER_FILE, content: renderServerSettings(settings) },
    filter: settings.haproxy ? { relativePath: FILTER_FILE, content: renderHaproxyFilter() } : null,
    settings,
  };
}

/** The files that must be in place with `file` for the configuration to be valid: every other one of provision's. */
function companionsOf(files: { jail: ConfigFile; server: ConfigFile; filter: ConfigFile | null }, file: ConfigFile): ConfigFile[] {
  return [files.jail, files.server, ...(files.filter ? [files.filter] : [])].filter((other) => other.relativePath !== file.relativePath);
}

/**
 * Each file's check tests the same whole configuration (the live one with all of provision's files as they will be),
 * so the three checks share one scope, named after that content: one pass covers them all.
 */
function validationScope(files: { jail: ConfigFile; server: ConfigFile; filter: ConfigFile | null }): string {
  const content = JSON.stringify([files.jail, files.server, files.filter]);
  return `fail2ban configuration ${createHash('sha256').update(content).digest('hex').slice(0, 16)}`;
}

/** /etc/fail2ban/fail2ban.d/provision.local: how long ban history is kept. */
export function fail2banServerSettings(): Task<Fail2banHostVars> {
  const server = pathState(SERVER_PATH);
  return {
    kind: 'fail2ban.server',
    target: SERVER_PATH,
    facts: () => [server, effectiveSshdConfig],
    plan: (context) => {
      const files = desiredFiles(context);
      return planFileWrite(SERVER_PATH, context.facts.get(server), files.server.content, {
        validate: candidateCheck(SERVER_FILE, companionsOf(files, files.server)),
        validationScope: validationScope(files),
        notify: [RESTART_FAIL2BAN],
      });
    },
  };
}

/** /etc/fail2ban/jail.d/provision.local: the jail, validated on a copy of the whole configuration. */
export function fail2banJail(): Task<Fail2banHostVars> {
  const jail = pathState(JAIL_PATH);
  return {
    kind: 'fail2ban.jail',
    target: JAIL_PATH,
    facts: () => [jail, effectiveSshdConfig],
    plan: (context): Plan => {
      const files = desiredFiles(context);
      const { settings } = files;
      const plan = planFileWrite(JAIL_PATH, context.facts.get(jail), files.jail.content, {
        validate: candidateCheck(JAIL_FILE, companionsOf(files, files.jail)),
        validationScope: validationScope(files),
        notify: [RESTART_FAIL2BAN],
      });
      if (plan.status === 'ok') {
        const haproxy = settings.haproxy ? `, ${HAPROXY_JAIL} jail on port ${settings.haproxy.ports.join(',')}` : '';
        return { status: 'ok', reason: `${JAIL_PATH} is up to date (sshd jail on port ${settings.sshd.ports.join(',')}${haproxy})` };
      }
      for (const change of plan.changes) change.details = describeJail(settings, context.login?.controllerAddress);
      return plan;
    },
  };
}

/**
 * The haproxy-abuse jail's filter, on balancers: written before the jail that names it, validated with the other files.
 * Elsewhere nothing is written (a filter left from an earlier run is harmless: no jail uses it).
 */
export function fail2banHaproxyFilter(): Task<Fail2banHostVars> {
  const filter = pathState(HAPROXY_FILTER_PATH);
  return {
    kind: 'fail2ban.filter',
    target: HAPROXY_FILTER_PATH,
    facts: () => [filter, effectiveSshdConfig],
    plan: (context): Plan => {
      const files = desiredFiles(context);
      if (!files.filter) {
        const why = context.roles.runs(context.host, balancerRole) ? 'fail2ban.haproxy.enabled is false' : `the host is not in ${context.roles.patternOf(balancerRole)}`;
        return { status: 'ok', reason: `no ${HAPROXY_JAIL} jail: ${why}` };
      }
      return planFileWrite(HAPROXY_FILTER_PATH, context.facts.get(filter), files.filter.content, {
        validate: candidateCheck(FILTER_FILE, companionsOf(files, files.filter)),
        validationScope: validationScope(files),
        notify: [RESTART_FAIL2BAN],
      });
    },
  };
}

/** fail2ban installed, configured from `fail2ban.*`, enabled and running. Play it with the `restartFail2ban` handler. */
export function fail2ban(): Task<Fail2banHostVars>[] {
  return [aptPackages(FAIL2BAN_PACKAGES), fail2banServerSettings(), fail2banHaproxyFilter(), fail2banJail(), service('fail2ban')];
}
