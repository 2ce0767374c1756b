/** `provision apply INVENTORY`: plan every host, show the diffs, ask, apply, recap. */
import { InputError } from '../errors.ts';
import { selectHosts } from '../inventory/limit.ts';
import { PlannedRun } from '../engine/run.ts';
import type { RunResult } from '../engine/results.ts';
import { runToJson } from '../report/json.ts';
import { colorWanted, palette } from '../report/palette.ts';
import { lineProgress, listrProgress } from '../report/progress.ts';
import { renderRun } from '../report/text.ts';
import { echoCommands, logToFile } from '../report/run-log.ts';
import { selectTags, type Playbook } from '../engine/playbook.ts';
import { applyLoginFallbacks } from '../engine/login-fallbacks.ts';
import { confirmApply } from './confirm.ts';
import { askAboutHostKeys } from './host-key-prompt.ts';
import { DEFAULT_PLAYBOOK_NAME } from './load-playbook.ts';
import { ignoredVariableLines, loadInventoryInput, type InventoryInput } from './inventory-input.ts';
import { listPlayHosts, listPlayTasks } from './list-hosts.ts';
import { endKeeperClient, persistSeconds } from '../transport/open-connection.ts';
import { parseHostCount } from '../engine/rolling/settings.ts';


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
}

/** Exit codes: 0 success, 1 a host failed or was unreachable, 2 invalid input, 3 changes pending (--detailed-exitcode). */
export const EXIT = { ok: 0, failed: 1, input: 2, pending: 3, interrupted: 130 } as const;

function exitCodeFor(run: RunResult, flags: ApplyFlags): number {
  if (run.summary.failed > 0 || run.summary.unreachable > 0) return EXIT.failed;
  if (run.mode === 'dry-run' && flags.detailedExitcode && run.summary.changed > 0) return EXIT.pending;
  return EXIT.ok;
}

/** Runs `apply` and returns the exit code. */
export async function applyCommand(flags: ApplyFlags, interrupted: () => boolean, loadPlaybook: (file: string | undefined) => Promise<Playbook>): Promise<number> {
  const started = performance.now();
  const stats = () => ({ wallMs: Math.round(performance.now() - started), peakRssKb: process.resourceUsage().maxRSS, forks: flags.forks });
  if (!Number.isInteger(flags.forks) || flags.forks < 1) throw new InputError(`--forks must be a whole number ≥ 1, got ${flags.forks}`);
  if (flags.detailedExitcode && !flags.dryRun) throw new InputError('--detailed-exitcode goes with --dry-run');
  const batch = flags.batch === undefined ? undefined : parseHostCount(flags.batch, 1);
  if (flags.batch !== undefined && !batch) throw new InputError(`--batch must be a whole number of hosts ≥ 1 or a percentage like 25%, got ${flags.batch}`);
  const whole = await loadPlaybook(flags.playbook);
  // The inventory is checked against every variable the playbook's roles read, whatever --tags selects.
  const inventory = await loadInventoryInput(flags.inventory, whole.varsSchema);
  const playbook = selectTags(whole, flags.tags ?? [], flags.skipTags ?? []);
  if (flags.verbose) for (const line of ignoredVariableLines(inventory)) process.stderr.write(`${line}\n`);
  if (flags.listHosts || flags.listTasks) {
    const list = flags.listTasks ? listPlayTasks : listPlayHosts;
    list(flags.playbook ?? DEFAULT_PLAYBOOK_NAME, playbook, inventory, selectHosts(inventory, flags.limit), (line) => process.stdout.write(`${line}\n`));
    return EXIT.ok;
  }
  const stopEcho = flags.verbose ? echoCommands((line) => process.stderr.write(`${line}\n`)) : undefined;
  const log = flags.log ? logToFile(flags.log) : undefined;
  const hosts = selectHosts(inventory, flags.limit);
  // A bad PROVISION_SSH_PERSIST is the operator's input: refused before any host is touched.
  for (const host of hosts) persistSeconds(host.connection);
  // After a run moved SSH (a new port, root's logins ended), the next one still finds the host while the inventory lags.
  applyLoginFallbacks(whole, inventory, hosts);
  const jsonOptions = { showContents: flags.showContents === true };
  const colors = palette(!flags.json && colorWanted(process.stdout, flags.color));
  const out = (text: string) => process.stdout.write(`${text}\n`);
  const onTerminal = process.stderr.isTTY === true && !flags.json;
  const progress = onTerminal ? listrProgress() : lineProgress((line) => (flags.json ? undefined : process.stderr.write(`${line}\n`)));

  // New host keys are asked about before anything is sent to those hosts: in the dry run too, which logs in and
  // validates the run's files there. `--yes` answers the apply question, not this one.
  const run = await PlannedRun.prepare({ inventory, hosts, playbook, forks: flags.forks, confirmHostKeys: askAboutHostKeys, ...(batch ? { batch } : {}) }, progress.events);
  try {
    const plan = run.planResult();
    if (flags.dryRun) {
      out(flags.json ? runToJson(plan, stats(), jsonOptions) : renderRun(plan, colors, { showOk: flags.verbose, details: true }));
      return exitCodeFor(plan, flags);
    }
    if (!flags.json) out(renderRun(plan, colors, { showOk: flags.verbose, details: true }));
    if (run.hasChanges && !flags.yes) {
      const hostsChanging = plan.hosts.filter((host) => host.status === 'changed').length;
      if (!(await confirmApply(`Apply these changes to ${hostsChanging} host${hostsChanging === 1 ? '' : 's'}?`))) {
        process.stderr.write('Nothing was changed.\n');
        return EXIT.failed;
      }
    }
    if (!flags.json) out('');
    progress.start(hosts.map((host) => host.name));
    const result = await run.apply({ ...progress.events, hostFinished: (host, status) => progress.hostDone(host, status) }, interrupted);
    await progress.stop();
    log?.line(runToJson(result, stats(), jsonOptions));
    if (flags.json) out(runToJson(result, stats(), jsonOptions));
    // The diffs were shown with the plan; the results list what happened.
    else out(renderRun(result, colors, { showOk: false, details: false }));
    if (interrupted()) return EXIT.interrupted;
    return exitCodeFor(result, flags);
  } finally {
    await run.close();
    await endKeeperClient();
    stopEcho?.();
    log?.stop();
  }
}
