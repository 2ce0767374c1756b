/** A planning context with facts given by key, for unit tests of task planners. */
import type { Fact, FactReader, PlanContext, Task } from '../../src/engine/types.ts';
import type { Host, Inventory } from '../../src/inventory/types.ts';
import { roleContext } from '../../src/engine/role.ts';

/** A host with default connection settings and the given vars. */
export function fakeHost<V>(vars: V, name = 'h1', groups: string[] = ['all']): Host<V> {
  return {
    name,
    groups,
    privateIp: '10.0.0.1',
    vars,
    connection: {
      address: '10.0.0.1',
      port: 22,
      user: 'root',
      become: false,
      knownHostsFile: '/dev/null',
      hostKeyChecking: 'off',
      connectTimeout: 10,
      commandTimeout: 300,
    },
  };
}

/** Fact values by key; `stale` lists keys an earlier change made unpredictable. */
export function factReader(values: Record<string, unknown>, stale: string[] = []): FactReader {
  return {
    get<T>(fact: Fact<T>): T {
      if (!(fact.key in values)) throw new Error(`test gave no value for fact ${fact.key}`);
      return values[fact.key] as T;
    },
    isStale: (fact) => stale.includes(fact.key),
  };
}

/** Plans a task with the given fact values, checking that it declares every fact it reads. */
export function planWith<V>(task: Task<V>, vars: V, values: Record<string, unknown>, stale: string[] = []) {
  const host = fakeHost(vars);
  const declared = new Set(task.facts(host).map((fact) => fact.key));
  for (const key of Object.keys(values)) if (!declared.has(key)) throw new Error(`fact ${key} is not declared by the task`);
  const inventory: Inventory<V> = { file: '/x.yaml', hosts: [host], groups: new Map([['all', [host.name]]]) };
  const context: PlanContext<V> = { host, inventory, facts: factReader(values, stale), factsOf: () => undefined, roles: roleContext(inventory) };
  return task.plan(context);
}
