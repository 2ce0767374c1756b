/**
 * Where an apply writes, shared by `apply` and `apply PLAN.json`: the terminal or `--json`, the progress, `-v`'s echo
 * of commands and the `--log` file; and how a run that applied ends: its results written, its exit code, its
 * connections closed.
 */
import type { PlannedRun } from '../engine/run.ts';
import type { RunResult } from '../engine/results.ts';
import { runToJson } from '../report/json.ts';
import { colorWanted, palette } from '../report/palette.ts';
import { lineProgress, listrProgress } from '../report/progress.ts';
import { echoCommands, logToFile } from '../report/run-log.ts';
import { renderRun } from '../report/text.ts';
import { endKeeperClient } from '../transport/open-connection.ts';
import type { ApplyFlags } from './apply-flags.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';

/** The outputs of one apply, opened now (`started`: when the command began, for the run's wall time). */
export function applyOutput(flags: ApplyFlags, started: number) {
  const stopEcho = flags.verbose ? echoCommands((line) => process.stderr.write(`${line}\n`)) : undefined;
  const log = flags.log ? logToFile(flags.log) : undefined;
  const jsonOptions = { showContents: flags.showContents === true };
  const colors = palette(!flags.json && colorWanted(process.stdout, flags.color));
  const out = (text: string) => process.stdout.write(`${text}\n`);
  const onTerminal = process.stderr.isTTY === true && !flags.json;
  const progress = onTerminal ? listrProgress() : lineProgress((line) => (flags.json ? undefined : process.stderr.write(`${line}\n`)));
  const stats = () => ({ wallMs: Math.round(performance.now() - started), peakRssKb: process.resourceUsage().maxRSS, forks: flags.forks });
  return {
    jsonOptions,
    colors,
    out,
    progress,
    stats,
    /** Logs the results, prints them (`details`: with the diffs, when the plan was not shown first) and gives the exit code. */
    finish(result: RunResult, interrupted: () => boolean, details: boolean): number {
      log?.line(runToJson(result, stats(), jsonOptions));
      out(flags.json ? runToJson(result, stats(), jsonOptions) : renderRun(result, colors, { showOk: false, details }));
      if (interrupted()) return EXIT.interrupted;
      return exitCodeFor(result, flags);
    },
    /** Ends what the run opened: its connections, the keeper client, the echo and the log. */
    async close(run: PlannedRun<unknown>): Promise<void> {
      await run.close();
      await endKeeperClient();
      stopEcho?.();
      log?.stop();
    },
  };
}
