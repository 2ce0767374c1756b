/** Unified diffs of file changes, secrets masked, coloured when the terminal supports it. */
import { createTwoFilesPatch } from 'diff';
import type { FileDiff } from '../engine/types.ts';
import { redact } from './redact.ts';
import type { Palette } from './palette.ts';

/** Renders a file change as a unified diff (before → after); secret files show only that they change. */
export function renderDiff(diff: FileDiff, palette: Palette): string {
  const lines: string[] = [];
  if (diff.metaBefore !== diff.metaAfter && diff.metaAfter) {
    if (diff.metaBefore) lines.push(palette.removed(`- ${diff.metaBefore}`));
    lines.push(palette.added(`+ ${diff.metaAfter}`));
  }
  if (diff.secret) {
    if (diff.before !== diff.after) lines.push(palette.dim(`  (secret content of ${diff.path} ${diff.before === null ? 'created' : 'changed'}; not shown)`));
    return lines.join('\n');
  }
  if (diff.before === diff.after) return lines.join('\n');
  const patch = createTwoFilesPatch(
    diff.before === null ? '/dev/null' : `a${diff.path}`,
    diff.after === null ? '/dev/null' : `b${diff.path}`,
    redact(diff.before ?? ''),
    redact(diff.after ?? ''),
    undefined,
    undefined,
    { context: 3 },
  );
  for (const row of patch.split('\n').slice(1)) {
    if (row === '') continue;
    if (row.startsWith('+++') || row.startsWith('---')) lines.push(palette.bold(row));
    else if (row.startsWith('@@')) lines.push(palette.cyan(row));
    else if (row.startsWith('+')) lines.push(palette.added(row));
    else if (row.startsWith('-')) lines.push(palette.removed(row));
    else lines.push(row);
  }
  return lines.join('\n');
}
