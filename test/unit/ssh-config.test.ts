/**
 * ~/.ssh/config as ssh applies it to a host (Host patterns, Match, Include, first value wins), and a host's connection
 * settings made from the inventory's variables and that configuration: the inventory wins, jump hosts come from
 * ssh_jump, then the ssh arguments, then the configuration.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SshConfigFiles, wildcardMatch } from '../../src/inventory/ssh-config.ts';
import { resolveConnection } from '../../src/inventory/connection-settings.ts';
import { connectionVarsSchema } from '../../src/inventory/connection.ts';
import { isEncryptedPrivateKey } from '../../src/inventory/identity-file.ts';
import { scratchDir } from '../support/scratch.ts';

/** A home directory of its own, with ~/.ssh/config and any other files given (paths relative to the home). */
function home(files: Record<string, string>): { home: string; config: string; files: SshConfigFiles } {
  const dir = scratchDir('provision-ssh-config-');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return { home: dir, config: join(dir, '.ssh/config'), files: new SshConfigFiles({ home: dir, localUser: 'op' }) };
}

/** The head of a private key file in OpenSSH's format (enough to tell whether it is locked), with a cipher or none. */
function keyFileHead(cipher: 'none' | 'aes256-ctr'): string {
  const string = (text: string) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(text.length);
    return Buffer.concat([length, Buffer.from(text)]);
  };
  const blob = Buffer.concat([Buffer.from('openssh-key-v1\0'), string(cipher), string(cipher === 'none' ? 'none' : 'bcrypt'), string('')]);
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${blob.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}
const unencryptedKey = () => keyFileHead('none');
const lockedKey = () => keyFileHead('aes256-ctr');

const value = (config: ReturnType<SshConfigFiles['lookup']>, keyword: string) => config.values.get(keyword)?.value;

describe('~/.ssh/config, as ssh reads it for a host', () => {
  test('a Host alias gives HostName, Port, User, IdentityFile and ProxyJump; the first value obtained wins', () => {
    const { config, files } = home({
      '.ssh/config': 'Host node1\n  HostName 10.0.0.5\n  Port 2222\n  User deploy\n  IdentityFile ~/.ssh/node\n  ProxyJump ops@gw\n\nHost *\n  User fallback\n  Port 22\n  IdentityFile ~/.ssh/id_ed25519\n',
    });
    const found = files.lookup('node1', [config]);
    assert.deepEqual([value(found, 'hostname'), value(found, 'port'), value(found, 'user'), value(found, 'proxyjump')], ['10.0.0.5', '2222', 'deploy', 'ops@gw']);
    assert.deepEqual(found.identityFiles.map((file) => file.value), ['~/.ssh/node', '~/.ssh/id_ed25519'], 'every IdentityFile, in order');
    assert.equal(found.values.get('hostname')?.where, `${config}, Host node1`);
    const other = files.lookup('node2', [config]);
    assert.deepEqual([value(other, 'hostname'), value(other, 'user'), value(other, 'port')], [undefined, 'fallback', '22']);
  });

  test('Host patterns: * any run, ? exactly one character, !negated, compared without case', () => {
    assert.ok(wildcardMatch('node?', 'node1', true));
    assert.ok(!wildcardMatch('node?', 'node', true), '? is one character, not zero');
    assert.ok(!wildcardMatch('node?', 'node12', true));
    assert.ok(wildcardMatch('*.example.com', 'a.b.example.com', true));
    assert.ok(!wildcardMatch('10.0.0.*', '10.0.0x5', true), 'a dot is a dot');
    const { config, files } = home({ '.ssh/config': 'Host *.internal !db.internal\n  ProxyJump gw\nHost NODE?\n  Port 2200\n' });
    assert.equal(value(files.lookup('web.internal', [config]), 'proxyjump'), 'gw');
    assert.equal(value(files.lookup('db.internal', [config]), 'proxyjump'), undefined, 'a negated pattern excludes the host');
    assert.equal(value(files.lookup('node7', [config]), 'port'), '2200');
    assert.equal(value(files.lookup('node', [config]), 'port'), undefined);
  });

  test('Match host sees the HostName obtained so far; Match user the inventory user; originalhost the alias; exec never runs', () => {
    const marker = join(scratchDir('provision-ssh-exec-'), 'ran');
    const { config, files } = home({
      '.ssh/config': [
        'Host web',
        '  HostName 10.1.2.3',
        'Match host 10.1.*',
        '  ProxyJump gw',
        'Match user deploy originalhost web',
        '  Port 2201',
        `Match exec "touch ${marker}"`,
        '  Port 9',
        'Match !user deploy',
        '  IdentityFile ~/.ssh/not-deploy',
        '',
      ].join('\n'),
    });
    const asDeploy = files.lookup('web', [config], { user: 'deploy' });
    assert.deepEqual([value(asDeploy, 'proxyjump'), value(asDeploy, 'port')], ['gw', '2201']);
    assert.deepEqual(asDeploy.identityFiles, []);
    const asRoot = files.lookup('web', [config], { user: 'root' });
    assert.equal(value(asRoot, 'port'), undefined);
    assert.deepEqual(asRoot.identityFiles.map((file) => file.value), ['~/.ssh/not-deploy']);
    assert.equal(existsSync(marker), false, 'Match exec was not run');
  });

  test('Match final: everything read again for the HostName, first values still winning', () => {
    const { config, files } = home({ '.ssh/config': 'Host short\n  HostName long.example.com\nMatch final host long.example.com\n  User finally\nHost long.example.com\n  Port 2022\n' });
    const found = files.lookup('short', [config]);
    assert.deepEqual([value(found, 'user'), value(found, 'port')], ['finally', '2022']);
  });

  test('Include: relative to ~/.ssh, with wildcards in name order, nested, inside a block too; a loop is named', () => {
    const { config, files } = home({
      '.ssh/config': 'Include conf.d/*.conf\nHost gw\n  Include ~/.ssh/gw-extra\nHost *\n  User last\n',
      '.ssh/conf.d/20-b.conf': 'Host node1\n  Port 2202\n',
      '.ssh/conf.d/10-a.conf': 'Host node1\n  Port 2201\n  Include nested\n',
      '.ssh/conf.d/ignored.txt': 'Host node1\n  Port 9\n',
      '.ssh/nested': 'Host node1\n  User nested\n',
      '.ssh/gw-extra': 'HostName 192.0.2.1\n',
    });
    const node = files.lookup('node1', [config]);
    assert.deepEqual([value(node, 'port'), value(node, 'user')], ['2201', 'nested']);
    assert.equal(value(files.lookup('gw', [config]), 'hostname'), '192.0.2.1');
    assert.equal(value(files.lookup('other', [config]), 'hostname'), undefined, 'the block around the Include decides');

    const looping = home({ '.ssh/config': 'Include config\n' });
    assert.match(looping.files.lookup('x', [looping.config]).problems[0] ?? '', /Include nested deeper than 16 levels/);
  });

  test('the user file comes before the system one; a missing file is an empty one; an unreadable one is a problem', () => {
    const { config, files, home: dir } = home({ '.ssh/config': 'Host a\n  User mine\n', system: 'Host *\n  User system\n  Port 2022\n' });
    const found = files.lookup('a', [config, join(dir, 'system')]);
    assert.deepEqual([value(found, 'user'), value(found, 'port')], ['mine', '2022']);
    assert.deepEqual(files.lookup('a', [join(dir, 'missing')]).values.size, 0);
    const broken = home({ '.ssh/config': 'Host a\n  User "unclosed\n' });
    assert.match(broken.files.lookup('a', [broken.config]).problems[0] ?? '', /^cannot parse the ssh config file .*config: /);
  });

  test('a key locked with a passphrase is told from one that is not', () => {
    assert.equal(isEncryptedPrivateKey(lockedKey()), true);
    assert.equal(isEncryptedPrivateKey(unencryptedKey()), false);
    assert.equal(isEncryptedPrivateKey('-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n'), true);
    assert.equal(isEncryptedPrivateKey('-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n'), true);
  });
});

describe("a host's connection settings from its variables and ~/.ssh/config", () => {
  /** Parses connection variables as the loader does; `given` are the names the inventory sets. */
  function settingsOf(hostName: string, vars: Record<string, unknown>, files: SshConfigFiles) {
    const parsed = connectionVarsSchema('/').parse(vars);
    return resolveConnection(hostName, parsed, new Set(Object.keys(vars)), files);
  }
  function connection(hostName: string, vars: Record<string, unknown>, files: SshConfigFiles) {
    const resolved = settingsOf(hostName, vars, files);
    assert.ok('connection' in resolved, JSON.stringify(resolved));
    return resolved;
  }
  function problems(hostName: string, vars: Record<string, unknown>, files: SshConfigFiles): string[] {
    const resolved = settingsOf(hostName, vars, files);
    assert.ok('problems' in resolved, 'expected problems');
    return resolved.problems;
  }

  const project = () => {
    const made = home({
      '.ssh/config': [
        'Host node1',
        '  HostName 10.0.0.5',
        '  Port 2222',
        '  User deploy',
        '  IdentityFile ~/.ssh/missing',
        '  IdentityFile ~/.ssh/locked',
        '  IdentityFile ~/.ssh/%n-%r',
        '  ProxyJump gw',
        'Host gw',
        '  HostName 203.0.113.1',
        '  Port 2200',
        '  User ops',
        '  IdentityFile ~/.ssh/gw',
        'Host legacy',
        '  ProxyCommand ssh -W %h:%p -q ops@old-gw',
        '',
      ].join('\n'),
      '.ssh/locked': lockedKey(),
      '.ssh/node1-deploy': unencryptedKey(),
      '.ssh/gw': unencryptedKey(),
    });
    return made;
  };

  test('the alias gives address, port, user, key and the jump host, itself completed by the configuration', () => {
    const { files, home: dir } = project();
    const { connection: settings, privateIp } = connection('node1', {}, files);
    assert.deepEqual(
      { address: settings.address, port: settings.port, user: settings.user, key: settings.privateKeyFile, jump: settings.jump, hostKeyPort: settings.hostKeyPort },
      {
        address: '10.0.0.5',
        port: 2222,
        user: 'deploy',
        // The first IdentityFile that is there and not locked with a passphrase (that one is the agent's to offer).
        key: join(dir, '.ssh/node1-deploy'),
        jump: [{ address: '203.0.113.1', port: 2200, user: 'ops', privateKeyFile: join(dir, '.ssh/gw') }],
        hostKeyPort: 2222,
      },
    );
    assert.equal(privateIp, '10.0.0.5');
  });

  test('ansible_host names the alias; set inventory variables win over the configuration, defaults do not', () => {
    const { files, home: dir } = project();
    const key = join(dir, 'inventory-key');
    writeFileSync(key, unencryptedKey());
    const { connection: settings } = connection('web', { ansible_host: 'node1', ansible_port: 22, ansible_user: 'root', ansible_ssh_private_key_file: key }, files);
    assert.deepEqual([settings.address, settings.port, settings.user, settings.privateKeyFile], ['10.0.0.5', 22, 'root', key]);
    const { connection: plain } = connection('elsewhere', {}, files);
    assert.deepEqual([plain.address, plain.port, plain.user, plain.privateKeyFile, plain.jump], ['elsewhere', 22, 'root', undefined, undefined], 'no alias: the defaults');
  });

  test('jump hosts: ssh_jump wins over the ssh arguments, which win over the configuration; none turns them off', () => {
    const { files } = project();
    const jumpOf = (vars: Record<string, unknown>) => connection('node1', vars, files).connection.jump?.map((hop) => `${hop.user}@${hop.address}:${hop.port}`);
    assert.deepEqual(jumpOf({ ssh_jump: 'admin@10.9.9.9' }), ['admin@10.9.9.9:22']);
    assert.deepEqual(jumpOf({ ssh_jump: ['a@h1:1', 'b@h2:2'] }), ['a@h1:1', 'b@h2:2']);
    assert.deepEqual(jumpOf({ ansible_ssh_common_args: '-o ProxyJump=x@h3', ssh_jump: 'y@h4' }), ['y@h4:22']);
    assert.deepEqual(jumpOf({ ansible_ssh_common_args: '-o ProxyJump=x@h3', ansible_ssh_extra_args: '-J z@h5' }), ['x@h3:22'], 'common args before extra args, as Ansible orders them');
    assert.deepEqual(jumpOf({ ansible_ssh_extra_args: '-J gw' }), ['ops@203.0.113.1:2200'], 'a hop is looked up in the configuration too');
    assert.equal(jumpOf({ ssh_jump: 'none' }), undefined);
    assert.equal(jumpOf({ ssh_jump: [] }), undefined);
    assert.equal(jumpOf({ ansible_ssh_common_args: '-o ProxyJump=none' }), undefined);
    // A hop without a user and no User for it in the configuration logs in as the local user, as ssh does.
    assert.deepEqual(jumpOf({ ssh_jump: 'unlisted' }), ['op@unlisted:22']);
  });

  test('`Host *` with a ProxyJump does not make the jump host jump through itself', () => {
    const { files } = home({ '.ssh/config': 'Host gw\n  HostName 192.0.2.7\nHost *\n  ProxyJump gw\n' });
    assert.deepEqual(connection('app', {}, files).connection.jump, [{ address: '192.0.2.7', port: 22, user: 'op' }]);
    assert.equal(connection('gw', {}, files).connection.jump, undefined);
    // The first hop's own ProxyJump goes before it, as ssh would reach that hop.
    const chained = home({ '.ssh/config': 'Host inner\n  ProxyJump outer-user@outer:2022\n' });
    assert.deepEqual(
      connection('target', { ssh_jump: 'root@inner' }, chained.files).connection.jump?.map((hop) => `${hop.user}@${hop.address}:${hop.port}`),
      ['outer-user@outer:2022', 'root@inner:22'],
    );
    const loop = home({ '.ssh/config': 'Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n' });
    assert.match(problems('target', { ssh_jump: 'a' }, loop.files)[0]!, /the jump host a leads back to itself through ProxyJump/);
  });

  test('a ProxyCommand is refused with the ProxyJump to write; so is a Port that is not a number, naming the file and block', () => {
    const { files, config } = project();
    assert.deepEqual(problems('legacy', {}, files), [`${config}, Host legacy: ProxyCommand applies to legacy, and provision runs no proxy command; write ProxyJump ops@old-gw instead`]);
    assert.deepEqual(connection('legacy', { ssh_jump: 'none' }, files).connection.jump, undefined, "the inventory's jump wins");
    const bad = home({ '.ssh/config': 'Host x\n  Port ssh\n' });
    assert.deepEqual(problems('x', {}, bad.files), [`${bad.config}, Host x: Port "ssh" is not a port number from 1 to 65535`]);
  });

  test('ssh_config_file (or -F) replaces ~/.ssh/config and the system file; none reads no file', () => {
    const { files, home: dir } = project();
    const other = join(dir, 'project.cfg');
    writeFileSync(other, 'Host node1\n  HostName 192.0.2.50\n');
    assert.equal(connection('node1', { ssh_config_file: other }, files).connection.address, '192.0.2.50');
    assert.equal(connection('node1', { ansible_ssh_common_args: `-F ${other}` }, files).connection.address, '192.0.2.50');
    assert.equal(connection('node1', { ssh_config_file: 'none' }, files).connection.address, 'node1');
  });

  test('IdentityFile tokens: %d home, %h address, %n alias, %r user, %u local user, %p port, ${ENV}; others are named', () => {
    const { files, home: dir } = home({ '.ssh/config': 'Host t\n  HostName 10.0.0.9\n  User u1\n  IdentityFile %d/keys/%n_%h_%r_%u_%p_${KEY_SUFFIX}\nHost bad\n  IdentityFile ~/.ssh/%C\n' });
    mkdirSync(join(dir, 'keys'));
    const key = join(dir, 'keys', 't_10.0.0.9_u1_op_22_x');
    writeFileSync(key, unencryptedKey());
    process.env.KEY_SUFFIX = 'x';
    try {
      assert.equal(connection('t', {}, files).connection.privateKeyFile, key);
    } finally {
      delete process.env.KEY_SUFFIX;
    }
    assert.match(problems('bad', {}, files)[0]!, /IdentityFile ~\/\.ssh\/%C: the token %C is not supported/);
  });

  test('ansible_private_key_file is read; ansible_ssh_private_key_file wins where both are set, as in Ansible', () => {
    const { files, home: dir } = home({});
    const [first, second] = ['a', 'b'].map((name) => {
      const file = join(dir, name);
      writeFileSync(file, unencryptedKey());
      return file;
    }) as [string, string];
    assert.equal(connection('h', { ansible_private_key_file: first }, files).connection.privateKeyFile, first);
    assert.equal(connection('h', { ansible_private_key_file: first, ansible_ssh_private_key_file: second }, files).connection.privateKeyFile, second);
  });
});
