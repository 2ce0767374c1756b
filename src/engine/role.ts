/**
 * Roles: the unit a capability is declared in. A role names the hosts it runs on (a group expression), the inventory
 * namespace it reads (a zod schema with its defaults and descriptions), the tasks it plans on each host and their
 * handlers. A playbook is a list of roles; everything else about them (the inventory's schema, the catalog, the docs,
 * the tags) is derived from that list.
 */
import { z } from 'zod';
import type { Host, Inventory } from '../inventory/types.ts';
import { playHosts } from './play-hosts.ts';
import type { Handler, HostHandlers, LoginFallbacks, RoleContext, RoleRef, RunningRole, Task } from './types.ts';
import type { TrafficBalancer } from './rolling/traffic.ts';

export type { LoginFallbacks, RoleContext, RoleRef, RunningRole };

/** An inventory namespace: one top-level variable that holds a role's settings, validated by its schema. */
export interface Namespace<Name extends string = string, Vars = unknown> {
  readonly name: Name;
  /** The namespace's schema (defaults included), for an inventory in `inventoryDir`, where relative paths resolve. */
  schema(inventoryDir: string): z.ZodType<Vars>;
}

/** Declares an inventory namespace; `schema` is a function of the inventory's directory when it resolves paths. */
export function defineNamespace<Name extends string, S extends z.ZodType>(name: Name, schema: S | ((inventoryDir: string) => S)): Namespace<Name, z.output<S>> {
  return { name, schema: (inventoryDir) => (typeof schema === 'function' ? schema(inventoryDir) : schema) as z.ZodType<z.output<S>> };
}

/** The host variables a set of namespaces gives: one property per namespace, its parsed value. */
export type VarsOf<N extends Namespace> = { [K in N as K['name']]: K extends Namespace<string, infer V> ? V : never };

/** A role as declared with `defineRole`. */
export interface Role<Vars = Record<string, unknown>> extends RoleRef {
  /** The role's name: the play name in reports, and a tag for `--tags`. */
  readonly name: string;
  /** A few words for the catalog and docs, e.g. `Key-only SSH`. */
  readonly title: string;
  /** What the role does, one or two sentences, for the catalog and docs. */
  readonly summary: string;
  /** The hosts it runs on: a group expression, as for --limit. */
  readonly hosts: string;
  /** The inventory namespace the role owns, if it has settings. */
  readonly vars?: Namespace;
  /** Other roles' namespaces its tasks read (e.g. the firewall reads `ssh.port`). */
  readonly uses: readonly Namespace[];
  /** Further tags that select the role with `--tags` (its name always does). */
  readonly tags: readonly string[];
  /** The tasks it plans on one host, in order. */
  tasks(host: Host<Vars>, context: RoleContext<Vars>): Task<Vars>[];
  /** Its handlers; a function when they depend on the host (a service name from its vars). */
  handlers?: Handler[] | HostHandlers<Vars>;
  /** Where the run may still find the host after this role moved SSH (see LoginFallbacks). */
  loginFallbacks?(host: Host<Vars>): LoginFallbacks;
  /** For a balancer role: how it drains the hosts behind it, so that their changes go without a failed request. */
  readonly balances?: TrafficBalancer<Vars>;
}

/** What `defineRole` takes: the role, its namespace under `vars`, the others it reads under `uses`. */
export interface RoleSpec<Own extends Namespace, Uses extends Namespace> {
  name: string;
  title: string;
  summary: string;
  hosts: string;
  vars?: Own;
  uses?: readonly Uses[];
  tags?: readonly string[];
  tasks(host: Host<VarsOf<Own | Uses>>, context: RoleContext<VarsOf<Own | Uses>>): Task<VarsOf<Own | Uses>>[];
  handlers?: Handler[] | HostHandlers<VarsOf<Own | Uses>>;
  loginFallbacks?(host: Host<VarsOf<Own | Uses>>): LoginFallbacks;
  balances?: TrafficBalancer<VarsOf<Own | Uses>>;
}

const ROLE_NAME = /^[a-z][a-z0-9_-]*$/;

/** Declares a role, its types checked: its tasks see the variables of the namespaces it owns and uses. */
export function defineRole<Own extends Namespace = never, Uses extends Namespace = never>(spec: RoleSpec<Own, Uses>): Role<VarsOf<Own | Uses>> {
  if (!ROLE_NAME.test(spec.name)) throw new Error(`role name '${spec.name}': use lower-case letters, digits, - and _`);
  return {
    name: spec.name,
    title: spec.title,
    summary: spec.summary,
    hosts: spec.hosts,
    ...(spec.vars ? { vars: spec.vars } : {}),
    uses: spec.uses ?? [],
    tags: spec.tags ?? [],
    tasks: spec.tasks,
    ...(spec.handlers ? { handlers: spec.handlers } : {}),
    ...(spec.loginFallbacks ? { loginFallbacks: spec.loginFallbacks } : {}),
    ...(spec.balances ? { balances: spec.balances } : {}),
  };
}

/** The same role on other hosts: how a playbook assigns a role to its own groups. */
export function onHosts<R extends Role<never>>(role: R, hosts: string): R {
  return { ...role, hosts };
}

/**
 * A role's context in a playbook whose roles are `assigned`: another role's hosts are those the playbook gives it, or
 * its own group expression when the playbook leaves it out. `running` are the roles this run runs.
 */
export function roleContext<Vars>(inventory: Inventory<Vars>, assigned: readonly RoleRef[] = [], running: readonly RunningRole<Vars>[] = []): RoleContext<Vars> {
  const expression = (role: RoleRef) => assigned.find((candidate) => candidate.name === role.name)?.hosts ?? role.hosts;
  const cache = new Map<string, Host<Vars>[]>();
  const hostsOf = (role: RoleRef) => {
    const pattern = expression(role);
    return cache.get(pattern) ?? cache.set(pattern, playHosts(inventory, pattern)).get(pattern)!;
  };
  // A pattern selects hosts by their own names and groups, so whether one host runs a role is decided by that host alone.
  const runs = (host: Host<Vars>, role: RoleRef) => {
    const alone: Inventory<Vars> = { file: inventory.file, hosts: [host], groups: new Map(host.groups.map((group) => [group, [host.name]])) };
    return playHosts(alone, expression(role)).length > 0;
  };
  return { inventory, hostsOf, runs, patternOf: expression, roles: running };
}

/** The namespaces a list of roles reads, each once, in the order the roles name them (owned first, then used). */
export function namespacesOf(roles: readonly Pick<Role<never>, 'vars' | 'uses'>[]): Namespace[] {
  const byName = new Map<string, Namespace>();
  const add = (namespace: Namespace) => {
    const known = byName.get(namespace.name);
    if (known && known !== namespace) throw new Error(`two different namespaces are called '${namespace.name}'`);
    byName.set(namespace.name, namespace);
  };
  for (const role of roles) if (role.vars) add(role.vars);
  for (const role of roles) role.uses.forEach(add);
  return [...byName.values()];
}

/** The strict schema of every namespace in the list: what the inventory loader validates a host's variables with. */
export function namespacesSchema(namespaces: readonly Namespace[]): (inventoryDir: string) => z.ZodType<Record<string, unknown>> {
  return (inventoryDir) => z.object(Object.fromEntries(namespaces.map((namespace) => [namespace.name, namespace.schema(inventoryDir)]))).strict();
}

/** The host variables a list of roles reads: every namespace any of them owns or uses. */
export type RolesVars<R extends readonly Role<never>[]> = UnionToIntersection<R[number] extends infer Each ? (Each extends Role<infer V> ? V : never) : never>;

type UnionToIntersection<U> = (U extends unknown ? (value: U) => void : never) extends (value: infer I) => void ? I : never;
