/** Many hosts at once: --forks bounds the hosts in flight, and memory stays bounded. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { writeInventory } from '../support/inventory.ts';

const HOSTS_PER_CONTAINER = 6;

describe('24 hosts', () => {
  let lab: TestHosts;
  let inventory: string;
  before(async () => {
    lab = await startTestHosts(['a', 'b', 'c', 'd'].map((name) => ({ name, group: 'nodes' })));
    // Each container answers for six inventory hosts; every inventory host gets its own SSH connection.
    const hosts: Record<string, Record<string, unknown>> = {};
    for (const host of lab.hosts) {
      for (let i = 1; i <= HOSTS_PER_CONTAINER; i++) hosts[`${host.name}${i}`] = { ansible_host: '127.0.0.1', ansible_port: host.sshPort };
    }
    inventory = writeInventory(lab, { extraHosts: { nodes: hosts }, only: [] });
  });
  after(async () => lab?.stop());

  test('--forks 5 never has more than five hosts in flight, and every host is done', async () => {
    const result = await runCli(['apply', inventory, '--yes', '--json', '--forks', '5', '--playbook', 'test/fixtures/playbooks/forks.ts']);
    assert.equal(result.code, 0, result.stderr);
    const run = parseRun(result) as ReturnType<typeof parseRun> & { stats: { peakRssKb: number } };
    assert.equal(Object.keys(run.hosts).length, 24);
    assert.equal(run.summary.changed, 24);
    const intervals: [number, number][] = [];
    for (const container of lab.hosts) {
      const listing = await lab.exec(container.name, ['sh', '-c', 'for f in /srv/forks/*.start; do n=${f%.start}; echo "$(cat $f) $(cat $n.end)"; done']);
      for (const line of listing.stdout.trim().split('\n')) {
        const [start, end] = line.split(' ').map((value) => Number(BigInt(value) / 1_000_000n));
        intervals.push([start!, end!]);
      }
    }
    assert.equal(intervals.length, 24);
    const overlap = Math.max(...intervals.map(([start]) => intervals.filter(([s, e]) => s <= start && start < e).length));
    assert.ok(overlap <= 5, `at most 5 hosts at once, saw ${overlap}`);
    assert.ok(overlap >= 3, `hosts do run in parallel, saw ${overlap}`);
    console.log(`# 24 hosts, --forks 5: peak RSS ${Math.round(run.stats.peakRssKb / 1024)} MB`);
    assert.ok(run.stats.peakRssKb < 400 * 1024, `peak RSS ${run.stats.peakRssKb} KB`);
  });
});
