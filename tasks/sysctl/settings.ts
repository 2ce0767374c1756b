/**
 * The kernel keys `sysctl.*` stands for, and the values a host gets (pure). Docker-safe: IP forwarding is never
 * turned off on a host that forwards, and reverse-path filtering is loose there.
 */
import type { SysctlVars } from './vars.ts';

/** One kernel key and the value it is to have, with the variable that decides it. */
export interface KernelSetting {
  key: string;
  value: string;
  /** The `sysctl.*` variable it comes from, e.g. `sysctl.rp_filter`. */
  variable: string;
}

/** What the host is, as far as the settings care. */
export interface HostRole {
  /** Why the host forwards packets (Docker, forwarding on …), or undefined when it does not. */
  forwards?: string;
  /** Network interfaces with a device behind them (not bridges, veths or tunnels). */
  physicalInterfaces: number;
}

const pair = (prefix: string, name: string) => [`${prefix}.all.${name}`, `${prefix}.default.${name}`];

/** The keys of each variable; a variable may stand for several. */
export const KERNEL_KEYS: Record<Exclude<keyof SysctlVars, 'enabled' | 'extra'>, string[]> = {
  rp_filter: pair('net.ipv4.conf', 'rp_filter'),
  syncookies: ['net.ipv4.tcp_syncookies'],
  accept_redirects: [...pair('net.ipv4.conf', 'accept_redirects'), ...pair('net.ipv4.conf', 'secure_redirects'), ...pair('net.ipv6.conf', 'accept_redirects')],
  send_redirects: pair('net.ipv4.conf', 'send_redirects'),
  accept_source_route: [...pair('net.ipv4.conf', 'accept_source_route'), ...pair('net.ipv6.conf', 'accept_source_route')],
  log_martians: pair('net.ipv4.conf', 'log_martians'),
  ignore_broadcast_pings: ['net.ipv4.icmp_echo_ignore_broadcasts'],
  ignore_bogus_icmp_errors: ['net.ipv4.icmp_ignore_bogus_error_responses'],
  ip_forward: ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'],
  kptr_restrict: ['kernel.kptr_restrict'],
  dmesg_restrict: ['kernel.dmesg_restrict'],
  protected_hardlinks: ['fs.protected_hardlinks'],
  protected_symlinks: ['fs.protected_symlinks'],
  protected_fifos: ['fs.protected_fifos'],
  protected_regular: ['fs.protected_regular'],
  suid_dumpable: ['fs.suid_dumpable'],
  unprivileged_bpf_disabled: ['kernel.unprivileged_bpf_disabled'],
  bpf_jit_harden: ['net.core.bpf_jit_harden'],
};

/** Every key this module may read: the managed ones and the forwarding switches (read to tell a forwarding host). */
export function keysToRead(vars: SysctlVars): string[] {
  return [...new Set([...Object.values(KERNEL_KEYS).flat(), ...Object.keys(vars.extra)])];
}

/** The file under /proc/sys of a kernel key: dots are directories. */
export function procPath(key: string): string {
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}

const number = (value: boolean | number) => (typeof value === 'boolean' ? (value ? '1' : '0') : String(value));

/**
 * The settings for a host: each variable that is not null, `auto` resolved from what the host is, then `extra`.
 * Throws when `ip_forward: false` would cut a forwarding host's containers off.
 */
export function kernelSettings(vars: SysctlVars, host: HostRole): { settings: KernelSetting[]; notes: string[] } {
  const settings: KernelSetting[] = [];
  const notes: string[] = [];
  for (const [name, keys] of Object.entries(KERNEL_KEYS) as [keyof typeof KERNEL_KEYS, string[]][]) {
    const chosen = vars[name];
    if (chosen === null) continue;
    let value: string;
    if (name === 'rp_filter' && chosen === 'auto') {
      const loose = host.forwards ?? (host.physicalInterfaces > 1 ? `${host.physicalInterfaces} network interfaces` : undefined);
      value = loose ? '2' : '1';
      if (loose) notes.push(`sysctl.rp_filter auto: loose (2), as ${loose} (strict filtering drops replies that come back on another interface)`);
    } else if (name === 'ip_forward' && chosen === 'auto') {
      if (host.forwards) {
        notes.push(`sysctl.ip_forward auto: left alone, as ${host.forwards}`);
        continue;
      }
      value = '0';
    } else if (name === 'ip_forward' && chosen === false && host.forwards) {
      throw new Error(`refusing to turn IP forwarding off: ${host.forwards}, and its containers or routes would lose their traffic; set sysctl.ip_forward to auto`);
    } else value = number(chosen as boolean | number);
    for (const key of keys) settings.push({ key, value, variable: `sysctl.${name}` });
  }
  const managed = new Set(settings.map((setting) => setting.key));
  for (const [key, value] of Object.entries(vars.extra)) {
    const known = Object.entries(KERNEL_KEYS).find(([, keys]) => keys.includes(key));
    if (known) throw new Error(`sysctl.extra sets ${key}, which sysctl.${known[0]} decides: set sysctl.${known[0]} instead`);
    if (!managed.has(key)) settings.push({ key, value: String(value).trim(), variable: 'sysctl.extra' });
  }
  return { settings, notes };
}

/** A value as the kernel prints it, for comparing: runs of blanks (multi-value keys print tabs) as one space. */
export function normalValue(value: string): string {
  return value.trim().replace(/\s+/g, ' ');
}
