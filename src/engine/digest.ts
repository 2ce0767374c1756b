/**
 * Digests of plan data: a canonical JSON text for any value the engine handles (fact values, changes, variables), and
 * the hash that turns it into a digest, plain or keyed. A saved plan keys its digests (see plan-key.ts), so that a
 * digest of a value with a secret in it is no test for guesses of that secret.
 */
import { createHash, createHmac } from 'node:crypto';

/** Turns data into a digest (lowercase hex). */
export interface Digester {
  digest(data: string | Uint8Array): string;
}

/** SHA-256: for digests that stay in memory, or of data with no secret in it (source code). */
export const sha256: Digester = { digest: (data) => createHash('sha256').update(data).digest('hex') };

/** HMAC-SHA-256 under `key`: for digests written where others may read them. */
export function keyedDigester(key: Uint8Array): Digester {
  return { digest: (data) => createHmac('sha256', key).update(data).digest('hex') };
}

/**
 * `value` as JSON that is the same text for the same value: object keys sorted, Maps and Sets as sorted entries,
 * bytes as hex, `undefined` members left out, functions ignored. A class instance counts by its own fields (a
 * ShellCommand by its text).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonical(value, new Set()));
}

function canonical(value: unknown, path: Set<object>): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return { '@bigint': value.toString() };
  if (typeof value !== 'object') return undefined;
  if (path.has(value)) throw new Error('cannot digest a value that contains itself');
  path.add(value);
  try {
    if (value instanceof Uint8Array) return { '@bytes': Buffer.from(value).toString('hex') };
    if (value instanceof RegExp) return { '@regexp': value.toString() };
    if (value instanceof Date) return { '@date': value.toISOString() };
    if (Array.isArray(value)) return value.map((item) => canonical(item, path) ?? null);
    if (value instanceof Map) return { '@map': sortedPairs([...value.entries()].map(([key, item]) => [canonical(key, path), canonical(item, path)])) };
    if (value instanceof Set) return { '@set': [...value].map((item) => canonical(item, path)).sort(byJson) };
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const item = canonical((value as Record<string, unknown>)[key], path);
      if (item !== undefined) out[key] = item;
    }
    return out;
  } finally {
    path.delete(value);
  }
}

function sortedPairs(pairs: [unknown, unknown][]): [unknown, unknown][] {
  return pairs.sort((a, b) => byJson(a[0], b[0]));
}

function byJson(a: unknown, b: unknown): number {
  const left = JSON.stringify(a) ?? '';
  const right = JSON.stringify(b) ?? '';
  return left < right ? -1 : left > right ? 1 : 0;
}

/** The digest of a value: its canonical JSON, digested. */
export function valueDigest(value: unknown, digester: Digester = sha256): string {
  return digester.digest(canonicalJson(value));
}
