/** systemd services: enabled at boot and running, and the reload/restart handlers that changes notify. */
import { sh } from '../../src/transport/shell.ts';
import { type Change, type Handler, type Task, predict } from '../../src/engine/types.ts';
import { planFileWrite } from './files.ts';
import { pathState } from './files.facts.ts';
import { unitState, type UnitState } from './systemd.facts.ts';

/** Desired state of a service. */
export interface ServiceOptions {
  /** Started at boot (default true). */
  enabled?: boolean;
  /** Running now (default true). */
  running?: boolean;
}

const ENABLED_STATES = new Set(['enabled', 'enabled-runtime', 'static', 'alias', 'indirect', 'generated']);

/** A systemd service enabled and running (or disabled and stopped). */
export function service(name: string, options: ServiceOptions = {}): Task {
  const fact = unitState(name);
  const enabled = options.enabled ?? true;
  const running = options.running ?? true;
  return {
    kind: 'systemd.service',
    target: name,
    facts: () => [fact],
    plan: ({ facts }) => {
      const state = facts.get(fact);
      const pending = facts.isStale(fact);
      if (state.load === 'not-found' && !pending) {
        if (!enabled && !running) return { status: 'ok', reason: `${name} is not installed` };
        throw new Error(`unit ${name} does not exist on this host`);
      }
      if (state.load === 'masked' || state.unitFile === 'masked') throw new Error(`unit ${name} is masked; unmask it first`);
      const changes: Change[] = [];
      const isEnabled = ENABLED_STATES.has(state.unitFile);
      const isRunning = state.active === 'active' || state.active === 'reloading' || state.active === 'activating';
      const after: UnitState = { ...state };
      if (enabled !== isEnabled || pending) {
        changes.push({
          summary: `${enabled ? 'enable' : 'disable'} ${name}${pending ? ' (once installed)' : ''}`,
          steps: [{ kind: 'run', command: enabled ? sh`systemctl enable -- ${name}` : sh`systemctl disable -- ${name}` }],
          services: [{ name, action: enabled ? 'enable' : 'disable' }],
        });
        after.unitFile = enabled ? 'enabled' : 'disabled';
      }
      if (running !== isRunning || pending) {
        changes.push({
          summary: `${running ? 'start' : 'stop'} ${name}${pending ? ' (once installed)' : ''}`,
          steps: [{ kind: 'run', command: running ? sh`systemctl start -- ${name}` : sh`systemctl stop -- ${name}` }],
          services: [{ name, action: running ? 'start' : 'stop' }],
        });
        after.active = running ? 'active' : 'inactive';
      }
      const [first, ...rest] = changes;
      if (!first) return { status: 'ok', reason: `${name} is ${enabled ? 'enabled' : 'disabled'} and ${running ? 'running' : 'stopped'}` };
      const last = rest.at(-1) ?? first;
      last.predicts = [predict(fact, { ...after, load: 'loaded' })];
      return { status: 'change', changes: [first, ...rest] };
    },
  };
}

/**
 * A unit file of provision's own, made known to systemd at once. With `enable`, a unit not enabled yet is enabled
 * by the same step: `systemctl enable` reloads systemd's configuration itself, and each reload costs systemd ~0.3 s
 * of CPU, so one reload instead of two. The `service` task after it then finds the unit enabled.
 */
export function unitFile(unit: string, content: string, options: { enable?: boolean } = {}): Task {
  const path = `/etc/systemd/system/${unit}`;
  const file = pathState(path);
  const state = unitState(unit);
  return {
    kind: 'systemd.unit',
    target: unit,
    facts: () => [file, ...(options.enable ? [state] : [])],
    plan: ({ facts }) => {
      const plan = planFileWrite(path, facts.get(file), content, {});
      if (plan.status === 'ok') return { status: 'ok', reason: `${path} is up to date` };
      const current = options.enable ? facts.get(state) : undefined;
      // Read even when an install made systemd's facts stale: no package ships a unit of provision's own.
      const enable = current !== undefined && !ENABLED_STATES.has(current.unitFile);
      for (const change of plan.changes) {
        if (enable) {
          change.summary += ` and enable ${unit}`;
          change.steps.push({ kind: 'run', command: sh`systemctl enable -- ${unit}` });
          change.services = [{ name: unit, action: 'enable' }];
          change.predicts = [...(change.predicts ?? []), predict(state, { load: 'loaded', active: current.active, unitFile: 'enabled' })];
        } else {
          change.steps.push({ kind: 'run', command: sh`systemctl daemon-reload` });
          change.invalidates = [state];
        }
      }
      return plan;
    },
  };
}

/** A handler that restarts a service. */
export function restartService(name: string, handlerName = `restart ${name}`): Handler {
  return { name: handlerName, steps: [{ kind: 'run', command: sh`systemctl restart -- ${name}` }], services: [{ name, action: 'restart' }] };
}

/** A handler that reloads a service (open connections survive). */
export function reloadService(name: string, handlerName = `reload ${name}`): Handler {
  return { name: handlerName, steps: [{ kind: 'run', command: sh`systemctl reload -- ${name}` }], services: [{ name, action: 'reload' }] };
}
