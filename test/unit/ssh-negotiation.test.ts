/** The intersection check: would this run's SSH client still complete a handshake with sshd's new lists, and trust the key? */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { SshClientProfile } from '../../src/engine/types.ts';
import { SSH2_DEFAULT_ALGORITHMS, sshClientProfile } from '../../src/transport/ssh-client-profile.ts';
import { preferredHostKeyAlgorithms } from '../../src/transport/host-key-policy.ts';
import { DEFAULT_CIPHERS, DEFAULT_MACS, defaultKex, hostKeyAlgorithmsFor } from '../../tasks/ssh/algorithms.ts';
import { clientHostKeyOrder, clientOffer, fingerprintOf, keyTrust, negotiate, offeredHostKeyAlgorithms, type ServerOffer } from '../../tasks/ssh/negotiation.ts';

const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINvJO1bM0IHF25aE2zqlb/OjwgwqFabGoxbkgZ+J/7KH';
const ECDSA =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPYzw+NrnUlm0XlZ8nzbDOw5QllwzxjLvqRsqVV58OfrpWgVA30xu/BKMlHiBTTM/oC4eWi7emGUPS+bR0Cuqtg=';
const DEBIAN_12 = { major: 9, minor: 2 };

/** The hardened sshd of a Debian 12 host with its ed25519 and RSA keys. */
const hardened: ServerOffer = {
  kex: defaultKex(DEBIAN_12, true),
  hostKeyAlgorithms: hostKeyAlgorithmsFor(['ed25519', 'rsa'], DEBIAN_12),
  ciphers: DEFAULT_CIPHERS,
  macs: DEFAULT_MACS,
  hostKeyTypes: ['ssh-ed25519', 'ssh-rsa'],
};

function profile(overrides: Partial<SshClientProfile> = {}): SshClientProfile {
  return {
    ...SSH2_DEFAULT_ALGORITHMS,
    trust: 'known-hosts',
    trustedKeys: [ED25519],
    trustedFingerprints: [],
    certificateAuthority: false,
    knownHostsFile: '/home/op/.ssh/known_hosts',
    ...overrides,
  };
}

test('the client algorithms provision assumes are ssh2\'s own defaults', () => {
  const constants = createRequire(import.meta.url)('ssh2/lib/protocol/constants.js') as Record<string, string[]>;
  assert.deepEqual(SSH2_DEFAULT_ALGORITHMS.kex, constants.DEFAULT_KEX);
  // Where chacha20-poly1305 sits depends on the CPU and on whether ssh2's native binding was built (npm ci
  // --ignore-scripts skips it); what a handshake can agree on is the set, and AES-GCM comes first either way.
  assert.deepEqual([...SSH2_DEFAULT_ALGORITHMS.cipher].sort(), [...constants.DEFAULT_CIPHER!].sort());
  assert.deepEqual(constants.DEFAULT_CIPHER!.slice(0, 2), SSH2_DEFAULT_ALGORITHMS.cipher.slice(0, 2));
  assert.deepEqual(SSH2_DEFAULT_ALGORITHMS.mac, constants.DEFAULT_MAC);
  assert.deepEqual(SSH2_DEFAULT_ALGORITHMS.hostKey, constants.DEFAULT_SERVER_HOST_KEY);
});

test('ssh2 meets the hardened Debian 12 sshd: curve25519, ed25519, AES-GCM, no MAC', () => {
  const result = negotiate(clientOffer(profile()), hardened);
  assert.deepEqual(result, { ok: true, kex: 'curve25519-sha256@libssh.org', hostKey: 'ssh-ed25519', cipher: 'aes128-gcm@openssh.com' });
});

test('a CTR cipher needs a common MAC, an AEAD one none', () => {
  const ctrOnly = { ...hardened, ciphers: ['aes256-ctr'] };
  assert.deepEqual(negotiate(clientOffer(profile()), ctrOnly), { ok: true, kex: 'curve25519-sha256@libssh.org', hostKey: 'ssh-ed25519', cipher: 'aes256-ctr', mac: 'hmac-sha2-256-etm@openssh.com' });
  const umacOnly = negotiate(clientOffer(profile()), { ...ctrOnly, macs: ['umac-128-etm@openssh.com'] });
  assert.equal(umacOnly.ok, false);
  assert.match(umacOnly.ok ? '' : umacOnly.problems.join('\n'), /^no common MAC for aes256-ctr: the client offers hmac-sha2-256-etm@openssh.com,.*; sshd would accept umac-128-etm@openssh.com$/);
});

test('lists the client has nothing of are each named', () => {
  const result = negotiate(clientOffer(profile()), { ...hardened, kex: ['sntrup761x25519-sha512@openssh.com'], ciphers: ['aes128-cbc'] });
  assert.equal(result.ok, false);
  const problems = result.ok ? [] : result.problems;
  assert.equal(problems.length, 2);
  assert.match(problems[0]!, /^no common key exchange: .*sshd would accept sntrup761x25519-sha512@openssh\.com$/);
  assert.match(problems[1]!, /^no common cipher: /);
});

test('sshd holding only an RSA key while HostKeyAlgorithms names only ed25519 offers no host key (sshd -t passes that)', () => {
  const rsaOnly = { ...hardened, hostKeyAlgorithms: hostKeyAlgorithmsFor(['ed25519'], DEBIAN_12), hostKeyTypes: ['ssh-rsa'] };
  assert.deepEqual(offeredHostKeyAlgorithms(rsaOnly), []);
  const result = negotiate(clientOffer(profile()), rsaOnly);
  assert.equal(result.ok, false);
  assert.match(result.ok ? '' : result.problems[0]!, /^sshd would offer no host key: HostKeyAlgorithms \(ssh-ed25519,.*\) names none of its keys \(ssh-rsa\)$/);
});

test('an ed25519-only sshd and an RSA-only sshd both still meet ssh2, with the key they hold', () => {
  const ed25519Only = { ...hardened, hostKeyAlgorithms: hostKeyAlgorithmsFor(['ed25519'], DEBIAN_12), hostKeyTypes: ['ssh-ed25519'] };
  assert.equal(negotiate(clientOffer(profile()), ed25519Only).ok && 'ssh-ed25519', 'ssh-ed25519');
  const rsaOnly = { ...hardened, hostKeyAlgorithms: hostKeyAlgorithmsFor(['rsa'], DEBIAN_12), hostKeyTypes: ['ssh-rsa'] };
  const result = negotiate(clientOffer(profile()), rsaOnly);
  assert.equal(result.ok ? result.hostKey : result.problems.join(), 'rsa-sha2-512');
});

test('certificate algorithms count only with a certificate, and an ECDSA key is not offered when HostKeyAlgorithms leaves it out', () => {
  const withEcdsa = { ...hardened, hostKeyTypes: ['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256'] };
  assert.deepEqual(offeredHostKeyAlgorithms(withEcdsa), ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256']);
});

test('a host known by its ECDSA key is asked for ECDSA first; once sshd drops ECDSA the client gets ed25519, which is then recorded', () => {
  const knownByEcdsa = profile({ trustedKeys: [ECDSA] });
  assert.deepEqual(clientOffer(knownByEcdsa).hostKey.slice(0, 2), ['ecdsa-sha2-nistp256', 'ssh-ed25519']);
  const stock: ServerOffer = { ...hardened, hostKeyAlgorithms: [...hardened.hostKeyAlgorithms, 'ecdsa-sha2-nistp256'], hostKeyTypes: ['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256'] };
  assert.equal((negotiate(clientOffer(knownByEcdsa), stock) as { hostKey: string }).hostKey, 'ecdsa-sha2-nistp256');
  assert.equal((negotiate(clientOffer(knownByEcdsa), hardened) as { hostKey: string }).hostKey, 'ssh-ed25519');
  assert.deepEqual(keyTrust(knownByEcdsa, ED25519), { status: 'record' });
  // Recorded, the key is known: the client then asks for ed25519 right after ECDSA and gets the same key.
  const recorded = profile({ trustedKeys: [ECDSA, ED25519] });
  assert.equal((negotiate(clientOffer(recorded), hardened) as { hostKey: string }).hostKey, 'ssh-ed25519');
  assert.deepEqual(keyTrust(recorded, ED25519), { status: 'trusted' });
});

test('pinned keys are never recorded: a key not pinned is refused, one pinned by key or fingerprint is trusted', () => {
  const pinnedEcdsa = profile({ trust: 'pinned', trustedKeys: [ECDSA] });
  assert.deepEqual(keyTrust(pinnedEcdsa, ED25519), { status: 'refused', reason: 'it is not among the keys pinned by ssh_host_key' });
  assert.deepEqual(keyTrust(pinnedEcdsa, null), { status: 'refused', reason: 'it is not among the keys pinned by ssh_host_key' });
  assert.deepEqual(keyTrust(profile({ trust: 'pinned', trustedKeys: [], trustedFingerprints: [fingerprintOf(ED25519)] }), ED25519), { status: 'trusted' });
  assert.deepEqual(keyTrust(profile({ trust: 'unchecked', trustedKeys: [] }), null), { status: 'trusted' });
  // A key this run makes is not known yet: recorded once it exists.
  assert.deepEqual(keyTrust(profile(), null), { status: 'record' });
});

test('the client\'s host key order is the transport\'s own', () => {
  const cases: string[][] = [[], ['ssh-ed25519'], ['ecdsa-sha2-nistp256'], ['ssh-rsa'], ['ssh-rsa', 'ecdsa-sha2-nistp384'], ['ecdsa-sha2-nistp256', 'ssh-ed25519']];
  for (const types of cases) {
    const knownHosts = types.map((type) => `example.org ${type} AAAA`).join('\n');
    const transport = preferredHostKeyAlgorithms({ address: 'example.org', port: 22, trustedPorts: [], knownHosts, pins: [] }) ?? [...SSH2_DEFAULT_ALGORITHMS.hostKey];
    assert.deepEqual(clientHostKeyOrder(SSH2_DEFAULT_ALGORITHMS.hostKey, types), transport, types.join(','));
  }
});

test('the profile reads the keys known for the host on its port and the inventory\'s, or its pins', () => {
  const settings = { address: 'node1.example', port: 2222, hostKeyPort: 22, user: 'root', become: false, knownHostsFile: '/k', hostKeyChecking: 'strict' as const, connectTimeout: 10, commandTimeout: 300 };
  const knownHosts = `node1.example ${ECDSA}\n[node1.example]:2222 ${ED25519}\nother.example ${ED25519}\n@cert-authority *.example ${ED25519}\n`;
  const known = sshClientProfile(settings, knownHosts);
  assert.equal(known.trust, 'known-hosts');
  assert.deepEqual(known.trustedKeys, [ED25519, ECDSA]);
  assert.equal(known.certificateAuthority, true);
  const pinned = sshClientProfile({ ...settings, hostKeys: [ED25519, 'SHA256:abc'] }, knownHosts);
  assert.deepEqual([pinned.trust, pinned.trustedKeys, pinned.trustedFingerprints], ['pinned', [ED25519], ['SHA256:abc']]);
  assert.equal(sshClientProfile({ ...settings, hostKeyChecking: 'off' }, '').trust, 'unchecked');
});
