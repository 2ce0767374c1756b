/** The site playbook's tasks as operators see them: what each does, where it runs, and its inventory namespace. */
import type { z } from 'zod';
import { hostVarsSchema } from './vars.ts';

/** One task of the site playbook. */
export interface CatalogEntry {
  /** The inventory namespace it reads, e.g. `ssh`. */
  namespace: string;
  title: string;
  /** The hosts it runs on (a group pattern). */
  hosts: string;
  summary: string;
}

/** Every task of the site playbook, in the order it runs. */
export const CATALOG: CatalogEntry[] = [
  { namespace: 'firewall', title: 'Firewall (nftables)', hosts: 'all', summary: 'Default deny in its own table inet provision: SSH, the roles’ ports, the node API only from balancers; loaded with an automatic rollback unless a new SSH login confirms it.' },
  { namespace: 'ssh', title: 'Key-only SSH', hosts: 'all', summary: 'Installs the operator’s keys, optionally an admin user, and makes sshd key-only; proves a new key login before and after, or rolls back.' },
  { namespace: 'fail2ban', title: 'fail2ban', hosts: 'all', summary: 'Bans brute force against key-only sshd (invalid users, rejected keys, pre-auth drops) and, on balancers, sources that keep getting 429/401 from HAProxy, in nftables, never the controller.' },
  { namespace: 'updates', title: 'Automatic security updates', hosts: 'all', summary: 'Installs unattended-upgrades and schedules daily security updates, with an optional reboot window.' },
  { namespace: 'node', title: 'Remote proof of work', hosts: 'nodes', summary: 'Enables remote PoW and sets its workers from the CPUs the node can use; restarts the node only when the setting changes.' },
  { namespace: 'haproxy', title: 'HAProxy in front of the nodes', hosts: 'balancers', summary: 'TLS 1.2+, allow/deny lists, per-source rate limits and bans, basic auth or bearer tokens on write routes, leastconn weighted by each node’s usable CPUs.' },
];

/** A namespace's parameters, flattened to dotted names with their JSON type, default and constraints. */
export interface Parameter {
  name: string;
  type: string;
  default?: unknown;
  constraints: string[];
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  default?: unknown;
  enum?: unknown[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  anyOf?: JsonSchema[];
};

function typeOf(schema: JsonSchema): string {
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(' | ');
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(' | ');
  if (schema.type === 'array') return `list of ${schema.items ? typeOf(schema.items) : 'values'}`;
  // The input forms of yamlBoolean and duration.
  if (Array.isArray(schema.type) && schema.type.join() === 'boolean,string') return 'boolean';
  if (Array.isArray(schema.type) && schema.type.join() === 'number,string') return 'duration (10s, 10m, 1h) or seconds';
  return Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? 'any');
}

function flatten(prefix: string, schema: JsonSchema, out: Parameter[]): void {
  if (schema.type === 'object' && schema.properties) {
    for (const [key, child] of Object.entries(schema.properties)) flatten(`${prefix}.${key}`, child, out);
    return;
  }
  const constraints: string[] = [];
  if (schema.minimum !== undefined) constraints.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) constraints.push(`≤ ${schema.maximum}`);
  if (schema.pattern) constraints.push(`matches ${schema.pattern}`);
  out.push({ name: prefix, type: typeOf(schema), ...(schema.default !== undefined ? { default: schema.default } : {}), constraints });
}

/**
 * The parameters of one namespace, from the same zod schema the loader validates with: types as the inventory
 * writes them (input), defaults as the tasks see them (output, where a value is converted on the way in).
 */
export function parametersOf(namespace: string, toJsonSchema: (schema: z.ZodType, io: 'input' | 'output') => unknown): Parameter[] {
  const shape = hostVarsSchema('.').shape as Record<string, z.ZodType>;
  const schema = shape[namespace];
  if (!schema) throw new Error(`no inventory namespace '${namespace}'`);
  const input: Parameter[] = [];
  const output: Parameter[] = [];
  flatten(namespace, toJsonSchema(schema, 'input') as JsonSchema, input);
  flatten(namespace, toJsonSchema(schema, 'output') as JsonSchema, output);
  const outputDefaults = new Map(output.filter((p) => p.default !== undefined).map((p) => [p.name, p.default]));
  return input.map((p) => (p.default === undefined && outputDefaults.has(p.name) ? { ...p, default: outputDefaults.get(p.name) } : p));
}
