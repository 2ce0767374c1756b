/**
 * How many CPUs a node can really use: the CPU affinity (`nproc`, which a cpuset narrows) and any CFS quota on the
 * cgroups above the node (a container's `--cpus`, or systemd's CPUQuota= on the node's unit). The remote-PoW task
 * sizes its workers from it, and the load balancer weighs each node with the same figure (read via `peerFacts`).
 */
import { sh } from '../../src/transport/shell.ts';
import type { Fact, FactOutput } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import type { NodeVars } from './vars.ts';
import { mainProcessFact } from '../core/systemd.facts.ts';
import { pathState, type PathState } from '../core/files.facts.ts';
import { configSecrets, POW_CONFIG_FORMATS } from './config.ts';

/** The tightest CPU quota found on the cgroup paths of PID 1 and of the node's process. */
export interface CpuQuota {
  version: 'v1' | 'v2';
  /** The cgroup that sets it, e.g. `/docker/3f…` or `/system.slice/hornet.service`. */
  path: string;
  /** quota / period: CPUs' worth of time per period, possibly fractional (1.5). */
  cpus: number;
}

/** The CPU figure and where it comes from, for the plan's reasoning. */
export interface UsableCpus {
  /** min(nproc, the service's affinity, floor(quota)), at least 1. */
  usable: number;
  /** `nproc`: the CPUs this host (container) may run on. */
  nproc: number;
  /** The CPUs the running node process may run on (its Cpus_allowed_list), when it runs. */
  serviceCpus?: number;
  quota?: CpuQuota;
}

/** Counts a kernel CPU list such as `0-1,4,6-7` (pure); 0 for an empty or malformed list. */
export function countCpuList(list: string): number {
  let total = 0;
  for (const part of list.trim().split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!match) return 0;
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) return 0;
    total += last - first + 1;
  }
  return total;
}

/** Reads one `quota …` line: `quota v1 PATH QUOTA_US PERIOD_US` or `quota v2 PATH MAX|QUOTA PERIOD`; undefined = no limit. */
function parseQuotaLine(words: string[]): CpuQuota | undefined {
  const [, version, ...rest] = words;
  if ((version !== 'v1' && version !== 'v2') || rest.length < 3) return undefined;
  const period = Number(rest.at(-1));
  const quotaText = rest.at(-2)!;
  const path = rest.slice(0, -2).join(' ');
  // v1 writes -1 and v2 writes `max` for "no quota".
  if (quotaText === 'max' || !/^\d+$/.test(quotaText) || !(period > 0)) return undefined;
  return { version, path, cpus: Number(quotaText) / period };
}

/**
 * Parses the output of the usable-CPUs command (pure): `affinity LIST`, an optional `service-cpus LIST`, and one
 * `quota …` line per cgroup level that has a CPU controller file. A fractional quota counts as its whole CPUs
 * (1.5 → 1): a PoW worker needs a whole CPU, and half a CPU cannot be shared fairly. The result is at least 1.
 */
export function parseUsableCpus(output: FactOutput): UsableCpus {
  let nproc: number | undefined;
  let serviceCpus: number | undefined;
  let quota: CpuQuota | undefined;
  for (const line of output.stdout.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === 'affinity') nproc = countCpuList(words.slice(1).join(''));
    if (words[0] === 'service-cpus') serviceCpus = countCpuList(words.slice(1).join('')) || undefined;
    if (words[0] === 'quota') {
      const found = parseQuotaLine(words);
      if (found && (!quota || found.cpus < quota.cpus)) quota = found;
    }
  }
  if (nproc === undefined || nproc < 1) throw new Error(`cannot read the host's CPU count (got ${JSON.stringify(output.stdout.split('\n')[0] ?? '')})`);
  const limits = [nproc, ...(serviceCpus ? [serviceCpus] : []), ...(quota ? [Math.floor(quota.cpus)] : [])];
  return {
    usable: Math.max(1, Math.min(...limits)),
    nproc,
    ...(serviceCpus ? { serviceCpus } : {}),
    ...(quota ? { quota } : {}),
  };
}

/** `1 CPU`, `2 CPUs`, `1.5 CPUs`. */
export function cpusText(count: number): string {
  const shown = Number.isInteger(count) ? String(count) : String(Math.round(count * 100) / 100);
  return `${shown} ${count === 1 ? 'CPU' : 'CPUs'}`;
}

/** Where the figure comes from, e.g. `nproc 2, CPU quota 1.5 CPUs (cgroup v1 /docker/3f…)`. */
export function describeCpuSources(cpus: UsableCpus): string {
  const parts = [`nproc ${cpus.nproc}`];
  if (cpus.serviceCpus !== undefined && cpus.serviceCpus !== cpus.nproc) parts.push(`node process affinity ${cpusText(cpus.serviceCpus)}`);
  parts.push(cpus.quota ? `CPU quota ${cpusText(cpus.quota.cpus)} (cgroup ${cpus.quota.version} ${cpus.quota.path})` : 'no CPU quota');
  return parts.join(', ');
}

/**
 * The CPUs the node behind `service` can use. Reads /proc/self/mounts for the cgroup hierarchies that carry the
 * `cpu` controller, takes the cgroup path of PID 1 (the host, or the container) and of the service's main process
 * (when it runs) on each, and prints the quota of every level from there up to the root: a limit can sit on any
 * ancestor, and inside a container only the container's own path shows it. Built-ins only in the loops (`read`,
 * `${path%/*}`): a container's cgroup tree has a dozen hierarchies, and a process per level added a third of a second.
 * The shell's own CPU affinity (what `nproc` counts) is read the same way, from /proc/self/status.
 * `awk` hands the loop each cgroup mount point once, three short fields a line: a shell reading /proc/self/mounts
 * itself has the kernel regenerate the table for every line (it seeks back after each), a shell reading a pipe reads
 * a byte per call, and a container's table can hold hundreds of entries, its cgroup mounts stacked twenty deep.
 * `$pid` is the service's main process, from the host's `systemctl show` (see mainProcessFact). `procfs` is where
 * /proc is: a unit test points it at a made-up one.
 */
export function usableCpus(service: string, procfs = '/proc'): Fact<UsableCpus> {
  return mainProcessFact(
    service,
    `node:usable-cpus:${service}`,
    sh`procfs=${procfs}
while read -r key list; do [ "$key" = Cpus_allowed_list: ] && { echo "affinity $list"; break; }; done <"$procfs/self/status"
if [ -n "$pid" ]; then
  while read -r key list; do [ "$key" = Cpus_allowed_list: ] && { echo "service-cpus $list"; break; }; done <"$procfs/$pid/status"
fi
awk '($3 == "cgroup" || $3 == "cgroup2") && !seen[$2]++ { print $2, $3, $4 }' "$procfs/self/mounts" | while read -r mount type options; do
  case "$type" in
    cgroup2) version=v2 ;;
    cgroup) case ",$options," in *,cpu,*) version=v1 ;; *) continue ;; esac ;;
  esac
  for proc in 1 $pid; do
    [ -r "$procfs/$proc/cgroup" ] || continue
    while IFS=: read -r id controllers path; do
      if [ "$version" = v2 ]; then [ "$id" = 0 ] || continue
      else case ",$controllers," in *,cpu,*) ;; *) continue ;; esac
      fi
      while [ -n "$path" ]; do
        dir="$mount$path"
        if [ "$version" = v1 ] && [ -r "$dir/cpu.cfs_quota_us" ]; then
          read -r quota <"$dir/cpu.cfs_quota_us"; read -r period <"$dir/cpu.cfs_period_us"
          echo "quota v1 $path $quota $period"
        elif [ "$version" = v2 ] && [ -r "$dir/cpu.max" ]; then
          read -r max <"$dir/cpu.max"
          echo "quota v2 $path $max"
        fi
        if [ "$path" = / ]; then break; fi
        path=\${path%/*}; [ -n "$path" ] || path=/
      done
    done <"$procfs/$proc/cgroup"
  done
done`,
    parseUsableCpus,
    // The CPUs a node may use are the machine's and its cgroups': no package install changes them.
    [],
    `the CPUs ${service} may use`,
  );
}

/** The usable-CPUs fact of a node host, for its own tasks and for other hosts' `peerFacts` (the balancer's weights). */
export function usableCpusOfNode(host: Host<{ node: NodeVars }>): Fact<UsableCpus> {
  return usableCpus(host.vars.node.service);
}

/**
 * The node's config file, as the files fact reads it, with its credentials (the p2p identity key, password hashes,
 * salts, tokens) made secrets as soon as it is read: no plan, diff, log or error shows them.
 */
export function nodeConfigFile(vars: NodeVars): Fact<PathState> {
  const format = POW_CONFIG_FORMATS[vars.flavor].format;
  return { ...pathState(vars.config_path), secrets: (state) => (state.type === 'file' ? configSecrets(format, state.content) : []) };
}
