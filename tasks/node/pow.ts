/**
 * Remote proof of work on a node: enabled only where the node has CPUs to spare, with one worker per usable CPU
 * beyond a reserve. The setting is written into the node's own config file (only those keys change); the node is
 * restarted by a handler when it changed, and a second handler checks that the node's info route agrees.
 */
import { plainConfigValues } from '../../src/engine/config-values.ts';
import { sh } from '../../src/transport/shell.ts';
import type { Handler, Plan, Task } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { planFileWrite } from '../core/files.ts';
import { maskCredentials, NodeConfigError, POW_CONFIG_FORMATS, type PowSettings, type PowTarget } from './config.ts';
import { cpusText, describeCpuSources, nodeConfigFile, usableCpusOfNode, type UsableCpus } from './facts.ts';
import { FLAVOR_LAYOUT, type NodePowVars, type NodeVars } from './vars.ts';
import { restartService } from '../core/systemd.ts';

/** The PoW setting decided for a node, with the reasoning shown in the plan. */
export interface PowDecision extends PowTarget {
  workers: number;
  /** E.g. `2 usable CPUs ≥ min 2: enable, 1 worker (2 CPUs − 1 reserved)`. */
  reason: string;
}

function workersText(count: number): string {
  return `${count} ${count === 1 ? 'worker' : 'workers'}`;
}

/**
 * Decides the setting (pure): on when the usable CPUs reach `min_cpus`, unless `enabled` forces it; workers are
 * usable CPUs − `reserve_cpus`, at least 1, unless `workers` forces the count.
 */
export function decidePow(cpus: number, pow: NodePowVars): PowDecision {
  const usable = `${cpusText(cpus).replace('CPU', 'usable CPU')}`;
  const enabled = pow.enabled ?? cpus >= pow.min_cpus;
  const why = pow.enabled !== undefined ? `node.pow.enabled is ${pow.enabled} (${usable})` : `${usable} ${enabled ? '≥' : '<'} min ${pow.min_cpus}`;
  const workers = pow.workers ?? Math.max(1, cpus - pow.reserve_cpus);
  const workersWhy = pow.workers !== undefined ? 'node.pow.workers' : `${cpusText(cpus)} − ${pow.reserve_cpus} reserved${cpus - pow.reserve_cpus < 1 ? ', at least 1' : ''}`;
  if (!enabled) return { enabled, workers, reason: `${why}: disable` };
  return { enabled, workers, reason: `${why}: enable, ${workersText(workers)} (${workersWhy})` };
}

/** The handler names a PoW change notifies, for this host's service. */
export function powHandlerNames(vars: NodeVars): { restart: string; checkListed: string; checkUnlisted: string } {
  return {
    restart: `restart ${vars.service}`,
    checkListed: `check ${vars.service} lists PoW`,
    checkUnlisted: `check ${vars.service} does not list PoW`,
  };
}

/**
 * How often, and how long, the info route is asked after a restart: a tenth of a second apart for the first two
 * seconds (a small node is back within a second; each ask is a `curl`, a few milliseconds), then a second apart, about
 * a minute in all (a real node may take that long to load).
 */
const FAST_ATTEMPTS = 20;
const CHECK_ATTEMPTS = FAST_ATTEMPTS + 58;
const CHECK_TIMEOUT_SECONDS = 2;

/**
 * A command that asks the node's info route on 127.0.0.1 until its `features` list does (or does not) name PoW,
 * at most CHECK_ATTEMPTS times. It uses curl, or bash's /dev/tcp where curl is not installed.
 */
export function powCheckCommand(vars: NodeVars, listed: boolean) {
  const route = FLAVOR_LAYOUT[vars.flavor].infoRoute;
  const url = `http://127.0.0.1:${vars.api_port}${route}`;
  const request = `GET ${route} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n`;
  return sh`want=${listed ? 'listed' : 'absent'}; tries=0; body=
while [ "$tries" -lt ${CHECK_ATTEMPTS} ]; do
  tries=$((tries + 1))
  if command -v curl >/dev/null 2>&1; then body=$(curl -fsS --max-time ${CHECK_TIMEOUT_SECONDS} ${url} 2>&1)
  else body=$(timeout ${CHECK_TIMEOUT_SECONDS} bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "%s" "$2" >&3 && cat <&3' bash ${vars.api_port} ${request} 2>&1)
  fi
  features=$(printf '%s' "$body" | tr -d ' \\t\\r\\n' | grep -o '"features":\\[[^]]*\\]')
  if [ -n "$features" ]; then
    if printf '%s' "$features" | grep -qi '"pow"'; then got=listed; else got=absent; fi
    if [ "$got" = "$want" ]; then exit 0; fi
  fi
  if [ "$tries" -le ${FAST_ATTEMPTS} ]; then sleep 0.1; else sleep 1; fi
done
printf '%s answered, after %s tries: %.300s\\n' ${url} "$tries" "$body" >&2
exit 1`;
}

function powCheckHandler(vars: NodeVars, listed: boolean): Handler {
  const names = powHandlerNames(vars);
  const route = FLAVOR_LAYOUT[vars.flavor].infoRoute;
  return {
    name: listed ? names.checkListed : names.checkUnlisted,
    steps: [
      {
        kind: 'run',
        command: powCheckCommand(vars, listed),
        description: `check that ${route} on port ${vars.api_port} ${listed ? 'lists' : 'does not list'} PoW after the restart`,
      },
    ],
  };
}

/**
 * The node play's handlers, in the order they run: restart the node, then check its info route. A PoW change
 * notifies the restart and the check that matches the new setting.
 */
export function nodeHandlers(host: Host<{ node: NodeVars }>): Handler[] {
  const vars = host.vars.node;
  return [restartService(vars.service, powHandlerNames(vars).restart), powCheckHandler(vars, true), powCheckHandler(vars, false)];
}

function shown(value: unknown): string {
  return value === undefined ? 'absent' : JSON.stringify(value);
}

/** Plans the config edit for a decision over the file's current text (pure; exported for tests). */
export function planPowConfig(vars: NodeVars, text: string, decision: PowDecision): { current: PowSettings; next: string } {
  const format = POW_CONFIG_FORMATS[vars.flavor];
  const current = format.read(text);
  // When PoW goes off, the worker count is left as the operator had it: the node ignores it then.
  const target: PowTarget = { enabled: decision.enabled, ...(decision.enabled && format.keys.workers ? { workers: decision.workers } : {}) };
  return { current, next: format.write(text, plainConfigValues(vars.config_path, target)) };
}

/** Remote PoW set in the node's config file from its usable CPUs and `node.pow`; restarts the node when it changes. */
export function remotePow(host: Host<{ node: NodeVars }>): Task {
  const vars = host.vars.node;
  const format = POW_CONFIG_FORMATS[vars.flavor];
  const config = nodeConfigFile(vars);
  const cpusFact = usableCpusOfNode(host);
  return {
    kind: 'node.pow',
    target: vars.config_path,
    facts: () => [config, cpusFact],
    plan: ({ facts }): Plan => {
      const state = facts.get(config);
      if (state.type === 'absent') {
        if (facts.isStale(config)) return { status: 'ok', reason: `${vars.config_path} does not exist yet; an earlier change in this run may create it` };
        throw new Error(`the node config ${vars.config_path} does not exist: install the ${vars.flavor} node first, or set node.config_path (nothing was changed)`);
      }
      if (state.type !== 'file') throw new Error(`the node config ${vars.config_path} is a ${state.type}, not a file (nothing was changed)`);
      const cpus: UsableCpus = facts.get(cpusFact);
      const decision = decidePow(cpus.usable, vars.pow);
      let current: PowSettings;
      let next: string;
      try {
        ({ current, next } = planPowConfig(vars, state.content, decision));
      } catch (error) {
        if (error instanceof NodeConfigError) throw new Error(`cannot set remote PoW in ${vars.config_path} (${format.format}): ${error.message} (nothing was changed)`);
        throw error;
      }
      const setting = decision.enabled ? `enabled with ${workersText(decision.workers)}` : 'disabled';
      if (next === state.content) return { status: 'ok', reason: `remote PoW is ${setting}: ${decision.reason.split(':')[0]}` };
      const names = powHandlerNames(vars);
      const plan = planFileWrite(vars.config_path, state, next, {
        mode: state.mode,
        owner: state.owner,
        group: state.group,
        notify: [names.restart, decision.enabled ? names.checkListed : names.checkUnlisted],
      });
      if (plan.status !== 'change') return plan;
      const [change] = plan.changes;
      // The diff shows every credential masked where it stands, short ones included; the write keeps the real text.
      if (change.diff) change.diff = { ...change.diff, before: maskCredentials(format.format, state.content), after: maskCredentials(format.format, next) };
      const keyLines = current.enabled === decision.enabled ? [] : [`${format.keys.enabled}: ${shown(current.enabled)} → ${decision.enabled}`];
      if (decision.enabled && format.keys.workers && current.workers !== decision.workers) keyLines.push(`${format.keys.workers}: ${shown(current.workers)} → ${decision.workers}`);
      if (decision.enabled && !format.keys.workers) keyLines.push(`${vars.flavor} has no worker-count setting; it picks its own`);
      const action = !decision.enabled ? 'disable remote PoW' : current.enabled === true ? `set remote PoW to ${workersText(decision.workers)}` : `enable remote PoW with ${workersText(decision.workers)}`;
      change.summary = `${action} in ${vars.config_path}`;
      change.details = [decision.reason, `usable CPUs: ${describeCpuSources(cpus)}`, ...keyLines];
      return plan;
    },
  };
}

/** The node play's tasks. */
export function nodePowTasks(host: Host<{ node: NodeVars }>): Task[] {
  return [remotePow(host)];
}
