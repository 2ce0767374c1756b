/**
 * Credentials for HAProxy's authorization layer, computed on the controller: SHA-512 crypt hashes (`$6$`) for the
 * userlist, and SHA-256 digests for the bearer-token map. Node has SHA-512 but no crypt(3), so the crypt scheme is
 * implemented here after Ulrich Drepper's specification ("Unix crypt using SHA-256 and SHA-512"). A hash that is
 * already on the host and still verifies is kept, so a re-run does not rewrite the config with a new salt.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { planRandomBytes } from '../../src/engine/plan-random.ts';

/** The alphabet of crypt's own base64 (not RFC 4648's). */
const CRYPT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DEFAULT_ROUNDS = 5000;
const MAX_SALT = 16;

/**
 * The most rounds a hash found on a host may ask for before it is checked: the count provision hashes with. A hash
 * planted with `rounds=999999999` would otherwise keep the controller busy for hours (and HAProxy for every request);
 * past this it is not checked, just replaced.
 */
export const MAX_VERIFIED_ROUNDS = DEFAULT_ROUNDS;

function sha512(...parts: Buffer[]): Buffer {
  const hash = createHash('sha512');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** `length` bytes of `block` repeated (the P and S sequences of the specification). */
function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let at = 0; at < length; at += block.length) block.copy(out, at, 0, Math.min(block.length, length - at));
  return out;
}

/** Encodes three bytes as `count` characters, least significant six bits first. */
function encode24(high: number, middle: number, low: number, count: number): string {
  let word = (high << 16) | (middle << 8) | low;
  let text = '';
  for (let i = 0; i < count; i += 1) {
    text += CRYPT_ALPHABET[word & 0x3f];
    word >>>= 6;
  }
  return text;
}

/** The final digest in crypt's byte order: triples (i, i+21, i+42), rotated by i mod 3, then the last byte. */
function encodeDigest(digest: Buffer): string {
  let text = '';
  for (let i = 0; i < 21; i += 1) {
    const [a, b, c] = [digest[i]!, digest[i + 21]!, digest[i + 42]!];
    if (i % 3 === 0) text += encode24(a, b, c, 4);
    else if (i % 3 === 1) text += encode24(b, c, a, 4);
    else text += encode24(c, a, b, 4);
  }
  return text + encode24(0, 0, digest[63]!, 2);
}

/** SHA-512 crypt of `password` with `salt` (at most 16 characters are used) and `rounds` (default 5000). */
export function sha512Crypt(password: string, salt: string, rounds?: number): string {
  const key = Buffer.from(password, 'utf8');
  const saltBytes = Buffer.from(salt.slice(0, MAX_SALT), 'utf8');
  const customRounds = rounds !== undefined;
  const roundCount = Math.min(999_999_999, Math.max(1000, rounds ?? DEFAULT_ROUNDS));

  const alternate = sha512(key, saltBytes, key);
  const first = createHash('sha512').update(key).update(saltBytes);
  first.update(repeatTo(alternate, key.length));
  for (let length = key.length; length > 0; length >>= 1) first.update(length & 1 ? alternate : key);
  let digest = first.digest();

  const keyBlock = sha512(...Array.from({ length: key.length }, () => key));
  const keySequence = repeatTo(keyBlock, key.length);
  const saltBlock = sha512(...Array.from({ length: 16 + digest[0]! }, () => saltBytes));
  const saltSequence = repeatTo(saltBlock, saltBytes.length);

  for (let round = 0; round < roundCount; round += 1) {
    const step = createHash('sha512');
    step.update(round & 1 ? keySequence : digest);
    if (round % 3 !== 0) step.update(saltSequence);
    if (round % 7 !== 0) step.update(keySequence);
    step.update(round & 1 ? digest : keySequence);
    digest = step.digest();
  }
  const prefix = customRounds ? `$6$rounds=${roundCount}$` : '$6$';
  return `${prefix}${saltBytes.toString('utf8')}$${encodeDigest(digest)}`;
}

/** The salt and rounds of a `$6$` hash, or undefined when it is not one. */
export function parseCryptHash(hash: string): { salt: string; rounds?: number } | undefined {
  const match = /^\$6\$(?:rounds=(\d+)\$)?([^$]{0,16})\$[./0-9A-Za-z]{86}$/.exec(hash);
  if (!match) return undefined;
  return { salt: match[2]!, ...(match[1] ? { rounds: Number(match[1]) } : {}) };
}

/** True when `hash` is the SHA-512 crypt of `password` (compared in constant time); false unchecked past MAX_VERIFIED_ROUNDS. */
export function verifySha512Crypt(password: string, hash: string): boolean {
  const parsed = parseCryptHash(hash);
  if (!parsed || (parsed.rounds ?? DEFAULT_ROUNDS) > MAX_VERIFIED_ROUNDS) return false;
  const computed = Buffer.from(sha512Crypt(password, parsed.salt, parsed.rounds));
  const expected = Buffer.from(hash);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

/** A random 16-character salt in crypt's alphabet. */
export function newSalt(): string {
  return [...randomBytes(MAX_SALT)].map((byte) => CRYPT_ALPHABET[byte & 0x3f]).join('');
}

/** A salt for `user` on `host`: random, and the same when this plan is made again (a saved plan's apply). */
function planSalt(host: string, user: string): string {
  return [...planRandomBytes(`haproxy userlist salt\n${host}\n${user}`, MAX_SALT)].map((byte) => CRYPT_ALPHABET[byte & 0x3f]).join('');
}

/** Hashes made in this process, so the dry-run plan and the apply's re-plan write the same salt. */
const madeThisRun = new Map<string, string>();

/**
 * The hash to write for a user: the current one when it still verifies (nothing changes on a re-run), else one
 * with a new random salt (the same one for the rest of this process).
 */
export function userPasswordHash(host: string, user: string, password: string, current: string | undefined): { hash: string; reused: boolean } {
  if (current !== undefined && verifySha512Crypt(password, current)) return { hash: current, reused: true };
  const memo = `${host}\0${user}\0${createHash('sha256').update(password).digest('hex')}`;
  let hash = madeThisRun.get(memo);
  if (!hash) {
    hash = sha512Crypt(password, planSalt(host, user));
    madeThisRun.set(memo, hash);
  }
  return { hash, reused: false };
}

/** The map-file key of a bearer token: its SHA-256 in lowercase hex, as HAProxy computes it with `sha2(256),hex,lower`. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
