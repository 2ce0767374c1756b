import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import {
  checkHostKey,
  fingerprint,
  hostPattern,
  keyType,
  readKnownHosts,
  recordHostKey,
} from '../../src/transport/known-hosts.ts';

function blobOf(publicKey: string): Buffer {
  const parsed = ssh2.utils.parseKey(publicKey);
  if (parsed instanceof Error) throw parsed;
  return parsed.getPublicSSH();
}

/** ssh2's generator now and then drops a leading zero byte of an ed25519 key, which then cannot parse: draw again. */
function ed25519Blob(): Buffer {
  for (let attempt = 0; ; attempt++) {
    try {
      return blobOf(ssh2.utils.generateKeyPairSync('ed25519').public);
    } catch (error) {
      if (attempt >= 10) throw error;
    }
  }
}
const ed = ed25519Blob();
const ed2 = ed25519Blob();
/** ssh2 now and then generates an ECDSA key it cannot re-parse (a leading-zero coordinate): draw again. */
function ecdsaBlob(): Buffer {
  for (let attempt = 0; ; attempt++) {
    try {
      return blobOf(ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }).public);
    } catch (error) {
      if (attempt >= 10) throw error;
    }
  }
}
const ec = ecdsaBlob();

const line = (hosts: string, blob: Buffer, marker = ''): string =>
  `${marker ? marker + ' ' : ''}${hosts} ${keyType(blob)} ${blob.toString('base64')}`;

function hashed(name: string, salt = randomBytes(20)): string {
  const hash = createHmac('sha1', salt).update(name).digest();
  return `|1|${salt.toString('base64')}|${hash.toString('base64')}`;
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'known-hosts-test-'));
}

test('keyType reads the algorithm name from the blob', () => {
  assert.equal(keyType(ed), 'ssh-ed25519');
  assert.equal(keyType(ec), 'ecdsa-sha2-nistp256');
  assert.throws(() => keyType(Buffer.from([0, 0, 0, 50, 1])));
  assert.throws(() => keyType(Buffer.alloc(2)));
});

test('hostPattern brackets only non-default ports', () => {
  assert.equal(hostPattern('web1', 22), 'web1');
  assert.equal(hostPattern('web1', 2222), '[web1]:2222');
  assert.equal(hostPattern('Web1.Example.COM', 22), 'web1.example.com');
  assert.equal(hostPattern('::1', 2200), '[::1]:2200');
});

test('plain entry matches; other hosts are unknown', () => {
  const content = `${line('web1,10.0.0.5', ed)} comment here\n`;
  assert.deepEqual(checkHostKey(content, 'web1', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(content, '10.0.0.5', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(content, 'WEB1', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(content, 'web2', 22, ed), { status: 'unknown' });
  assert.deepEqual(checkHostKey('', 'web1', 22, ed), { status: 'unknown' });
});

test('case-insensitive patterns', () => {
  assert.deepEqual(checkHostKey(line('WEB1.Example.com', ed), 'web1.example.COM', 22, ed), { status: 'match' });
});

test('bracketed port entries match only that port', () => {
  const content = line('[web1]:2222', ed);
  assert.deepEqual(checkHostKey(content, 'web1', 2222, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(content, 'web1', 22, ed), { status: 'unknown' });
  assert.deepEqual(checkHostKey(content, 'web1', 2223, ed), { status: 'unknown' });
  // A plain entry is for port 22 only.
  assert.deepEqual(checkHostKey(line('web1', ed), 'web1', 2222, ed), { status: 'unknown' });
});

test('[host]:22 is equivalent to host for port 22', () => {
  assert.deepEqual(checkHostKey(line('[web1]:22', ed), 'web1', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(line('[web1]:22', ed), 'web1', 2222, ed), { status: 'unknown' });
});

test('hashed entries', () => {
  const content = [line(hashed('web1'), ed), line(hashed('[web2]:2222'), ec)].join('\n');
  assert.deepEqual(checkHostKey(content, 'web1', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(content, 'WEB1', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(content, 'web2', 2222, ec), { status: 'match' });
  assert.deepEqual(checkHostKey(content, 'web2', 22, ec), { status: 'unknown' });
  assert.deepEqual(checkHostKey(content, 'web3', 22, ed), { status: 'unknown' });
  assert.deepEqual(checkHostKey(line(hashed('[web1]:22'), ed), 'web1', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(line(hashed('web1'), ed2), 'web1', 22, ed), {
    status: 'mismatch',
    knownTypes: ['ssh-ed25519'],
    line: 1,
  });
  // A corrupt hashed entry is ignored, not fatal.
  assert.deepEqual(checkHostKey(line('|1|abc', ed), 'web1', 22, ed), { status: 'unknown' });
});

test('wildcards', () => {
  const content = line('*.example.com,db?', ed);
  assert.deepEqual(checkHostKey(content, 'web1.example.com', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(content, 'db1', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(content, 'db10', 22, ed), { status: 'unknown' });
  assert.deepEqual(checkHostKey(content, 'example.com', 22, ed), { status: 'unknown' });
  assert.deepEqual(checkHostKey(line('[*.example.com]:2222', ed), 'a.example.com', 2222, ed), { status: 'match' });
  // Dots and brackets are literal, not regex syntax.
  assert.deepEqual(checkHostKey(line('web1.example.com', ed), 'web1xexample.com', 22, ed), { status: 'unknown' });
});

test('negation excludes the line even when another pattern matches', () => {
  const content = line('*.example.com,!bad.example.com', ed);
  assert.deepEqual(checkHostKey(content, 'good.example.com', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(content, 'bad.example.com', 22, ed), { status: 'unknown' });
  assert.deepEqual(checkHostKey(line('!bad.example.com,*.example.com', ed), 'BAD.example.com', 22, ed), {
    status: 'unknown',
  });
  // Only negated patterns: never a positive match.
  assert.deepEqual(checkHostKey(line('!bad', ed), 'good', 22, ed), { status: 'unknown' });
  // An excluded line does not hide a later line that accepts the host.
  const two = [line('*,!web1', ed2), line('web1', ed)].join('\n');
  assert.deepEqual(checkHostKey(two, 'web1', 22, ed), { status: 'match' });
});

test('same type, different key is a mismatch with the offending line', () => {
  const content = ['# header', '', line('other', ed), line('web1', ed2)].join('\n');
  assert.deepEqual(checkHostKey(content, 'web1', 22, ed), {
    status: 'mismatch',
    knownTypes: ['ssh-ed25519'],
    line: 4,
  });
});

test('only other key types known is a mismatch that lists them', () => {
  const content = [line('web1', ec), line('web2', ed)].join('\n');
  assert.deepEqual(checkHostKey(content, 'web1', 22, ed), {
    status: 'mismatch',
    knownTypes: ['ecdsa-sha2-nistp256'],
    line: 1,
  });
});

test('same-type mismatch line wins over other-type line; knownTypes lists all', () => {
  const content = [line('web1', ec), line('web1', ed2)].join('\n');
  assert.deepEqual(checkHostKey(content, 'web1', 22, ed), {
    status: 'mismatch',
    knownTypes: ['ecdsa-sha2-nistp256', 'ssh-ed25519'],
    line: 2,
  });
});

test('a matching key wins over other entries for the host', () => {
  const content = [line('web1', ec), line('web1', ed2), line('web1', ed)].join('\n');
  assert.deepEqual(checkHostKey(content, 'web1', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(content, 'web1', 22, ec), { status: 'match' });
});

test('revoked wins over a matching entry', () => {
  const content = [line('web1', ed), line('*', ed, '@revoked')].join('\n');
  assert.deepEqual(checkHostKey(content, 'web1', 22, ed), { status: 'revoked', line: 2 });
  // A revoked entry for another key does not affect this one, and does not count as a known key.
  const other = [line('*', ed2, '@revoked'), line('web1', ed)].join('\n');
  assert.deepEqual(checkHostKey(other, 'web1', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(line('*', ed2, '@revoked'), 'web1', 22, ed), { status: 'unknown' });
});

test('comments, blank lines, CRLF, cert-authority and unknown markers', () => {
  const content = [
    '# comment web1 ssh-ed25519 AAAA',
    '   ',
    '\t# indented comment',
    line('web1', ed2, '@cert-authority'),
    line('web1', ed2, '@bogus'),
    'web1 ssh-ed25519', // truncated
    'web1 ssh-ed25519 !!!notbase64!!!',
    `${line('web1', ed)} user@host`,
    '',
  ].join('\r\n');
  assert.deepEqual(checkHostKey(content, 'web1', 22, ed), { status: 'match' });
  assert.deepEqual(checkHostKey(content, 'web1', 22, ed2), {
    status: 'mismatch',
    knownTypes: ['ssh-ed25519'],
    line: 8,
  });
  // Only a cert-authority line: nothing known about the host key itself.
  assert.deepEqual(checkHostKey(line('web1', ed2, '@cert-authority'), 'web1', 22, ed), { status: 'unknown' });
});

test('a line whose declared type differs from the blob does not match', () => {
  const content = `web1 ecdsa-sha2-nistp256 ${ed.toString('base64')}`;
  assert.deepEqual(checkHostKey(content, 'web1', 22, ed), {
    status: 'mismatch',
    knownTypes: ['ecdsa-sha2-nistp256'],
    line: 1,
  });
});

test('readKnownHosts returns empty string for a missing file', async () => {
  const dir = await tempDir();
  try {
    assert.equal(await readKnownHosts(join(dir, 'nope')), '');
    await writeFile(join(dir, 'kh'), 'x\n');
    assert.equal(await readKnownHosts(join(dir, 'kh')), 'x\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('recordHostKey creates dir 0700 and file 0600, and the entry then matches', async () => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'ssh', 'nested', 'known_hosts');
    await recordHostKey(file, 'Web1', 22, ed);
    await recordHostKey(file, 'web1', 2222, ec);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'ssh'))).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'ssh', 'nested'))).mode & 0o777, 0o700);
    const content = await readKnownHosts(file);
    assert.equal(content, `web1 ssh-ed25519 ${ed.toString('base64')}\n[web1]:2222 ecdsa-sha2-nistp256 ${ec.toString('base64')}\n`);
    assert.deepEqual(checkHostKey(content, 'web1', 22, ed), { status: 'match' });
    assert.deepEqual(checkHostKey(content, 'web1', 2222, ec), { status: 'match' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('recordHostKey keeps existing lines and adds a missing final newline', async () => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'known_hosts');
    const existing = `# mine\n${line(hashed('old'), ec)}`;
    await writeFile(file, existing, { mode: 0o644 });
    await recordHostKey(file, 'web1', 22, ed);
    const content = await readFile(file, 'utf8');
    assert.equal(content, `${existing}\nweb1 ssh-ed25519 ${ed.toString('base64')}\n`);
    assert.deepEqual(checkHostKey(content, 'old', 22, ec), { status: 'match' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('recordHostKey rejects names that would become patterns or break the line', async () => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'known_hosts');
    for (const host of ['', 'a b', 'a,b', '*', 'web?', '!web', '|1|x|y', 'a\nb']) {
      await assert.rejects(recordHostKey(file, host, 22, ed), Error, JSON.stringify(host));
    }
    assert.equal(existsSync(file), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('concurrent recordHostKey calls produce intact lines', async () => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'kh', 'known_hosts');
    const keys = Array.from({ length: 40 }, () => ed25519Blob());
    const results = await Promise.allSettled([
      ...keys.map((key, i) => recordHostKey(file, `host${i}`, 2000 + i, key)),
      recordHostKey(file, 'bad host', 22, ed), // a failure must not break the chain
    ]);
    assert.equal(results.filter((r) => r.status === 'rejected').length, 1);
    const content = await readFile(file, 'utf8');
    const lines = content.split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, keys.length);
    assert.deepEqual(new Set(lines).size, keys.length);
    for (const [i, key] of keys.entries()) {
      assert.ok(lines.includes(`[host${i}]:${2000 + i} ${keyType(key)} ${key.toString('base64')}`));
      assert.deepEqual(checkHostKey(content, `host${i}`, 2000 + i, key), { status: 'match' });
    }
    // Another round after the chain has drained still works.
    await recordHostKey(file, 'late', 22, ed);
    assert.deepEqual(checkHostKey(await readFile(file, 'utf8'), 'late', 22, ed), { status: 'match' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('fingerprint format matches ssh-keygen -l', async (t) => {
  for (const blob of [ed, ec]) {
    assert.match(fingerprint(blob), /^SHA256:[A-Za-z0-9+/]{43}$/);
  }
  if (!existsSync('/usr/bin/ssh-keygen')) {
    t.skip('ssh-keygen not installed');
    return;
  }
  const dir = await tempDir();
  try {
    for (const blob of [ed, ec]) {
      const file = join(dir, 'key.pub');
      await writeFile(file, `${keyType(blob)} ${blob.toString('base64')} test\n`);
      const output = execFileSync('/usr/bin/ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' });
      const expected = output.split(/\s+/)[1];
      assert.equal(fingerprint(blob), expected);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('ssh-keygen -F agrees on hashed and bracketed lookups', async (t) => {
  if (!existsSync('/usr/bin/ssh-keygen')) {
    t.skip('ssh-keygen not installed');
    return;
  }
  const dir = await tempDir();
  try {
    const file = join(dir, 'known_hosts');
    await writeFile(file, `${line(hashed('web1'), ed)}\n${line(hashed('[web2]:2222'), ec)}\n`);
    const found = (name: string): boolean => {
      try {
        execFileSync('/usr/bin/ssh-keygen', ['-F', name, '-f', file], { stdio: 'pipe' });
        return true;
      } catch {
        return false;
      }
    };
    assert.equal(found('web1'), checkHostKey(await readFile(file, 'utf8'), 'web1', 22, ed).status === 'match');
    assert.equal(found('[web2]:2222'), checkHostKey(await readFile(file, 'utf8'), 'web2', 2222, ec).status === 'match');
    assert.equal(found('web1'), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
