/** `provision facts INVENTORY`: what each host is, as gathered (one round trip per host), as a table or JSON. */
import { printable } from '../report/printable.ts';
import { selectHosts } from '../inventory/limit.ts';
import { FactCache } from '../engine/fact-cache.ts';
import { gatherFacts } from '../engine/gather.ts';
import { mapLimit } from '../engine/limit-concurrency.ts';
import type { HostConnection } from '../transport/connection.ts';
import { endKeeperClient, openHostConnection, persistSeconds } from '../transport/open-connection.ts';
import { redact } from '../report/redact.ts';
import { UnknownHostKeyError } from '../transport/host-key-policy.ts';
import { settleNewHostKeys } from '../engine/new-host-keys.ts';
import { askAboutHostKeys } from './host-key-prompt.ts';
import { factsReport, reportFacts, type HostFactsReport } from '../../tasks/host-facts.ts';
import { hostVarsSchema } from '../../tasks/vars.ts';
import { loadInventoryInput, type InventoryInput } from './inventory-input.ts';

type Row = { host: string } & ({ facts: HostFactsReport } | { unreachable: string });

function sshCell(report: HostFactsReport): string {
  if ('error' in report.ssh) return `sshd -T failed`;
  const passwords = report.ssh.passwordAuthentication === 'no' ? 'key-only' : 'passwords on';
  return `port ${report.ssh.port}, ${passwords}, root ${report.ssh.permitRootLogin}`;
}

function nodeCell(report: HostFactsReport): string {
  if (!report.node) return '-';
  if ('error' in report.node) return `config: ${report.node.error}`;
  const pow = report.node.pow as { enabled: unknown; workers: unknown };
  const workers = String(pow.workers ?? '?');
  return `PoW ${pow.enabled === true ? `on, ${workers} worker${workers === '1' ? '' : 's'}` : 'off'}`;
}

/** Gathers and prints the facts; exit 1 when a host is unreachable. */
export async function factsCommand(options: { inventory: InventoryInput; limit?: string; json: boolean; forks: number }, write: (text: string) => void): Promise<number> {
  const inventory = await loadInventoryInput(options.inventory, hostVarsSchema);
  const hosts = selectHosts(inventory, options.limit);
  for (const host of hosts) persistSeconds(host.connection);
  const newKeys = new Map<string, UnknownHostKeyError>();
  const readHost = async (host: (typeof hosts)[number]): Promise<Row> => {
    let connection: HostConnection | undefined;
    let read = false;
    try {
      connection = await openHostConnection(host.connection);
      const cache = new FactCache();
      cache.store(await gatherFacts(connection, reportFacts(host)));
      read = true;
      return { host: host.name, facts: factsReport(host, cache) };
    } catch (error) {
      if (error instanceof UnknownHostKeyError) newKeys.set(host.name, error);
      return { host: host.name, unreachable: redact(error instanceof Error ? error.message : String(error)) };
    } finally {
      // Reading facts changes nothing: the connection may serve the next run.
      await connection?.close({ keep: read });
    }
  };
  const rows = await mapLimit(hosts, options.forks, readHost);
  // Hosts whose key is new were sent nothing: asked about at once, the accepted ones are read afresh.
  const found = hosts.flatMap((host) => (newKeys.has(host.name) ? [{ host: host.name, error: newKeys.get(host.name)! }] : []));
  const settled = await settleNewHostKeys(found, askAboutHostKeys);
  await mapLimit([...rows.entries()], options.forks, async ([index, row]) => {
    if (!settled.has(row.host)) return;
    const problem = settled.get(row.host);
    rows[index] = problem ? { host: row.host, unreachable: redact(problem.message) } : await readHost(hosts[index]!);
  });
  await endKeeperClient();
  if (options.json) {
    write(redact(JSON.stringify(Object.fromEntries(rows.map((row) => [row.host, 'facts' in row ? row.facts : { unreachable: row.unreachable }])), null, 2)));
  } else {
    const table = rows.map((row) =>
      'facts' in row
        ? [
            row.host,
            row.facts.os,
            `${row.facts.usableCpus} CPU${row.facts.usableCpus === 1 ? '' : 's'}`,
            row.facts.memoryMb === null ? '?' : `${row.facts.memoryMb} MB`,
            sshCell(row.facts),
            row.facts.firewall.active ? `firewall on (${row.facts.firewall.rules} rules)` : 'no firewall',
            row.facts.fail2banJails === null ? 'no fail2ban' : `fail2ban: ${row.facts.fail2banJails.join(', ') || 'no jails'}`,
            nodeCell(row.facts),
          ]
        : [row.host, `unreachable: ${row.unreachable}`],
    ).map((cells) => cells.map((cell) => printable(String(cell))));
    const header = ['host', 'os', 'cpus', 'memory', 'ssh', 'firewall', 'fail2ban', 'node'];
    const widths = header.map((title, column) => Math.max(title.length, ...table.map((cells) => (cells.length > 2 || column < 1 ? (cells[column] ?? '').length : 0))));
    write(header.map((title, column) => title.padEnd(widths[column]!)).join('  ').trimEnd());
    // Cells hold what hosts said (their OS name, errors): shown, never obeyed by the terminal.
    for (const cells of table) write(cells.length === 2 ? `${cells[0]!.padEnd(widths[0]!)}  ${cells[1]}` : cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
  }
  return rows.some((row) => 'unreachable' in row) ? 1 : 0;
}
