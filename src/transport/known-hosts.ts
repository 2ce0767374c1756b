/**
 * Host key checking against an OpenSSH known_hosts file, with OpenSSH's matching rules, so that a file
 * shared with `ssh` gives the same answer here as there.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** What the known_hosts file says about a server key; the caller decides whether `unknown` may be trusted. */
export type HostKeyVerdict =
  | { status: 'match' }
  | { status: 'unknown' }
  | { status: 'mismatch'; knownTypes: string[]; line: number }
  | { status: 'revoked'; line: number };

/** The name OpenSSH writes and hashes for a host; lowercased because ssh lowercases host names first. */
export function hostPattern(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** A known_hosts line that names the host, with its line number. */
interface HostEntry extends Entry {
  line: number;
}

// The entries for a host, per file content: a connection asks several questions of one file (the key types to ask
// for, then the verdict), and matching hashed names costs an HMAC per line.
let cachedContent: string | undefined;
const cachedEntries = new Map<string, HostEntry[]>();

/** The lines of `content` whose host patterns name the host on this port, every marker included, in file order. */
function entriesFor(content: string, host: string, port: number): HostEntry[] {
  if (content !== cachedContent) {
    cachedContent = content;
    cachedEntries.clear();
  }
  const cacheKey = `${port} ${host}`;
  const cached = cachedEntries.get(cacheKey);
  if (cached) return cached;
  const names = candidateNames(host, port);
  const found: HostEntry[] = [];
  const lines = content.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const entry = parseLine(lines[index] ?? '');
    if (entry !== undefined && hostsMatch(entry.hosts, names)) found.push({ ...entry, line: index + 1 });
  }
  if (cachedEntries.size > 1000) cachedEntries.clear();
  cachedEntries.set(cacheKey, found);
  return found;
}

/** Pure, so callers can test policy without touching the file system. */
export function checkHostKey(content: string, host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const type = keyType(keyBlob);
  let sameTypeLine: number | undefined;
  let otherTypeLine: number | undefined;
  let matched = false;
  const knownTypes: string[] = [];

  for (const entry of entriesFor(content, host, port)) {
    if (entry.marker === 'cert-authority') continue;
    const sameKey = entry.type === type && entry.key.equals(keyBlob);
    if (entry.marker === 'revoked') {
      // A revoked key must lose even against a line that accepts it, so return at once.
      if (sameKey) return { status: 'revoked', line: entry.line };
      continue;
    }
    if (!knownTypes.includes(entry.type)) knownTypes.push(entry.type);
    if (sameKey) matched = true;
    else if (entry.type === type) sameTypeLine ??= entry.line;
    else otherTypeLine ??= entry.line;
  }

  if (matched) return { status: 'match' };
  const line = sameTypeLine ?? otherTypeLine;
  if (line === undefined) return { status: 'unknown' };
  return { status: 'mismatch', knownTypes, line };
}

/** The key types known_hosts lists for this host (not revoked, not CAs), in file order. */
export function knownKeyTypes(content: string, host: string, port: number): string[] {
  return [...new Set(entriesFor(content, host, port).filter((entry) => entry.marker === undefined).map((entry) => entry.type))];
}

/** The keys known_hosts lists for this host (not revoked, not CAs) as `type base64`, in file order. */
export function knownKeys(content: string, host: string, port: number): string[] {
  return [...new Set(entriesFor(content, host, port).filter((entry) => entry.marker === undefined).map((entry) => `${entry.type} ${entry.key.toString('base64')}`))];
}

/** The keys of the `@cert-authority` lines for this host, with their line numbers: CAs whose host certificates it trusts. */
export function certificateAuthorities(content: string, host: string, port: number): { key: Buffer; type: string; line: number }[] {
  return entriesFor(content, host, port)
    .filter((entry) => entry.marker === 'cert-authority')
    .map(({ key, type, line }) => ({ key, type, line }));
}

/** The line of a `@revoked` entry for this host that names the key, if any: such a key (or CA) is never trusted. */
export function revokedAt(content: string, host: string, port: number, keyBlob: Buffer): number | undefined {
  return entriesFor(content, host, port).find((entry) => entry.marker === 'revoked' && entry.key.equals(keyBlob))?.line;
}

/** A missing file is the normal first-run state, not an error. */
export async function readKnownHosts(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

// Parallel hosts may learn keys at the same moment; one chain per file keeps their lines whole.
const appendChains = new Map<string, Promise<void>>();

/** Appends only, so a user's own entries, comments and hashing are never disturbed. */
export async function recordHostKey(file: string, host: string, port: number, keyBlob: Buffer): Promise<void> {
  if (host === '' || /[\s,#*?!|]/.test(host)) throw new Error(`host name cannot be written to known_hosts: ${JSON.stringify(host)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid port: ${port}`);
  const type = keyType(keyBlob);
  if (!/^[\x21-\x7e]+$/.test(type)) throw new Error(`key type cannot be written to known_hosts: ${JSON.stringify(type)}`);
  const entry = `${hostPattern(host, port)} ${type} ${keyBlob.toString('base64')}\n`;

  const path = resolve(file);
  const previous = appendChains.get(path) ?? Promise.resolve();
  const current = previous.then(() => appendEntry(path, entry));
  const settled = current.then(
    () => undefined,
    () => undefined,
  );
  appendChains.set(path, settled);
  void settled.then(() => {
    if (appendChains.get(path) === settled) appendChains.delete(path);
  });
  return current;
}

/** Same text as `ssh-keygen -l`, so users can compare it with what the server admin publishes. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** Read from the blob itself, because the wire format names its own algorithm. */
export function keyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) throw new Error('malformed SSH public key blob: too short');
  const length = keyBlob.readUInt32BE(0);
  if (length === 0 || length > keyBlob.length - 4) throw new Error('malformed SSH public key blob: bad key type length');
  return keyBlob.toString('latin1', 4, 4 + length);
}

interface Entry {
  marker: 'revoked' | 'cert-authority' | undefined;
  hosts: string;
  type: string;
  key: Buffer;
}

function parseLine(raw: string): Entry | undefined {
  const line = raw.replace(/\r$/, '').trim();
  if (line === '' || line.startsWith('#')) return undefined;
  const fields = line.split(/[ \t]+/);
  let marker: Entry['marker'];
  if (fields[0]?.startsWith('@')) {
    const word = fields.shift();
    if (word === '@revoked') marker = 'revoked';
    else if (word === '@cert-authority') marker = 'cert-authority';
    else return undefined; // OpenSSH rejects unknown markers rather than guessing
  }
  const [hosts, type, base64] = fields;
  if (hosts === undefined || type === undefined || base64 === undefined) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  return { marker, hosts, type, key: Buffer.from(base64, 'base64') };
}

/** The names a line may be written under: port 22 also answers to an explicit `[host]:22`. */
function candidateNames(host: string, port: number): string[] {
  const primary = hostPattern(host, port);
  return port === 22 ? [primary, `[${host.toLowerCase()}]:22`] : [primary];
}

/** OpenSSH's match_hostname: any negated hit excludes the line; otherwise one positive hit is enough. */
function hostsMatch(hosts: string, names: string[]): boolean {
  let positive = false;
  for (const item of hosts.split(',')) {
    if (item === '') continue;
    if (item.startsWith('|')) {
      if (names.some((name) => hashedMatch(item, name))) positive = true;
      continue;
    }
    const negated = item.startsWith('!');
    const pattern = negated ? item.slice(1) : item;
    if (!names.some((name) => globMatch(pattern, name))) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

function hashedMatch(item: string, name: string): boolean {
  const parts = item.split('|');
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2] ?? '', 'base64');
  const expected = Buffer.from(parts[3] ?? '', 'base64');
  if (salt.length === 0 || expected.length !== 20) return false;
  const actual = createHmac('sha1', salt).update(name).digest();
  return timingSafeEqual(actual, expected);
}

const globCache = new Map<string, RegExp>();

function globMatch(pattern: string, name: string): boolean {
  let regex = globCache.get(pattern);
  if (regex === undefined) {
    const body = pattern
      .toLowerCase()
      .split('')
      .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.+()[\]{}|/]/g, '\\$&')))
      .join('');
    regex = new RegExp(`^${body}$`, 's');
    if (globCache.size > 1000) globCache.clear();
    globCache.set(pattern, regex);
  }
  return regex.test(name);
}

async function appendEntry(path: string, entry: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const handle = await open(path, 'a+', 0o600);
  try {
    // A hand-edited file may lack its final newline; appending blindly would glue our entry onto that line.
    const { size } = await handle.stat();
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    await handle.write(prefix + entry);
  } finally {
    await handle.close();
  }
}
