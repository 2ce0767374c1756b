/** sshd's cryptography: the lists by OpenSSH version, the host keys offered, the pruned moduli, and the block they make. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { defaultKex, hostKeyAlgorithmsFor, sshdCrypto } from '../../tasks/ssh/algorithms.ts';
import { hostKeys, hostKeysPresent, parseHostKeys, rsaModulusBits } from '../../tasks/ssh/host-keys.ts';
import { PRUNED_MODULI, groupExchangeProblem, moduliState, parseModuli, prunedCopyCurrent, prunedModuli, pruneCommand } from '../../tasks/ssh/moduli.ts';
import { opensshVersion } from '../../tasks/ssh/facts.ts';
import { expectedEffective, hardeningSettings, renderBlock } from '../../tasks/ssh/render.ts';
import { findConflicts } from '../../tasks/ssh/scan.ts';
import { sshVars } from '../../tasks/ssh/vars.ts';
import { planWith } from '../support/fake-context.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/ssh/${name}`, import.meta.url), 'utf8');
const DEBIAN_KEYS = parseHostKeys({ stdout: fixture('host-keys-debian12.txt'), code: 0 });
const STOCK_MODULI = parseModuli({ stdout: fixture('moduli-stock.txt'), code: 0 });
const PRUNED = parseModuli({ stdout: fixture('moduli-pruned.txt'), code: 0 });
const defaults = sshVars('/tmp').parse({});
const DEBIAN_12 = { major: 9, minor: 2 };
/** A 2048-bit RSA host key, as old images have. */
const SMALL_RSA =
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDI8ozVfsJq9on4Dxw9X7028QCrjNwme3+zIdUpTIx/6+lQFokb6SKZ+lYp2NWUDIQ+XUzCjf9QTBs0NzWjdog1S8cay6wLnuuSQHEEJcnxFsvonXfPKhgu8+WcR05FH2UjiVxf9cXvbZSAvX6k/TijXwXaf5baqdY+2Kk1KyzMSfRkbv9lKB9mwpfvWsUl6FVUcWvKdY9BTy/xtccd8VJSy22rVe+XsN8ocm/58NOD8mFTcLftRduzK1VmFBa/XnUG7wuSRHcgcsZa0SV4l5gRb5C4Aki7BlX+rQhO0O+unizzW1orgK3CELiPYDjlfsoUN6lMN06BIRP8KKegKZ+b';

test('the host key fact reads each key file, and the size of an RSA key from its public key', () => {
  assert.deepEqual(Object.keys(DEBIAN_KEYS), ['ed25519', 'rsa', 'ecdsa']);
  assert.equal(DEBIAN_KEYS.rsa?.bits, 3072);
  assert.equal(DEBIAN_KEYS.ed25519?.bits, undefined);
  assert.match(DEBIAN_KEYS.ed25519?.publicKey ?? '', /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\S+$/);
  assert.equal(rsaModulusBits(Buffer.from(SMALL_RSA.split(' ')[1]!, 'base64')), 2048);
  // A private key without its .pub: present, public key unknown.
  assert.deepEqual(parseHostKeys({ stdout: '== ed25519 \n', code: 0 }), { ed25519: { path: '/etc/ssh/ssh_host_ed25519_key', publicKey: null } });
  assert.match(hostKeys.command.text, /read -r line < "\$key.pub"/);
});

test('the lists follow the OpenSSH version: ML-KEM from 9.9, sntrup761 from 8.5, never NIST curves or SHA-1', () => {
  assert.deepEqual(defaultKex(DEBIAN_12, true), [
    'sntrup761x25519-sha512@openssh.com',
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    'diffie-hellman-group-exchange-sha256',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group18-sha512',
  ]);
  assert.equal(defaultKex({ major: 9, minor: 9 }, false)[0], 'mlkem768x25519-sha256');
  assert.equal(defaultKex({ major: 8, minor: 4 }, false)[0], 'curve25519-sha256');
  assert.equal(defaultKex(DEBIAN_12, false).includes('diffie-hellman-group-exchange-sha256'), false, 'no group exchange without the pruned groups');
  assert.deepEqual(hostKeyAlgorithmsFor(['ed25519'], { major: 8, minor: 1 }), ['ssh-ed25519', 'ssh-ed25519-cert-v01@openssh.com']);
  const crypto = sshdCrypto(defaults, DEBIAN_12, DEBIAN_KEYS, PRUNED_MODULI);
  for (const name of [...crypto.kex, ...crypto.hostKeyAlgorithms, ...crypto.macs]) assert.doesNotMatch(name, /nistp|sha1|ssh-rsa$|ssh-dss|umac-64|^hmac-sha2-(256|512)$/, name);
  assert.deepEqual(crypto.hostKeys, ['/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_rsa_key']);
  assert.equal(crypto.moduliFile, PRUNED_MODULI);
  assert.throws(() => sshdCrypto(defaults, { major: 7, minor: 2 }, DEBIAN_KEYS, undefined), /OpenSSH 7\.2 is older than 7\.4: .*set ssh\.kex_algorithms, ssh\.ciphers, ssh\.macs and ssh\.host_key_algorithms/);
});

test('a small RSA host key is left out, not replaced; ECDSA is never offered', () => {
  const keys = { ...DEBIAN_KEYS, rsa: { path: '/etc/ssh/ssh_host_rsa_key', publicKey: SMALL_RSA, bits: 2048 } };
  const crypto = sshdCrypto(defaults, DEBIAN_12, keys, PRUNED_MODULI);
  assert.deepEqual(crypto.hostKeys, ['/etc/ssh/ssh_host_ed25519_key']);
  assert.deepEqual(crypto.hostKeyTypes, ['ssh-ed25519']);
  assert.equal(crypto.hostKeyAlgorithms.some((name) => name.startsWith('rsa-')), false);
  assert.match(crypto.notes[0] ?? '', /^the RSA host key has 2048 bits \(< ssh\.rsa_host_key_min_bits 3072\): not offered; to offer RSA again, make a new one on the host \(ssh-keygen -t rsa -b 3072/);
  assert.equal(sshVars('/tmp').safeParse({ host_key_types: ['ecdsa'] }).success, false);
});

test('a missing ed25519 key is made on the host, a missing .pub from its private key; an existing key is never replaced', () => {
  const vars = { ssh: defaults };
  const made = planWith(hostKeysPresent({ name: 'h1', groups: ['all'], privateIp: '', connection: {} as never, vars }), vars, { [hostKeys.key]: { rsa: DEBIAN_KEYS.rsa } });
  assert.equal(made.status, 'change');
  const change = made.status === 'change' ? made.changes[0] : undefined;
  assert.equal(change?.summary, 'make an ed25519 host key on the host');
  assert.match(change?.steps[0]?.kind === 'run' ? change.steps[0].command.text : '', /^ssh-keygen -q -t ed25519 {2}-N '' -C '' -f \/etc\/ssh\/ssh_host_ed25519_key$/);
  const pubOnly = planWith(hostKeysPresent({ name: 'h1', groups: ['all'], privateIp: '', connection: {} as never, vars }), vars, {
    [hostKeys.key]: { ...DEBIAN_KEYS, ed25519: { path: '/etc/ssh/ssh_host_ed25519_key', publicKey: null } },
  });
  const step = pubOnly.status === 'change' ? pubOnly.changes[0].steps[0] : undefined;
  assert.match(step?.kind === 'run' ? step.command.text : '', /ssh-keygen -y -f \/etc\/ssh\/ssh_host_ed25519_key > /);
  const ok = planWith(hostKeysPresent({ name: 'h1', groups: ['all'], privateIp: '', connection: {} as never, vars }), vars, { [hostKeys.key]: DEBIAN_KEYS });
  assert.deepEqual(ok, { status: 'ok', reason: 'sshd has its ed25519 and rsa (3072 bits) host keys' });
});

test('the moduli fact counts the shipped groups by size, and the pruned copy is current only for this source and bound', () => {
  assert.equal(STOCK_MODULI.source, '17a9f49ca51718883cffaccf444ef4ca1e78216bbf88e0a897ef04677e5a06a6');
  assert.equal(STOCK_MODULI.sizes[2047], 60);
  assert.equal(STOCK_MODULI.pruned, null);
  assert.deepEqual(PRUNED.pruned && { groups: PRUNED.pruned.groups, bad: PRUNED.pruned.bad, smallest: PRUNED.pruned.smallest }, { groups: 363, bad: 0, smallest: 3071 });
  assert.equal(prunedCopyCurrent(PRUNED, 3072), true);
  assert.equal(prunedCopyCurrent(PRUNED, 4096), false, 'another bound');
  assert.equal(prunedCopyCurrent({ ...PRUNED, source: 'f'.repeat(64) }, 3072), false, 'the source changed (an upgrade)');
  assert.equal(prunedCopyCurrent({ ...PRUNED, pruned: { ...PRUNED.pruned!, bad: 1 } }, 3072), false, 'an edited copy');
  assert.match(groupExchangeProblem(PRUNED, { major: 8, minor: 4 }, 3072) ?? '', /^OpenSSH 8\.4 has no ModuliFile/);
  assert.match(groupExchangeProblem({ ...PRUNED, source: null }, DEBIAN_12, 3072) ?? '', /does not exist/);
  assert.match(groupExchangeProblem(PRUNED, DEBIAN_12, 8192 + 1) ?? '', /has no group of 8193 bits or more/);
});

test('the pruned copy is written through a checked temp file, and planned with its counts', () => {
  const vars = { ssh: defaults };
  const host = { name: 'h1', groups: ['all'], privateIp: '', connection: {} as never, vars };
  const result = planWith(prunedModuli(host), vars, { [moduliState.key]: STOCK_MODULI, [opensshVersion.key]: DEBIAN_12 });
  assert.equal(result.status, 'change');
  const change = result.status === 'change' ? result.changes[0] : undefined;
  assert.equal(change?.summary, `write ${PRUNED_MODULI}: the 363 of 423 groups of /etc/ssh/moduli of at least 3072 bits`);
  const script = pruneCommand(3072).text;
  assert.match(script, /mktemp \/etc\/ssh\/moduli\.provision\.XXXXXX/);
  assert.match(script, /awk -v bound=3071 '!\/\^#\/ && NF == 7 && \$2 == 2 && \$5 >= bound'/);
  assert.match(script, /END \{ exit !\(groups > 0 && !bad\) \}/);
  assert.ok(script.indexOf('mv -f "$tmp" /etc/ssh/moduli.provision') > script.indexOf('exit !(groups'), 'renamed only once checked');
  assert.deepEqual(planWith(prunedModuli(host), vars, { [moduliState.key]: PRUNED, [opensshVersion.key]: DEBIAN_12 }).status, 'ok');
  const old = planWith(prunedModuli(host), vars, { [moduliState.key]: STOCK_MODULI, [opensshVersion.key]: { major: 8, minor: 4 } });
  assert.match(old.status === 'ok' ? old.reason : '', /sshd does not offer DH group exchange/);
});

test('the managed block carries the algorithms, the host keys, the groups and the session limits', () => {
  const crypto = sshdCrypto(defaults, DEBIAN_12, DEBIAN_KEYS, PRUNED_MODULI);
  const block = renderBlock(hardeningSettings(defaults, { kbdInteractiveKeyword: 'KbdInteractiveAuthentication', crypto }));
  for (const line of [
    'HostKey /etc/ssh/ssh_host_ed25519_key',
    'HostKey /etc/ssh/ssh_host_rsa_key',
    'KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512',
    'Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr',
    'MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com',
    'HostKeyAlgorithms ssh-ed25519,ssh-ed25519-cert-v01@openssh.com,sk-ssh-ed25519@openssh.com,sk-ssh-ed25519-cert-v01@openssh.com,rsa-sha2-512,rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256,rsa-sha2-256-cert-v01@openssh.com',
    'ModuliFile /etc/ssh/moduli.provision',
    'AllowTcpForwarding no',
    'AllowAgentForwarding no',
    'AllowStreamLocalForwarding no',
    'PermitTunnel no',
    'PermitUserEnvironment no',
    'MaxStartups 10:30:60',
    'ClientAliveInterval 300',
    'ClientAliveCountMax 3',
    'LogLevel VERBOSE',
  ]) {
    assert.ok(block.split('\n').includes(line), `missing: ${line}`);
  }
  // sshd -T prints one hostkey line per file, and the rest as written (LogLevel in capitals).
  const expected = expectedEffective(hardeningSettings(defaults, { kbdInteractiveKeyword: 'KbdInteractiveAuthentication', crypto }));
  assert.deepEqual(expected.get('hostkey'), ['/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_rsa_key']);
  assert.deepEqual(expected.get('loglevel'), ['VERBOSE']);
  const jump = new Map(hardeningSettings(sshVars('/tmp').parse({ allow_forwarding: true, client_alive_interval: '1m', log_level: 'INFO' }), { kbdInteractiveKeyword: 'KbdInteractiveAuthentication' }));
  assert.deepEqual([jump.get('AllowTcpForwarding'), jump.get('AllowAgentForwarding'), jump.get('ClientAliveInterval'), jump.get('LogLevel')], [['yes'], ['no'], ['60'], ['INFO']]);
});

test('a Match block that sets the hardened value again is harmless; one that loosens it, or a drop-in HostKey, is a conflict', () => {
  const managed = new Map([
    ['allowtcpforwarding', 'no'],
    ['x11forwarding', 'no'],
    ['hostkey', '/etc/ssh/ssh_host_ed25519_key'],
  ]);
  const sftp = 'Match Group sftp\n  ForceCommand internal-sftp\n  AllowTcpForwarding no\n  X11Forwarding no\n';
  assert.deepEqual(findConflicts({ path: '/etc/ssh/sshd_config.d/sftp.conf', content: sftp }, managed), []);
  const loose = 'HostKey /etc/ssh/extra_key\nMatch User ci\n  AllowTcpForwarding yes\n';
  assert.deepEqual(
    findConflicts({ path: '/x.conf', content: loose }, managed).map((conflict) => [conflict.line, conflict.why]),
    [
      [1, 'sshd adds every hostkey line instead of keeping the first'],
      [3, 'a Match block overrides the hardened value for the connections it matches'],
    ],
  );
});
