/**
 * `npm run bench`: measures the CLI as a whole process on lab hosts (1, 4 and 10; one balancer, the rest nodes):
 * the first converge of the site playbook, a no-change re-run, and a dry run on converged hosts; and, as the
 * yardstick for the first converge, a bare `apt-get install` of the same packages on fresh hosts.
 * Prints a table and writes bench/results.json.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ensureTestBed } from '../test/support/engine.ts';
import { startTestHosts, type TestHosts } from '../test/support/containers.ts';
import { parseRun, runCli } from '../test/support/cli.ts';
import { writeInventory } from '../test/support/inventory.ts';
import { loadInventory } from '../src/inventory/load.ts';
import { sh } from '../src/transport/shell.ts';
import { SshConnection } from '../src/transport/ssh.ts';
import { hostVarsSchema } from '../tasks/vars.ts';
import { installStandInNode } from '../src/lab/node-service.ts';

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
}

const sizes = (process.env.BENCH_SIZES ?? '1,4,10').split(',').map(Number);
const results: Measurement[] = [];
const latencies: { hosts: number; medianMs: number; p90Ms: number }[] = [];

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
const baselines: { hosts: number; aptMs: number; packages: string[] }[] = [];

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

async function measure(lab: TestHosts, count: number, scenario: string, args: string[], record = true): Promise<ReturnType<typeof parseRun>> {
  const started = performance.now();
  const result = await runCli(['apply', inventoryOf(lab), '--json', ...args], { timeoutMs: 1_800_000 });
  const wallMs = Math.round(performance.now() - started);
  const run = parseRun(result) as ReturnType<typeof parseRun> & { stats: { wallMs: number; peakRssKb: number } };
  if (result.code !== 0 && result.code !== 3) throw new Error(`${scenario} on ${count} hosts failed (${result.code}):\n${result.stdout.slice(0, 4000)}\n${result.stderr}`);
  const hosts = Object.values(run.hosts);
  const sum = (pick: (host: (typeof hosts)[number]) => number) => hosts.reduce((total, host) => total + pick(host), 0);
  const commands = sum((host) => host.stats.commands);
  if (record) results.push({
    hosts: count,
    scenario,
    wallMs,
    engineMs: run.stats.wallMs,
    connectionsPerHost: sum((host) => host.stats.connections) / hosts.length,
    roundTripsPerHost: commands / hosts.length,
    commandMs: commands ? sum((host) => (host.stats as { commandMs: number }).commandMs) / commands : 0,
    peakRssMb: Math.round(run.stats.peakRssKb / 1024),
    changed: run.summary.changed,
  });
  return run;
}

/** The packages the first converge installs, from its plan: the yardstick installs exactly these. */
function packagesOf(plan: ReturnType<typeof parseRun>): Map<string, string[]> {
  const byHost = new Map<string, string[]>();
  for (const [name, host] of Object.entries(plan.hosts)) {
    const tasks = host.tasks as unknown as { changes: { packages?: { install?: string[] } }[] }[];
    byHost.set(name, tasks.flatMap((task) => task.changes.flatMap((change) => change.packages?.install ?? [])));
  }
  return byHost;
}

await ensureTestBed((line) => console.error(`[bench] ${line}`));
for (const count of sizes) {
  console.error(`[bench] ${count} host(s)`);
  const lab = await startTestHosts(specs(count));
  const yardstick = await startTestHosts(specs(count));
  // Node hosts run the lab's stand-in node, which the site playbook configures (not part of the measurement); the
  // yardstick's nodes get it too, so both sides start from the same packages.
  await Promise.all(
    [lab, yardstick].flatMap((set) => set.hosts.filter((host) => host.group === 'nodes').map((host) => installStandInNode((command) => set.exec(host.name, command)))),
  );
  try {
    const plan = await measure(lab, count, 'plan on fresh hosts', ['--dry-run'], false);
    const packages = packagesOf(plan);
    const started = performance.now();
    await Promise.all(
      yardstick.hosts.map((host) => {
        const names = packages.get(host.name) ?? [];
        const script = `apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${names.join(' ')} >/dev/null`;
        return names.length ? yardstick.exec(host.name, ['sh', '-c', script]) : Promise.resolve();
      }),
    );
    baselines.push({ hosts: count, aptMs: Math.round(performance.now() - started), packages: [...new Set([...packages.values()].flat())] });
    await measure(lab, count, 'first converge', ['--yes']);
    await measure(lab, count, 'no-change re-run', ['--yes']);
    await measure(lab, count, 'dry run (converged)', ['--dry-run']);
    latencies.push({ hosts: count, ...(await commandLatency(lab)) });
  } finally {
    await Promise.all([lab.stop(), yardstick.stop()]);
  }
}

const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version };
console.log(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGb} GB, Node ${machine.node}`);
console.log('hosts  scenario               wall ms  engine ms  conn/host  round trips/host  ms/command  peak RSS MB  changed');
for (const r of results) {
  console.log(
    `${String(r.hosts).padStart(5)}  ${r.scenario.padEnd(21)}  ${String(r.wallMs).padStart(7)}  ${String(r.engineMs).padStart(9)}  ${r.connectionsPerHost.toFixed(1).padStart(9)}  ${r.roundTripsPerHost.toFixed(1).padStart(16)}  ${r.commandMs.toFixed(1).padStart(10)}  ${String(r.peakRssMb).padStart(11)}  ${String(r.changed).padStart(7)}`,
  );
}
for (const b of baselines) {
  const converge = results.find((r) => r.hosts === b.hosts && r.scenario === 'first converge');
  const overhead = converge ? ((converge.wallMs / b.aptMs - 1) * 100).toFixed(0) : '?';
  console.log(`${b.hosts} host(s): bare apt-get install of ${b.packages.join(' ')}: ${b.aptMs} ms; first converge ${converge?.wallMs} ms (${overhead}% over)`);
}
for (const l of latencies) console.log(`${l.hosts} host(s): one command's round trip on an open connection: median ${l.medianMs} ms, p90 ${l.p90Ms} ms`);
const file = fileURLToPath(new URL('./results.json', import.meta.url));
writeFileSync(file, `${JSON.stringify({ machine, date: new Date().toISOString(), results, baselines, latencies }, null, 2)}\n`);
console.log(`wrote ${file}`);
