/** Facts about systemd units: loaded, enabled, active. */
import { sh, type ShellCommand } from '../src/transport/shell.ts';
import type { Fact, FactOutput } from '../src/engine/types.ts';

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

/** The state of one unit; a name without a suffix means `.service`. */
export function unitState(unit: string): Fact<UnitState> {
  const name = unit.includes('.') ? unit : `${unit}.service`;
  return {
    key: `systemd:${name}`,
    command: unitStatesCommand([name]),
    parse: parseUnitState,
    batch: { kind: 'unit-state', item: name, command: unitStatesCommand, split: splitUnitStates },
  };
}

/** Every unit's state in one `systemctl show`: one block per unit, in the order asked, blank lines between. */
export function unitStatesCommand(units: readonly string[]): ShellCommand {
  return sh`systemctl show ${units} -p LoadState -p ActiveState -p UnitFileState`;
}

/** Splits `systemctl show` output for several units into each unit's block (pure). */
export function splitUnitStates(output: FactOutput, units: readonly string[]): FactOutput[] {
  const blocks = output.stdout.split(/\n\n/);
  return units.map((_, index) => ({ stdout: blocks[index] ?? '', code: output.code }));
}
