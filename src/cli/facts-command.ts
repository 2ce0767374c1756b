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
import { InputError } from '../errors.ts';
import { roleContext } from '../engine/role.ts';
import type { Playbook } from '../engine/playbook.ts';
import { loadInventoryInput, type InventoryInput } from './inventory-input.ts';

type Row = { host: string } & ({ facts: unknown } | { unreachable: string });

/** Gathers and prints the facts; exit 1 when a host is unreachable. */
export async function factsCommand(options: { inventory: InventoryInput; playbook: Playbook; limit?: string; json: boolean; forks: number }, write: (text: string) => void): Promise<number> {
  const report = options.playbook.facts;
  if (!report) throw new InputError('this playbook defines no facts report (definePlaybook({ facts }))');
  const inventory = await loadInventoryInput(options.inventory, options.playbook.varsSchema);
  const roles = roleContext(inventory, options.playbook.roles);
  const hosts = selectHosts(inventory, options.limit);
  for (const host of hosts) persistSeconds(host.connection);
  const newKeys = new Map<string, UnknownHostKeyError>();
  const readHost = async (host: (typeof hosts)[number]): Promise<Row> => {
    let connection: HostConnection | undefined;
    let read = false;
    try {
      connection = await openHostConnection(host.connection);
      const cache = new FactCache();
      cache.store(await gatherFacts(connection, report.facts(host, roles)));
      read = true;
      return { host: host.name, facts: report.read(host, cache, roles) };
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
    const table = rows
      .map((row) => ('facts' in row ? [row.host, ...report.columns.map((column) => column.cell(row.facts))] : [row.host, `unreachable: ${row.unreachable}`]))
      .map((cells) => cells.map((cell) => printable(String(cell))));
    const header = ['host', ...report.columns.map((column) => column.title)];
    const widths = header.map((title, column) => Math.max(title.length, ...table.map((cells) => (cells.length > 2 || column < 1 ? (cells[column] ?? '').length : 0))));
    write(header.map((title, column) => title.padEnd(widths[column]!)).join('  ').trimEnd());
    // Cells hold what hosts said (their OS name, errors): shown, never obeyed by the terminal.
    for (const cells of table) write(cells.length === 2 ? `${cells[0]!.padEnd(widths[0]!)}  ${cells[1]}` : cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
  }
  return rows.some((row) => 'unreachable' in row) ? 1 : 0;
}
