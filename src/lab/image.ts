/**
 * The lab image: Debian 12 booting systemd and sshd, like a fresh VPS.
 * Built from `debian:bookworm` where a registry answers, else from debootstrap and the machine's own Debian mirror.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { LABELS } from './container-flags.ts';
import { aptInstall, dockerCommand, findExecutable, withMachineLock, type LabLog } from './docker-engine.ts';

/** The image every lab and test container runs. */
export const LAB_IMAGE = 'provision-lab:bookworm';

/** The debootstrapped root filesystem, imported once and kept so that recipe changes rebuild in seconds. */
export const LAB_BASE_IMAGE = 'provision-lab-base:bookworm';

const REGISTRY_IMAGE = 'debian:bookworm';
const SUITE = 'bookworm';

/** What a fresh Debian VPS has that we rely on; minbase lacks all of it. */
export const LAB_PACKAGES = [
  'systemd',
  'systemd-sysv',
  // logind and hostnamectl need a system bus, as on any VPS; without it the boot ends "degraded".
  'dbus',
  'openssh-server',
  'sudo',
  'iproute2',
  'procps',
  'ca-certificates',
] as const;

/**
 * Units masked because they make no sense in a container: there is no console, no udev, no kernel to tune,
 * and apt timers would take the dpkg lock in the middle of a test.
 */
export const LAB_MASKED_UNITS = [
  'getty@tty1.service',
  'console-getty.service',
  'serial-getty@.service',
  'systemd-udevd.service',
  'systemd-udevd-control.socket',
  'systemd-udevd-kernel.socket',
  'systemd-udev-trigger.service',
  'systemd-udev-settle.service',
  'systemd-firstboot.service',
  'systemd-remount-fs.service',
  'systemd-modules-load.service',
  'sys-kernel-config.mount',
  'sys-kernel-debug.mount',
  'sys-kernel-tracing.mount',
  'sys-fs-fuse-connections.mount',
  'dev-hugepages.mount',
  'e2scrub_reap.service',
  'e2scrub_all.timer',
  'fstrim.timer',
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  'dpkg-db-backup.timer',
] as const;

/** Runs `ssh-keygen -A` before sshd on every boot, so that each container gets host keys of its own. */
const HOST_KEYS_UNIT = `[Unit]
Description=Generate the SSH host keys of this host
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target ssh.service
`;

/** Debian mirrors the machine's apt uses. */
export interface DebianMirror {
  /** The main archive, e.g. `http://deb.debian.org/debian`. */
  archive: string;
  /** The security archive, when the machine has one. */
  security?: string;
}

/**
 * Reads the machine's Debian mirror from deb822 sources (first `URIs:`) or a one-line sources.list (first `deb`).
 * Pure, so that both formats are testable with fixtures.
 */
export function parseDebianMirror(debianSources: string | undefined, sourcesList: string | undefined): DebianMirror | undefined {
  if (debianSources) {
    const stanzas = debianSources
      .split(/\n\s*\n/)
      .map((stanza) => fieldsOf(stanza))
      .filter((fields) => fields.get('uris'));
    const first = stanzas[0];
    if (first) {
      const security = stanzas.find((fields) => /-security\b/.test(fields.get('suites') ?? ''));
      return { archive: firstWord(first.get('uris')!), security: security ? firstWord(security.get('uris')!) : undefined };
    }
  }
  if (sourcesList) {
    const entries = sourcesList
      .split('\n')
      .map((line) => line.replace(/#.*/, '').trim())
      .filter((line) => /^deb\s/.test(line))
      .map((line) => line.replace(/^deb\s+(\[[^\]]*\]\s+)?/, '').split(/\s+/));
    const first = entries[0];
    if (first?.[0]) {
      const security = entries.find((words) => /-security\b/.test(words[1] ?? ''));
      return { archive: first[0], security: security?.[0] };
    }
  }
  return undefined;
}

function fieldsOf(stanza: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of stanza.split('\n')) {
    const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (match) fields.set(match[1]!.toLowerCase(), match[2]!.trim());
  }
  return fields;
}

function firstWord(text: string): string {
  return text.split(/\s+/)[0]!;
}

/** Reads the mirror configured on this machine, if any. */
export function machineDebianMirror(): DebianMirror | undefined {
  const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : undefined);
  return parseDebianMirror(read('/etc/apt/sources.list.d/debian.sources'), read('/etc/apt/sources.list'));
}

/** The apt sources written into the image, so that containers install from the machine's mirror. */
export function imageAptSources(mirror: DebianMirror): string {
  const stanza = (uri: string, suites: string) =>
    `Types: deb\nURIs: ${uri}\nSuites: ${suites}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`;
  const stanzas = [stanza(mirror.archive, `${SUITE} ${SUITE}-updates`)];
  if (mirror.security) stanzas.push(stanza(mirror.security, `${SUITE}-security`));
  return stanzas.join('\n');
}

/** Where the build starts: debootstrapped packages are already in; the registry image needs them installed. */
type BaseKind = 'debootstrap' | 'registry';

/** The files of the `docker build` context. */
export function labImageRecipe(base: BaseKind, baseImage: string, mirror: DebianMirror | undefined): Record<string, string> {
  const files: Record<string, string> = { 'ssh-host-keys.service': HOST_KEYS_UNIT };
  if (mirror) files['debian.sources'] = imageAptSources(mirror);
  const steps = [
    'set -eux',
    ...(mirror ? ['rm -f /etc/apt/sources.list'] : []),
    ...(base === 'registry'
      ? ['apt-get update', `apt-get install -y --no-install-recommends ${LAB_PACKAGES.join(' ')}`]
      : []),
    // Containers run `apt-get update` first, as on a VPS; the lists would only make the image bigger.
    'apt-get clean',
    'rm -rf /var/lib/apt/lists/*',
    // Keys baked into the image would be shared by every container; ssh-host-keys.service makes new ones at boot.
    'rm -f /etc/ssh/ssh_host_*',
    // An empty machine-id makes systemd generate a new one per container.
    'rm -f /var/lib/dbus/machine-id',
    ': > /etc/machine-id',
    'systemctl enable ssh.service ssh-host-keys.service',
    `systemctl mask ${LAB_MASKED_UNITS.join(' ')}`,
  ];
  files.Dockerfile = [
    `FROM ${baseImage}`,
    'ARG DEBIAN_FRONTEND=noninteractive',
    ...(mirror ? ['COPY debian.sources /etc/apt/sources.list.d/debian.sources'] : []),
    'COPY ssh-host-keys.service /etc/systemd/system/ssh-host-keys.service',
    `RUN ${steps.join(' && \\\n    ')}`,
    // systemd checks this variable to know it runs in a container.
    'ENV container=docker',
    // The signal that makes systemd shut down cleanly.
    'STOPSIGNAL SIGRTMIN+3',
    'CMD ["/lib/systemd/systemd"]',
    '',
  ].join('\n');
  return files;
}

/** A hash of everything the lab image is made from: a changed recipe gets a new image. */
export function labImageRecipeHash(mirror: DebianMirror | undefined): string {
  const recipes = [labImageRecipe('debootstrap', LAB_BASE_IMAGE, mirror), labImageRecipe('registry', REGISTRY_IMAGE, mirror)];
  return createHash('sha256').update(JSON.stringify(recipes)).digest('hex').slice(0, 16);
}

function baseRecipeHash(mirror: DebianMirror): string {
  return createHash('sha256').update(JSON.stringify({ SUITE, LAB_PACKAGES, mirror: mirror.archive })).digest('hex').slice(0, 16);
}

const BASE_LABEL = 'provision.base-recipe';

async function imageExists(image: string): Promise<boolean> {
  return (await $({ quiet: true, nothrow: true })`${dockerCommand()} image inspect --format {{.Id}} ${image}`).exitCode === 0;
}

async function imageLabel(image: string, label: string): Promise<string | undefined> {
  const result = await $({ quiet: true, nothrow: true })`${dockerCommand()} image inspect --format ${`{{index .Config.Labels "${label}"}}`} ${image}`;
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

/** True when the lab image exists and was built from the current recipe. */
export async function labImageIsCurrent(): Promise<boolean> {
  return (await imageLabel(LAB_IMAGE, LABELS.image)) === labImageRecipeHash(machineDebianMirror());
}

/**
 * Makes sure LAB_IMAGE exists and matches the current recipe (a fast check when it does).
 * Otherwise builds it: from debian:bookworm if it can be pulled, else from a debootstrapped base.
 * Serialised across processes by a lock file.
 */
export async function ensureLabImage(log: LabLog = () => {}): Promise<void> {
  if (await labImageIsCurrent()) return;
  await withMachineLock('lab-image', async () => {
    if (await labImageIsCurrent()) return; // built by another process while we waited
    const started = Date.now();
    const mirror = machineDebianMirror();
    const base = await prepareBase(mirror, log);
    await buildLabImage(base.kind, base.image, mirror, log);
    log(`built ${LAB_IMAGE} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
}

async function prepareBase(mirror: DebianMirror | undefined, log: LabLog): Promise<{ kind: BaseKind; image: string }> {
  const docker = dockerCommand();
  if (mirror && (await imageLabel(LAB_BASE_IMAGE, BASE_LABEL)) === baseRecipeHash(mirror)) {
    return { kind: 'debootstrap', image: LAB_BASE_IMAGE };
  }
  if (await imageExists(REGISTRY_IMAGE)) return { kind: 'registry', image: REGISTRY_IMAGE };
  log(`pulling ${REGISTRY_IMAGE}`);
  const pull = await $({ quiet: true, nothrow: true, timeout: '30s' })`${docker} pull ${REGISTRY_IMAGE}`;
  if (pull.exitCode === 0) return { kind: 'registry', image: REGISTRY_IMAGE };
  log(`no registry (${(pull.stderr.trim().split('\n').pop() ?? '').slice(0, 160)}); building the base with debootstrap`);
  if (!mirror) {
    throw new Error(
      `cannot build ${LAB_IMAGE}: ${REGISTRY_IMAGE} cannot be pulled and this machine has no Debian mirror configured in /etc/apt`,
    );
  }
  await debootstrapBase(mirror, log);
  return { kind: 'debootstrap', image: LAB_BASE_IMAGE };
}

async function debootstrapBase(mirror: DebianMirror, log: LabLog): Promise<void> {
  if (!findExecutable('debootstrap')) await aptInstall(['debootstrap'], log);
  // /var/tmp rather than /tmp: the root filesystem is ~250 MB and /tmp may be a small tmpfs.
  const rootfs = mkdtempSync('/var/tmp/provision-rootfs-');
  try {
    const started = Date.now();
    log(`debootstrap ${SUITE} from ${mirror.archive} (takes a minute or two)`);
    await $({ quiet: true, timeout: '20m' })`debootstrap --variant=minbase --include=${LAB_PACKAGES.join(',')} ${SUITE} ${rootfs} ${mirror.archive}`;
    log(`debootstrap done in ${((Date.now() - started) / 1000).toFixed(0)} s; importing ${LAB_BASE_IMAGE}`);
    // The downloaded .debs and package lists are dead weight in every container.
    rmSync(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
    rmSync(join(rootfs, 'var/lib/apt/lists'), { recursive: true, force: true });
    mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
    mkdirSync(join(rootfs, 'var/lib/apt/lists/partial'), { recursive: true });
    const label = `LABEL ${BASE_LABEL}=${baseRecipeHash(mirror)}`;
    await $({ quiet: true })`tar -C ${rootfs} --numeric-owner -c . | ${dockerCommand()} import --change ${label} - ${LAB_BASE_IMAGE}`;
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

async function buildLabImage(kind: BaseKind, baseImage: string, mirror: DebianMirror | undefined, log: LabLog): Promise<void> {
  const context = mkdtempSync('/var/tmp/provision-lab-image-');
  try {
    for (const [name, text] of Object.entries(labImageRecipe(kind, baseImage, mirror))) writeFileSync(join(context, name), text);
    log(`building ${LAB_IMAGE} from ${baseImage}`);
    const recipe = `${LABELS.image}=${labImageRecipeHash(mirror)}`;
    // The legacy builder ships with every engine; BuildKit may lack its buildx plugin here.
    await $({ quiet: true, timeout: '20m', env: { ...process.env, DOCKER_BUILDKIT: '0' } })`${dockerCommand()} build --rm --label ${recipe} -t ${LAB_IMAGE} ${context}`;
    // Earlier builds of the lab image are now untagged: drop the ones no container uses.
    await $({ quiet: true, nothrow: true })`${dockerCommand()} image prune -f --filter ${`label=${LABELS.image}`}`;
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}
