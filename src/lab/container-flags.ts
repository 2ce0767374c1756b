/**
 * How a lab container must be run so that systemd boots in it like on a VPS.
 * `--privileged` fails on our CI machines ("unable to apply caps"), so the needed privileges are listed one by one.
 */

/** The settings shared by `provision lab` (docker CLI) and the e2e helpers (testcontainers). */
export const LAB_CONTAINER = {
  /** systemd needs SYS_ADMIN for its mounts; NET_ADMIN/NET_RAW let tasks manage nftables and ping. */
  capabilities: ['SYS_ADMIN', 'NET_ADMIN', 'NET_RAW'],
  /** Docker's default seccomp profile blocks syscalls systemd makes at boot. */
  securityOptions: ['seccomp=unconfined', 'apparmor=unconfined'],
  /** systemd manages its services through the cgroup tree. */
  bindMounts: [{ source: '/sys/fs/cgroup', target: '/sys/fs/cgroup', mode: 'rw' as const }],
  /**
   * The machine's cgroup namespace, so that the tree mounted above is the one the container's processes are in.
   * cgroup v1 engines use it by default; on a cgroup v2 machine the default is a private namespace, whose view
   * does not match the mounted tree, and systemd does not boot.
   */
  cgroupns: 'host',
  /** systemd expects /run and /run/lock to be fresh tmpfs at boot. */
  tmpfs: ['/run', '/run/lock'],
  /** PID 1 is systemd, as on a real host. */
  command: ['/lib/systemd/systemd'],
  /** The only port published, on the loopback address only. */
  sshPort: 22,
  publishAddress: '127.0.0.1',
} as const;

/** `docker run` flags for a lab container, except name, labels, network and image. */
export function dockerRunFlags(): string[] {
  return [
    ...LAB_CONTAINER.capabilities.flatMap((cap) => ['--cap-add', cap]),
    ...LAB_CONTAINER.securityOptions.flatMap((opt) => ['--security-opt', opt]),
    ...LAB_CONTAINER.bindMounts.flatMap((m) => ['-v', `${m.source}:${m.target}:${m.mode}`]),
    `--cgroupns=${LAB_CONTAINER.cgroupns}`,
    ...LAB_CONTAINER.tmpfs.flatMap((dir) => ['--tmpfs', dir]),
    '--publish',
    `${LAB_CONTAINER.publishAddress}::${LAB_CONTAINER.sshPort}`,
  ];
}

/**
 * Labels that tell whose a container is, so each cleanup removes only its own.
 * The image carries a different key: containers inherit image labels, and a test container must not look like a lab one.
 */
export const LABELS = {
  /** On containers and the network of `provision lab up`. */
  lab: 'provision.lab',
  /** On containers started by the e2e helpers. */
  test: 'provision.test',
  /** On the lab image; the value is the hash of the recipe it was built from. */
  image: 'provision.image-recipe',
} as const;
