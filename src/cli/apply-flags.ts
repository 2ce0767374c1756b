/** The flags of `apply` (and of `plan`, its dry run). */
import type { InventoryInput } from './inventory-input.ts';

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
