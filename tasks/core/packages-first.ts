/**
 * One `apt-get install` for a host instead of one per role: a first role installs the union of every package the
 * roles after it install on that host. Each role's own apt task then finds its packages in place.
 */
import { defineRole, type RoleContext } from '../../src/engine/role.ts';
import type { Task } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { aptPackages } from './apt.ts';

/** The name of the packages-first role. */
const NAME = 'packages';

/** The one install that covers every package the run's other roles install on `host`; none when they install none. */
export function installFirst(host: Host, roles: RoleContext): Task[] {
  const sets = roles.roles
    .filter((role) => role.name !== NAME && roles.runs(host, role))
    .flatMap((role) => role.tasks(host, roles))
    .flatMap((task) => (task.packages ? [task.packages] : []));
  const unique = [...new Set(sets.flat())];
  return unique.length > 0 ? [aptPackages(unique, { covers: sets })] : [];
}

/** Put it first in a playbook; it runs whatever `--tags` selects (tag `always`), for the roles that run. */
export const packagesFirst = defineRole({
  name: NAME,
  title: 'Packages first',
  summary: 'Installs every package the other roles install on the host in one apt-get run, before they run.',
  hosts: 'all',
  tags: ['always'],
  tasks: (host, roles) => installFirst(host, roles),
});
