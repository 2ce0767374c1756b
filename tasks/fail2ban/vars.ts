/**
 * `fail2ban.*`: bans for SSH brute force, and on balancers for HTTP abuse. Every key is documented with its default;
 * durations are seconds inside.
 */
import { z } from 'zod';
import { defineNamespace, type VarsOf } from '../../src/engine/role.ts';
import type { sshNamespace } from '../ssh/vars.ts';
import type { haproxyNamespace } from '../haproxy/vars.ts';
import { yamlBoolean } from '../../src/inventory/connection.ts';
import { duration } from '../../src/inventory/duration.ts';

const ADDRESS_HINT = 'expected an IP address or a CIDR range, e.g. 203.0.113.7 or 10.0.0.0/8';

/** One `ignoreip` entry: an address or a range. Host names are refused: fail2ban would resolve them at every start. */
const ignoredAddress = z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()], { error: ADDRESS_HINT });

/** The filter modes of Debian 12's sshd filter (fail2ban 1.0.2, /etc/fail2ban/filter.d/sshd.conf). */
export const SSHD_FILTER_MODES = ['normal', 'ddos', 'extra', 'aggressive'] as const;

/** The nftables ban actions: block the banned address on the jail's ports only, or on every port. */
export const BAN_ACTIONS = ['nftables-multiport', 'nftables-allports'] as const;

const FACTOR_HINT = 'expected a number above 0 and at most 1000';
const RETRY_HINT = 'expected a whole number of failures from 1 to 1000';

const positiveDuration = (fallback: number) =>
  duration.refine((seconds) => seconds > 0, 'expected a duration longer than 0s').default(fallback);

/** `fail2ban.haproxy.*`: the jail over HAProxy's log on balancers (sources that keep getting 429 or 401). */
export const fail2banHaproxyVars = z
  .object({
    enabled: yamlBoolean.default(true).describe('Add the haproxy-abuse jail on hosts in `balancers`. Default true.'),
    maxretry: z.number({ error: RETRY_HINT }).int(RETRY_HINT).min(1, RETRY_HINT).max(1000, RETRY_HINT).default(20).describe('429 and 401 answers within `findtime` that ban a source. Default 20.'),
    findtime: positiveDuration(60).describe('The window in which `maxretry` such answers lead to a ban. Default 1m.'),
    bantime: positiveDuration(3600).describe('How long a source stays banned from the HTTP and HTTPS ports. Default 1h.'),
  })
  .strict();

/** The validated `fail2ban.haproxy` namespace. */
export type Fail2banHaproxyVars = z.output<typeof fail2banHaproxyVars>;

/** The `fail2ban` namespace. */
export const fail2banVars = z
  .object({
    bantime: positiveDuration(3600).describe('How long an address stays banned. Default 1h.'),
    findtime: positiveDuration(600).describe('The window in which `maxretry` failures lead to a ban. Default 10m.'),
    maxretry: z.number({ error: RETRY_HINT }).int(RETRY_HINT).min(1, RETRY_HINT).max(1000, RETRY_HINT).default(5).describe('Failures within `findtime` that ban an address. Default 5.'),
    bantime_increment: yamlBoolean.default(false).describe('Incremental bans: each new ban of the same address lasts longer (bantime × 2^bans × factor). Default false.'),
    bantime_factor: z.number({ error: FACTOR_HINT }).positive(FACTOR_HINT).max(1000, FACTOR_HINT).default(1).describe('The factor of incremental bans. Default 1.'),
    bantime_maxtime: positiveDuration(7 * 86_400).describe('The longest incremental ban. Default 7d.'),
    ignoreip: z.array(ignoredAddress).default([]).describe('Addresses and ranges that are never banned (besides 127.0.0.1/8, ::1 and the controller). Default none.'),
    ignore_controller: yamlBoolean.default(true).describe('Never ban the address this run connects from, as the host sees it. Default true.'),
    banaction: z.enum(BAN_ACTIONS, { error: `expected ${BAN_ACTIONS.join(' or ')}` }).default('nftables-multiport').describe('nftables-multiport bans on the SSH ports only; nftables-allports on every port. Default nftables-multiport.'),
    sshd_mode: z.enum(SSHD_FILTER_MODES, { error: `expected one of ${SSHD_FILTER_MODES.join(', ')}` }).default('aggressive').describe("The sshd filter's mode: aggressive also counts rejected keys and connections closed before authentication."),
    haproxy: fail2banHaproxyVars.prefault({}).describe("The jail over HAProxy's log, on balancers."),
  })
  .strict()
  .refine((vars) => !vars.bantime_increment || vars.bantime_maxtime >= vars.bantime, {
    message: 'expected a duration no shorter than bantime (incremental bans grow up to it)',
    path: ['bantime_maxtime'],
  });

/** The validated `fail2ban` namespace. */
export type Fail2banVars = z.output<typeof fail2banVars>;

/** The defaults of `fail2ban`, for hosts that do not set it (the schema's own, so they cannot drift). */
export const FAIL2BAN_DEFAULTS: Fail2banVars = fail2banVars.parse({});

/** The `fail2ban` namespace: the sshd jail, and the haproxy-abuse jail on balancers. */
export const fail2banNamespace = defineNamespace('fail2ban', fail2banVars.prefault({}));

/** The host variables fail2ban reads: its own, the SSH port, and HAProxy's ports on balancers. */
export type Fail2banHostVars = VarsOf<typeof fail2banNamespace | typeof sshNamespace | typeof haproxyNamespace>;
