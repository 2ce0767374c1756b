/** Remote PoW end to end: nodes with different CPU limits get their own setting, in each flavor's config file. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { installStandInNode } from '../../src/lab/node-service.ts';
import type { NodeFlavor } from '../../tasks/node/vars.ts';
import { parseRun, runCli, type CliResult } from '../support/cli.ts';
import { startTestHosts, type TestHosts } from '../support/containers.ts';

const PLAYBOOK = 'test/fixtures/playbooks/node-pow.ts';
const fixture = (name: string) => readFileSync(new URL(`../fixtures/node/${name}`, import.meta.url), 'utf8');

const HORNET_2 = fixture('hornet-2.config.json');
const HORNET_2_ON = HORNET_2.replace('"enabled": false,\n      "workerCount": 1', '"enabled": true,\n      "workerCount": 4');
const HORNET_1 = fixture('hornet-1.config.json').replace('"powEnabled": true', '"powEnabled": false');
/** The p2p identity keys in the fixtures: no output may show them. */
const PRIVATE_KEYS = /9f1c2e3d4b5a6978|5e6f7a8b9c0d1e2f/;
const BEE_ON = fixture('bee.config.toml').replace('feature_proof_of_work = false', 'feature_proof_of_work = true');

/** Each node: its CPU limits, its flavor, the config it starts with, and the config it must end with. */
const NODES: { name: string; cpusetCpus: string; cpuQuota?: number; flavor: NodeFlavor; path: string; start: string; end: string }[] = [
  {
    // nproc 1: PoW goes off; the worker count is left as it was.
    name: 'node1',
    cpusetCpus: '0',
    flavor: 'hornet-2',
    path: '/var/lib/hornet/config.json',
    start: HORNET_2_ON,
    end: HORNET_2_ON.replace('"enabled": true,\n      "workerCount": 4', '"enabled": false,\n      "workerCount": 4'),
  },
  {
    // 2 CPUs: PoW on with 2 − 1 reserved = 1 worker.
    name: 'node2',
    cpusetCpus: '0-1',
    flavor: 'hornet-2',
    path: '/var/lib/hornet/config.json',
    start: HORNET_2,
    end: HORNET_2.replace('"enabled": false,\n      "workerCount": 1', '"enabled": true,\n      "workerCount": 1'),
  },
  {
    // nproc 2, but a CFS quota of 1 CPU: PoW goes off.
    name: 'node3',
    cpusetCpus: '0-1',
    cpuQuota: 1,
    flavor: 'bee',
    path: '/var/lib/bee/config.toml',
    start: BEE_ON,
    end: BEE_ON.replace('feature_proof_of_work = true', 'feature_proof_of_work = false'),
  },
  {
    name: 'node4',
    cpusetCpus: '0-1',
    flavor: 'hornet-1',
    path: '/var/lib/hornet/config.json',
    start: HORNET_1.replace('"powWorkerCount": 4', '"powWorkerCount": 3'),
    end: HORNET_1.replace('"powEnabled": false', '"powEnabled": true').replace('"powWorkerCount": 4', '"powWorkerCount": 1'),
  },
];

/** Writes a copy of the test inventory with `node` vars per host (and `extra` on top for one host). */
function inventoryWith(lab: TestHosts, file: string, extra: { host: string; node: Record<string, unknown> } | undefined = undefined): string {
  const inventory = parse(readFileSync(lab.inventoryFile, 'utf8'));
  for (const node of NODES) {
    const host = inventory.all.children.nodes.hosts[node.name];
    host.node = { flavor: node.flavor, ...(extra?.host === node.name ? extra.node : {}) };
  }
  const path = lab.inventoryFile.replace(/inventory\.yaml$/, file);
  writeFileSync(path, stringify(inventory));
  return path;
}

async function read(lab: TestHosts, name: string, path: string): Promise<string> {
  const result = await lab.exec(name, ['cat', path]);
  assert.equal(result.exitCode, 0, result.stderr);
  return result.stdout;
}

/** The node process's PID: it changes only when the service restarts. */
async function mainPid(lab: TestHosts, name: string, service: string): Promise<string> {
  return (await lab.exec(name, ['systemctl', 'show', '-p', 'MainPID', '--value', service])).stdout.trim();
}

/** A checksum of the files a run could touch and of the running units, read through docker exec. */
async function hostState(lab: TestHosts, name: string): Promise<string> {
  const script = 'find /etc /var/lib/hornet /var/lib/bee /usr/local -xdev -type f -exec sha256sum {} + 2>/dev/null | sort | sha256sum; ' +
    'systemctl list-units --type=service --state=running --no-legend | sha256sum';
  return (await lab.exec(name, ['sh', '-c', script])).stdout;
}

function serviceOf(flavor: NodeFlavor): string {
  return flavor === 'bee' ? 'bee' : 'hornet';
}

function assertOk(result: CliResult): void {
  assert.equal(result.code, 0, result.stdout + result.stderr);
}

describe('remote PoW from the CPUs each node can use', () => {
  let lab: TestHosts;
  let inventory: string;

  before(async () => {
    const started = Date.now();
    lab = await startTestHosts(NODES.map(({ name, cpusetCpus, cpuQuota }) => ({ name, group: 'nodes', cpusetCpus, ...(cpuQuota ? { cpuQuota } : {}) })));
    await Promise.all(
      NODES.map((node) => installStandInNode((command) => lab.exec(node.name, command), { flavor: node.flavor, config: node.start, replaceConfig: true })),
    );
    inventory = inventoryWith(lab, 'nodes.yaml');
    console.error(`# 4 node containers with the stand-in node ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  after(async () => lab?.stop());

  test('the dry run shows each node’s reasoning and the file diff, and changes nothing', async () => {
    const pids = await Promise.all(NODES.map((node) => mainPid(lab, node.name, serviceOf(node.flavor))));
    const states = await Promise.all(NODES.map((node) => hostState(lab, node.name)));
    const result = await runCli(['apply', inventory, '--dry-run', '--playbook', PLAYBOOK]);
    assertOk(result);
    assert.match(result.stdout, /disable remote PoW in \/var\/lib\/hornet\/config\.json/);
    assert.match(result.stdout, /1 usable CPU < min 2: disable/);
    assert.match(result.stdout, /usable CPUs: nproc 1, no CPU quota/);
    assert.match(result.stdout, /2 usable CPUs ≥ min 2: enable, 1 worker \(2 CPUs − 1 reserved\)/);
    assert.match(result.stdout, /usable CPUs: nproc 2, CPU quota 1 CPU \(cgroup v1 \/docker\/[0-9a-f]+\)/);
    assert.match(result.stdout, /-feature_proof_of_work = true # remote PoW for API clients\n\s*\+feature_proof_of_work = false # remote PoW for API clients/);
    const json = await runCli(['apply', inventory, '--dry-run', '--json', '--playbook', PLAYBOOK]);
    assert.doesNotMatch(json.stdout, /identityPrivateKey/, 'the JSON plan has no file contents, only sizes and digests');
    assert.match(json.stdout, /"path": "\/var\/lib\/hornet\/config\.json",\s*"before": \{\s*"bytes": \d+/);
    const shown = await runCli(['apply', inventory, '--dry-run', '--json', '--show-contents', '--playbook', PLAYBOOK]);
    assert.match(shown.stdout, /identityPrivateKey\\": \\"\*{8}\\"/, 'with --show-contents the whole file is in it, its key masked');
    assert.doesNotMatch(result.stdout + json.stdout + shown.stdout, PRIVATE_KEYS);
    for (const [index, node] of NODES.entries()) {
      assert.equal(await read(lab, node.name, node.path), node.start, `${node.name}'s config is untouched`);
      assert.equal(await mainPid(lab, node.name, serviceOf(node.flavor)), pids[index], `${node.name}'s node did not restart`);
      assert.equal(await hostState(lab, node.name), states[index], `${node.name} is unchanged`);
    }
  });

  test('apply writes each node’s setting, changing only those keys, restarts it, and the info route agrees', async () => {
    const pids = await Promise.all(NODES.map((node) => mainPid(lab, node.name, serviceOf(node.flavor))));
    const result = await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]);
    assertOk(result);
    const run = parseRun(result);
    for (const [index, node] of NODES.entries()) {
      assert.equal(await read(lab, node.name, node.path), node.end, `${node.name}: the PoW keys changed and every other byte stayed`);
      const service = serviceOf(node.flavor);
      const enabled = node.name === 'node2' || node.name === 'node4';
      assert.deepEqual(run.hosts[node.name]?.handlers, [
        { name: `restart ${service}`, status: 'changed' },
        { name: `check ${service} ${enabled ? 'lists' : 'does not list'} PoW`, status: 'changed' },
      ]);
      assert.notEqual(await mainPid(lab, node.name, service), pids[index], `${node.name}'s node restarted`);
    }
    const info = (name: string, route: string) => lab.exec(name, ['curl', '-fsS', `http://127.0.0.1:14265${route}`]);
    assert.deepEqual(JSON.parse((await info('node2', '/api/core/v2/info')).stdout).features, ['PoW']);
    assert.deepEqual(JSON.parse((await info('node1', '/api/core/v2/info')).stdout).features, []);
    assert.deepEqual(JSON.parse((await info('node4', '/api/v1/info')).stdout).data.features, ['PoW']);
    assert.deepEqual(JSON.parse((await info('node3', '/api/v1/info')).stdout).data.features, []);
  });

  test('a second run reports zero changes and runs no handler', async () => {
    const pids = await Promise.all(NODES.map((node) => mainPid(lab, node.name, serviceOf(node.flavor))));
    const result = await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]);
    assertOk(result);
    const run = parseRun(result);
    assert.equal(run.summary.changed, 0);
    for (const [index, node] of NODES.entries()) {
      assert.deepEqual(run.hosts[node.name]?.handlers, []);
      assert.equal(await mainPid(lab, node.name, serviceOf(node.flavor)), pids[index]);
    }
    const verbose = await runCli(['apply', inventory, '--dry-run', '--verbose', '--playbook', PLAYBOOK, '--limit', 'node2']);
    assert.match(verbose.stdout, /node\.pow \/var\/lib\/hornet\/config\.json \(remote PoW is enabled with 1 worker: 2 usable CPUs ≥ min 2\)/);
  });

  test('a missing config file is a clear error and changes nothing', async () => {
    const missing = inventoryWith(lab, 'missing.yaml', { host: 'node2', node: { config_path: '/var/lib/hornet/absent.json' } });
    const pid = await mainPid(lab, 'node2', 'hornet');
    const result = await runCli(['apply', missing, '--yes', '--playbook', PLAYBOOK, '--limit', 'node2']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /the node config \/var\/lib\/hornet\/absent\.json does not exist: install the hornet-2 node first, or set node\.config_path/);
    assert.equal((await lab.exec('node2', ['test', '-e', '/var/lib/hornet/absent.json'])).exitCode, 1, 'no file was created');
    assert.equal(await read(lab, 'node2', '/var/lib/hornet/config.json'), NODES[1]!.end);
    assert.equal(await mainPid(lab, 'node2', 'hornet'), pid, 'the node was not restarted');
  });

  test('an invalid config file is a clear error and changes nothing', async () => {
    const broken = fixture('hornet-2.invalid.json');
    const write = await lab.exec('node1', ['sh', '-c', 'printf "%s" "$1" > /var/lib/hornet/broken.json', 'sh', broken]);
    assert.equal(write.exitCode, 0, write.stderr);
    const invalid = inventoryWith(lab, 'invalid.yaml', { host: 'node1', node: { config_path: '/var/lib/hornet/broken.json' } });
    const pid = await mainPid(lab, 'node1', 'hornet');
    const result = await runCli(['apply', invalid, '--yes', '--playbook', PLAYBOOK, '--limit', 'node1']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /cannot set remote PoW in \/var\/lib\/hornet\/broken\.json \(JSON\): invalid JSON at line 5, column 5/);
    assert.equal(await read(lab, 'node1', '/var/lib/hornet/broken.json'), broken);
    assert.equal(await mainPid(lab, 'node1', 'hornet'), pid, 'the node was not restarted');
  });
});
