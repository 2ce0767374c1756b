/**
 * The key of a saved plan's digests. A digest of a file with a short password in it, every other byte of which a
 * reader of the plan could know, would let the password be guessed offline; so the plan's digests are HMACs under a
 * key that the plan does not hold: one derived, slowly (scrypt), from every secret the inventory holds (vault
 * passwords and plaintexts, secret fields, key files) and the plan's seed. The apply, given the same inventory and
 * vault passwords, derives the same key; a reader of the plan alone must guess all those secrets at once, at
 * scrypt's price per guess.
 */
import { scryptSync } from 'node:crypto';
import { canonicalJson } from './digest.ts';

/** scrypt's cost: 2^15 rounds of 1 KiB blocks (32 MiB), about a tenth of a second, once per plan and per apply. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** The key for a plan with this seed, from the inventory's secrets (their order does not matter). */
export function planKey(secrets: readonly string[], seed: string): Buffer {
  const material = canonicalJson([...new Set(secrets)].sort());
  return scryptSync(material, `provision plan key\n${seed}`, 32, SCRYPT);
}
