import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  HAPROXY_ABUSE_MATCH,
  HAPROXY_JOURNAL_MATCH,
  historySeconds,
  ignoreList,
  renderHaproxyFilter,
  renderJail,
  renderServerSettings,
  type JailSettings,
} from '../../tasks/fail2ban/render.ts';

const SETTINGS: JailSettings = {
  bantime: 3600,
  findtime: 600,
  maxretry: 5,
  increment: null,
  ignoreip: ['127.0.0.1/8', '::1', '172.18.0.1'],
  banaction: 'nftables-multiport',
  sshd: { ports: [22], mode: 'aggressive' },
  haproxy: null,
};

/** Real journal lines of HAProxy 2.6 on Debian 12 (`journalctl -t haproxy -o short`): requests through the balancer. */
const JOURNAL_LINES = readFileSync(new URL('../fixtures/fail2ban/haproxy-journal.txt', import.meta.url), 'utf8').trimEnd().split('\n');

/**
 * The filter's match in JavaScript: fail2ban puts "host haproxy[pid]: " before each journal message (common.conf's
 * __prefix_line), and <HOST> is an address. fail2ban-regex checks the real filter on the real journal in the e2e test.
 */
function abuseSource(journalLine: string): string | undefined {
  const message = /^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ haproxy\[\d+\]: (.*)$/.exec(journalLine)?.[1] ?? '';
  const match = new RegExp(`^${HAPROXY_ABUSE_MATCH.replace('<HOST>', '(?<host>[0-9A-Fa-f.:]+)')}`).exec(message);
  return match?.groups?.host;
}

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

test('the haproxy-abuse jail: on the journal, with its own filter, HAProxy\'s ports and its own limits', () => {
  const text = renderJail({ ...SETTINGS, haproxy: { ports: [80, 443], maxretry: 20, findtime: 60, bantime: 3600 } });
  assert.ok(text.startsWith(renderJail(SETTINGS)), 'the sshd jail and the defaults stay as they are');
  const section = text.slice(renderJail(SETTINGS).length);
  assert.equal(
    section.split('\n').filter((line) => line && !line.startsWith('#')).join('\n'),
    `[haproxy-abuse]
enabled = true
backend = systemd
journalmatch = SYSLOG_IDENTIFIER=haproxy
filter = provision-haproxy-abuse
port = 80,443
maxretry = 20
findtime = 60
bantime = 3600`,
  );
  assert.equal(HAPROXY_JOURNAL_MATCH, 'SYSLOG_IDENTIFIER=haproxy');
  assert.doesNotMatch(renderJail(SETTINGS), /haproxy/, 'no jail without settings');
});

test('the filter file includes common.conf and anchors its match on the journal line prefix', () => {
  const filter = renderHaproxyFilter();
  assert.match(filter, /^\[INCLUDES\]\n(#.*\n)?before = common\.conf$/m);
  assert.match(filter, /^_daemon = haproxy$/m);
  assert.ok(filter.includes(`\nfailregex = ^%(__prefix_line)s${HAPROXY_ABUSE_MATCH}\n`), filter);
  assert.match(filter, /^ignoreregex =$/m);
  assert.doesNotMatch(filter, /[ \t]$/m, 'no trailing blanks: fail2ban\'s config reader strips them, and the regex would change');
});

test('the filter counts real 429 and 401 lines by the client\'s address, and nothing else', () => {
  const byStatus = new Map<string, (string | undefined)[]>();
  for (const line of JOURNAL_LINES) {
    const status = / \S+ (\d{3}) \d+ - - /.exec(line)?.[1] ?? 'not a request';
    byStatus.set(status, [...(byStatus.get(status) ?? []), abuseSource(line)]);
  }
  assert.deepEqual(byStatus.get('429'), ['192.168.16.2', '192.168.16.2']);
  assert.deepEqual(byStatus.get('401'), ['192.168.16.2', '192.168.16.2']);
  for (const status of ['200', '403', '301', 'not a request']) {
    assert.ok(byStatus.get(status)?.length, `the fixture has ${status} lines`);
    assert.deepEqual(byStatus.get(status)?.filter(Boolean), [], `${status} lines are not counted`);
  }
});

test('the filter reads the address HAProxy logged, not text the client sent, and IPv6 sources too', () => {
  const line = JOURNAL_LINES.find((text) => / 200 /.test(text))!;
  // The request line is the client's: a 200 whose URL carries " 429 " and an address is still not counted.
  const crafted = line.replace(/"GET [^"]*"/, '"GET /x?1.2.3.4:1 [x] a b c 429 HTTP/1.1"');
  assert.equal(abuseSource(crafted), undefined);
  const v6 = JOURNAL_LINES.find((text) => / 429 /.test(text))!.replace('192.168.16.2:34758', '2001:db8::7:51234');
  assert.equal(abuseSource(v6), '2001:db8::7');
});
