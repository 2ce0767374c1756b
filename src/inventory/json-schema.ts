/** A JSON Schema of the inventory file, generated from the same zod schemas the loader validates with. */
import { z } from 'zod';
import { connectionVarsSchema } from './connection.ts';

type JsonObject = Record<string, unknown>;

/** The JSON Schema of a zod object's input, without the draft marker. */
function inputSchema(schema: z.ZodType): JsonObject {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonObject;
  return rest;
}

/**
 * The inventory's JSON Schema: groups with `hosts`, `vars` and `children` to any depth; every vars mapping takes
 * the connection variables and the task library's namespaces (each strict), and other projects' variables, which
 * provision ignores.
 */
export function inventoryJsonSchema(taskVars: z.ZodType): JsonObject {
  const connection = inputSchema(connectionVarsSchema('/'));
  const tasks = inputSchema(taskVars);
  const vars = {
    type: 'object',
    description: "Variables: Ansible connection variables and provision's task namespaces; other variables (other roles') are ignored.",
    properties: { ...(connection.properties as JsonObject), ...(tasks.properties as JsonObject) },
    additionalProperties: true,
  };
  const group = {
    type: 'object',
    properties: {
      hosts: { type: 'object', additionalProperties: { anyOf: [{ type: 'null' }, { $ref: '#/$defs/vars' }] } },
      vars: { $ref: '#/$defs/vars' },
      children: { type: 'object', additionalProperties: { anyOf: [{ type: 'null' }, { $ref: '#/$defs/group' }] } },
    },
    additionalProperties: false,
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'provision inventory',
    description: "An Ansible-style YAML inventory for provision: `all:` with hosts, vars and children.",
    type: 'object',
    properties: { all: { $ref: '#/$defs/group' } },
    additionalProperties: { $ref: '#/$defs/group' },
    $defs: { group, vars },
  };
}
