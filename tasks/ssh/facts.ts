/** Facts about sshd: its effective configuration (`sshd -T`) and the OpenSSH version. */
import { sh } from '../../src/transport/shell.ts';
import type { Fact, FactOutput } from '../../src/engine/types.ts';
import { packageVersion } from '../core/apt.facts.ts';

/** sshd's effective configuration: lowercase keyword → values (keywords like `port` repeat). */
export type EffectiveConfig = { ok: true; values: Map<string, string[]> } | { ok: false; error: string };

/** Parses `sshd -T` output (pure). */
export function parseEffectiveConfig(output: FactOutput): EffectiveConfig {
  if (output.code !== 0) return { ok: false, error: output.stdout.trim().split('\n').slice(-3).join(' ') || `sshd -T exited ${output.code}` };
  const values = new Map<string, string[]>();
  for (const row of output.stdout.split('\n')) {
    const match = /^(\S+)\s+(.*)$/.exec(row.trim());
    if (!match) continue;
    const [, keyword = '', value = ''] = match;
    values.set(keyword, [...(values.get(keyword) ?? []), value]);
  }
  return { ok: true, values };
}

/** sshd's effective configuration, as sshd itself computes it from every file it reads. */
export const effectiveSshdConfig: Fact<EffectiveConfig> = {
  key: 'sshd:effective',
  description: "sshd's effective configuration (sshd -T)",
  // stderr is folded in, so a broken config's message reaches the plan's error. sshd -T refuses to run without its
  // runtime directory, which is missing while a socket-activated sshd is idle.
  command: sh`[ -d /run/sshd ] || install -d -m 0755 /run/sshd; /usr/sbin/sshd -T 2>&1`,
  parse: parseEffectiveConfig,
  // What sshd reads lives under /etc/ssh; the openssh packages are in place before any run (the run logs in with them).
  staleAfter: [{ path: '/etc/ssh' }],
};

/** An OpenSSH version as major and minor, e.g. 9.2. */
export interface OpensshVersion {
  major: number;
  minor: number;
}

/** Parses a Debian package version (`1:9.2p1-2+deb12u3`) or `OpenSSH_8.4p1` (pure); null when unknown. */
export function parseOpensshVersion(output: FactOutput): OpensshVersion | null {
  const match = /(?:^|[:_])(\d+)\.(\d+)p/.exec(output.stdout);
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : null;
}

/** The installed OpenSSH server's version (asked together with the package states); null when dpkg knows none. */
export const opensshVersion: Fact<OpensshVersion | null> = packageVersion('openssh-server', (version) =>
  version === null ? null : parseOpensshVersion({ stdout: version, code: 0 }),
);

/** True when this OpenSSH knows `KbdInteractiveAuthentication` (8.7 and later); older ones use ChallengeResponse. */
export function knowsKbdInteractive(version: OpensshVersion | null): boolean {
  if (!version) return true;
  return version.major > 8 || (version.major === 8 && version.minor >= 7);
}
