/** Dead and hanging hosts never block the others: they are reported unreachable, the rest of the run goes on. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { writeInventory } from '../support/inventory.ts';
import { closedPort } from '../support/ports.ts';

/** A TCP server on 127.0.0.1 that accepts connections and never says a word (a hung sshd). */
async function silentServer(): Promise<{ port: number; close: () => void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/**
 * A TCP proxy on 127.0.0.1 to a test host's sshd that closes its first `drops` connections at once, as sshd does while
 * it re-executes itself after a reload, or past MaxStartups.
 */
async function droppingProxy(target: number, drops: number): Promise<{ port: number; dropped: () => number; close: () => void }> {
  const sockets: net.Socket[] = [];
  let dropped = 0;
  const server = net.createServer((socket) => {
    if (dropped < drops) {
      dropped += 1;
      socket.destroy();
      return;
    }
    const upstream = net.connect(target, '127.0.0.1');
    sockets.push(socket, upstream);
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    dropped: () => dropped,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe('unreachable hosts', () => {
  let lab: TestHosts;
  let silent: Awaited<ReturnType<typeof silentServer>>;
  before(async () => {
    lab = await startTestHosts([{ name: 'alive', group: 'nodes' }]);
    silent = await silentServer();
  });
  after(async () => {
    silent?.close();
    await lab?.stop();
  });

  test('a hanging host and a dead one are unreachable; the live one is planned; exit code 1', async () => {
    const inventory = writeInventory(lab, {
      vars: { ssh_connect_timeout: '2s', ssh_connect_retries: 1 },
      extraHosts: { nodes: { hanging: { ansible_host: '127.0.0.1', ansible_port: silent.port }, dead: { ansible_host: '127.0.0.1', ansible_port: await closedPort() } } },
    });
    const result = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', 'test/fixtures/playbooks/slow.ts'], { timeoutMs: 60_000 });
    assert.equal(result.code, 1, result.stderr);
    const run = parseRun(result);
    assert.equal(run.hosts.hanging?.status, 'unreachable');
    assert.match((run.hosts.hanging as unknown as { error: string }).error, /timed out/);
    assert.equal(run.hosts.dead?.status, 'unreachable');
    assert.match((run.hosts.dead as unknown as { error: string }).error, /ECONNREFUSED/);
    assert.equal(run.hosts.alive?.status, 'changed');
    assert.equal(run.summary.unreachable, 2);
    const text = await runCli(['apply', inventory, '--dry-run', '--playbook', 'test/fixtures/playbooks/slow.ts'], { timeoutMs: 60_000 });
    assert.match(text.stdout, /hanging +ok=0 +would-change=0 +failed=0 +skipped=0 +unreachable=1/);
  });

  test('a host whose sshd closes a connection before the handshake (reloading, or busy) is tried again, and reached', async () => {
    const proxy = await droppingProxy(lab.hosts[0]!.sshPort, 1);
    try {
      const inventory = writeInventory(lab, {
        vars: { ssh_connect_retries: 1, ssh_host_key_checking: 'off' },
        hosts: { alive: { ansible_port: proxy.port } },
      });
      const result = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', 'test/fixtures/playbooks/slow.ts'], { timeoutMs: 60_000 });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal(parseRun(result).hosts.alive?.status, 'changed');
      assert.equal(proxy.dropped(), 1, 'the first connection was dropped');
    } finally {
      proxy.close();
    }
  });
});
