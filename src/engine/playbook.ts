/**
 * A playbook: roles (and plays for one-off work), run in order. The playbook is the one source the CLI derives the
 * rest from: the schema of the inventory's variables, the catalog and docs, the tags.
 */
import type { z } from 'zod';
import { InputError } from '../errors.ts';
import type { Inventory } from '../inventory/types.ts';
import { namespacesOf, namespacesSchema, roleContext, type Namespace, type Role, type RoleContext } from './role.ts';
import type { Play } from './types.ts';
import type { FactsReport } from './facts-report.ts';
import { rollingNamespace } from './rolling/settings.ts';
import type { TrafficRoute } from './rolling/traffic.ts';

/** One entry of a playbook: a role, or a plain play (its tasks see the inventory, and no variables of their own). */
export type PlaybookEntry<Vars = Record<string, unknown>> = Role<Vars> | Play<Vars>;

/** What `definePlaybook` takes: the roles (and plays) in the order they run, then plain plays to run after them. */
export interface PlaybookSpec<Vars = Record<string, unknown>> {
  roles?: readonly PlaybookEntry<Vars>[];
  plays?: readonly Play<Vars>[];
  /** What `provision facts` gathers and shows for each host. */
  facts?: FactsReport<Vars>;
}

/** A playbook as the engine runs it. */
export interface Playbook<Vars = Record<string, unknown>> {
  /** Every entry as a play, in order: what runs. */
  readonly plays: Play<Vars>[];
  /** The roles among the entries, in order. */
  readonly roles: Role<Vars>[];
  /** The inventory namespaces the roles own or read, each once. */
  readonly namespaces: Namespace[];
  /** The strict schema of those namespaces, for an inventory in `inventoryDir`. */
  varsSchema(inventoryDir: string): z.ZodType<Record<string, unknown>>;
  /** The entries as given, for selecting some of them (see selectTags). */
  readonly entries: readonly PlaybookEntry<Vars>[];
  /** What `provision facts` gathers and shows for each host, if the playbook says. */
  readonly facts?: FactsReport<Vars>;
  /** The balancer roles and how they drain the hosts behind them (whatever --tags selects: a node's restart drains it). */
  readonly traffic: readonly TrafficRoute<Vars>[];
}

/** True for entries made by defineRole. */
export function isRole<Vars>(entry: PlaybookEntry<Vars>): entry is Role<Vars> {
  return 'title' in entry && 'uses' in entry && Array.isArray((entry as Role<Vars>).uses);
}

/** A role as the play it runs as: its tasks get the role context of this playbook, its tags include its name. */
function rolePlay<Vars>(role: Role<Vars>, contextOf: (inventory: Inventory<Vars>) => RoleContext<Vars>): Play<Vars> {
  return {
    name: role.name,
    hosts: role.hosts,
    tasks: (host, inventory) => role.tasks(host, contextOf(inventory)),
    roles: contextOf,
    ...(role.handlers ? { handlers: role.handlers } : {}),
    tags: [role.name, ...role.tags],
  };
}

/** Defines a playbook with its types checked. */
export function definePlaybook(spec: PlaybookSpec): Playbook {
  const entries = [...(spec.roles ?? []), ...(spec.plays ?? [])];
  const roles = entries.filter(isRole);
  const names = new Set<string>();
  for (const role of roles) {
    if (names.has(role.name)) throw new Error(`the playbook has two roles called '${role.name}'`);
    names.add(role.name);
  }
  // `rolling` belongs to the engine: every play's hosts can be batched.
  const namespaces = [...namespacesOf(roles), rollingNamespace];
  const traffic = roles.flatMap((role) => (role.balances ? [{ balancers: role, balancer: role.balances }] : []));
  return { ...build(entries, roles), namespaces, varsSchema: namespacesSchema(namespaces), traffic, ...(spec.facts ? { facts: spec.facts } : {}) };
}

/** The plays of `entries`; `assigned` are the roles whose group expressions say which hosts run which role. */
function build<Vars>(entries: readonly PlaybookEntry<Vars>[], assigned: readonly Role<Vars>[]): Pick<Playbook<Vars>, 'plays' | 'roles' | 'entries'> {
  const roles = entries.filter(isRole);
  // One context per inventory: which hosts run which role is worked out once, not once per host.
  const contexts = new WeakMap<Inventory<Vars>, RoleContext<Vars>>();
  const contextOf = (inventory: Inventory<Vars>) => contexts.get(inventory) ?? contexts.set(inventory, roleContext(inventory, assigned, roles)).get(inventory)!;
  return { plays: entries.map((entry) => (isRole(entry) ? rolePlay(entry, contextOf) : entry)), roles, entries };
}

/**
 * The playbook with only the entries `--tags` selects and `--skip-tags` leaves, as ansible-playbook selects them: an
 * entry runs when one of its tags is asked for (or none is asked for), unless one is skipped. An entry tagged
 * `always` runs unless `always` itself is skipped. The schema stays the whole playbook's: the inventory is the same.
 */
export function selectTags<Vars>(playbook: Playbook<Vars>, tags: readonly string[], skip: readonly string[]): Playbook<Vars> {
  if (tags.length === 0 && skip.length === 0) return playbook;
  const tagsOf = (entry: PlaybookEntry<Vars>) => (isRole(entry) ? [entry.name, ...entry.tags] : [entry.name, ...(entry.tags ?? [])]);
  const known = new Set(playbook.entries.flatMap(tagsOf));
  const unknown = [...tags, ...skip].filter((tag) => tag !== 'all' && !known.has(tag));
  if (unknown.length > 0) {
    throw new InputError(`no role or play of the playbook has the tag${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}; its tags: ${[...known].join(', ')}`);
  }
  const selected = playbook.entries.filter((entry) => {
    const own = tagsOf(entry);
    if (own.some((tag) => skip.includes(tag))) return false;
    return tags.length === 0 || tags.includes('all') || own.includes('always') || own.some((tag) => tags.includes(tag));
  });
  // The inventory is validated against every namespace of the playbook, and the roles keep their hosts, whatever runs.
  return { ...playbook, ...build(selected, playbook.roles) };
}
