/**
 * The catalog of a playbook: its roles as operators see them (what each does, where it runs, its tags, its inventory
 * namespace), with every parameter flattened from the same zod schema the inventory loader validates with.
 */
import { z } from 'zod';
import type { Playbook } from './playbook.ts';

/** One parameter of a namespace: its dotted name, JSON type, default, constraints and description. */
export interface Parameter {
  name: string;
  type: string;
  default?: unknown;
  constraints: string[];
  /** The schema's `.describe()` text, when it has one. */
  description?: string;
}

/** One role of the playbook, with its parameters. */
export interface CatalogEntry {
  /** The role's name: its play name in reports, and a tag. */
  role: string;
  /** The inventory namespace it owns (e.g. `ssh`), or null when it has no settings. */
  namespace: string | null;
  title: string;
  /** The hosts it runs on (a group pattern). */
  hosts: string;
  summary: string;
  /** Every tag that selects it: its name first. */
  tags: string[];
  parameters: Parameter[];
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
  description?: string;
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
  out.push({
    name: prefix,
    type: typeOf(schema),
    ...(schema.default !== undefined ? { default: schema.default } : {}),
    constraints,
    ...(schema.description ? { description: schema.description } : {}),
  });
}

const toJsonSchema = (schema: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;

/**
 * The parameters of one namespace schema: types as the inventory writes them (input), defaults as the tasks see them
 * (output, where a value is converted on the way in).
 */
export function parametersOf(name: string, schema: z.ZodType): Parameter[] {
  const input: Parameter[] = [];
  const output: Parameter[] = [];
  flatten(name, toJsonSchema(schema, 'input'), input);
  flatten(name, toJsonSchema(schema, 'output'), output);
  const outputDefaults = new Map(output.filter((p) => p.default !== undefined).map((p) => [p.name, p.default]));
  return input.map((p) => (p.default === undefined && outputDefaults.has(p.name) ? { ...p, default: outputDefaults.get(p.name) } : p));
}

/** Every role of the playbook, in the order it runs, with its namespace's parameters (relative paths resolve from `inventoryDir`). */
export function catalogOf(playbook: Playbook, inventoryDir = '.'): CatalogEntry[] {
  return playbook.roles.map((role) => ({
    role: role.name,
    namespace: role.vars?.name ?? null,
    title: role.title,
    hosts: role.hosts,
    summary: role.summary,
    tags: [role.name, ...role.tags],
    parameters: role.vars ? parametersOf(role.vars.name, role.vars.schema(inventoryDir)) : [],
  }));
}
