/**
 * Host key trust without a server: the policy's verdicts (pins, known_hosts on the port and on the inventory's port,
 * @revoked, @cert-authority with real ssh-keygen certificates), ssh_host_key at load, and first contact under `ask`
 * (asked once, recorded only once accepted).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { UnreachableError } from '../../src/errors.ts';
import { decideHostKey, preferredHostKeyAlgorithms, UnknownHostKeyError, type HostKeyCheck } from '../../src/transport/host-key-policy.ts';
import { parseHostCertificate } from '../../src/transport/host-certificate.ts';
import { fingerprint, keyType } from '../../src/transport/known-hosts.ts';
import { parseHostKeyPin } from '../../src/inventory/host-key-pin.ts';
import { settleNewHostKeys, type NewHostKey } from '../../src/engine/new-host-keys.ts';
import { hostKeyQuestion } from '../../src/cli/host-key-prompt.ts';
import { decodeError, encodeError } from '../../src/transport/keeper/protocol.ts';
import { loadText, problemsOf, summarize } from './inventory-helpers.ts';

/** ssh2's generator now and then makes a key it cannot re-parse (a leading zero byte): draw again. */
function ed25519Blob(): Buffer {
  for (let attempt = 0; ; attempt++) {
    try {
      const parsed = ssh2.utils.parseKey(ssh2.utils.generateKeyPairSync('ed25519').public);
      if (parsed instanceof Error) throw parsed;
      return parsed.getPublicSSH();
    } catch (error) {
      if (attempt >= 10) throw error;
    }
  }
}

const hostKey = ed25519Blob();
const otherKey = ed25519Blob();
const text = (blob: Buffer) => `${keyType(blob)} ${blob.toString('base64')}`;
const FILE = '/home/op/.ssh/known_hosts';

function check(overrides: Partial<HostKeyCheck>): HostKeyCheck {
  return { address: '203.0.113.5', port: 22, trustedPorts: [], checking: 'ask', knownHostsFile: FILE, knownHosts: '', pins: [], key: hostKey, now: Date.now() / 1000, ...overrides };
}

function refusal(decision: ReturnType<typeof decideHostKey>): UnreachableError {
  assert.equal(decision.verdict, 'refused', JSON.stringify(decision));
  return (decision as { error: UnreachableError }).error;
}

describe('the host key policy', () => {
  test('a known key is trusted in every mode but off never looks; an unknown key: strict refuses, accept-new records, ask refuses until accepted', () => {
    const known = `203.0.113.5 ${text(hostKey)}\n`;
    for (const checking of ['strict', 'ask', 'accept-new'] as const) {
      assert.deepEqual(decideHostKey(check({ checking, knownHosts: known })), { verdict: 'trusted', by: 'known', record: false });
    }
    assert.match(refusal(decideHostKey(check({ checking: 'strict' }))).message, /not in \/home\/op\/\.ssh\/known_hosts \(ssh_host_key_checking: strict\)/);
    assert.deepEqual(decideHostKey(check({ checking: 'accept-new' })), { verdict: 'trusted', by: 'accepted-new', record: true });
    const asked = refusal(decideHostKey(check({ checking: 'ask' })));
    assert.ok(asked instanceof UnknownHostKeyError);
    assert.equal(asked.publicKey, text(hostKey));
    assert.equal(asked.fingerprint, fingerprint(hostKey));
    assert.match(asked.message, /nothing was sent to the host/);
    assert.deepEqual(decideHostKey(check({ checking: 'off' })), { verdict: 'trusted', by: 'unchecked', record: false });
  });

  test('a changed key fails in strict, ask and accept-new; off accepts it (documented)', () => {
    const stale = `203.0.113.5 ${text(otherKey)}\n`;
    for (const checking of ['strict', 'ask', 'accept-new'] as const) {
      const error = refusal(decideHostKey(check({ checking, knownHosts: stale })));
      assert.ok(!(error instanceof UnknownHostKeyError), checking);
      assert.match(error.message, /HOST KEY CHANGED for 203\.0\.113\.5: .* line 1/);
    }
    assert.equal(decideHostKey(check({ checking: 'off', knownHosts: stale })).verdict, 'trusted');
  });

  test('on a fallback port, the key known for the inventory port vouches for the host, and a different key is a changed key, not a new one', () => {
    const known = `203.0.113.5 ${text(hostKey)}\n`;
    const moved = { port: 2222, trustedPorts: [22], knownHosts: known };
    assert.deepEqual(decideHostKey(check({ ...moved, checking: 'ask' })), { verdict: 'trusted', by: 'known-on-inventory-port', record: true });
    assert.deepEqual(decideHostKey(check({ ...moved, checking: 'strict' })), { verdict: 'trusted', by: 'known-on-inventory-port', record: false });
    for (const checking of ['strict', 'ask', 'accept-new'] as const) {
      const error = refusal(decideHostKey(check({ ...moved, checking, key: otherKey })));
      assert.ok(!(error instanceof UnknownHostKeyError), `${checking}: a different key on the moved port must not be taken for a new one`);
      assert.match(error.message, /HOST KEY CHANGED for \[203\.0\.113\.5\]:2222: .*the key known for 203\.0\.113\.5 in/);
    }
  });

  test('a pinned key must be one of the pins, whatever the mode (off included); a fingerprint pins too', () => {
    for (const checking of ['strict', 'ask', 'accept-new', 'off'] as const) {
      assert.deepEqual(decideHostKey(check({ checking, pins: [text(otherKey), text(hostKey)] })), { verdict: 'trusted', by: 'pinned', record: false });
      assert.deepEqual(decideHostKey(check({ checking, pins: [fingerprint(hostKey)] })), { verdict: 'trusted', by: 'pinned', record: false });
      const error = refusal(decideHostKey(check({ checking, pins: [text(otherKey)], knownHosts: `203.0.113.5 ${text(hostKey)}\n` })));
      assert.match(error.message, new RegExp(`HOST KEY MISMATCH for 203\\.0\\.113\\.5: the server offered ssh-ed25519 ${fingerprint(hostKey).replace(/[+/]/g, '\\$&')}, which is not the key pinned in the inventory \\(ssh_host_key: ssh-ed25519 ${fingerprint(otherKey).replace(/[+/]/g, '\\$&')}\\)`));
    }
  });

  test('a @revoked key is refused even when pinned or listed', () => {
    const revoked = `@revoked * ${text(hostKey)}\n203.0.113.5 ${text(hostKey)}\n`;
    assert.match(refusal(decideHostKey(check({ knownHosts: revoked }))).message, /marked @revoked in .* line 1/);
    assert.match(refusal(decideHostKey(check({ knownHosts: revoked, pins: [text(hostKey)] }))).message, /@revoked/);
  });
});

test('the key types already trusted for a host are asked for first; nothing known leaves the library its order', () => {
  const rsaLine = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7';
  const base = { address: '203.0.113.5', port: 2222, trustedPorts: [22], pins: [] as string[] };
  assert.equal(preferredHostKeyAlgorithms({ ...base, knownHosts: '' }), undefined);
  assert.equal(preferredHostKeyAlgorithms({ ...base, knownHosts: `other.example ${rsaLine}\n` }), undefined);
  // Known for the inventory's port only (sshd moved): still asked for first.
  assert.deepEqual(preferredHostKeyAlgorithms({ ...base, knownHosts: `203.0.113.5 ${rsaLine}\n` })?.slice(0, 4), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519']);
  const ecdsa = preferredHostKeyAlgorithms({ ...base, knownHosts: `[203.0.113.5]:2222 ecdsa-sha2-nistp256 AAAA\n@revoked * ssh-ed25519 AAAA\n` });
  assert.deepEqual(ecdsa?.[0], 'ecdsa-sha2-nistp256');
  assert.equal(ecdsa?.length, 7, 'every algorithm is still offered, once');
  // Pins decide alone; a fingerprint pin says no type.
  assert.deepEqual(preferredHostKeyAlgorithms({ ...base, knownHosts: `203.0.113.5 ${rsaLine}\n`, pins: [text(hostKey)] })?.[0], 'ssh-ed25519');
  assert.equal(preferredHostKeyAlgorithms({ ...base, knownHosts: `203.0.113.5 ${rsaLine}\n`, pins: [fingerprint(hostKey)] }), undefined);
});

describe('host certificates (@cert-authority)', () => {
  const haveKeygen = existsSync('/usr/bin/ssh-keygen');
  const dir = mkdtempSync(join(tmpdir(), 'host-cert-test-'));
  const keygen = (...args: string[]) => execFileSync('/usr/bin/ssh-keygen', args, { stdio: 'pipe' });
  const publicBlob = (file: string) => Buffer.from(readFileSync(file, 'utf8').split(' ')[1]!, 'base64');
  /** A fresh key pair of `type` in the temp dir: its path (the public half is `.pub`). */
  let made = 0;
  const keyPair = (type: string, bits?: string) => {
    const file = join(dir, `key${++made}`);
    keygen('-q', '-t', type, ...(bits ? ['-b', bits] : []), '-N', '', '-f', file);
    return file;
  };
  /** Signs `key`'s public half with `ca`: a host certificate unless `user`; returns the certificate blob. */
  const certify = (ca: string, key: string, options: { principals?: string; validity?: string; user?: boolean; signature?: string } = {}) => {
    keygen('-q', '-s', ca, ...(options.user ? [] : ['-h']), '-I', 'test-host', ...(options.principals ? ['-n', options.principals] : []), ...(options.validity ? ['-V', options.validity] : []), ...(options.signature ? ['-t', options.signature] : []), `${key}.pub`);
    return publicBlob(`${key}-cert.pub`);
  };
  const caLine = (ca: string, hosts = '*') => `@cert-authority ${hosts} ${readFileSync(`${ca}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`;

  test('a certificate from a listed CA vouches for the key that signed the session, and for no other', { skip: !haveKeygen && 'ssh-keygen not installed' }, () => {
    try {
      for (const [caType, bits] of [['ed25519'], ['ecdsa', '384'], ['rsa', '2048']] as const) {
        const ca = keyPair(caType, bits);
        for (const [hostType, hostBits] of [['ed25519'], ['ecdsa', '256'], ['rsa', '2048']] as const) {
          const host = keyPair(hostType, hostBits);
          const key = publicBlob(`${host}.pub`);
          const certificate = certify(ca, host, { principals: '203.0.113.5,node1.example.org' });
          assert.deepEqual(parseHostCertificate(certificate).key, key, 'the certified key is the plain key');
          const base = check({ key, knownHosts: caLine(ca, '203.0.113.*') });
          assert.deepEqual(decideHostKey(base), { verdict: 'needs-certificates' }, 'certificates are fetched only when a CA applies');
          assert.deepEqual(decideHostKey({ ...base, certificates: [certificate] }), { verdict: 'trusted', by: 'certificate', record: false }, `${caType} CA, ${hostType} host`);
          // A man in the middle relays the real certificate but signs the session with a key of its own.
          const error = refusal(decideHostKey({ ...base, key: otherKey, certificates: [certificate] }));
          assert.ok(error instanceof UnknownHostKeyError);
          assert.match(error.message, /not certified by the @cert-authority .* line 1 \(the server offers no certificate for the key it signed with\)/);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('expired, future, wrong-host, user and other-CA certificates are refused; a @revoked CA too', { skip: !haveKeygen && 'ssh-keygen not installed' }, () => {
    const dir2 = mkdtempSync(join(tmpdir(), 'host-cert-test-'));
    const pair = (name: string) => {
      const file = join(dir2, name);
      keygen('-q', '-t', 'ed25519', '-N', '', '-f', file);
      return file;
    };
    try {
      const ca = pair('ca');
      const otherCa = pair('other-ca');
      const cases: Array<[string, () => Buffer, RegExp]> = [
        ['expired', () => certify(ca, pair('h1'), { principals: '203.0.113.5', validity: '20200101:20200102' }), /has expired/],
        ['not yet valid', () => certify(ca, pair('h2'), { principals: '203.0.113.5', validity: '+52w:+104w' }), /not valid yet/],
        ['another host', () => certify(ca, pair('h3'), { principals: 'node9.example.org' }), /names node9\.example\.org, not 203\.0\.113\.5/],
        ['a user certificate', () => certify(ca, pair('h4'), { principals: '203.0.113.5', user: true }), /user certificate/],
        ['another CA', () => certify(otherCa, pair('h5'), { principals: '203.0.113.5' }), /signed by another CA/],
      ];
      for (const [what, make, reason] of cases) {
        const certificate = make();
        const key = parseHostCertificate(certificate).key;
        for (const checking of ['strict', 'ask'] as const) {
          const error = refusal(decideHostKey(check({ checking, key, knownHosts: caLine(ca), certificates: [certificate] })));
          assert.match(error.message, reason, `${what} (${checking}): ${error.message}`);
        }
      }
      // No principals: valid for any host, as OpenSSH has it.
      const any = certify(ca, pair('h6'));
      assert.equal(decideHostKey(check({ key: parseHostCertificate(any).key, knownHosts: caLine(ca), certificates: [any] })).verdict, 'trusted');
      const revokedCa = `@revoked * ${readFileSync(`${ca}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n${caLine(ca)}`;
      assert.match(refusal(decideHostKey(check({ key: parseHostCertificate(any).key, knownHosts: revokedCa, certificates: [any] }))).message, /CA is marked @revoked/);
      // A CA line for other hosts does not apply: the key is simply new.
      assert.ok(decideHostKey(check({ key: parseHostCertificate(any).key, knownHosts: caLine(ca, '*.example.org') })).verdict === 'refused');
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  });

  test('hostile certificates: 500 mutations of a valid one never throw and are never trusted', { skip: !haveKeygen && 'ssh-keygen not installed' }, () => {
    const dir3 = mkdtempSync(join(tmpdir(), 'host-cert-fuzz-'));
    try {
      const ca = join(dir3, 'ca');
      const host = join(dir3, 'host');
      for (const file of [ca, host]) keygen('-q', '-t', 'ed25519', '-N', '', '-f', file);
      const certificate = certify(ca, host, { principals: '203.0.113.5' });
      const base = check({ key: parseHostCertificate(certificate).key, knownHosts: caLine(ca) });
      assert.equal(decideHostKey({ ...base, certificates: [certificate] }).verdict, 'trusted');
      let state = 12345;
      const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296;
      for (let round = 0; round < 500; round++) {
        const mutated = Buffer.from(certificate);
        for (let edits = 1 + Math.floor(next() * 4); edits > 0; edits--) mutated[Math.floor(next() * mutated.length)] = Math.floor(next() * 256);
        const cut = next() < 0.2 ? mutated.subarray(0, Math.floor(next() * mutated.length)) : mutated;
        const decision = decideHostKey({ ...base, certificates: [cut] });
        if (!cut.equals(certificate)) assert.notEqual(decision.verdict, 'trusted', `round ${round} trusted a mutated certificate`);
      }
    } finally {
      rmSync(dir3, { recursive: true, force: true });
    }
  });

  test('a server without a certificate, or a controller without ssh-keygen, leaves a new key: asked about under ask', () => {
    const ca = `@cert-authority * ${text(otherKey)}\n`;
    const error = refusal(decideHostKey(check({ knownHosts: ca, certificates: { problem: 'the server offers no host certificate' } })));
    assert.ok(error instanceof UnknownHostKeyError);
    assert.match(error.message, /the server offers no host certificate/);
    assert.deepEqual(decideHostKey(check({ checking: 'accept-new', knownHosts: ca, certificates: [] })), { verdict: 'trusted', by: 'accepted-new', record: true });
  });
});

describe('ssh_host_key in the inventory', () => {
  test('a .pub line (comment dropped), a list, and SHA256 fingerprints load as pins', async () => {
    const inventory = await loadText(`all:
  hosts:
    a:
      ssh_host_key: ${text(hostKey)} root@node1
    b:
      ssh_host_key:
        - ${text(hostKey)}
        - ${fingerprint(otherKey)}
    c: {}
`);
    const pins = (name: string) => inventory.hosts.find((host) => host.name === name)?.connection.hostKeys;
    assert.deepEqual(pins('a'), [text(hostKey)]);
    assert.deepEqual(pins('b'), [text(hostKey), fingerprint(otherKey)]);
    assert.equal(pins('c'), undefined);
  });

  test('a pasted key with a mistake is refused at load, at its line and column', async () => {
    const cut = text(hostKey).slice(0, 40);
    const mixed = `ecdsa-sha2-nistp256 ${hostKey.toString('base64')}`;
    const problems = await problemsOf(
      loadText(`all:
  hosts:
    a: {ssh_host_key: ssh-dsa AAAAB3}
    b: {ssh_host_key: "${cut}"}
    c: {ssh_host_key: "${mixed}"}
    d: {ssh_host_key: "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48"}
    e: {ssh_host_key: []}
    f: {ssh_host_key: [SHA256:short]}
`),
    );
    assert.deepEqual(
      summarize(problems).map((line) => line.replace(/: (expected|unknown|the|MD5|a SHA256).*/, ': $1…')),
      [
        '3:23 all.hosts.a.ssh_host_key: unknown…',
        '4:23 all.hosts.b.ssh_host_key: the…',
        '5:23 all.hosts.c.ssh_host_key: the…',
        '6:23 all.hosts.d.ssh_host_key: MD5…',
        '7:23 all.hosts.e.ssh_host_key: expected…',
        '8:24 all.hosts.f.ssh_host_key[0]: expected…',
      ],
    );
    assert.match(problems[2]!.message, /not a ecdsa-sha2-nistp256 key \(it says "ssh-ed25519"\)/);
  });

  test('parseHostKeyPin normalises and explains', () => {
    assert.deepEqual(parseHostKeyPin(`  ${text(hostKey)}  comment with spaces `), { pin: text(hostKey) });
    assert.deepEqual(parseHostKeyPin(fingerprint(hostKey)), { pin: fingerprint(hostKey) });
    assert.ok('problem' in parseHostKeyPin(''));
    assert.ok('problem' in parseHostKeyPin('ssh-ed25519'));
    assert.ok('problem' in parseHostKeyPin(`ssh-ed25519 ${hostKey.subarray(0, 20).toString('base64')}`));
  });
});

describe('first contact under ask', () => {
  const scratch = () => mkdtempSync(join(tmpdir(), 'new-host-keys-test-'));
  const unknown = (file: string, port: number, key = hostKey) => new UnknownHostKeyError('127.0.0.1', port, text(key), file);

  test('accepted keys are recorded once, also for several names of one server; declined or unasked keys are refused, naming the fingerprint and the pin to write', async () => {
    const dir = scratch();
    try {
      const file = join(dir, 'known_hosts');
      const asked: NewHostKey[][] = [];
      const settled = await settleNewHostKeys(
        [
          { host: 'node1', error: unknown(file, 2201) },
          { host: 'node1-alias', error: unknown(file, 2201) },
          { host: 'node2', error: unknown(file, 2202, otherKey) },
        ],
        async (keys) => {
          asked.push([...keys]);
          return { accepted: true };
        },
      );
      assert.equal(asked.length, 1, 'asked once for all hosts');
      assert.deepEqual(asked[0]!.map((key) => [key.host, key.where, key.fingerprint]), [
        ['node1', '[127.0.0.1]:2201', fingerprint(hostKey)],
        ['node1-alias', '[127.0.0.1]:2201', fingerprint(hostKey)],
        ['node2', '[127.0.0.1]:2202', fingerprint(otherKey)],
      ]);
      assert.deepEqual([...settled.entries()], [['node1', undefined], ['node1-alias', undefined], ['node2', undefined]]);
      assert.equal(readFileSync(file, 'utf8'), `[127.0.0.1]:2201 ${text(hostKey)}\n[127.0.0.1]:2202 ${text(otherKey)}\n`);

      for (const consent of [async () => ({ accepted: false as const, why: 'the operator declined it' }), undefined]) {
        const other = join(dir, 'declined');
        const refused = await settleNewHostKeys([{ host: 'node3', error: unknown(other, 2203) }], consent);
        const error = refused.get('node3');
        assert.ok(error instanceof UnknownHostKeyError);
        assert.match(error.message, new RegExp(`new host key for \\[127\\.0\\.0\\.1\\]:2203: ssh-ed25519 ${fingerprint(hostKey).replace(/[+/]/g, '\\$&')} .*was not accepted: (the operator declined it|nobody was asked)\\. Nothing was sent to the host`));
        assert.ok(error.message.includes(`ssh_host_key: ${text(hostKey)}`), error.message);
        assert.equal(existsSync(other), false, 'nothing is recorded');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('one server offering two different keys to one run is refused for both, without asking', async () => {
    const dir = scratch();
    try {
      const file = join(dir, 'known_hosts');
      let asked = false;
      const settled = await settleNewHostKeys([{ host: 'a', error: unknown(file, 2201) }, { host: 'b', error: unknown(file, 2201, otherKey) }], async () => {
        asked = true;
        return { accepted: true };
      });
      assert.equal(asked, false);
      for (const host of ['a', 'b']) assert.match(settled.get(host)?.message ?? '', /offered different keys to two connections of this run/);
      assert.equal(existsSync(file), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the question lists host, address, type and fingerprint, and where the keys go', () => {
    const question = hostKeyQuestion([
      { host: 'node1', where: '203.0.113.11', keyType: 'ssh-ed25519', fingerprint: fingerprint(hostKey), knownHostsFile: FILE },
      { host: 'balancer1', where: '[203.0.113.10]:2222', keyType: 'ecdsa-sha2-nistp256', fingerprint: fingerprint(otherKey), knownHostsFile: FILE },
    ]);
    assert.match(question, /^New host keys \(first contact: nothing has been sent to these hosts yet\):\n/);
    assert.ok(question.includes(`  node1      203.0.113.11         ssh-ed25519          ${fingerprint(hostKey)}\n`), question);
    assert.ok(question.includes(`  balancer1  [203.0.113.10]:2222  ecdsa-sha2-nistp256  ${fingerprint(otherKey)}\n`), question);
    assert.match(question, /recorded in \/home\/op\/\.ssh\/known_hosts\. \[y\/N\] $/);
  });

  test('a new key found by the connection keeper reaches the run as the same error, key and all', () => {
    for (const error of [unknown('/k/known_hosts', 2201), unknown('/k/known_hosts', 2201).asJumpHost()]) {
      const rebuilt = decodeError(JSON.parse(JSON.stringify(encodeError(error))));
      assert.ok(rebuilt instanceof UnknownHostKeyError);
      assert.deepEqual(
        [rebuilt.address, rebuilt.port, rebuilt.publicKey, rebuilt.knownHostsFile, rebuilt.message, rebuilt.jumpHost],
        [error.address, error.port, error.publicKey, error.knownHostsFile, error.message, error.jumpHost],
      );
    }
  });

  test("a jump host's new key is asked about once for every host behind it, and is recorded, never pinned", async () => {
    const dir = scratch();
    try {
      const file = join(dir, 'known_hosts');
      const asked: NewHostKey[][] = [];
      const gateway = () => unknown(file, 2200).asJumpHost();
      assert.match(gateway().message, /^new host key for jump host \[127\.0\.0\.1\]:2200: ssh-ed25519 .*nothing was sent to it$/);
      const settled = await settleNewHostKeys(
        [
          { host: 'node1', error: gateway() },
          { host: 'node2', error: gateway() },
          { host: 'node3', error: unknown(file, 2203, otherKey) },
        ],
        async (keys) => {
          asked.push([...keys]);
          return { accepted: true };
        },
      );
      assert.deepEqual(asked[0]!.map((key) => [key.host, key.where]), [
        ['jump host of node1, node2', '[127.0.0.1]:2200'],
        ['node3', '[127.0.0.1]:2203'],
      ]);
      assert.deepEqual([...settled.values()], [undefined, undefined, undefined]);
      assert.equal(readFileSync(file, 'utf8'), `[127.0.0.1]:2200 ${text(hostKey)}\n[127.0.0.1]:2203 ${text(otherKey)}\n`);

      const declined = (await settleNewHostKeys([{ host: 'node1', error: unknown(join(dir, 'other'), 2200).asJumpHost() }])).get('node1');
      assert.ok(declined instanceof UnknownHostKeyError && declined.jumpHost);
      assert.match(declined.message, /^new host key for jump host \[127\.0\.0\.1\]:2200: .* was not accepted: nobody was asked\. Nothing was sent to it\. /);
      assert.ok(declined.message.includes(`add the line "[127.0.0.1]:2200 ${text(hostKey)}" to ${join(dir, 'other')}`), declined.message);
      assert.ok(!declined.message.includes('ssh_host_key'), 'ssh_host_key pins the host, not its jump host');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
