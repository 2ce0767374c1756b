/**
 * What the kernel says, read from /proc/sys, never from `sysctl`'s exit code: each key's value and whether this host
 * may change it (a container's /proc/sys is mounted read-only), the mounts that make it so, and what tells a host that
 * forwards packets (Docker and its kin). One grep for the values, the shell's own `[ -w ]` and globs: no process per key.
 */
import { sh } from '../../src/transport/shell.ts';
import type { Fact, FactOutput } from '../../src/engine/types.ts';
import { procPath } from './settings.ts';

/** One kernel key on the host. */
export type KeyState = { present: false } | { present: true; writable: boolean; value: string };

/** The kernel's keys, the read-only mounts over /proc/sys, and the signs of a forwarding host. */
export interface KernelState {
  keys: Record<string, KeyState>;
  /** Mount points at or below /proc/sys mounted read-only, e.g. `/proc/sys` in a container. */
  readOnlyMounts: string[];
  /** Container and VM engines found: `docker.sock`, `dockerd`, `containerd`, `podman`, `kubelet`. */
  engines: string[];
  /** Network interfaces, with whether a device is behind them. */
  interfaces: { name: string; physical: boolean }[];
}

/** Parses the fact's output (pure). */
export function parseKernelState(output: FactOutput): KernelState {
  const state: KernelState = { keys: {}, readOnlyMounts: [], engines: [], interfaces: [] };
  for (const row of output.stdout.split('\n')) {
    const [kind = '', first = '', second = '', ...rest] = row.split(' ');
    if (kind === 'key' && second === 'missing') state.keys[first] = { present: false };
    else if (kind === 'key' && (second === 'rw' || second === 'ro')) state.keys[first] = { present: true, writable: second === 'rw', value: rest.join(' ') };
    else if (kind === 'mount' && second.split(',').includes('ro')) state.readOnlyMounts.push(first);
    else if (kind === 'engine' && first) state.engines.push(first);
    else if (kind === 'interface' && first) state.interfaces.push({ name: first, physical: second === 'device' });
  }
  return state;
}

/** The kernel's state for these keys. */
export function kernelState(keys: readonly string[]): Fact<KernelState> {
  const pairs = keys.flatMap((key) => [key, procPath(key)]);
  // One grep reads every value: the shell's `read` takes a byte at a time, and /proc/sys answers a read at an offset
  // past 0 with nothing, so `read` would see only the first character of a value (60 → 6). grep prints the files in
  // the order given, so each key's lines are at the front of what is left: a search of the whole text per key cost
  // dash ~30 ms for 31 keys, the front ~1 ms.
  return {
    key: `sysctl:state:${keys.join(',')}`,
    description: `the kernel settings ${keys.join(', ')}`,
    command: sh`nl='
'
values="$nl$(grep -sH '' -- ${keys.map(procPath)})$nl"
set -- ${pairs}
while [ "$#" -gt 1 ]; do
  if [ -e "$2" ]; then
    value=
    while :; do case $values in "$nl$2:"*) ;; *) break ;; esac; rest=\${values#"$nl$2:"}; line=\${rest%%"$nl"*}; [ -n "$value" ] || value=$line; values=\${rest#"$line"}; done
    if [ -w "$2" ]; then access=rw; else access=ro; fi
    printf 'key %s %s %s\\n' "$1" "$access" "$value"
  else printf 'key %s missing\\n' "$1"; fi
  shift 2
done
while read -r device point type options rest; do
  case $point in /proc/sys|/proc/sys/*) printf 'mount %s %s\\n' "$point" "$options" ;; esac
done < /proc/self/mounts
[ -S /var/run/docker.sock ] && echo 'engine docker.sock'
for engine in dockerd containerd podman kubelet; do command -v "$engine" >/dev/null 2>&1 && echo "engine $engine"; done
for path in /sys/class/net/*; do
  name=\${path##*/}; [ "$name" = lo ] && continue
  if [ -e "$path/device" ]; then echo "interface $name device"; else echo "interface $name virtual"; fi
done
true`,
    parse: parseKernelState,
    // The values change only by a write to /proc/sys (the role's own apply predicts it), a boot or a package's start.
    staleAfter: ['packages', { path: '/etc/sysctl.d' }],
  };
}
