/** The keys a zod schema expects at a path, for "did you mean" suggestions on unknown keys. */

import type { z } from 'zod';

/** The parts of a zod 4 schema definition this module reads; other fields are ignored. */
interface LooseDef {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: readonly z.ZodType[];
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
}

const defOf = (schema: z.ZodType): LooseDef => (schema as unknown as { _zod: { def: LooseDef } })._zod.def;

/** Known object keys at `path` inside `schema` (looking through optional, default, pipes, unions…); empty when unknown. */
export function objectKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const keys = new Set<string>();
  collect(schema, path, keys, 0);
  return [...keys];
}

function collect(schema: z.ZodType | undefined, path: readonly PropertyKey[], keys: Set<string>, depth: number): void {
  if (!schema || depth > 64) return; // recursive (lazy) schemas
  const def = defOf(schema);
  const next = (inner: z.ZodType | undefined, rest = path) => collect(inner, rest, keys, depth + 1);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      return next(def.innerType);
    case 'pipe':
      return next(def.in);
    case 'lazy':
      return next(def.getter?.());
    case 'union':
      for (const option of def.options ?? []) next(option);
      return;
    case 'intersection':
      next(def.left);
      next(def.right);
      return;
    case 'object':
      if (path.length === 0) for (const key of Object.keys(def.shape ?? {})) keys.add(key);
      else next(def.shape?.[String(path[0])], path.slice(1));
      return;
    case 'record':
      if (path.length > 0) next(def.valueType, path.slice(1));
      return;
    case 'array':
      if (path.length > 0) next(def.element, path.slice(1));
      return;
    default:
      return;
  }
}
