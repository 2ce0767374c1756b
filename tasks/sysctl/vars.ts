/**
 * `sysctl.*`: the kernel's network and information-leak settings. Each variable stands for one or a few kernel keys
 * (see KERNEL_KEYS in settings.ts); `null` leaves the kernel's value alone; `extra` adds keys of your own.
 */
import { z } from 'zod';
import { defineNamespace, type VarsOf } from '../../src/engine/role.ts';
import { yamlBoolean } from '../../src/inventory/connection.ts';

const level = (max: number) => z.number({ error: `expected 0 to ${max}` }).int(`expected 0 to ${max}`).min(0, `expected 0 to ${max}`).max(max, `expected 0 to ${max}`);
const onOff = yamlBoolean.nullable();

/** A kernel key as sysctl names it: dotted words, e.g. `net.ipv4.tcp_fin_timeout` or `vm.swappiness`. */
export const KERNEL_KEY = /^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]+)+$/;

/** The schema of `sysctl`, every key with its default. */
export const sysctlVars = z
  .object({
    enabled: yamlBoolean.default(true).describe('Manage the kernel settings; false removes provision’s drop-in (the running values stay until the next boot). Default true.'),
    rp_filter: z
      .union([z.literal('auto'), level(2)], { error: 'expected auto, 0, 1 (strict) or 2 (loose)' })
      .nullable()
      .default('auto')
      .describe('Reverse-path filtering (net.ipv4.conf.{all,default}.rp_filter). auto: 1 (strict), or 2 (loose) on a host that forwards or has several network interfaces. Default auto.'),
    syncookies: onOff.default(true).describe('SYN cookies against SYN floods (net.ipv4.tcp_syncookies). Default true.'),
    accept_redirects: onOff.default(false).describe('Accept ICMP redirects, IPv4 and IPv6, secure ones included (accept_redirects, secure_redirects). Default false.'),
    send_redirects: onOff.default(false).describe('Send ICMP redirects (net.ipv4.conf.{all,default}.send_redirects). Default false.'),
    accept_source_route: onOff.default(false).describe('Accept source-routed packets, IPv4 and IPv6. Default false.'),
    log_martians: onOff.default(true).describe('Log packets with impossible source addresses (net.ipv4.conf.{all,default}.log_martians). Default true.'),
    ignore_broadcast_pings: onOff.default(true).describe('Ignore pings to broadcast addresses (net.ipv4.icmp_echo_ignore_broadcasts). Default true.'),
    ignore_bogus_icmp_errors: onOff.default(true).describe('Ignore bogus ICMP error responses (net.ipv4.icmp_ignore_bogus_error_responses). Default true.'),
    ip_forward: z
      .union([z.literal('auto'), yamlBoolean])
      .nullable()
      .default('auto')
      .describe('IP forwarding (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding). auto: off, except on a host that forwards (Docker, containerd, podman, kubelet, a bridge, or forwarding already on), where it is left alone. Default auto.'),
    kptr_restrict: level(2).nullable().default(2).describe('Hide kernel addresses in /proc (kernel.kptr_restrict). Default 2.'),
    dmesg_restrict: onOff.default(true).describe('Only root reads the kernel log (kernel.dmesg_restrict). Default true.'),
    protected_hardlinks: onOff.default(true).describe('fs.protected_hardlinks. Default true.'),
    protected_symlinks: onOff.default(true).describe('fs.protected_symlinks. Default true.'),
    protected_fifos: level(2).nullable().default(2).describe('fs.protected_fifos (Debian ships 1). Default 2.'),
    protected_regular: level(2).nullable().default(2).describe('fs.protected_regular (Debian ships 2). Default 2.'),
    suid_dumpable: level(2).nullable().default(0).describe('Core dumps of setuid programs (fs.suid_dumpable). Default 0.'),
    unprivileged_bpf_disabled: level(2)
      .nullable()
      .default(1)
      .describe('kernel.unprivileged_bpf_disabled; 1 cannot be undone until the next boot (2 lets root turn it back). Default 1.'),
    bpf_jit_harden: level(2).nullable().default(2).describe('Harden the BPF JIT for every user (net.core.bpf_jit_harden). Default 2.'),
    extra: z
      .record(z.string().regex(KERNEL_KEY, 'expected a kernel key such as vm.swappiness'), z.union([z.number(), z.string().regex(/^[^\s=][^=]*$/, 'expected a value without = or leading spaces')]))
      .default({})
      .describe('More kernel keys and their values, e.g. {vm.swappiness: 10}. Default none.'),
  })
  .strict();

/** The validated `sysctl` namespace. */
export type SysctlVars = z.output<typeof sysctlVars>;

/** The `sysctl` namespace. */
export const sysctlNamespace = defineNamespace('sysctl', sysctlVars.prefault({}));

/** The host variables the sysctl role reads. */
export type SysctlHostVars = VarsOf<typeof sysctlNamespace>;
