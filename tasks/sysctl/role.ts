/** The sysctl role: the kernel's network and information-leak settings, Docker-safe. */
import { defineRole } from '../../src/engine/role.ts';
import { kernelSettingsTask } from './tasks.ts';
import { sysctlNamespace } from './vars.ts';

/** Kernel settings as a sysctl.d drop-in, applied with `sysctl --system` and verified from /proc/sys. */
export const sysctlRole = defineRole({
  name: 'sysctl',
  title: 'Kernel network hardening',
  summary:
    'Reverse-path filtering, SYN cookies, no ICMP redirects or source routing, martians logged, kernel pointers and log hidden, BPF hardened: a sysctl.d drop-in applied with sysctl --system and checked in /proc/sys; IP forwarding left on where Docker needs it, keys a container cannot change skipped.',
  hosts: 'all',
  vars: sysctlNamespace,
  tags: ['kernel'],
  tasks: (host) => [kernelSettingsTask(host)],
});
