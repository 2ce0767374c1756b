/** The hardened sshd settings, the managed block that carries them, and the effective values to expect (pure). */
import { plainConfigValues } from '../../src/engine/config-values.ts';
import type { SshdCrypto } from './algorithms.ts';
import type { SshVars } from './vars.ts';

/** A sshd_config keyword and its value(s), in the order they are written. */
export type Setting = readonly [keyword: string, values: readonly string[]];

const BEGIN = '# BEGIN provision: SSH hardening (managed; set ssh.* in the inventory instead of editing)';
const END = '# END provision: SSH hardening';

/** What the hardening depends on besides `ssh.*`. */
export interface HardeningContext {
  /** An admin user is configured: root may not log in at all. */
  adminUser?: string;
  /** OpenSSH ≥ 8.7 knows KbdInteractiveAuthentication; older ones the ChallengeResponse name. */
  kbdInteractiveKeyword: 'KbdInteractiveAuthentication' | 'ChallengeResponseAuthentication';
  /** The algorithm lists and host keys (algorithms.ts); absent, sshd keeps its own. */
  crypto?: SshdCrypto;
}

const yesNo = (value: boolean) => (value ? 'yes' : 'no');

/** The settings, from `ssh.*` and the host. */
export function hardeningSettings(vars: SshVars, context: HardeningContext): Setting[] {
  const settings: Setting[] = [
    ['PasswordAuthentication', ['no']],
    [context.kbdInteractiveKeyword, ['no']],
    ['PermitEmptyPasswords', ['no']],
    ['PubkeyAuthentication', ['yes']],
    ['AuthenticationMethods', ['publickey']],
    ['PermitRootLogin', [context.adminUser ? 'no' : 'prohibit-password']],
    ['MaxAuthTries', [String(vars.max_auth_tries)]],
    ['LoginGraceTime', [String(vars.login_grace_time)]],
    ['X11Forwarding', ['no']],
    // A jump host must forward TCP (ProxyJump); nothing here needs agents, Unix sockets or tun devices forwarded.
    ['AllowTcpForwarding', [yesNo(vars.allow_forwarding)]],
    ['AllowAgentForwarding', [yesNo(vars.allow_agent_forwarding)]],
    ['AllowStreamLocalForwarding', ['no']],
    ['PermitTunnel', [yesNo(vars.permit_tunnel)]],
    ['PermitUserEnvironment', [yesNo(vars.permit_user_environment)]],
    ['MaxStartups', [vars.max_startups]],
    ['ClientAliveInterval', [String(vars.client_alive_interval)]],
    ['ClientAliveCountMax', [String(vars.client_alive_count_max)]],
    ['LogLevel', [vars.log_level]],
  ];
  const crypto = context.crypto;
  if (crypto) {
    for (const path of crypto.hostKeys) settings.push(['HostKey', [path]]);
    settings.push(
      ['HostKeyAlgorithms', [crypto.hostKeyAlgorithms.join(',')]],
      ['KexAlgorithms', [crypto.kex.join(',')]],
      ['Ciphers', [crypto.ciphers.join(',')]],
      ['MACs', [crypto.macs.join(',')]],
    );
    if (crypto.moduliFile) settings.push(['ModuliFile', [crypto.moduliFile]]);
  }
  if (vars.port !== undefined) settings.push(['Port', [String(vars.port)]]);
  if (vars.allow_users) settings.push(['AllowUsers', vars.allow_users]);
  if (vars.allow_groups) settings.push(['AllowGroups', vars.allow_groups]);
  return settings;
}

/** The managed block. It goes first in sshd_config because sshd keeps the first value it reads for a keyword. */
export function renderBlock(settings: readonly Setting[]): string {
  plainConfigValues('sshd_config', settings);
  const lines = settings.map(([keyword, values]) => `${keyword} ${values.join(' ')}`);
  return [BEGIN, ...lines, END, ''].join('\n');
}

/** sshd_config with the managed block at the top (an old block, wherever it is, is replaced). */
export function withManagedBlock(config: string, block: string): string {
  return block + removeManagedBlock(config);
}

/** sshd_config without the managed block. */
export function removeManagedBlock(config: string): string {
  const start = config.indexOf(BEGIN);
  if (start < 0) return config;
  const endAt = config.indexOf(END, start);
  if (endAt < 0) return config;
  const after = config.indexOf('\n', endAt);
  return config.slice(0, start) + (after < 0 ? '' : config.slice(after + 1));
}

/** Spellings `sshd -T` may print for a value we write. */
const EQUIVALENT: Record<string, string[]> = { 'prohibit-password': ['prohibit-password', 'without-password'] };

/** Keywords `sshd -T` prints one line per value for; HostKey lines add up, one per file. */
const PER_VALUE = new Set(['port', 'allowusers', 'allowgroups', 'hostkey']);

/** The values `sshd -T` must print for each setting (lowercase keywords; list keywords print one value per line). */
export function expectedEffective(settings: readonly Setting[]): Map<string, string[]> {
  const expected = new Map<string, string[]>();
  for (const [keyword, values] of settings) {
    const key = keyword.toLowerCase();
    if (PER_VALUE.has(key)) expected.set(key, [...(expected.get(key) ?? []), ...values]);
    else expected.set(key, [values.join(' ')]);
  }
  return expected;
}

/** One difference between the effective configuration and the hardened one. */
export interface EffectiveDifference {
  keyword: string;
  current: string;
  wanted: string;
}

/** Where the effective configuration differs from the expected one. */
export function effectiveDifferences(actual: Map<string, string[]>, expected: Map<string, string[]>): EffectiveDifference[] {
  const differences: EffectiveDifference[] = [];
  for (const [keyword, wanted] of expected) {
    const current = actual.get(keyword) ?? [];
    const same =
      current.length === wanted.length &&
      wanted.every((value, index) => (EQUIVALENT[value] ?? [value]).includes(current[index] ?? ''));
    if (!same) differences.push({ keyword, current: current.join(' ') || '(unset)', wanted: wanted.join(' ') });
  }
  return differences;
}
