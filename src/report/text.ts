/** The human report: each host's tasks with status, diffs, packages and services, then the recap. */
import type { HostResult, RunResult, TaskResult } from '../engine/results.ts';
import type { RollingPlanReport } from '../engine/rolling/report.ts';
import { renderDiff } from './diff.ts';
import type { Palette } from './palette.ts';
import { printableDeep } from './printable.ts';
import { redact } from './redact.ts';

/** What to show: tasks already in place, and each change's details (diffs, packages, services). */
export interface RenderOptions {
  showOk: boolean;
  details: boolean;
}

function indent(text: string, by: string): string {
  return text
    .split('\n')
    .map((row) => (row ? by + row : row))
    .join('\n');
}

function statusLabel(status: TaskResult['status'], palette: Palette): string {
  const label = status.padEnd(12);
  if (status === 'ok') return palette.ok(label);
  if (status === 'failed') return palette.failed(label);
  if (status === 'skipped') return palette.dim(label);
  return palette.changed(label);
}

/** Renders one task: its status line, and for changes each summary with its diff, packages and services. */
export function renderTask(task: TaskResult, palette: Palette, options: RenderOptions = { showOk: true, details: true }): string {
  const head = `${statusLabel(task.status, palette)} ${task.name}${task.reason ? palette.dim(` (${task.reason})`) : ''}`;
  const body: string[] = [];
  if (task.note) body.push(palette.dim(`note: ${task.note}`));
  // A task planned again differently from what was shown: what it did was never shown, so it is shown now.
  for (const change of options.details || task.replanned === 'differs' ? task.changes : []) {
    body.push(`- ${change.summary}`);
    if (change.packages?.install?.length) body.push(`  packages to install: ${change.packages.install.join(' ')}`);
    if (change.packages?.remove?.length) body.push(`  packages to remove: ${change.packages.remove.join(' ')}`);
    for (const service of change.services ?? []) body.push(`  service ${service.name}: ${service.action}`);
    if (change.note) body.push(palette.dim(`  note: ${change.note}`));
    for (const detail of change.details ?? []) body.push(`  ${detail}`);
    if (change.diff) body.push(indent(renderDiff(change.diff, palette), '  '));
  }
  if (task.error) body.push(palette.failed(redact(task.error)));
  return [head, ...body.map((row) => indent(row, '    '))].join('\n');
}

/** Renders one host's section of the report. */
export function renderHost(host: HostResult, palette: Palette, options: RenderOptions): string {
  const lines = [palette.bold(`── ${host.name} `.padEnd(60, '─'))];
  if (host.status === 'unreachable') {
    lines.push(palette.failed(`  unreachable: ${redact(host.error ?? 'unknown error')}`));
    return lines.join('\n');
  }
  if (host.status === 'stale') {
    lines.push(palette.failed('  stale: nothing was applied on this host, as its state is no longer the one the plan was made on:'));
    for (const moved of host.stale ?? []) lines.push(palette.failed(`    ${redact(moved)}`));
    lines.push(palette.dim('  plan again to see what a run would do now'));
  }
  // A play's heading only above a task that is shown: a run that changes nothing lists no empty plays.
  let play = '';
  for (const task of host.tasks) {
    if (task.status === 'ok' && !options.showOk) continue;
    if (task.play !== play) {
      play = task.play;
      lines.push(palette.dim(`  play: ${play}`));
    }
    lines.push(indent(renderTask(task, palette, options), '  '));
  }
  for (const handler of host.handlers) {
    const label = handler.status === 'failed' ? palette.failed('failed'.padEnd(12)) : palette.changed(handler.status.padEnd(12));
    lines.push(`  ${label} handler ${handler.name}${handler.error ? `\n      ${palette.failed(redact(handler.error))}` : ''}`);
  }
  // What happened around the host's changes (drained, ready); a skipped host's reason is on each of its tasks.
  for (const step of host.rolling?.steps ?? []) lines.push(`  ${palette.dim('rolling'.padEnd(12))} ${step}`);
  if (host.error && host.status === 'failed') lines.push(palette.failed(`  ${redact(host.error)}`));
  for (const notice of host.notices ?? []) lines.push(palette.changed(`  NOTICE: ${redact(notice)}`));
  return lines.join('\n');
}

/** Renders the per-host recap and the totals line. */
export function renderRecap(run: RunResult, palette: Palette): string {
  const changedWord = run.mode === 'dry-run' ? 'would-change' : 'changed';
  const width = Math.max(8, ...run.hosts.map((host) => host.name.length));
  const lines = [palette.bold(run.mode === 'dry-run' ? 'PLAN RECAP' : 'RECAP')];
  for (const host of run.hosts) {
    const count = (status: TaskResult['status']) => host.tasks.filter((task) => task.status === status).length;
    const changed = count('changed') + count('would-change');
    const failed = count('failed') + host.handlers.filter((h) => h.status === 'failed').length;
    const unreachable = host.status === 'unreachable' ? 1 : 0;
    const stale = host.status === 'stale' ? 1 : 0;
    const paint = unreachable || failed || stale || host.status === 'failed' ? palette.failed : changed ? palette.changed : palette.ok;
    // A dry run is never stale: its recap keeps the columns it always had.
    const staleColumn = run.mode === 'apply' ? `  stale=${stale}` : '';
    lines.push(
      `${paint(host.name.padEnd(width))}  ok=${count('ok')}  ${changedWord}=${changed}  failed=${failed}  skipped=${count('skipped')}  unreachable=${unreachable}${staleColumn}`,
    );
  }
  return lines.join('\n');
}

/** The apply's order as the plan shows it: hosts in parallel first, then each rolling group's batches and drains. */
export function renderRollingPlan(plan: RollingPlanReport, palette: Palette): string {
  const lines = [palette.bold('ROLLING')];
  if (plan.parallel.length > 0) lines.push(`  first, in parallel (up to --forks): ${plan.parallel.join(', ')}`);
  for (const group of plan.groups) {
    lines.push(`  ${group.play}: ${group.size === 1 ? 'one host at a time' : `batches of ${group.size}`} (${group.sizeSource}); the next batches are skipped once more than ${group.maxFail} failed (${group.maxFailSource})`);
    const width = Math.max(...group.batches.flat().map((name) => name.length));
    for (const [index, batch] of group.batches.entries()) {
      for (const [at, name] of batch.entries()) {
        const label = at === 0 ? `batch ${index + 1}:` : '';
        const steps = plan.steps[name];
        lines.push(`    ${label.padEnd(10)} ${steps ? `${name.padEnd(width)}  ${steps}` : name}`);
      }
    }
  }
  for (const note of plan.notes) lines.push(palette.changed(`  note: ${note}`));
  return lines.join('\n');
}

/** Hosts the run leaves drained on a balancer: said after the recap, so no one misses it. */
function stillDrainedLines(run: RunResult, palette: Palette): string[] {
  return run.hosts.flatMap((host) =>
    host.rolling?.stillDrained?.length ? [palette.failed(`${host.name} stays drained on ${host.rolling.stillDrained.join(', ')}: clients are not sent to it; the next run returns it to ready once it is healthy`)] : [],
  );
}

/** Renders a whole run: every host's section, then the recap. What hosts said is shown, never obeyed by the terminal. */
export function renderRun(run: RunResult, palette: Palette, options: RenderOptions): string {
  const shown = printableDeep(run);
  const rolling = shown.mode === 'dry-run' && shown.rolling ? ['', renderRollingPlan(shown.rolling, palette)] : [];
  return [...shown.hosts.map((host) => renderHost(host, palette, options)), ...rolling, '', renderRecap(shown, palette), ...stillDrainedLines(shown, palette)].join('\n');
}
