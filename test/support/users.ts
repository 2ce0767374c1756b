/** Login users on a test host, for the tests of sudo (ansible_become): made with docker exec, never through provision. */
import { readFileSync } from 'node:fs';
import type { TestHosts } from './containers.ts';

/** Adds `user` (if missing) with this password, the lab key authorized, and the given extra groups. */
export async function addLoginUser(lab: TestHosts, host: string, user: string, password: string, groups: string[] = []): Promise<void> {
  const publicKey = readFileSync(`${lab.keyFile}.pub`, 'utf8').trim();
  const script = [
    'set -e',
    `id ${user} >/dev/null 2>&1 || useradd -m -s /bin/bash ${groups.length > 0 ? `-G ${groups.join(',')} ` : ''}${user}`,
    `echo ${user}:${password} | chpasswd`,
    `install -d -m 700 -o ${user} -g ${user} /home/${user}/.ssh`,
    `printf "%s\\n" "$1" > /home/${user}/.ssh/authorized_keys`,
    `chown ${user}:${user} /home/${user}/.ssh/authorized_keys && chmod 600 /home/${user}/.ssh/authorized_keys`,
  ].join('\n');
  const result = await lab.exec(host, ['sh', '-c', script, 'sh', publicKey]);
  if (result.exitCode !== 0) throw new Error(`adding ${user} on ${host} failed: ${result.stdout}${result.stderr}`);
}

/** Sets the user's sudoers rule (in /etc/sudoers.d/USER), checked by visudo. */
export async function setSudoRule(lab: TestHosts, host: string, user: string, rule: string): Promise<void> {
  const file = `/etc/sudoers.d/${user}`;
  const result = await lab.exec(host, ['sh', '-c', `printf '%s\\n' "$1" > ${file} && chmod 440 ${file} && visudo -cq`, 'sh', rule]);
  if (result.exitCode !== 0) throw new Error(`setting ${file} on ${host} failed: ${result.stdout}${result.stderr}`);
}
