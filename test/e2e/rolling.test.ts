/**
 * Changes behind the balancer without a failed request: three (stand-in) nodes behind one HAProxy, clients sending
 * requests through it the whole time, while an apply changes every node's PoW setting (which restarts the node).
 * One at a time and drained, no request fails; all at once, some do. A node that fails stops the rest and stays
 * drained, and the next run returns it to ready. Clients run in the balancer's container, against 127.0.0.1,
 * bounded in count and time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { installStandInNode } from '../../src/lab/node-service.ts';
import { parseRun, runCli, type CliResult } from '../support/cli.ts';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { writeInventory } from '../support/inventory.ts';

const PLAYBOOK = 'test/fixtures/playbooks/rolling.ts';
const NODES = ['node1', 'node2', 'node3'];
const DOMAIN = 'lb.rolling.test';
const CONFIG = '/var/lib/hornet/config.json';
/** How long each POST keeps a node busy, as remote PoW does. */
const POST_SECONDS = 0.5;
/** Clients: one GET loop (a pause between requests) and this many POST loops, each request after the last. */
const POST_LOOPS = 4;
/** Every client and sampler loop ends by itself after this long, or this many rounds, whatever the run does. */
const LOAD_LIMIT = { seconds: 240, rounds: 4000 };
const STOP_FILE = '/tmp/rolling-test-stop';

/** What the clients saw: every answer's status code (000: the connection failed). */
interface LoadResult {
  codes: string[];
  failures: string[];
}

describe('changes behind the balancer without a failed request', () => {
  let lab: TestHosts;

  /** The inventory: a balancer open to the test's request rate, each node with its PoW setting and `rolling` vars. */
  function inventory(pow: boolean, rolling: Record<string, unknown> = {}): string {
    const node = { node: { pow: { enabled: pow } }, ...(Object.keys(rolling).length ? { rolling } : {}) };
    return writeInventory(lab, {
      hosts: {
        balancer1: { haproxy: { domain: DOMAIN, rate_limit: { requests: 1_000_000, window: '10s', connections: 10_000 } } },
        ...Object.fromEntries(NODES.map((name) => [name, node])),
      },
    });
  }

  async function provision(args: string[]): Promise<CliResult> {
    return runCli([...args, '--playbook', PLAYBOOK], { timeoutMs: 400_000 });
  }

  async function sh(host: string, script: string): Promise<string> {
    const result = await lab.exec(host, ['sh', '-c', script]);
    assert.equal(result.exitCode, 0, `${host}: ${script}\n${result.stderr}`);
    return result.stdout;
  }

  /** Starts the clients in the balancer's container; resolves with every answer once STOP_FILE appears (or the limit passes). */
  function startLoad(): Promise<LoadResult> {
    const curl = `curl -sk -o /dev/null -w '%{http_code}\\n' --max-time 20 --resolve ${DOMAIN}:443:127.0.0.1`;
    const script = `rm -f ${STOP_FILE}; out=$(mktemp -d); end=$(( $(date +%s) + ${LOAD_LIMIT.seconds} ))
more() { [ ! -e ${STOP_FILE} ] && [ "$(date +%s)" -lt "$end" ] && [ "$1" -lt ${LOAD_LIMIT.rounds} ]; }
gets() { n=0; while more $n; do n=$((n + 1)); ${curl} https://${DOMAIN}/api/core/v2/info >> "$out/get"; sleep 0.05; done; }
posts() { n=0; while more $n; do n=$((n + 1)); ${curl} -X POST -H 'Content-Type: application/json' --data '{"payload":1}' https://${DOMAIN}/api/core/v2/blocks >> "$out/post$1"; done; }
gets & for i in $(seq ${POST_LOOPS}); do posts "$i" & done; wait
for f in "$out"/*; do sed "s|^|$(basename "$f") |" "$f"; done; rm -rf "$out"`;
    return lab.exec('balancer1', ['sh', '-c', script]).then((result) => {
      const lines = result.stdout.split('\n').filter(Boolean);
      const codes = lines.map((line) => line.split(' ')[1] ?? '000');
      const failures = lines.filter((line) => {
        const [kind, code] = line.split(' ');
        return kind === 'get' ? code !== '200' : code !== '201';
      });
      return { codes, failures };
    });
  }

  /** Samples HAProxy's view of the nodes until STOP_FILE appears: the most servers out of service (not up, or drained) at once. */
  function startSampler(): Promise<{ samples: number; mostOut: number; seen: string[] }> {
    const script = `end=$(( $(date +%s) + ${LOAD_LIMIT.seconds} )); n=0
while [ ! -e ${STOP_FILE} ] && [ "$(date +%s)" -lt "$end" ] && [ "$n" -lt ${LOAD_LIMIT.rounds} ]; do
  n=$((n + 1))
  printf 'show servers state nodes\\n' | socat -t 2 - UNIX-CONNECT:/run/haproxy/admin.sock | awk '$2 == "nodes" && ($6 != 2 || $7 != 0) { out = out " " $4 } END { print "sample" out }'
  sleep 0.1
done`;
    return lab.exec('balancer1', ['sh', '-c', script]).then((result) => {
      const samples = result.stdout.split('\n').filter((line) => line.startsWith('sample'));
      const outs = samples.map((line) => line.split(' ').slice(1));
      return { samples: samples.length, mostOut: Math.max(0, ...outs.map((out) => out.length)), seen: [...new Set(outs.flat())].sort() };
    });
  }

  /** How many times each node's service started since `since` (epoch seconds), from the stand-in's start line in the journal. */
  async function startsSince(since: number): Promise<number[]> {
    return Promise.all(NODES.map(async (name) => Number((await sh(name, `journalctl -u hornet --since @${since} -o cat | grep -c '^stand-in-node: ' || true`)).trim())));
  }

  /** Applies while the clients run; returns the run and what the clients and the sampler saw. */
  async function applyUnderLoad(file: string): Promise<{ run: CliResult; seconds: string; load: LoadResult; servers: Awaited<ReturnType<typeof startSampler>>; starts: number[] }> {
    const since = Number((await sh('balancer1', 'date +%s')).trim());
    await sh('balancer1', `rm -f ${STOP_FILE}`);
    const load = startLoad();
    const servers = startSampler();
    // The clients are under way before the change starts.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const started = Date.now();
    const run = await provision(['apply', file, '--yes', '--json']);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await sh('balancer1', `touch ${STOP_FILE}`);
    const [loadResult, serverResult] = await Promise.all([load, servers]);
    return { run, seconds, load: loadResult, servers: serverResult, starts: await startsSince(since) };
  }

  async function serverStates(): Promise<Map<string, { op: number; admin: number }>> {
    const out = await sh('balancer1', `printf 'show servers state nodes\\n' | socat -t 2 - UNIX-CONNECT:/run/haproxy/admin.sock`);
    const states = new Map<string, { op: number; admin: number }>();
    for (const line of out.split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields[1] === 'nodes') states.set(fields[3]!, { op: Number(fields[5]), admin: Number(fields[6]) });
    }
    return states;
  }

  before(async () => {
    const started = Date.now();
    lab = await startTestHosts([{ name: 'balancer1', group: 'balancers' }, ...NODES.map((name) => ({ name, group: 'nodes', cpusetCpus: '0' }))]);
    // The balancer gets the stand-in too, for its curl (the clients); it is not in `nodes`, so no one sends it requests.
    await Promise.all(['balancer1', ...NODES].map((name) => installStandInNode((command) => lab.exec(name, command))));
    await Promise.all(
      NODES.map((name) =>
        sh(name, `mkdir -p /etc/systemd/system/hornet.service.d && printf '[Service]\\nEnvironment=STAND_IN_POST_DELAY=${POST_SECONDS}\\n' > /etc/systemd/system/hornet.service.d/delay.conf && systemctl daemon-reload && systemctl restart hornet`),
      ),
    );
    const converge = await provision(['apply', inventory(false), '--yes']);
    assert.equal(converge.code, 0, converge.stdout + converge.stderr);
    console.error(`# balancer and three nodes converged in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  after(async () => lab?.stop());

  test('the dry run shows the batches and each node’s drain, and changes nothing', async () => {
    const before = await Promise.all(NODES.map((name) => sh(name, `cat ${CONFIG}; systemctl show -p MainPID --value hornet`)));
    const result = await provision(['apply', inventory(true), '--dry-run']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /ROLLING\n  first, in parallel \(up to --forks\): balancer1\n  node: one host at a time \(behind a balancer: one at a time by default\); the next batches are skipped once more than 0 failed \(rolling\.max_fail 0\)/);
    for (const [index, name] of NODES.entries()) {
      assert.match(result.stdout, new RegExp(`batch ${index + 1}: +${name}  drain on balancer1 → restart hornet → ready`));
    }
    assert.deepEqual(await Promise.all(NODES.map((name) => sh(name, `cat ${CONFIG}; systemctl show -p MainPID --value hornet`))), before);
    const states = await serverStates();
    assert.deepEqual([...states.values()].map((state) => state.admin), [0, 0, 0], 'nothing is drained by a dry run');
  });

  test('one node at a time, drained first: no request fails, each node restarts once, never two out at once', async () => {
    const { run, seconds, load, servers, starts } = await applyUnderLoad(inventory(true));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    console.error(`# drained, one at a time (apply ${seconds} s): ${load.codes.length} answers, ${load.failures.length} failed; ${servers.samples} samples, at most ${servers.mostOut} out at once (${servers.seen.join(', ')})`);
    assert.ok(load.codes.length >= 60, `the clients kept sending during the run (${load.codes.length} answers)`);
    assert.deepEqual(load.failures, [], 'no request failed');
    assert.deepEqual(starts, [1, 1, 1], 'each node restarted exactly once');
    assert.equal(servers.mostOut, 1, 'never more than one node out of service');
    assert.deepEqual(servers.seen, NODES, 'each node was out of service once');
    const result = parseRun(run) as ReturnType<typeof parseRun> & { hosts: Record<string, { rolling?: { steps: string[] } }> };
    for (const name of NODES) {
      assert.equal(result.hosts[name]?.status, 'changed');
      assert.deepEqual(result.hosts[name]?.rolling?.steps, ['drained on balancer1', 'answers its health route', 'ready and up on balancer1']);
    }

    const again = await provision(['apply', inventory(true), '--yes', '--json']);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(parseRun(again).summary.changed, 0, 'the second run changes nothing');
    assert.doesNotMatch(again.stdout, /drained on/, 'and drains nothing');
  });

  test('all at once (rolling.batch 100%), without draining: requests fail', async () => {
    const { run, seconds, load, starts } = await applyUnderLoad(inventory(false, { batch: '100%' }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    console.error(`# all at once (apply ${seconds} s): ${load.codes.length} answers, ${load.failures.length} failed (${[...new Set(load.failures)].join(', ')})`);
    assert.deepEqual(starts, [1, 1, 1]);
    assert.ok(load.failures.length > 0, 'restarting every node at once fails requests');
  });

  test('a failed node stops the rest: they are skipped and untouched, it stays drained; the next run returns it to ready', async () => {
    // node1's config directory read-only, root or not: its PoW write fails.
    await sh('node1', 'mount --bind /var/lib/hornet /var/lib/hornet && mount -o remount,ro,bind /var/lib/hornet');
    const before = await Promise.all(NODES.map((name) => sh(name, `cat ${CONFIG}; systemctl show -p MainPID --value hornet`)));
    const run = await provision(['apply', inventory(true), '--yes']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /node1 stays drained on balancer1/);
    assert.match(run.stdout, /skipped +node\.pow \/var\/lib\/hornet\/config\.json \(1 host of node failed, more than rolling\.max_fail 0 allows: the batches after it were not started\)/);
    const json = await provision(['apply', inventory(true), '--dry-run', '--json']);
    const plan = JSON.parse(json.stdout) as { rolling: { notes: string[] } };
    assert.match(plan.rolling.notes.join('\n'), /node1 was left drained on balancer1 by an earlier run that did not finish: it is up, and the apply returns it to ready/);
    const after = await Promise.all(NODES.map((name) => sh(name, `cat ${CONFIG}; systemctl show -p MainPID --value hornet`)));
    assert.deepEqual(after.slice(1), before.slice(1), 'node2 and node3 are untouched');
    const states = await serverStates();
    assert.equal(states.get('node1')!.admin & 8, 8, 'node1 stays drained');
    assert.deepEqual([states.get('node2')!.admin, states.get('node3')!.admin], [0, 0]);

    // The next run (the balancer only: the nodes change nothing) finds it healthy and returns it.
    const next = await provision(['apply', inventory(true), '--yes', '--tags', 'balancer']);
    assert.equal(next.code, 0, next.stdout + next.stderr);
    assert.match(next.stdout, /returned node1 to ready \(an earlier run had drained it and did not finish\)/);
    assert.equal((await serverStates()).get('node1')!.admin, 0);
    await sh('node1', 'umount /var/lib/hornet');
  });

  test('a run killed while a node is drained leaves it drained, marked; the next run says so and returns it once it is up', async () => {
    // node1's restart takes a while, so the run is killed with node1 drained and the restart under way.
    await sh('node1', "mkdir -p /etc/systemd/system/hornet.service.d && printf '[Service]\\nExecStartPre=/bin/sleep 12\\n' > /etc/systemd/system/hornet.service.d/slow.conf && systemctl daemon-reload");
    const file = inventory(true);
    const abort = new AbortController();
    const run = runCli(['apply', file, '--yes', '--playbook', PLAYBOOK], { signal: abort.signal, timeoutMs: 120_000 }).catch(() => undefined);
    let drained = false;
    for (let tries = 0; tries < 300 && !drained; tries++) {
      drained = (((await serverStates()).get('node1')?.admin ?? 0) & 8) !== 0;
      if (!drained) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(drained, 'node1 was drained');
    abort.abort();
    await run;
    await sh('node1', 'for i in $(seq 100); do curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:14265/health && exit 0; sleep 0.3; done; exit 1');
    await sh('node1', 'rm /etc/systemd/system/hornet.service.d/slow.conf && systemctl daemon-reload');
    // HAProxy's own health check sees it up again within its rise (2 checks, 2 s apart).
    for (let tries = 0; tries < 100 && (await serverStates()).get('node1')!.op !== 2; tries++) await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await serverStates()).get('node1')!.admin & 8, 8, 'the killed run left node1 drained');
    await sh('balancer1', 'test -f /var/lib/provision/drained/node1');

    const dry = await provision(['apply', file, '--dry-run']);
    assert.match(dry.stdout, /note: node1 was left drained on balancer1 by an earlier run that did not finish: it is up, and the apply returns it to ready/);
    const next = await provision(['apply', file, '--yes']);
    assert.equal(next.code, 0, next.stdout + next.stderr);
    assert.match(next.stdout, /returned node1 to ready \(an earlier run had drained it and did not finish\)/);
    assert.deepEqual([...(await serverStates()).values()].map((state) => state.admin), [0, 0, 0], 'every node is back in service');
    assert.equal((await lab.exec('balancer1', ['test', '-e', '/var/lib/provision/drained/node1'])).exitCode, 1, 'the mark is gone');
  });

  test('a balancer left out of the run (--limit) is still reached to drain the node', async () => {
    const file = writeInventory(lab, {
      hosts: {
        balancer1: { haproxy: { domain: DOMAIN, rate_limit: { requests: 1_000_000, window: '10s', connections: 10_000 } } },
        ...Object.fromEntries(NODES.map((name) => [name, { node: { pow: { enabled: name !== 'node2' } } }])),
      },
    });
    const run = await provision(['apply', file, '--yes', '--json', '--limit', 'node2']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = parseRun(run) as ReturnType<typeof parseRun> & { hosts: Record<string, { rolling?: { steps: string[] } }> };
    assert.deepEqual(Object.keys(result.hosts), ['node2']);
    assert.deepEqual(result.hosts.node2?.rolling?.steps, ['drained on balancer1', 'answers its health route', 'ready and up on balancer1']);
    assert.deepEqual([...(await serverStates()).values()].map((state) => state.admin), [0, 0, 0]);
  });
});
