import { test } from 'node:test';
import assert from 'node:assert/strict';
import { historySeconds, ignoreList, renderJail, renderServerSettings, type JailSettings } from '../../tasks/fail2ban.render.ts';

const SETTINGS: JailSettings = {
  bantime: 3600,
  findtime: 600,
  maxretry: 5,
  increment: null,
  ignoreip: ['127.0.0.1/8', '::1', '172.18.0.1'],
  banaction: 'nftables-multiport',
  sshd: { ports: [22], mode: 'aggressive' },
};

test('the jail file: defaults for every jail, and the sshd jail on the journal, on the SSH ports', () => {
  assert.equal(
    renderJail(SETTINGS),
    `# Managed by provision from the inventory (fail2ban.*): local edits are overwritten.
# jail.d/*.local files are read after jail.conf, jail.d/*.conf (Debian's defaults-debian.conf) and jail.local.

[DEFAULT]
# seconds
bantime = 3600
findtime = 600
maxretry = 5
bantime.increment = false
ignoreip = 127.0.0.1/8 ::1 172.18.0.1
# fail2ban keeps its bans in its own nftables table (inet f2b-table), beside the firewall's.
banaction = nftables-multiport
banaction_allports = nftables-allports

[sshd]
enabled = true
# Debian 12 logs sshd to the journal only: there is no /var/log/auth.log.
backend = systemd
journalmatch = SYSLOG_IDENTIFIER=sshd _UID=0 + _SYSTEMD_UNIT=ssh.service
mode = aggressive
port = 22
`,
  );
});

test('incremental bans and several ports render as fail2ban spells them', () => {
  const text = renderJail({ ...SETTINGS, increment: { factor: 1.5, maxtimeSeconds: 604_800 }, sshd: { ports: [22, 2222], mode: 'normal' } });
  assert.match(text, /^bantime\.increment = true\nbantime\.factor = 1\.5\nbantime\.maxtime = 604800$/m);
  assert.match(text, /^port = 22,2222$/m);
  assert.match(text, /^mode = normal$/m);
});

test('the ignore list always starts with loopback and names each address once', () => {
  assert.deepEqual(ignoreList(['10.0.0.1', '::1', '10.0.0.1']), ['127.0.0.1/8', '::1', '10.0.0.1']);
});

test('ban history lasts a day, or as long as the longest ban', () => {
  assert.equal(historySeconds({ bantime: 3600, increment: null }), 86_400);
  assert.equal(historySeconds({ bantime: 3 * 86_400, increment: null }), 3 * 86_400);
  assert.equal(historySeconds({ bantime: 3600, increment: { factor: 1, maxtimeSeconds: 604_800 } }), 604_800);
  const server = renderServerSettings({ bantime: 3600, increment: { factor: 1, maxtimeSeconds: 604_800 } });
  assert.match(server, /^\[DEFAULT\]\n(#.*\n)?dbpurgeage = 604800$/m);
  assert.match(server, /^\[Definition\]\n(#.*\n)?allowipv6 = auto$/m);
});
