import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveDifferences, expectedEffective, hardeningSettings, removeManagedBlock, renderBlock, withManagedBlock } from '../../tasks/ssh/render.ts';
import { commentOutLines, findConflicts, parseDropIns } from '../../tasks/ssh/scan.ts';
import { knowsKbdInteractive, opensshVersion, parseEffectiveConfig, parseOpensshVersion } from '../../tasks/ssh/facts.ts';
import { keyIdentity, mergeAuthorizedKeys } from '../../tasks/core/authorized-keys.ts';
import { parseAccount } from '../../tasks/core/accounts.facts.ts';
import { sshVars } from '../../tasks/ssh/vars.ts';

const defaults = sshVars('/tmp').parse({});
const kbd = { kbdInteractiveKeyword: 'KbdInteractiveAuthentication' as const };

test('the hardened settings follow ssh.* and the admin user', () => {
  const plain = new Map(hardeningSettings(defaults, kbd));
  assert.deepEqual(plain.get('PasswordAuthentication'), ['no']);
  assert.deepEqual(plain.get('PermitRootLogin'), ['prohibit-password']);
  assert.deepEqual(plain.get('MaxAuthTries'), ['3']);
  assert.deepEqual(plain.get('LoginGraceTime'), ['30']);
  assert.equal(plain.has('Port'), false);
  const custom = new Map(
    hardeningSettings(sshVars('/tmp').parse({ port: 2222, allow_users: ['deploy', 'ops'], login_grace_time: '1m' }), { ...kbd, adminUser: 'deploy' }),
  );
  assert.deepEqual(custom.get('PermitRootLogin'), ['no']);
  assert.deepEqual(custom.get('Port'), ['2222']);
  assert.deepEqual(custom.get('AllowUsers'), ['deploy', 'ops']);
  assert.deepEqual(custom.get('LoginGraceTime'), ['60']);
});

test('older OpenSSH gets the ChallengeResponse name', () => {
  assert.equal(knowsKbdInteractive(parseOpensshVersion({ stdout: '1:9.2p1-2+deb12u3', code: 0 })), true);
  assert.equal(knowsKbdInteractive(parseOpensshVersion({ stdout: '1:8.4p1-5+deb11u1', code: 0 })), false);
  assert.equal(knowsKbdInteractive(parseOpensshVersion({ stdout: 'OpenSSH_8.9p1 Ubuntu-3ubuntu0.6', code: 0 })), true);
  // The fact reads openssh-server's line of the shared dpkg-query, not another package's version.
  const shared = 'openssh-client installed 1:9.2p1-2+deb12u3\nopenssh-server:amd64 installed 1:8.4p1-5+deb11u1\nfail2ban installed 1.0.2-2\n';
  assert.deepEqual(opensshVersion.parse({ stdout: shared, code: 0 }), { major: 8, minor: 4 });
  assert.equal(opensshVersion.parse({ stdout: 'openssh-server config-files 1:9.2p1-2\n', code: 0 }), null, 'removed, not installed');
  assert.match(opensshVersion.command.text, /^dpkg-query -W -f '\$\{Package\} \$\{db:Status-Status\} \$\{Version\}\n' openssh-server$/);
  const settings = new Map(hardeningSettings(defaults, { kbdInteractiveKeyword: 'ChallengeResponseAuthentication' }));
  assert.deepEqual(settings.get('ChallengeResponseAuthentication'), ['no']);
});

test('the managed block goes first and replaces an old one wherever it sits', () => {
  const block = renderBlock(hardeningSettings(defaults, kbd));
  const stock = 'Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n';
  const once = withManagedBlock(stock, block);
  assert.ok(once.startsWith('# BEGIN provision'));
  assert.ok(once.endsWith(stock));
  assert.equal(withManagedBlock(once, block), once, 'idempotent');
  const moved = `${stock}${block}`;
  assert.equal(withManagedBlock(moved, block), once);
  assert.equal(removeManagedBlock(once), stock);
});

test('sshd -T values are compared with the spellings sshd prints', () => {
  const effective = parseEffectiveConfig({ stdout: 'port 22\npermitrootlogin without-password\npasswordauthentication yes\nallowusers a\nallowusers b\n', code: 0 });
  assert.ok(effective.ok);
  if (!effective.ok) return;
  assert.deepEqual(effective.values.get('allowusers'), ['a', 'b']);
  const expected = expectedEffective([
    ['PermitRootLogin', ['prohibit-password']],
    ['PasswordAuthentication', ['no']],
    ['AllowUsers', ['a', 'b']],
  ]);
  assert.deepEqual(effectiveDifferences(effective.values, expected), [{ keyword: 'passwordauthentication', current: 'yes', wanted: 'no' }]);
  assert.equal(parseEffectiveConfig({ stdout: '/etc/ssh/sshd_config line 3: Bad configuration option: Foo\n', code: 255 }).ok, false);
});

test('accumulating keywords and Match overrides are found; comments and other keywords are not', () => {
  const managed = new Map([
    ['port', '22'],
    ['passwordauthentication', 'no'],
    ['allowusers', 'deploy'],
  ]);
  const content = '# Port 22\nPort 22\nUsePAM yes\nPasswordAuthentication yes\nMatch User bob\n  PasswordAuthentication yes\n';
  const conflicts = findConflicts({ path: '/etc/ssh/x.conf', content }, managed);
  assert.deepEqual(
    conflicts.map((c) => [c.line, c.text]),
    [
      [2, 'Port 22'],
      [6, 'PasswordAuthentication yes'],
    ],
  );
  assert.equal(commentOutLines('a\nPort 22\n', new Set([2])), 'a\n# disabled by provision (ssh.* decides): Port 22\n');
  const listing = `== /etc/ssh/sshd_config.d/50-cloud-init.conf\n${Buffer.from('PasswordAuthentication yes\n').toString('base64')}\n`;
  assert.deepEqual(parseDropIns(listing), [{ path: '/etc/ssh/sshd_config.d/50-cloud-init.conf', content: 'PasswordAuthentication yes\n' }]);
});

test('authorized keys are merged by key identity: kept, appended, or made exclusive', () => {
  const a = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA1 alice@laptop';
  const b = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2 bob';
  assert.equal(keyIdentity(`from="10.0.0.0/8",no-pty ${a}`), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA1');
  assert.equal(mergeAuthorizedKeys(`${a}\n`, ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA1 other-comment'], false), `${a}\n`);
  assert.equal(mergeAuthorizedKeys(`${a}\n`, [b], false), `${a}\n${b}\n`);
  assert.equal(mergeAuthorizedKeys(`# keys\n${a}\n`, [b], true), `# keys\n${b}\n`);
  assert.equal(mergeAuthorizedKeys('', [], false), '');
});

test('the account fact parses users, groups and keys', () => {
  const keys = Buffer.from('ssh-ed25519 AAAA x\n').toString('base64');
  assert.deepEqual(parseAccount({ stdout: `deploy:x:1000:1000::/home/deploy:/bin/bash\ndeploy sudo \nkeys\n${keys}\n`, code: 0 }), {
    exists: true,
    uid: 1000,
    gid: 1000,
    home: '/home/deploy',
    groups: ['deploy', 'sudo'],
    authorizedKeys: 'ssh-ed25519 AAAA x\n',
  });
  assert.deepEqual(parseAccount({ stdout: 'absent\n', code: 0 }), { exists: false });
  assert.equal((parseAccount({ stdout: 'root:x:0:0:root:/root:/bin/bash\nroot\nnone\n', code: 0 }) as { authorizedKeys: null }).authorizedKeys, null);
});

test('ssh.* rejects YAML traps and bad keys with clear messages', () => {
  const schema = sshVars('/tmp');
  assert.equal(schema.safeParse({ port: '2222' }).success, false);
  assert.equal(schema.safeParse({ allow_users: [false] }).success, false);
  assert.equal(schema.parse({ exclusive_keys: 'yes' }).exclusive_keys, true);
  assert.equal(schema.parse({ exclusive_keys: 'no' }).exclusive_keys, false);
  const badKey = schema.safeParse({ authorized_keys: ['ssh-ed25519 not-base64!'] });
  assert.equal(badKey.success, false);
  const missing = schema.safeParse({ authorized_keys: ['keys/nope.pub'] });
  assert.match(JSON.stringify(missing.error?.issues), /cannot read \/tmp\/keys\/nope\.pub/);
});
