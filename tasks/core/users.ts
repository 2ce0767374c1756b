/** The admin user: created with a home directory, in the sudo group, allowed to sudo without a password. */
import { sh } from '../../src/transport/shell.ts';
import { predict, type Task } from '../../src/engine/types.ts';
import { account, type Account } from './accounts.facts.ts';
import { file } from './files.ts';

/** The user exists, with a home directory and a login shell, and belongs to `sudo`. */
export function adminUser(name: string): Task {
  const fact = account(name);
  return {
    kind: 'user',
    target: name,
    facts: () => [fact],
    plan: ({ facts }) => {
      const state = facts.get(fact);
      if (state.exists && state.groups.includes('sudo')) return { status: 'ok', reason: `${name} exists and is in group sudo` };
      if (state.exists) {
        return {
          status: 'change',
          changes: [
            {
              summary: `add ${name} to group sudo`,
              steps: [{ kind: 'run', command: sh`usermod -a -G sudo ${name}` }],
              predicts: [predict(fact, { ...state, groups: [...state.groups, 'sudo'] })],
            },
          ],
        };
      }
      return {
        status: 'change',
        changes: [
          {
            summary: `create user ${name} (home /home/${name}, group sudo)`,
            steps: [{ kind: 'run', command: sh`useradd --create-home --shell /bin/bash --groups sudo ${name}` }],
            // uid and gid are not known before useradd runs: later tasks re-read the account.
            invalidates: [fact],
          },
        ],
      };
    },
  };
}

/** The sudoers rule that lets `name` sudo without a password (its logins are key-only, so it has none). */
export function passwordlessSudo(name: string): Task {
  return file(`/etc/sudoers.d/provision-${name}`, `# Managed by provision: ${name} logs in with a key only.\n${name} ALL=(ALL:ALL) NOPASSWD: ALL\n`, {
    mode: '0440',
    validate: '/usr/sbin/visudo -cf %s',
  });
}
