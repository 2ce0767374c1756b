/** `provision show PLAN.json`: a saved plan, printed as the dry run prints it (or as data with --json). Contacts no host. */
import { readFileSync } from 'node:fs';
import { InputError } from '../errors.ts';
import { planResult } from '../engine/plan-file.ts';
import { runToJson } from '../report/json.ts';
import { colorWanted, palette } from '../report/palette.ts';
import { renderRun } from '../report/text.ts';
import { DEFAULT_MAX_AGE, describeAge, readPlan } from './apply-plan.ts';
import { EXIT } from './exit-codes.ts';

/** The flags of `show`. */
export interface ShowFlags {
  file: string;
  json: boolean;
  color?: boolean;
  verbose: boolean;
  showContents: boolean;
}

/** Prints the plan in `flags.file`; an altered or unreadable file is refused (exit 2). */
export function showCommand(flags: ShowFlags, write: (text: string) => void): number {
  let text: string;
  try {
    text = readFileSync(flags.file, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read ${flags.file}: ${(error as Error).message}`);
  }
  const plan = readPlan(flags.file, text);
  const result = planResult(plan);
  const ageSeconds = Math.round((Date.now() - Date.parse(plan.createdAt)) / 1000);
  const about = {
    file: flags.file,
    createdAt: plan.createdAt,
    ageSeconds,
    provision: plan.provision,
    inventory: plan.inventory.sources,
    ...(plan.playbook.path !== undefined ? { playbook: plan.playbook.path } : {}),
    selection: plan.selection,
  };
  if (flags.json) {
    write(JSON.stringify({ plan: about, ...(JSON.parse(runToJson(result, undefined, { showContents: flags.showContents })) as object) }, null, 2));
    return EXIT.ok;
  }
  const colors = palette(colorWanted(process.stdout, flags.color));
  const { limit, tags, skipTags } = plan.selection;
  const selection = [limit !== undefined ? `--limit ${limit}` : '', tags.length ? `--tags ${tags.join(',')}` : '', skipTags.length ? `--skip-tags ${skipTags.join(',')}` : ''].filter(Boolean).join(' ');
  write(colors.bold(`Plan ${flags.file}, made ${describeAge(ageSeconds)} ago (${plan.createdAt}) by provision ${plan.provision}`));
  write(colors.dim(`inventory ${plan.inventory.sources.join(', ')}; playbook ${plan.playbook.path ?? 'the default (playbooks/site.ts)'}${selection ? `; ${selection}` : ''}`));
  write('');
  write(renderRun(result, colors, { showOk: flags.verbose, details: true }));
  write('');
  write(colors.dim(`Apply exactly this plan with: provision apply ${flags.file} (refused once it is older than --max-age, default ${DEFAULT_MAX_AGE})`));
  return EXIT.ok;
}
