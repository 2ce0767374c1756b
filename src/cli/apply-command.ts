/** `provision apply INVENTORY`: plan every host, show the diffs, ask, apply, recap. */
import { InputError } from '../errors.ts';
import { selectHosts } from '../inventory/limit.ts';
import { PlannedRun } from '../engine/run.ts';
import { leaveOutStaleHosts } from '../engine/stale-hosts.ts';
import { runToJson } from '../report/json.ts';
import { renderRun } from '../report/text.ts';
import { selectTags, type Playbook } from '../engine/playbook.ts';
import { applyLoginFallbacks } from '../engine/login-fallbacks.ts';
import { confirmApply } from './confirm.ts';
import { askAboutHostKeys } from './host-key-prompt.ts';
import { DEFAULT_PLAYBOOK_NAME } from './load-playbook.ts';
import { ignoredVariableLines, resolveInventoryInput } from './inventory-input.ts';
import { listPlayHosts, listPlayTasks } from './list-hosts.ts';
import { persistSeconds } from '../transport/open-connection.ts';
import { secretValues } from '../report/redact.ts';
import { keyedDigester } from '../engine/digest.ts';
import { planKey } from '../engine/plan-key.ts';
import { planSeed } from '../engine/plan-random.ts';
import { savePlan, type PlanInputs } from '../engine/plan-file.ts';
import { inventoryInputs, playbookInputs } from './plan-inputs.ts';
import { writePlanFile } from './plan-output.ts';
import { provisionVersion } from './version.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';
import { batchFlag, type ApplyFlags } from './apply-flags.ts';
import { applyOutput } from './apply-output.ts';

export { EXIT };
export type { ApplyFlags };


/** Runs `apply` and returns the exit code. */
export async function applyCommand(flags: ApplyFlags, interrupted: () => boolean, loadPlaybook: (file: string | undefined) => Promise<Playbook>): Promise<number> {
  const started = performance.now();
  if (!Number.isInteger(flags.forks) || flags.forks < 1) throw new InputError(`--forks must be a whole number ≥ 1, got ${flags.forks}`);
  batchFlag(flags);
  const savedPlan = await readSavedPlanSource(flags.inventory.sources);
  if (savedPlan) {
    const { applySavedPlan } = await import('./apply-plan.ts');
    return applySavedPlan(savedPlan, flags, interrupted, loadPlaybook);
  }
  if (flags.maxAge !== undefined) throw new InputError('--max-age goes with a saved plan: provision apply PLAN.json --max-age 2h');
  if (flags.detailedExitcode && !flags.dryRun) throw new InputError('--detailed-exitcode goes with --dry-run');
  if (flags.out !== undefined && !flags.dryRun) throw new InputError('--out goes with --dry-run (or use provision plan INVENTORY -o FILE)');
  const whole = await loadPlaybook(flags.playbook);
  // The inventory is checked against every variable the playbook's roles read, whatever --tags selects.
  const resolved = await resolveInventoryInput(flags.inventory, whole.varsSchema);
  const inventory = resolved.inventory;
  // A saved plan records what it was made from as it is now, before any host is contacted (or a fact's secret learnt).
  const toSave = flags.out === undefined ? undefined : planInputsNow(flags, resolved);
  const playbook = selectTags(whole, flags.tags ?? [], flags.skipTags ?? []);
  if (flags.verbose) for (const line of ignoredVariableLines(inventory)) process.stderr.write(`${line}\n`);
  if (flags.listHosts || flags.listTasks) {
    const list = flags.listTasks ? listPlayTasks : listPlayHosts;
    list(flags.playbook ?? DEFAULT_PLAYBOOK_NAME, playbook, inventory, selectHosts(inventory, flags.limit), (line) => process.stdout.write(`${line}\n`));
    return EXIT.ok;
  }
  const output = applyOutput(flags, started);
  const { jsonOptions, colors, out, progress, stats } = output;
  const hosts = selectHosts(inventory, flags.limit);
  // A bad PROVISION_SSH_PERSIST is the operator's input: refused before any host is touched.
  for (const host of hosts) persistSeconds(host.connection);
  // After a run moved SSH (a new port, root's logins ended), the next one still finds the host while the inventory lags.
  applyLoginFallbacks(whole, inventory, hosts);

  // New host keys are asked about before anything is sent to those hosts: in the dry run too, which logs in and
  // validates the run's files there. `--yes` answers the apply question, not this one.
  const run = await PlannedRun.prepare({ inventory, hosts, playbook, forks: flags.forks, confirmHostKeys: askAboutHostKeys, ...batchFlag(flags) }, progress.events);
  try {
    const plan = run.planResult();
    if (flags.dryRun) {
      out(flags.json ? runToJson(plan, stats(), jsonOptions) : renderRun(plan, colors, { showOk: flags.verbose, details: true }));
      if (toSave) {
        const saved = savePlan(run, toSave.inputs, { provision: provisionVersion(), createdAt: new Date(), seed: planSeed() }, toSave.digester);
        writePlanFile(flags.out!, `${JSON.stringify(saved, null, 2)}\n`);
        const changing = saved.hosts.filter((host) => host.status === 'changed').length;
        process.stderr.write(`Saved the plan to ${flags.out} (changes on ${changing} host${changing === 1 ? '' : 's'}). Apply exactly it with: provision apply ${flags.out}\n`);
      }
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
    // What runs is what was shown: a host whose facts moved while the prompt waited is left alone, reported stale.
    await leaveOutStaleHosts(run.sessions, flags.forks);
    progress.start(hosts.map((host) => host.name));
    const result = await run.apply({ ...progress.events, hostFinished: (host, status) => progress.hostDone(host, status) }, interrupted);
    await progress.stop();
    // The diffs were shown with the plan; the results list what happened.
    return output.finish(result, interrupted, false);
  } finally {
    await output.close(run);
  }
}

/** What a plan to be saved was made from, with the key its digests are made with (from the inventory's secrets). */
function planInputsNow(flags: ApplyFlags, resolved: Awaited<ReturnType<typeof resolveInventoryInput>>): { inputs: PlanInputs; digester: ReturnType<typeof keyedDigester> } {
  const digester = keyedDigester(planKey(secretValues(), planSeed()));
  const inputs: PlanInputs = {
    inventory: inventoryInputs(resolved, flags.inventory.sources, flags.inventory.extraVars, digester),
    playbook: playbookInputs(flags.playbook),
    selection: { ...(flags.limit !== undefined ? { limit: flags.limit } : {}), tags: flags.tags ?? [], skipTags: flags.skipTags ?? [] },
  };
  return { inputs, digester };
}

/** The saved plan named as the inventory (`provision apply PLAN.json`), read; undefined when the source is an inventory. */
async function readSavedPlanSource(sources: readonly string[]): Promise<{ file: string; text: string } | undefined> {
  const { readSavedPlanFile } = await import('./saved-plan-file.ts');
  const [first, ...rest] = sources;
  const found = first === undefined ? undefined : readSavedPlanFile(first);
  if (found && rest.length > 0) throw new InputError(`a saved plan names its own inventory: apply ${first} alone, without -i`);
  return found;
}
