/** E2E helpers: real Debian hosts (systemd + sshd) as containers, with an inventory that reaches them over SSH. */
import './env.ts';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GenericContainer, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { $ } from 'zx';
import { LAB_CONTAINER, LABELS } from '../../src/lab/container-flags.ts';
import { labHostDiagnostics } from '../../src/lab/boot-check.ts';
import { dockerCommand } from '../../src/lab/docker-engine.ts';
import { LAB_IMAGE } from '../../src/lab/image.ts';
import { ensureLabKey } from '../../src/lab/lab-key.ts';
import {
  HOST_KEYS_COMMAND,
  authorizeKeyCommand,
  parseHostKeys,
  renderInventory,
  upstreamNameservers,
  vpsNameResolutionCommand,
  waitForSshBanner,
  writeKnownHosts,
} from '../../src/lab/lab.ts';

const PROJECT_DIR = fileURLToPath(new URL('../..', import.meta.url));

/** Which process started a test container (`pid@boot-id`): cleanup spares containers whose process still runs. */
const OWNER_LABEL = `${LABELS.test}.owner`;

/** Tells this boot from earlier ones, so that a pid reused after a reboot is not mistaken for the owner. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

const OWNER = `${process.pid}@${bootId()}`;

/** One host to start. */
export interface TestHostSpec {
  /** Inventory name and hostname, e.g. `node1`. */
  name: string;
  /** Inventory group, e.g. `nodes` or `balancers`. */
  group: 'nodes' | 'balancers' | (string & {});
  /** CPUs the container may run on, as `docker run --cpuset-cpus` (`"0"` makes `nproc` say 1). */
  cpusetCpus?: string;
  /** CPU time limit in CPUs, as `docker run --cpus`: a CFS quota, visible only in the cgroup files. */
  cpuQuota?: number;
  /**
   * False: sshd's port is not published on 127.0.0.1, so the host is reached only from the other hosts' network (through
   * a jump host). Such a host is left out of `inventoryFile`; known_hosts names it by its private address.
   */
  publish?: boolean;
  /** More names the other containers reach this one by, through Docker's DNS (`--network-alias`). */
  aliases?: string[];
  /**
   * False: a container beside the hosts that provision does not manage (a test service such as an ACME server): no
   * SSH key, port or inventory entry, and its resolver stays Docker's, so that the network's aliases resolve in it.
   * The hosts still find it by its name. Default true.
   */
  managed?: boolean;
  /**
   * The container's own network keys of /proc/sys (its network namespace's) writable, as on a VM, for the sysctl
   * role's apply path. Every other part of /proc/sys (kernel/, fs/, vm/ …, keys of this machine's kernel) is mounted
   * read-only before systemd starts, and the start fails unless it is.
   */
  writableNetSysctls?: boolean;
}

/** The paths Docker 20.10 mounts read-only in a container by default (moby's oci/defaults.go). */
const DOCKER_READ_ONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Before systemd: every directory of /proc/sys but net/ (the container's own namespace) bound read-only onto itself. */
const GLOBAL_SYSCTLS_READ_ONLY = 'for d in /proc/sys/*; do [ "$d" = /proc/sys/net ] && continue; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 1; done';

/** Fails unless this machine's kernel keys are read-only in the container (and its network keys writable). */
const CHECK_SYSCTL_SCOPE = [
  'sh',
  '-c',
  // PID 1 turns into systemd once the mounts are done.
  'i=0; while [ "$(cat /proc/1/comm)" != systemd ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; for key in kernel/dmesg_restrict kernel/kptr_restrict fs/protected_fifos vm/swappiness; do [ -w /proc/sys/$key ] && { echo "/proc/sys/$key is writable" >&2; exit 1; }; done; [ -w /proc/sys/net/ipv4/tcp_syncookies ] || { echo "/proc/sys/net is not writable" >&2; exit 1; }',
];

let staleRemoval: Promise<void> | undefined;

/** A started host. */
export interface TestHost {
  name: string;
  group: string;
  container: StartedTestContainer;
  /** The port on 127.0.0.1 that forwards to the container's sshd; 0 when it is not published. */
  sshPort: number;
  /** The container's address on the hosts' shared network. */
  privateIp: string;
  /** False for a container that provision does not manage (see TestHostSpec.managed). */
  managed: boolean;
}

/** What a command run inside a container printed and returned. */
export interface ExecOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Started hosts plus the files that point provision at them; `stop()` removes it all. */
export interface TestHosts {
  /** An inventory (root, lab key, strict host key checking) listing every published host in its group. */
  inventoryFile: string;
  knownHostsFile: string;
  /** The private key authorized for root on every host. */
  keyFile: string;
  hosts: TestHost[];
  /** Runs a command in a host's container (docker exec), bypassing SSH and provision entirely. */
  exec(name: string, command: string[]): Promise<ExecOutput>;
  stop(): Promise<void>;
}

/** GenericContainer plus the settings its builder has no method for (security options, cpuset, loopback-only port). */
class LabHostContainer extends GenericContainer {
  constructor(private readonly spec: TestHostSpec) {
    super(LAB_IMAGE);
  }

  protected override async beforeContainerCreated(): Promise<void> {
    this.hostConfig.SecurityOpt = [...LAB_CONTAINER.securityOptions];
    if (this.spec.writableNetSysctls) {
      // Docker's read-only paths but /proc/sys (its masked paths stay as they are). The command remounts all of
      // /proc/sys but net/ read-only before anything else runs.
      Object.assign(this.hostConfig, { ReadonlyPaths: DOCKER_READ_ONLY_PATHS.filter((path) => path !== '/proc/sys') });
    }
    // In the engine's API since 1.41, not yet in dockerode's types.
    (this.hostConfig as typeof this.hostConfig & { CgroupnsMode?: string }).CgroupnsMode = LAB_CONTAINER.cgroupns;
    if (this.spec.cpusetCpus !== undefined) this.hostConfig.CpusetCpus = this.spec.cpusetCpus;
    // testcontainers publishes on every interface; sshd with a known root key should only face this machine.
    for (const bindings of Object.values(this.hostConfig.PortBindings ?? {}) as { HostIp?: string }[][]) {
      for (const binding of bindings) binding.HostIp = LAB_CONTAINER.publishAddress;
    }
  }
}

/**
 * Starts one container per spec from the lab image, all on one new network, with the lab key authorized for root,
 * and waits until each sshd greets. Writes an inventory and known_hosts into a temporary directory.
 */
export async function startTestHosts(specs: readonly TestHostSpec[]): Promise<TestHosts> {
  // Once per process: leftovers of crashed runs would otherwise pile up, as nothing reaps them.
  staleRemoval ??= removeStaleTestContainers().catch(() => {});
  await staleRemoval;
  const key = ensureLabKey(PROJECT_DIR);
  const dir = mkdtempSync(join(tmpdir(), 'provision-test-'));
  const network = await new Network().start();
  const started: TestHost[] = [];
  const stop = () => stopAll(started, network, dir);
  try {
    const hosts = await Promise.all(specs.map((spec) => startTestHost(spec, network, key.publicKey, started)));
    const nameservers = upstreamNameservers();
    const hostKeys = await Promise.all(
      hosts.map(async (host) => {
        if (!host.managed) return [];
        await mustExec(host, vpsNameResolutionCommand(hosts.filter((peer) => peer !== host), nameservers));
        return parseHostKeys((await mustExec(host, [...HOST_KEYS_COMMAND])).stdout);
      }),
    );
    const knownHostsFile = join(dir, 'known_hosts');
    const published = hosts.filter((host) => host.sshPort !== 0);
    writeKnownHosts(knownHostsFile, published.map((host) => ({ port: host.sshPort, keys: hostKeys[hosts.indexOf(host)]! })));
    // A host behind a jump host is known by its address on the hosts' network, on sshd's own port.
    const unpublished = hosts.filter((host) => host.sshPort === 0 && host.managed);
    appendFileSync(knownHostsFile, unpublished.flatMap((host) => hostKeys[hosts.indexOf(host)]!.map((hostKey) => `${host.privateIp} ${hostKey}\n`)).join(''));
    const inventoryFile = join(dir, 'inventory.yaml');
    writeFileSync(inventoryFile, renderInventory(published, { privateKeyFile: key.privateKeyFile, knownHostsFile }));
    const byName = new Map(hosts.map((host) => [host.name, host]));
    return {
      inventoryFile,
      knownHostsFile,
      keyFile: key.privateKeyFile,
      hosts,
      exec: async (name, command) => {
        const host = byName.get(name);
        if (!host) throw new Error(`no test host named ${name}; have ${[...byName.keys()].join(', ')}`);
        const { stdout, stderr, exitCode } = await host.container.exec(command);
        return { stdout, stderr, exitCode };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startTestHost(spec: TestHostSpec, network: StartedNetwork, publicKey: string, started: TestHost[]): Promise<TestHost> {
  let builder = new LabHostContainer(spec)
    .withName(`provision-test-${spec.name}-${randomBytes(3).toString('hex')}`)
    .withHostname(spec.name)
    .withNetwork(network)
    .withLabels({ [LABELS.test]: '1', [OWNER_LABEL]: OWNER })
    .withAddedCapabilities(...LAB_CONTAINER.capabilities)
    .withBindMounts(LAB_CONTAINER.bindMounts.map((mount) => ({ ...mount })))
    .withTmpFs(Object.fromEntries(LAB_CONTAINER.tmpfs.map((dir) => [dir, ''])))
    .withCommand(spec.writableNetSysctls ? ['/bin/sh', '-c', `${GLOBAL_SYSCTLS_READ_ONLY}; exec ${LAB_CONTAINER.command.join(' ')}`] : [...LAB_CONTAINER.command])
    // Started once the container runs: the SSH banner (below) is the real readiness check.
    .withWaitStrategy(Wait.forSuccessfulCommand('true'));
  const managed = spec.managed ?? true;
  const publish = managed && (spec.publish ?? true);
  if (publish) builder = builder.withExposedPorts(LAB_CONTAINER.sshPort);
  if (spec.aliases?.length) builder = builder.withNetworkAliases(...spec.aliases);
  if (spec.cpuQuota !== undefined) builder = builder.withResourcesQuota({ cpu: spec.cpuQuota });
  const container = await builder.start();
  const host: TestHost = {
    name: spec.name,
    group: spec.group,
    container,
    sshPort: publish ? container.getMappedPort(LAB_CONTAINER.sshPort) : 0,
    privateIp: container.getIpAddress(network.getName()),
    managed,
  };
  started.push(host);
  if (spec.writableNetSysctls) await mustExec(host, CHECK_SYSCTL_SCOPE);
  if (!managed) return host;
  await mustExec(host, authorizeKeyCommand(publicKey));
  try {
    if (publish) await waitForSshBanner(host.sshPort);
    else await mustExec(host, [...SSH_BANNER_INSIDE]);
  } catch (error) {
    throw new Error(`${spec.name}: ${(error as Error).message}\n${await labHostDiagnostics(container.getId())}`);
  }
  return host;
}

/** Waits (at most 20 s) inside a container until its own sshd greets on port 22. */
const SSH_BANNER_INSIDE = [
  'bash',
  '-c',
  'for i in $(seq 100); do if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/22 && head -c 7 <&3" 2>/dev/null | grep -q SSH-2.0; then exit 0; fi; sleep 0.2; done; echo "sshd did not greet within 20 s" >&2; exit 1',
] as const;

async function mustExec(host: TestHost, command: string[]): Promise<ExecOutput> {
  const result = await host.container.exec(command);
  if (result.exitCode !== 0) {
    throw new Error(`in ${host.name}, ${command.join(' ')} exited with ${result.exitCode}: ${result.stderr || result.stdout}`);
  }
  return result;
}

async function stopAll(hosts: readonly TestHost[], network: StartedNetwork, dir: string): Promise<void> {
  // systemd needs no clean shutdown here: kill at once (timeout 0) and remove.
  await Promise.allSettled(hosts.map((host) => host.container.stop({ timeout: 0, remove: true })));
  await network.stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes test containers of earlier runs whose process is gone (they outlive a crashed or interrupted run,
 * since the Ryuk reaper is off), and test networks nothing uses any more. Containers of running tests stay.
 */
export async function removeStaleTestContainers(): Promise<void> {
  const docker = dockerCommand();
  const listing = await $({ quiet: true })`${docker} ps -a --filter ${`label=${LABELS.test}=1`} --format ${`{{.ID}} {{.Label "${OWNER_LABEL}"}}`}`;
  const stale = listing.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' '))
    .filter(([, owner]) => !ownerAlive(owner ?? ''))
    .map(([id]) => id!);
  if (stale.length > 0) await $({ quiet: true })`${docker} rm -f -v ${stale}`;
  // A network younger than a minute may belong to a run that is starting its containers right now.
  await $({ quiet: true, nothrow: true })`${docker} network prune -f --filter label=org.testcontainers=true --filter until=1m`;
}

function ownerAlive(owner: string): boolean {
  const [pidText, boot] = owner.split('@');
  const pid = Number(pidText);
  if (boot !== bootId() || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
