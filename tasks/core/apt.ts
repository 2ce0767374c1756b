/** Debian packages installed with apt-get, refreshing the lists only when they are missing or old. */
import { sh } from '../../src/transport/shell.ts';
import { type Task, predict } from '../../src/engine/types.ts';
import { listsAge, packageStates, type PackageStates } from './apt.facts.ts';

/** Options of `aptPackages`. */
export interface AptOptions {
  /** Refresh the lists before installing when they are older than this many seconds (default 3600). */
  cacheValidSeconds?: number;
  /** Package sets of later apt tasks this install covers, so a dry run plans them as already installed. */
  covers?: readonly (readonly string[])[];
}

/** An apt task, with the packages it installs visible to the packages-first role. */
export interface AptTask extends Task {
  readonly packages: readonly string[];
}

/** What dpkg will say of these packages once they are installed. */
function installedStates(names: readonly string[]): PackageStates {
  return Object.fromEntries(names.map((name) => [name, 'installed' as const]));
}

/** These packages are installed (noninteractively, keeping existing config files). */
export function aptPackages(names: readonly string[], options: AptOptions = {}): AptTask {
  const states = packageStates(names);
  const maxAge = options.cacheValidSeconds ?? 3600;
  return {
    kind: 'apt.packages',
    packages: names,
    target: names.join(', '),
    facts: () => [states, listsAge],
    plan: ({ facts }) => {
      const installed = facts.get(states);
      const missing = names.filter((name) => installed[name] !== 'installed');
      if (missing.length === 0) return { status: 'ok', reason: `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} installed` };
      const age = facts.get(listsAge).ageSeconds;
      const refresh = age === null || age > maxAge;
      const install = sh`DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ${missing}`;
      return {
        status: 'change',
        changes: [
          {
            summary: `install ${missing.join(', ')}${refresh ? ' (after apt-get update)' : ''}`,
            packages: { install: missing },
            steps: [
              ...(refresh ? [{ kind: 'run' as const, command: sh`apt-get update -q -o DPkg::Lock::Timeout=120` }] : []),
              { kind: 'run', command: install },
            ],
            // Packages ship files, units and commands: every fact that a package install can change is read again.
            affects: ['packages'],
            predicts: [
              predict(states, installedStates(names)),
              ...(options.covers ?? []).map((set) => predict(packageStates(set), installedStates(set))),
              ...(refresh ? [predict(listsAge, { ageSeconds: 0 })] : []),
            ],
          },
        ],
      };
    },
  };
}
