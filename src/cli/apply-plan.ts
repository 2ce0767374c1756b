/**
 * `provision apply PLAN.json`: applies exactly a saved plan, or nothing. Before any host is contacted, the plan must be
 * sound (not altered), recent enough, made by this version, and made from the inventory and playbook there are now
 * (their digests); then each host's facts are gathered and compared with the ones the plan rests on, its plan is made
 * again and compared with the saved one, and only the hosts where both match are applied. The others are reported
 * stale, with what moved; they go on being what they are.
 */
import { InputError } from '../errors.ts';
import { keyedDigester } from '../engine/digest.ts';
import { parsePlan, type SavedPlan } from '../engine/plan-file.ts';
import { planKey } from '../engine/plan-key.ts';
import { usePlanSeed } from '../engine/plan-random.ts';
import { PlannedRun } from '../engine/run.ts';
import { compareWithSaved } from '../engine/stale-hosts.ts';
import { summarize, type HostResult } from '../engine/results.ts';
import { selectTags, type Playbook } from '../engine/playbook.ts';
import { applyLoginFallbacks } from '../engine/login-fallbacks.ts';
import { parseDuration } from '../inventory/duration.ts';
import { selectHosts } from '../inventory/limit.ts';
import { secretValues } from '../report/redact.ts';
import { persistSeconds } from '../transport/open-connection.ts';
import { batchFlag, type ApplyFlags } from './apply-flags.ts';
import { applyOutput } from './apply-output.ts';
import { askAboutHostKeys } from './host-key-prompt.ts';
import { ignoredVariableLines, resolveInventoryInput } from './inventory-input.ts';
import { fileDifferences, inventoryDifferences, inventoryInputs, playbookInputs } from './plan-inputs.ts';
import { provisionVersion } from './version.ts';

/** A saved plan is refused past this age unless --max-age says otherwise. */
export const DEFAULT_MAX_AGE = '24h';

/** A plan dated this far ahead of this machine's clock is refused (the clocks of two machines differ a little). */
const CLOCK_SKEW_SECONDS = 300;

/** The flags that choose what a run covers: a saved plan carries its own. */
const SELECTION_FLAGS: [keyof ApplyFlags, string][] = [
  ['limit', '--limit'],
  ['playbook', '--playbook'],
];

/** Refuses a plan that cannot be applied here for what it is (its age, its version), before anything is loaded. */
export function checkPlanHeader(plan: SavedPlan, file: string, maxAge: string | undefined, now: Date, version: string): void {
  const limit = parseDuration(maxAge ?? DEFAULT_MAX_AGE);
  if (limit === undefined) throw new InputError(`--max-age ${maxAge}: expected a duration like 30m, 24h or 7d`);
  const age = (now.getTime() - Date.parse(plan.createdAt)) / 1000;
  if (age < -CLOCK_SKEW_SECONDS) throw new InputError(`refusing ${file}: it was made at ${plan.createdAt}, after this machine's time (${now.toISOString()})`);
  if (age > limit) {
    throw new InputError(`refusing ${file}: it was made ${describeAge(age)} ago (${plan.createdAt}), longer than --max-age ${maxAge ?? DEFAULT_MAX_AGE}; plan again`);
  }
  if (plan.provision !== version) throw new InputError(`refusing ${file}: it was made by provision ${plan.provision}, and this is ${version}; plan again with this one`);
}

/** An age in seconds, in words: `3h 12m`, `45s`. */
export function describeAge(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const days = Math.floor(whole / 86_400);
  const hours = Math.floor((whole % 86_400) / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${whole % 60}s`;
  return `${whole}s`;
}

/** Reads a saved plan's text, refusing one that is not sound. */
export function readPlan(file: string, text: string): SavedPlan {
  const parsed = parsePlan(text);
  if ('problem' in parsed) throw new InputError(`refusing ${file}: ${parsed.problem}`);
  return parsed;
}

/** Applies a saved plan (see the module's comment) and returns the exit code. */
export async function applySavedPlan(
  source: { file: string; text: string },
  flags: ApplyFlags,
  interrupted: () => boolean,
  loadPlaybook: (file: string | undefined) => Promise<Playbook>,
): Promise<number> {
  const started = performance.now();
  const { file } = source;
  for (const [flag, name] of SELECTION_FLAGS) if (flags[flag] !== undefined) throw new InputError(`${name} cannot be given with a saved plan: it covers what it was made for; plan again to change it`);
  if (flags.tags?.length || flags.skipTags?.length) throw new InputError('--tags and --skip-tags cannot be given with a saved plan: it covers what it was made for; plan again to change it');
  if (flags.dryRun) throw new InputError(`a saved plan is applied, not dry-run: see it with provision show ${file}`);
  if (flags.out !== undefined) throw new InputError('--out makes a plan: give it to provision plan, not to the apply of a saved one');
  if (flags.listHosts || flags.listTasks) throw new InputError(`--list-hosts and --list-tasks go with an inventory; see a saved plan with provision show ${file}`);

  const plan = readPlan(file, source.text);
  checkPlanHeader(plan, file, flags.maxAge, new Date(), provisionVersion());
  const whole = await loadPlaybook(plan.playbook.path);
  const codeMoved = fileDifferences('playbook module', plan.playbook.files, playbookInputs(plan.playbook.path).files);
  if (codeMoved.length > 0) throw new InputError([`refusing ${file}: the playbook is not the one the plan was made with; plan again`, ...codeMoved.map((line) => `  ${line}`)].join('\n'));
  const resolved = await resolveInventoryInput({ ...flags.inventory, sources: plan.inventory.sources }, whole.varsSchema);
  const inventory = resolved.inventory;
  const digester = keyedDigester(planKey(secretValues(), plan.seed));
  const inventoryMoved = inventoryDifferences(plan.inventory, inventoryInputs(resolved, plan.inventory.sources, flags.inventory.extraVars, digester));
  if (inventoryMoved.length > 0) {
    throw new InputError([`refusing ${file}: the inventory is not the one the plan was made from; plan again`, ...inventoryMoved.map((line) => `  ${line}`)].join('\n'));
  }
  // What the plan's tasks invented (a salt) is made again, the same.
  usePlanSeed(plan.seed);
  if (flags.verbose) for (const line of ignoredVariableLines(inventory)) process.stderr.write(`${line}\n`);

  const { limit, tags, skipTags } = plan.selection;
  const playbook = selectTags(whole, tags, skipTags);
  const selected = selectHosts(inventory, limit);
  const savedByName = new Map(plan.hosts.map((host) => [host.name, host]));
  const names = selected.map((host) => host.name);
  if (names.join('\n') !== plan.hosts.map((host) => host.name).join('\n')) {
    throw new InputError(`refusing ${file}: it covers ${plan.hosts.map((host) => host.name).join(', ') || 'no host'}, and its selection gives ${names.join(', ') || 'no host'} now; plan again`);
  }
  // A host the plan could not plan (unreachable, or a task failed) is not contacted: there is nothing of it to apply.
  const hosts = selected.filter((host) => ['ok', 'changed'].includes(savedByName.get(host.name)!.status));
  for (const host of hosts) persistSeconds(host.connection);
  applyLoginFallbacks(whole, inventory, hosts);

  const output = applyOutput(flags, started);
  const { progress } = output;
  if (!flags.json) process.stderr.write(`Applying ${file}, made ${describeAge((Date.now() - Date.parse(plan.createdAt)) / 1000)} ago (${plan.createdAt}).\n`);

  const run = await PlannedRun.prepare({ inventory, hosts, playbook, forks: flags.forks, confirmHostKeys: askAboutHostKeys, ...batchFlag(flags) }, progress.events);
  try {
    compareWithSaved(run.sessions, savedByName, digester);
    progress.start(hosts.map((host) => host.name));
    const applied = await run.apply({ ...progress.events, hostFinished: (host, status) => progress.hostDone(host, status) }, interrupted);
    await progress.stop();
    const byName = new Map(applied.hosts.map((host) => [host.name, host]));
    const results = plan.hosts.map((saved): HostResult => byName.get(saved.name) ?? notPlanned(saved));
    const result = { mode: 'apply' as const, hosts: results, summary: summarize(results) };
    // The diffs were not shown in this run: the results show what each change did.
    return output.finish(result, interrupted, true);
  } finally {
    await output.close(run);
  }
}

/** The result of a host the plan could not plan: nothing was applied there. */
function notPlanned(saved: SavedPlan['hosts'][number]): HostResult {
  const status = saved.status === 'unreachable' ? 'unreachable' : 'failed';
  return {
    name: saved.name,
    status,
    error: `not applied: the plan has nothing to apply here (when it was made: ${saved.error ?? status})`,
    tasks: [],
    handlers: [],
    stats: { connections: 0, commands: 0, commandMs: 0 },
  };
}
