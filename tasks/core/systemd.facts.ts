/** Facts about systemd units: loaded, enabled, active. */
import { ShellCommand, join, sh } from '../../src/transport/shell.ts';
import type { Fact, FactOutput } from '../../src/engine/types.ts';
import { splitMarkedOutput } from '../../src/engine/gather.ts';

/** A unit's state as `systemctl show` reports it. */
export interface UnitState {
  /** `loaded`, `not-found`, `masked`, ... */
  load: string;
  /** `active`, `inactive`, `failed`, `activating`, ... */
  active: string;
  /** `enabled`, `disabled`, `static`, `masked`, `enabled-runtime`, ... or '' when unknown. */
  unitFile: string;
}

/** Parses `systemctl show -p LoadState,ActiveState,UnitFileState` output (pure). */
export function parseUnitState(output: FactOutput): UnitState {
  const values = new Map<string, string>();
  for (const row of output.stdout.split('\n')) {
    const at = row.indexOf('=');
    if (at > 0) values.set(row.slice(0, at), row.slice(at + 1).trim());
  }
  return { load: values.get('LoadState') ?? 'not-found', active: values.get('ActiveState') ?? 'inactive', unitFile: values.get('UnitFileState') ?? '' };
}

/** A unit name as systemctl knows it: a name without a suffix means `.service`. */
function unitName(unit: string): string {
  return unit.includes('.') ? unit : `${unit}.service`;
}

/** The state of one unit; a name without a suffix means `.service`. */
export function unitState(unit: string): Fact<UnitState> {
  const name = unitName(unit);
  return {
    key: `systemd:${name}`,
    description: `the unit ${name}`,
    command: unitStatesCommand([name]),
    parse: parseUnitState,
    batch: { kind: 'unit-state', item: name, command: unitStatesCommand, split: splitUnitStates },
  };
}

/**
 * A fact about a unit's main process: `probe` is shell code that runs with `$pid` set to the unit's MainPID (empty
 * when none runs). Its own command asks systemctl for the PID; in a batch the PID comes from the units' one
 * `systemctl show`, since each systemctl costs a host ~20 ms (it links the whole of systemd's shared library).
 */
export function mainProcessFact<T>(unit: string, key: string, probe: ShellCommand, parse: (output: FactOutput) => T, staleAfter?: Fact<T>['staleAfter'], description?: string): Fact<T> {
  const name = unitName(unit);
  return {
    key,
    description: description ?? `what ${name}'s main process shows (${key})`,
    command: sh`pid=$(systemctl show -p MainPID --value -- ${name} 2>/dev/null)
case "$pid" in ''|0|*[!0-9]*) pid= ;; esac
${probe}`,
    parse,
    batch: { kind: 'unit-state', item: `${name}\n${probe.text}`, command: unitStatesCommand, split: splitUnitStates },
    ...(staleAfter ? { staleAfter } : {}),
  };
}

/** A batch item: a unit's state (the unit's name), or a probe of its main process (the name, a newline, the probe). */
function readItem(item: string): { unit: string; probe?: string } {
  const at = item.indexOf('\n');
  return at < 0 ? { unit: item } : { unit: item.slice(0, at), probe: item.slice(at + 1) };
}

/** The units a batch shows, each once, in order: `systemctl show` prints one block per unit asked. */
function shownUnits(items: readonly string[]): string[] {
  return [...new Set(items.map((item) => readItem(item).unit))];
}

/** Ends each part of a batch with probes, as the gather's own marker ends each fact (see splitMarkedOutput). */
const PROBE_MARKER = '--provision-main-process--';

/**
 * Every unit's state in one `systemctl show`: one block per unit, in the order asked, blank lines between. With
 * probes, the MainPID is asked too, and each probe follows, with `$pid` read from its unit's block by the shell
 * itself (no process: blocks are counted by their blank lines); a marker line ends each part.
 */
export function unitStatesCommand(items: readonly string[]): ShellCommand {
  const units = shownUnits(items);
  const probes = items.map(readItem).filter((item) => item.probe !== undefined);
  if (probes.length === 0) return sh`systemctl show -p LoadState -p ActiveState -p UnitFileState -- ${units}`;
  const runs = probes.map(
    (item, index) => sh`main_pid ${units.indexOf(item.unit) + 1}
( ${ShellCommand.fromQuoted(item.probe!)}
) </dev/null 2>/dev/null; printf '\n%s %d %d\n' ${PROBE_MARKER} ${index + 1} "$?"`,
  );
  return sh`shown=$(systemctl show -p LoadState -p ActiveState -p UnitFileState -p MainPID -- ${units})
status=$?
printf '%s\n\n%s 0 %d\n' "$shown" ${PROBE_MARKER} "$status"
main_pid() {
  block=1; pid=
  while IFS= read -r line; do
    case "$line" in
      '') block=$((block + 1)) ;;
      MainPID=*) [ "$block" = "$1" ] && pid=\${line#MainPID=} ;;
    esac
  done <<EOF
$shown
EOF
  case "$pid" in ''|0|*[!0-9]*) pid= ;; esac
}
${join(runs, '\n')}
exit "$status"`;
}

/** Splits a batch's output into each item's: its unit's block of `systemctl show`, or its probe's output (pure). */
export function splitUnitStates(output: FactOutput, items: readonly string[]): FactOutput[] {
  const units = shownUnits(items);
  const probeCount = items.filter((item) => readItem(item).probe !== undefined).length;
  // With probes: the units' part, then one part per probe, each with its own exit code.
  const [shown = { stdout: '', code: output.code }, ...probes] = probeCount === 0 ? [output] : splitMarkedOutput(output.stdout, probeCount + 1, PROBE_MARKER);
  const blocks = shown.stdout.split(/\n\n/);
  let probeIndex = 0;
  return items.map((item) => {
    const { unit, probe } = readItem(item);
    if (probe !== undefined) return probes[probeIndex++] ?? { stdout: '', code: output.code };
    return { stdout: blocks[units.indexOf(unit)] ?? '', code: shown.code };
  });
}
