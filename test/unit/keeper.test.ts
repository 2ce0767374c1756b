/** The connection keeper's pure parts: what a kept connection must match, its socket's directory, its messages. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionSettings } from '../../src/inventory/types.ts';
import { UnreachableError } from '../../src/errors.ts';
import { CommandTimeoutError, PortUnansweredError } from '../../src/transport/remote-command.ts';
import { connectionKey, keeperEnvironment, keyFilesContents, persistSeconds } from '../../src/transport/open-connection.ts';
import { keeperDir, keeperSocket, unsafeKeeperDir } from '../../src/transport/keeper/paths.ts';
import { decodeError, encodeError, readMessages, sendMessage } from '../../src/transport/keeper/protocol.ts';

const settings: ConnectionSettings = {
  address: '10.0.0.5',
  port: 22,
  user: 'root',
  become: false,
  knownHostsFile: '/home/op/.ssh/known_hosts',
  hostKeyChecking: 'strict',
  connectTimeout: 10,
  commandTimeout: 300,
  connectRetries: 2,
  persist: 60,
};

test('a kept connection serves only the same settings, private key and known_hosts', () => {
  const key = connectionKey(settings, 'KEY A', 'KNOWN');
  assert.equal(connectionKey({ ...settings }, 'KEY A', 'KNOWN'), key);
  assert.equal(connectionKey({ ...settings, persist: 5 }, 'KEY A', 'KNOWN'), key, 'how long it is kept is not what it logged in with');
  assert.equal(connectionKey(Object.fromEntries(Object.entries(settings).reverse()) as unknown as ConnectionSettings, 'KEY A', 'KNOWN'), key, 'field order does not matter');
  for (const other of [
    connectionKey(settings, 'KEY B', 'KNOWN'),
    connectionKey(settings, undefined, 'KNOWN'),
    connectionKey(settings, 'KEY A', 'KNOWN, one key revoked since'),
    connectionKey(settings, 'KEY A', undefined),
    connectionKey({ ...settings, port: 2222 }, 'KEY A', 'KNOWN'),
    connectionKey({ ...settings, user: 'deploy' }, 'KEY A', 'KNOWN'),
    connectionKey({ ...settings, address: '10.0.0.6' }, 'KEY A', 'KNOWN'),
    connectionKey({ ...settings, become: true }, 'KEY A', 'KNOWN'),
    connectionKey({ ...settings, password: 'hunter2' }, 'KEY A', 'KNOWN'),
    connectionKey({ ...settings, becomePassword: 'hunter2' }, 'KEY A', 'KNOWN'),
    connectionKey({ ...settings, hostKeyChecking: 'accept-new' }, 'KEY A', 'KNOWN'),
    // The way through the jump hosts is part of the login: another hop, user, port or order is another connection.
    connectionKey({ ...settings, jump: [{ address: '203.0.113.1', port: 22, user: 'ops' }] }, 'KEY A', 'KNOWN'),
  ]) {
    assert.notEqual(other, key);
  }
  const jumped = { ...settings, jump: [{ address: '203.0.113.1', port: 22, user: 'ops' }] };
  const viaJump = connectionKey(jumped, 'KEY A', 'KNOWN');
  assert.equal(connectionKey({ ...jumped, jump: [{ ...jumped.jump[0]! }] }, 'KEY A', 'KNOWN'), viaJump);
  for (const other of [
    connectionKey({ ...settings, jump: [{ address: '203.0.113.1', port: 22, user: 'jumper' }] }, 'KEY A', 'KNOWN'),
    connectionKey({ ...settings, jump: [{ address: '203.0.113.1', port: 2222, user: 'ops' }] }, 'KEY A', 'KNOWN'),
    connectionKey({ ...settings, jump: [{ address: '203.0.113.2', port: 22, user: 'ops' }] }, 'KEY A', 'KNOWN'),
    connectionKey({ ...settings, jump: [{ address: '203.0.113.1', port: 22, user: 'ops', privateKeyFile: '/k/gw' }] }, 'KEY A', 'KNOWN'),
    connectionKey({ ...settings, jump: [jumped.jump[0]!, { address: '10.0.0.1', port: 22, user: 'ops' }] }, 'KEY A', 'KNOWN'),
  ]) {
    assert.notEqual(other, key);
  }
  assert.match(connectionKey({ ...settings, password: 'hunter2' }, 'KEY A', 'KNOWN'), /^[0-9a-f]{64}$/, 'a hash: no setting is readable in it');
});

test("a jump host's own key is part of what a kept connection must match, as the host's key is", () => {
  const dir = mkdtempSync(join(tmpdir(), 'keeper-keys-'));
  try {
    const [hostKey, hopKey] = [join(dir, 'host'), join(dir, 'hop')];
    writeFileSync(hostKey, 'HOST KEY');
    writeFileSync(hopKey, 'HOP KEY 1');
    assert.equal(keyFilesContents({ ...settings, privateKeyFile: hostKey }), 'HOST KEY', 'without jump hosts: the key file alone');
    const jumped: ConnectionSettings = { ...settings, privateKeyFile: hostKey, jump: [{ address: 'gw', port: 22, user: 'ops', privateKeyFile: hopKey }] };
    const first = keyFilesContents(jumped);
    writeFileSync(hopKey, 'HOP KEY 2');
    assert.notEqual(keyFilesContents(jumped), first);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PROVISION_SSH_PERSIST overrides ssh_persist; 0 keeps nothing; a bad value is an error', () => {
  assert.equal(persistSeconds(settings, {}), 60);
  assert.equal(persistSeconds({ ...settings, persist: undefined }, {}), 0);
  assert.equal(persistSeconds(settings, { PROVISION_SSH_PERSIST: '0' }), 0);
  assert.equal(persistSeconds(settings, { PROVISION_SSH_PERSIST: '5m' }), 300);
  assert.equal(persistSeconds(settings, { PROVISION_SSH_PERSIST: '' }), 60);
  assert.throws(() => persistSeconds(settings, { PROVISION_SSH_PERSIST: 'soon' }), /PROVISION_SSH_PERSIST=soon: expected a duration/);
});

test("the keeper's socket lives only in a directory of this user's that no one else can enter", () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-keeper-unit-'));
  try {
    assert.equal(keeperDir({ PROVISION_KEEPER_DIR: '/x/y' }), '/x/y');
    assert.equal(keeperDir({ XDG_RUNTIME_DIR: dir }), join(dir, 'provision'));
    assert.match(keeperDir({ XDG_RUNTIME_DIR: join(dir, 'missing') }), /provision-\d+$/, 'a runtime dir that does not exist is not used');
    const fresh = join(dir, 'fresh', 'provision');
    assert.equal(unsafeKeeperDir(fresh), undefined, 'made when missing');
    assert.match(keeperSocket({ PROVISION_KEEPER_DIR: fresh }) ?? '', /\/fresh\/provision\/keeper-\d+\.sock$/);
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o755);
    assert.match(unsafeKeeperDir(open) ?? '', /open to other users \(mode 755; 700 is needed\)/);
    assert.equal(keeperSocket({ PROVISION_KEEPER_DIR: open }), undefined);
    const link = join(dir, 'link');
    symlinkSync(fresh, link);
    assert.match(unsafeKeeperDir(link) ?? '', /is not a directory/, 'a symlink is not followed');
    const file = join(dir, 'file');
    writeFileSync(file, '');
    assert.match(unsafeKeeperDir(file) ?? '', /cannot make|is not a directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("every directory above the keeper's socket is root's or this user's, and no one else can rename in it", (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root, to give directories to another user');
  const dir = mkdtempSync(join(tmpdir(), 'provision-keeper-parents-'));
  const other = 4242;
  try {
    // Root with a user's XDG_RUNTIME_DIR (after `su` or `sudo -E`): that user could swap the socket's directory.
    const userRuntime = join(dir, 'run-user');
    mkdirSync(userRuntime, { mode: 0o700 });
    chownSync(userRuntime, other, other);
    assert.notEqual(keeperDir({ XDG_RUNTIME_DIR: userRuntime }), join(userRuntime, 'provision'), 'an XDG_RUNTIME_DIR of another user is ignored');
    assert.equal(keeperDir({ XDG_RUNTIME_DIR: dir }), join(dir, 'provision'), 'one of the user\'s own is used');
    const socket = keeperSocket({ PROVISION_KEEPER_DIR: join(userRuntime, 'provision') });
    assert.equal(socket, undefined, 'nor is any directory under it');
    assert.match(unsafeKeeperDir(join(userRuntime, 'provision')) ?? '', /run-user belongs to uid 4242, neither root nor this user \(0\)/);
    // A parent others may write to: unsafe, unless sticky as /tmp is.
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    assert.match(unsafeKeeperDir(join(shared, 'provision')) ?? '', /shared is writable by other users \(mode 777\)/);
    chmodSync(shared, 0o1777);
    assert.equal(unsafeKeeperDir(join(shared, 'provision')), undefined);
    // A link on the way into another user's directory: the path as it resolves is checked too.
    const link = join(dir, 'link');
    symlinkSync(userRuntime, link);
    assert.match(unsafeKeeperDir(join(link, 'sub', 'provision')) ?? '', /run-user belongs to uid 4242/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors cross the socket as the classes they were thrown as', () => {
  const timeout = decodeError(JSON.parse(JSON.stringify(encodeError(new CommandTimeoutError('apt-get install -y haproxy', 300_000, 4242)))));
  assert.ok(timeout instanceof CommandTimeoutError);
  assert.equal(timeout.message, 'command timed out after 300s: apt-get install -y haproxy');
  assert.equal(timeout.processGroup, 4242);
  const port = decodeError(encodeError(new PortUnansweredError('cannot connect to root@10.0.0.5:22: ECONNREFUSED')));
  assert.ok(port instanceof PortUnansweredError);
  assert.equal(port.message, 'cannot connect to root@10.0.0.5:22: ECONNREFUSED');
  const unreachable = decodeError(encodeError(new UnreachableError('authentication failed')));
  assert.ok(unreachable instanceof UnreachableError && !(unreachable instanceof PortUnansweredError));
  const plain = decodeError(encodeError(new TypeError('boom')));
  assert.equal(plain.constructor, Error);
  assert.equal(plain.message, 'boom');
});

test('messages arrive whole, whatever the chunks, newlines in strings included', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-keeper-unit-'));
  const path = join(dir, 's.sock');
  const received: unknown[] = [];
  const server = net.createServer((socket) => readMessages(socket, (message) => received.push(message)));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    const client = net.connect(path);
    await new Promise((resolve) => client.once('connect', resolve));
    const big = 'x'.repeat(200_000);
    sendMessage(client, { id: 1, ok: true, value: { stdout: 'line one\nline two\n', stderr: 'é€😀' } });
    sendMessage(client, { id: 2, ok: true, value: big });
    // A message cut in the middle of a character and of a line.
    const text = `${JSON.stringify({ id: 3, ok: true, value: 'é€😀' })}\n`;
    const bytes = Buffer.from(text);
    client.write(bytes.subarray(0, 12));
    await new Promise((resolve) => setTimeout(resolve, 20));
    client.end(bytes.subarray(12));
    const deadline = Date.now() + 5_000;
    while (received.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(received[0], { id: 1, ok: true, value: { stdout: 'line one\nline two\n', stderr: 'é€😀' } });
    assert.equal((received[1] as { value: string }).value.length, big.length);
    assert.deepEqual(received[2], { id: 3, ok: true, value: 'é€😀' });
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the keeper, which outlives the run, inherits none of its secrets', () => {
  const env = keeperEnvironment({ PATH: '/usr/bin', HOME: '/home/op', SSH_AUTH_SOCK: '/run/agent', SUDO_PASSWORD: 'hunter2', HAPROXY_TOKEN: 't0ken', AWS_SECRET_ACCESS_KEY: 'x' });
  assert.deepEqual(env, { PATH: '/usr/bin', HOME: '/home/op', SSH_AUTH_SOCK: '/run/agent' });
});

test('a kept connection\'s login keys come from the keeper: the run reads no key file of its own', async () => {
  const { discoverLogin } = await import('../../src/engine/login.ts');
  const missing = join(tmpdir(), `provision-no-such-key-${process.pid}`);
  const connection = {
    settings: { ...settings, privateKeyFile: missing },
    authenticatedWith: 'publickey' as const,
    usesSudo: false,
    stats: { connections: 0, commands: 0, commandMs: 0 },
    exec: async () => ({ stdout: '', stderr: '', code: 0 }),
    close: async () => {},
  };
  const gathered = Promise.resolve('192.0.2.7 50000 10.0.0.5 22\n');
  const kept = await discoverLogin({ ...connection, loginPublicKeys: ['ssh-ed25519 AAAAkeeper'] }, gathered);
  assert.deepEqual(kept.publicKeys, ['ssh-ed25519 AAAAkeeper']);
  assert.equal(kept.controllerAddress, '192.0.2.7');
  // Without them, the run reads the key file itself (here missing: the error a run meets, unchanged).
  await assert.rejects(discoverLogin(connection, gathered), /ENOENT/);
});
