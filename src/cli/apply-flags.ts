/** The flags of `apply` (and of `plan`, its dry run). */
import type { InventoryInput } from './inventory-input.ts';
import { InputError } from '../errors.ts';
import { parseHostCount, type HostCount } from '../engine/rolling/settings.ts';

/** The flags of `apply`. */
export interface ApplyFlags {
  /** The inventory sources, vault passwords and extra vars. */
  inventory: InventoryInput;
  dryRun: boolean;
  yes: boolean;
  json: boolean;
  limit?: string;
  /** List the hosts each play would run on, and stop. */
  listHosts?: boolean;
  /** List the tasks each play would run on each host, and stop. */
  listTasks?: boolean;
  /** Run only the roles and plays with one of these tags (none: all). */
  tags?: string[];
  /** Leave out the roles and plays with one of these tags. */
  skipTags?: string[];
  forks: number;
  /** `--batch N|P%`: hosts of a play that take their changes at once, for this run. */
  batch?: string;
  playbook?: string;
  detailedExitcode: boolean;
  color?: boolean;
  verbose: boolean;
  /** Keep a full log of the run (every remote command and its output, secrets masked) in this file. */
  log?: string;
  /** Put files' whole contents (masked) in --json and the log, not only their sizes and digests. */
  showContents?: boolean;
  /** With --dry-run: save the plan to this file, for `provision apply FILE`. */
  out?: string;
  /** With a saved plan: refuse it when it is older than this duration (default 24h). */
  maxAge?: string;
}

/** `--batch N|P%` read, or refused with exit code 2. */
export function batchFlag(flags: ApplyFlags): { batch?: HostCount } {
  if (flags.batch === undefined) return {};
  const batch = parseHostCount(flags.batch, 1);
  if (!batch) throw new InputError(`--batch must be a whole number of hosts ≥ 1 or a percentage like 25%, got ${flags.batch}`);
  return { batch };
}
