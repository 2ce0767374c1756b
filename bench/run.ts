/**
 * `npm run bench`: measures the CLI as a whole process on lab hosts (1, 4 and 10; one balancer, the rest nodes):
 * the first converge of the site playbook, then (once the hosts have settled) a no-change re-run with fresh logins,
 * one with the connections kept from the run before (ssh_persist), and a dry run on converged hosts, each the
 * median of 5 runs; on a set with a balancer, a change that restarts every node, rolling (drained, one at a time) and
 * all at once. The first converge's yardsticks run on fresh hosts of their own: a bare
 * `apt-get install` of the same packages, and the same job done by a plain script (that install, the same files, the
 * same service actions; no checks, no diffs). With BENCH_CONVERGE_ROUNDS=N the converge and both yardsticks run N
 * times each, alternating, and their medians count. The CPU time the hosts' containers spend is read from their cgroups.
 * Prints a table and writes bench/results.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTestBed } from '../test/support/engine.ts';
import { startTestHosts, type TestHosts } from '../test/support/containers.ts';
import { parseRun, runCli } from '../test/support/cli.ts';
import { writeInventory } from '../test/support/inventory.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { sh } from '../src/transport/shell.ts';
import { SshConnection } from '../src/transport/ssh.ts';
import { KEEPER_PROTOCOL } from '../src/transport/keeper/protocol.ts';
import { hostVarsSchema } from '../playbooks/site.ts';
import { installStandInNode } from '../src/lab/node-service.ts';
import { dockerCommand } from '../src/lab/docker-engine.ts';
import { playHosts } from '../src/engine/play-hosts.ts';
import { playHandlers, type Handler } from '../src/engine/types.ts';
import site from '../playbooks/site.ts';
import { HAPROXY_FILES } from '../tasks/haproxy/render.ts';

interface Measurement {
  hosts: number;
  scenario: string;
  /** The whole CLI process, Node's start-up included. */
  wallMs: number;
  /** From the CLI's own start to its report: what the engine spends. */
  engineMs: number;
  connectionsPerHost: number;
  roundTripsPerHost: number;
  commandMs: number;
  peakRssMb: number;
  changed: number;
  /** CPU time the set's containers spent during the run (sshd, the commands, the services they restart), in ms. */
  hostsCpuMs?: number;
  /** For repeated scenarios: how many runs, and the fastest and slowest wall time; the other figures are the median run's. */
  runs?: number;
  wallRangeMs?: [number, number];
}

const sizes = (process.env.BENCH_SIZES ?? '1,4,10').split(',').map(Number);
const results: Measurement[] = [];
const latencies: { hosts: number; medianMs: number; p90Ms: number }[] = [];

/**
 * CPU time a container has used so far, in ms, from its cgroup: cgroup v1 (cpuacct) or v2 (cpu.stat), either
 * driver. Undefined where the machine does not let it be read: the figure is then left out, not guessed.
 */
function containerCpuMs(id: string): number | undefined {
  const v1 = [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, `/sys/fs/cgroup/cpu,cpuacct/docker/${id}/cpuacct.usage`];
  for (const file of v1) {
    try {
      return Number(readFileSync(file, 'utf8')) / 1e6;
    } catch {}
  }
  for (const file of [`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, `/sys/fs/cgroup/docker/${id}/cpu.stat`]) {
    try {
      const usage = /^usage_usec (\d+)$/m.exec(readFileSync(file, 'utf8'));
      if (usage) return Number(usage[1]) / 1e3;
    } catch {}
  }
  return undefined;
}

/** The CPU time of a whole set of hosts so far (undefined if any container's cannot be read). */
function setCpuMs(set: TestHosts): number | undefined {
  let total = 0;
  for (const host of set.hosts) {
    const used = containerCpuMs(host.container.getId());
    if (used === undefined) return undefined;
    total += used;
  }
  return total;
}

/** `after - before`, rounded, when both were read. */
const cpuSpent = (before: number | undefined, after: number | undefined) => (before === undefined || after === undefined ? undefined : Math.round(after - before));

/** The round trip of a trivial command on one open connection: 20 in a row, median and 90th percentile. */
async function commandLatency(lab: TestHosts): Promise<{ medianMs: number; p90Ms: number }> {
  const inventory = await loadInventory(lab.inventoryFile, { vars: hostVarsSchema });
  const connection = await SshConnection.open(inventory.hosts[0]!.connection);
  const samples: number[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      await connection.exec(sh`true`);
      samples.push(performance.now() - started);
    }
  } finally {
    await connection.close();
  }
  samples.sort((a, b) => a - b);
  return { medianMs: Math.round(samples[10]! * 10) / 10, p90Ms: Math.round(samples[18]! * 10) / 10 };
}
/** The yardsticks of a first converge on fresh hosts of the same set (all hosts in parallel). */
interface Baseline {
  hosts: number;
  /** `apt-get update` and `apt-get install` of the packages the converge installs, nothing else. */
  aptMs: number;
  aptCpuMs?: number;
  /** With more than one round: the fastest and slowest, for the yardsticks and for the converge. */
  aptRangeMs?: [number, number];
  /** The same, then the files the converge wrote (copied from a converged host) and the service actions it took. */
  scriptMs: number;
  scriptCpuMs?: number;
  scriptRangeMs?: [number, number];
  rounds: number;
  packages: string[];
  files: number;
  serviceActions: string[];
}
const baselines: Baseline[] = [];

/** One balancer and the rest nodes; a single host is both (it fronts its own node, as the site playbook allows). */
function specs(count: number) {
  if (count === 1) return [{ name: 'node1', group: 'nodes' }];
  return Array.from({ length: count }, (_, i) => (i === 0 ? { name: 'balancer1', group: 'balancers' } : { name: `node${i}`, group: 'nodes' }));
}

/** The inventory of a bench set: for a single host, the same host in both groups. */
function inventoryOf(lab: TestHosts): string {
  if (lab.hosts.length !== 1) return lab.inventoryFile;
  const host = lab.hosts[0]!;
  return writeInventory(lab, { extraHosts: { balancers: { [host.name]: { ansible_host: '127.0.0.1', ansible_port: host.sshPort, private_ip: host.privateIp } } } });
}

/** A run's JSON report, with the CLI's own figures. */
type CliRun = ReturnType<typeof parseRun> & { stats: { wallMs: number; peakRssKb: number } };

/**
 * The bench's own connection keeper (see src/transport/keeper/): runs keep connections as an operator's do
 * (ssh_persist's default), unless a scenario asks for fresh logins.
 */
const KEEPER_DIR = mkdtempSync(join(tmpdir(), 'provision-bench-keeper-'));
const KEPT = { PROVISION_KEEPER_DIR: KEEPER_DIR, PROVISION_SSH_PERSIST: '60s' };
const FRESH = { PROVISION_KEEPER_DIR: KEEPER_DIR, PROVISION_SSH_PERSIST: '0' };

/** Stops the bench's keeper, so that no set's connections outlive it. */
function stopKeeper(): void {
  const pidFile = join(KEEPER_DIR, `keeper-${KEEPER_PROTOCOL}.sock.pid`);
  if (!existsSync(pidFile)) return;
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
  } catch {
    // Already gone.
  }
}

async function measure(lab: TestHosts, count: number, scenario: string, args: string[], env: Record<string, string> = KEPT, inventory = inventoryOf(lab)): Promise<{ run: CliRun; figures: Measurement }> {
  const cpuBefore = setCpuMs(lab);
  const started = performance.now();
  const result = await runCli(['apply', inventory, '--json', ...args], { timeoutMs: 1_800_000, env });
  const wallMs = Math.round(performance.now() - started);
  const hostsCpuMs = cpuSpent(cpuBefore, setCpuMs(lab));
  const run = parseRun(result) as CliRun;
  if (result.code !== 0 && result.code !== 3) throw new Error(`${scenario} on ${count} hosts failed (${result.code}):\n${result.stdout.slice(0, 4000)}\n${result.stderr}`);
  return { run, figures: { ...measurement(run, count, scenario, wallMs), ...(hostsCpuMs === undefined ? {} : { hostsCpuMs }) } };
}

/** The figures of one run. */
function measurement(run: CliRun, count: number, scenario: string, wallMs: number): Measurement {
  const hosts = Object.values(run.hosts);
  const sum = (pick: (host: (typeof hosts)[number]) => number) => hosts.reduce((total, host) => total + pick(host), 0);
  const commands = sum((host) => host.stats.commands);
  return {
    hosts: count,
    scenario,
    wallMs,
    engineMs: run.stats.wallMs,
    connectionsPerHost: sum((host) => host.stats.connections) / hosts.length,
    roundTripsPerHost: commands / hosts.length,
    commandMs: commands ? sum((host) => host.stats.commandMs) / commands : 0,
    peakRssMb: Math.round(run.stats.peakRssKb / 1024),
    changed: run.summary.changed,
  };
}

/** Times between the runs of one machine vary by 10–15%: a quick scenario runs 5 times, and the median run counts. */
const REPEATS = 5;

async function measureRepeated(lab: TestHosts, count: number, scenario: string, args: string[], env: Record<string, string> = KEPT): Promise<void> {
  const runs: Measurement[] = [];
  for (let run = 0; run < REPEATS; run++) runs.push((await measure(lab, count, scenario, args, env)).figures);
  results.push(medianRun(runs));
}

/** The median of runs by a duration, and the fastest and slowest (only when there were several). */
function medianBy<T>(runs: readonly T[], ms: (run: T) => number): { median: T; range?: [number, number] } {
  const sorted = [...runs].sort((a, b) => ms(a) - ms(b));
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return sorted.length === 1 ? { median } : { median, range: [ms(sorted[0]!), ms(sorted.at(-1)!)] };
}

/** The median run by wall time, with the number of runs and the fastest and slowest wall time. */
function medianRun(runs: Measurement[]): Measurement {
  const { median, range } = medianBy(runs, (run) => run.wallMs);
  return range ? { ...median, runs: runs.length, wallRangeMs: range } : median;
}

/** The median of yardstick runs by wall time (its CPU time with it), and the fastest and slowest. */
function medianTiming(runs: { ms: number; cpuMs?: number }[]): { ms: number; cpuMs?: number; rangeMs?: [number, number] } {
  const { median, range } = medianBy(runs, (run) => run.ms);
  return range ? { ...median, rangeMs: range } : median;
}

/**
 * A first converge and its yardsticks vary by 20% and more from one run to the next (the apt mirror, dpkg's
 * triggers, the machine's other load): with BENCH_CONVERGE_ROUNDS=N all three run N times, one after another, on
 * fresh hosts each time, and the median of each counts.
 */
const CONVERGE_ROUNDS = Math.max(1, Number(process.env.BENCH_CONVERGE_ROUNDS ?? 1));

/**
 * After a converge the hosts are still busy for a while (services starting, fail2ban reading its logs, haproxy's
 * health checks finding the nodes): the everyday drift check runs on settled hosts. The bench waits until the set's
 * containers spend at most 2% of a CPU each over a 2-second window (a settled host spends ~0.5%), 10 s at least and
 * 2 minutes at most; where their CPU time cannot be read, it waits a fixed 15 s.
 */
const SETTLE = { minMs: 10_000, maxMs: 120_000, windowMs: 2_000, cpuShare: 0.02, fixedMs: 15_000 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for the set to settle (see SETTLE); returns how long that took. */
async function settle(set: TestHosts): Promise<number> {
  const started = performance.now();
  if (setCpuMs(set) === undefined) {
    await sleep(SETTLE.fixedMs);
    return SETTLE.fixedMs;
  }
  await sleep(SETTLE.minMs - SETTLE.windowMs);
  const quiet = SETTLE.windowMs * SETTLE.cpuShare * set.hosts.length;
  while (performance.now() - started < SETTLE.maxMs) {
    const before = setCpuMs(set);
    await sleep(SETTLE.windowMs);
    const spent = cpuSpent(before, setCpuMs(set));
    if (spent === undefined || spent <= quiet) break;
  }
  return Math.round(performance.now() - started);
}

type RunReport = ReturnType<typeof parseRun>;
interface ChangeReport {
  summary: string;
  packages?: { install?: string[] };
  diff?: { path: string; after: string | null };
  services?: { name: string; action: string }[];
}
const changesOf = (run: RunReport, host: string) =>
  ((run.hosts[host]?.tasks ?? []) as unknown as { changes: ChangeReport[] }[]).flatMap((task) => task.changes);

/** The packages the first converge installs on a host, from its plan: the yardstick installs exactly these. */
function packagesOf(plan: RunReport, host: string): string[] {
  return changesOf(plan, host).flatMap((change) => change.packages?.install ?? []);
}

/** The files a converge wrote on a host, and the service actions it took (its tasks', then its handlers'), in order. */
function workOf(run: RunReport, host: string, handlers: Map<string, Handler[]>): { files: string[]; actions: string[] } {
  const changes = changesOf(run, host);
  // Diffs of files only (some diffs show a command's output, such as a loaded nftables table); and the certificate
  // that a balancer makes on the host, which the script copies instead of making.
  const written = changes.flatMap((change) => (change.diff && change.diff.after !== null && /^\/[\w.-]/.test(change.diff.path) ? [change.diff.path] : []));
  const certificate = changes.some((change) => /certificate/.test(change.summary)) ? [HAPROXY_FILES.certificate] : [];
  const files = [...new Set([...written, ...certificate])];
  const ran = new Set((run.hosts[host]?.handlers ?? []).filter((handler) => handler.status === 'changed').map((handler) => handler.name));
  const handlerServices = (handlers.get(host) ?? []).filter((handler) => ran.has(handler.name)).flatMap((handler) => handler.services ?? []);
  const services = [...changes.flatMap((change) => change.services ?? []), ...handlerServices];
  return { files, actions: plainActions(services) };
}

/**
 * The service actions a plain script needs for the same end state: a start or a reload that a restart of the same
 * service also does is dropped, so the yardstick does no more than it must.
 */
function plainActions(services: { name: string; action: string }[]): string[] {
  const restarted = new Set(services.filter((service) => service.action === 'restart').map((service) => service.name));
  const kept = services.filter((service) => !(restarted.has(service.name) && (service.action === 'start' || service.action === 'reload')));
  return [...new Set(kept.map((service) => `${service.action} ${service.name}`))];
}

/** The handlers the site playbook gives each host of the inventory, by host name. */
async function siteHandlers(inventoryFile: string): Promise<Map<string, Handler[]>> {
  const inventory = await loadInventory(inventoryFile, { vars: hostVarsSchema });
  const byHost = new Map<string, Handler[]>();
  for (const host of inventory.hosts) {
    const plays = site.plays.filter((play) => playHosts(inventory, play.hosts).some((selected) => selected.name === host.name));
    byHost.set(host.name, plays.flatMap((play) => playHandlers(play, host)));
  }
  return byHost;
}

/** Runs a shell script in each yardstick host (all at once) and returns the wall time and the containers' CPU time. */
async function timeOnAll(set: TestHosts, script: (host: string) => string | undefined): Promise<{ ms: number; cpuMs?: number }> {
  const cpuBefore = setCpuMs(set);
  const started = performance.now();
  await Promise.all(
    set.hosts.map(async (host) => {
      const text = script(host.name);
      if (!text) return;
      const result = await set.exec(host.name, ['sh', '-c', text]);
      if (result.exitCode !== 0) throw new Error(`yardstick on ${host.name} failed (${result.exitCode}): ${result.stderr.slice(-2000)}`);
    }),
  );
  const ms = Math.round(performance.now() - started);
  const cpuMs = cpuSpent(cpuBefore, setCpuMs(set));
  return cpuMs === undefined ? { ms } : { ms, cpuMs };
}

/** Copies `files` from a converged host into a yardstick host, as a tarball to unpack later (not timed). */
function stageFiles(from: TestHosts, to: TestHosts, host: string, files: string[]): void {
  const docker = dockerCommand();
  const source = from.hosts.find((entry) => entry.name === host)!.container.getId();
  const target = to.hosts.find((entry) => entry.name === host)!.container.getId();
  const pack = spawnSync(docker, ['exec', source, 'tar', '-C', '/', '-cf', '-', ...files.map((file) => file.replace(/^\//, ''))], { maxBuffer: 256 * 2 ** 20 });
  if (pack.status !== 0) throw new Error(`tar of ${files.join(' ')} on ${host}: ${pack.stderr}`);
  const unpack = spawnSync(docker, ['exec', '-i', target, 'sh', '-c', 'cat > /root/converged-files.tar'], { input: pack.stdout });
  if (unpack.status !== 0) throw new Error(`copy to the yardstick ${host}: ${unpack.stderr}`);
}

/** Gives a set's node hosts the lab's stand-in node. */
async function withStandInNodes(set: TestHosts): Promise<void> {
  await Promise.all(set.hosts.filter((host) => host.group === 'nodes').map((host) => installStandInNode((command) => set.exec(host.name, command))));
}

/** Starts a fresh set of hosts like the lab's, runs `measure` on it, and removes it. */
async function onFreshHosts<T>(count: number, measure: (set: TestHosts) => Promise<T>): Promise<T> {
  const set = await startTestHosts(specs(count));
  try {
    await withStandInNodes(set);
    return await measure(set);
  } finally {
    await set.stop();
  }
}

/**
 * A change that restarts every node behind the balancer (their PoW setting flipped): one at a time, each drained and
 * returned (the default), then, flipped back, all at once (`--batch 100%`, no draining) for comparison. Only on a set
 * with a balancer and at least two nodes; each runs once (a change cannot be repeated on the same state).
 */
async function measureNodeChanges(lab: TestHosts, count: number): Promise<void> {
  const nodes = lab.hosts.filter((host) => host.group === 'nodes');
  if (nodes.length < 2 || !lab.hosts.some((host) => host.group === 'balancers')) return;
  const powInventory = (enabled: boolean) => writeInventory(lab, { hosts: Object.fromEntries(nodes.map((host) => [host.name, { node: { pow: { enabled } } }])) });
  // The converge enabled PoW where the node has 2 usable CPUs; forced off, then on, every node changes each time.
  const rolling = await measure(lab, count, `rolling change`, ['--yes'], KEPT, powInventory(false));
  results.push(rolling.figures);
  const together = await measure(lab, count, `change all at once`, ['--yes', '--batch', '100%'], KEPT, powInventory(true));
  results.push(together.figures);
  console.error(`[bench] ${count} host(s): a PoW change on ${nodes.length} nodes: ${rolling.figures.wallMs} ms one at a time, drained; ${together.figures.wallMs} ms all at once`);
}

const APT_SCRIPT = (packages: string[]) =>
  `apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${packages.join(' ')} >/dev/null </dev/null`;

await ensureTestBed((line) => console.error(`[bench] ${line}`));
for (const count of sizes) {
  console.error(`[bench] ${count} host(s)`);
  const lab = await startTestHosts(specs(count));
  // Node hosts run the lab's stand-in node, which the site playbook configures (not part of the measurement); the
  // yardsticks' nodes get it too, so every set starts from the same packages.
  await withStandInNodes(lab);
  try {
    const { run: plan } = await measure(lab, count, 'plan on fresh hosts', ['--dry-run']);
    const first = await measure(lab, count, 'first converge', ['--yes']);
    const converge = first.run;
    const convergeAt = results.push(first.figures) - 1;
    console.error(`[bench] ${count} host(s): settled ${(await settle(lab)) / 1000}s after the converge`);
    // Fresh logins first: a drift check with nothing kept (the first run of the day, or ssh_persist: 0).
    await measureRepeated(lab, count, 'no-change, fresh logins', ['--yes'], FRESH);
    // Then as runs go one after another: the converge changed every host, so one run logs in through the keeper
    // (not counted), and the runs after it find their connections kept.
    await measure(lab, count, 'no-change re-run', ['--yes']);
    await measureRepeated(lab, count, 'no-change re-run', ['--yes']);
    await measureRepeated(lab, count, 'dry run (converged)', ['--dry-run']);
    latencies.push({ hosts: count, ...(await commandLatency(lab)) });
    await measureNodeChanges(lab, count);

    // The yardsticks run after the converge (a mirror's cache, if any, then favours them), on hosts of their own:
    // first apt-get alone on one set, then on the other the whole job done by hand, without checks.
    // One set at a time, so that idle hosts of another set take no share of the machine (and 10 hosts make at most
    // 20 containers: each systemd holds inotify instances, of which a machine has 128 by default).
    const handlers = await siteHandlers(inventoryOf(lab));
    const packages = new Map(lab.hosts.map((host) => [host.name, packagesOf(plan, host.name)]));
    const work = new Map(lab.hosts.map((host) => [host.name, workOf(converge, host.name, handlers)]));
    const aptRound = () => onFreshHosts(count, (set) => timeOnAll(set, (host) => (packages.get(host)!.length ? APT_SCRIPT(packages.get(host)!) : undefined)));
    const scriptRound = () =>
      onFreshHosts(count, (set) => {
        for (const [host, { files }] of work) if (files.length > 0) stageFiles(lab, set, host, files);
        return timeOnAll(set, (host) => {
          const { files, actions } = work.get(host)!;
          return [
            ...(packages.get(host)!.length ? [APT_SCRIPT(packages.get(host)!)] : []),
            ...(files.length ? ['tar -C / -xf /root/converged-files.tar', 'systemctl daemon-reload'] : []),
            ...actions.map((action) => `systemctl ${action}`),
          ].join(' && ');
        });
      });
    const converges = [first.figures];
    const apts = [await aptRound()];
    const scripts = [await scriptRound()];
    for (let round = 2; round <= CONVERGE_ROUNDS; round++) {
      console.error(`[bench] ${count} host(s): converge round ${round} of ${CONVERGE_ROUNDS}`);
      converges.push(await onFreshHosts(count, async (set) => (await measure(set, count, 'first converge', ['--yes'])).figures));
      apts.push(await aptRound());
      scripts.push(await scriptRound());
    }
    results[convergeAt] = medianRun(converges);
    const apt = medianTiming(apts);
    const script = medianTiming(scripts);
    baselines.push({
      hosts: count,
      aptMs: apt.ms,
      ...(apt.cpuMs === undefined ? {} : { aptCpuMs: apt.cpuMs }),
      ...(apt.rangeMs ? { aptRangeMs: apt.rangeMs } : {}),
      scriptMs: script.ms,
      ...(script.cpuMs === undefined ? {} : { scriptCpuMs: script.cpuMs }),
      ...(script.rangeMs ? { scriptRangeMs: script.rangeMs } : {}),
      rounds: CONVERGE_ROUNDS,
      packages: [...new Set([...packages.values()].flat())],
      files: Math.max(...[...work.values()].map((entry) => entry.files.length)),
      serviceActions: [...new Set([...work.values()].flatMap((entry) => entry.actions))],
    });
  } finally {
    stopKeeper();
    await lab.stop();
  }
}
rmSync(KEEPER_DIR, { recursive: true, force: true });

const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version };
console.log(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGb} GB, Node ${machine.node}`);
console.log('hosts  scenario                 wall ms  engine ms  hosts CPU ms  conn/host  round trips/host  ms/command  peak RSS MB  changed');
for (const r of results) {
  console.log(
    `${String(r.hosts).padStart(5)}  ${r.scenario.padEnd(23)}  ${String(r.wallMs).padStart(7)}  ${String(r.engineMs).padStart(9)}  ${String(r.hostsCpuMs ?? '?').padStart(12)}  ${r.connectionsPerHost.toFixed(1).padStart(9)}  ${r.roundTripsPerHost.toFixed(1).padStart(16)}  ${r.commandMs.toFixed(1).padStart(10)}  ${String(r.peakRssMb).padStart(11)}  ${String(r.changed).padStart(7)}`,
  );
}
const over = (ms: number | undefined, yardstick: number) => (ms === undefined ? '?' : `${((ms / yardstick - 1) * 100).toFixed(0)}%`);
for (const b of baselines) {
  const converge = results.find((r) => r.hosts === b.hosts && r.scenario === 'first converge');
  const cpu = (ms: number | undefined) => (ms === undefined ? '' : `, hosts' CPU ${ms} ms`);
  console.log(
    `${b.hosts} host(s): first converge ${converge?.wallMs} ms${cpu(converge?.hostsCpuMs)}; bare apt-get install of ${b.packages.join(' ')}: ${b.aptMs} ms${cpu(b.aptCpuMs)} (${over(converge?.wallMs, b.aptMs)} over); ` +
      `that install plus ${b.files} files and ${b.serviceActions.join(', ')}: ${b.scriptMs} ms${cpu(b.scriptCpuMs)} (${over(converge?.wallMs, b.scriptMs)} over)`,
  );
}
for (const b of baselines.filter((entry) => entry.rounds > 1)) {
  const converge = results.find((r) => r.hosts === b.hosts && r.scenario === 'first converge')!;
  console.log(
    `${b.hosts} host(s): medians of ${b.rounds} rounds; fastest and slowest: converge ${converge.wallRangeMs?.join('–')} ms, ` +
      `apt-get ${b.aptRangeMs?.join('–')} ms, script ${b.scriptRangeMs?.join('–')} ms`,
  );
}
for (const r of results.filter((entry) => entry.wallRangeMs && entry.scenario !== 'first converge')) {
  console.log(`${r.hosts} host(s): ${r.scenario}: median of ${r.runs} runs ${r.wallMs} ms, fastest ${r.wallRangeMs![0]} ms, slowest ${r.wallRangeMs![1]} ms`);
}
for (const l of latencies) console.log(`${l.hosts} host(s): one command's round trip on an open connection: median ${l.medianMs} ms, p90 ${l.p90Ms} ms`);
const file = fileURLToPath(new URL('./results.json', import.meta.url));
writeFileSync(file, `${JSON.stringify({ machine, date: new Date().toISOString(), results, baselines, latencies }, null, 2)}\n`);
console.log(`wrote ${file}`);
