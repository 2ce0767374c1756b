/**
 * Does a lab host boot on this machine? One container from the lab image, started with the lab's flags, must reach
 * a greeting sshd. When it does not, what the container and its systemd say is gathered into the error, so that a
 * machine that cannot run the lab (cgroup layout, capabilities, disk) is diagnosed before any test waits on it.
 */
import { randomBytes } from 'node:crypto';
import { $ } from 'zx';
import { LAB_CONTAINER, LABELS, dockerRunFlags } from './container-flags.ts';
import { dockerCommand, type LabLog } from './docker-engine.ts';
import { LAB_IMAGE } from './image.ts';
import { parsePublishedPort, waitForSshBanner } from './lab.ts';

/** Starts a throwaway lab host, waits until its sshd greets, and removes it. Throws with diagnostics when it does not boot. */
export async function checkLabHostBoots(log: LabLog): Promise<void> {
  const docker = dockerCommand();
  const name = `provision-boot-check-${randomBytes(3).toString('hex')}`;
  const started = Date.now();
  try {
    await $({ quiet: true })`${docker} run -d --name ${name} --label ${`${LABELS.test}=1`} ${dockerRunFlags()} ${LAB_IMAGE} ${LAB_CONTAINER.command}`;
    const port = parsePublishedPort((await $({ quiet: true })`${docker} port ${name} ${`${LAB_CONTAINER.sshPort}/tcp`}`).stdout);
    await waitForSshBanner(port);
    const state = await $({ quiet: true, nothrow: true, timeout: '10s' })`${docker} exec ${name} systemctl is-system-running --wait`;
    log(`a lab host boots on this machine: sshd greets after ${((Date.now() - started) / 1000).toFixed(1)} s (systemd: ${state.stdout.trim() || 'unknown'})`);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`a lab host does not boot on this machine: ${reason.trim()}\n${await labHostDiagnostics(name)}`);
  } finally {
    await $({ quiet: true, nothrow: true })`${docker} rm -f -v ${name}`;
  }
}

/** What a lab container and the machine under it say about its boot: state, console, failed units, cgroup layout. */
export async function labHostDiagnostics(container: string): Promise<string> {
  const docker = dockerCommand();
  const ask = async (title: string, command: Promise<{ stdout: string; stderr: string }>) => {
    const { stdout, stderr } = await command;
    const text = `${stdout}${stderr}`.trim().split('\n').slice(-25).join('\n');
    return `--- ${title}\n${text || '(nothing)'}`;
  };
  const quiet = { quiet: true, nothrow: true, timeout: '10s' } as const;
  const sections = await Promise.all([
    ask('container state', $(quiet)`${docker} inspect --format ${'{{.State.Status}} exit={{.State.ExitCode}} {{.State.Error}}'} ${container}`),
    ask('container console', $(quiet)`${docker} logs --tail 25 ${container}`),
    ask('systemd', $(quiet)`${docker} exec ${container} sh -c ${'systemctl is-system-running; systemctl --failed --no-legend --no-pager; systemctl status ssh --no-pager -n 10'}`),
    ask('machine cgroup layout and disk', $(quiet)`sh -c ${'stat -fc %T /sys/fs/cgroup; df -h /var/lib/docker /tmp'}`),
  ]);
  return sections.join('\n');
}
