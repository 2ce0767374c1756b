import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIREWALL_DEFAULTS, firewallVars, formatAddress, parseAddress, parseCidr } from '../../tasks/firewall/vars.ts';

function issues(input: unknown): string[] {
  const result = firewallVars.safeParse(input);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

test('the defaults: enabled, SSH from anywhere, nothing extra, a 60 s rollback', () => {
  assert.deepEqual(FIREWALL_DEFAULTS, { enabled: true, allow: [], rollback_after: 60 });
});

test('addresses and ranges come out the way nft prints them', () => {
  const vars = firewallVars.parse({
    ssh_from: ['203.0.113.7/32', '198.51.100.0/24', '2001:DB8:0:0:0:0:0:1', '2001:db8:0:1:0:0:0:0/64', '::ffff:10.0.0.0/104'],
  });
  assert.deepEqual(vars.ssh_from, ['203.0.113.7', '198.51.100.0/24', '2001:db8::1', '2001:db8:0:1::/64', '::ffff:10.0.0.0/104']);
});

test('IPv6 addresses are formatted like glibc inet_ntop (as nft lists them)', () => {
  const cases: Record<string, string> = {
    '0:0:0:0:0:0:0:0': '::',
    '0:0:0:0:0:0:0:1': '::1',
    '1:0:0:0:0:0:0:0': '1::',
    '1:0:0:0:0:0:0:1': '1::1',
    '0:0:0:0:0:1:0:0': '::1:0:0',
    '2001:db8:0:0:1:0:0:1': '2001:db8::1:0:0:1',
    '2001:0:0:1:0:0:0:1': '2001:0:0:1::1',
    '2001:db8:1:2:3:4:0:6': '2001:db8:1:2:3:4:0:6',
    '::ffff:a00:5': '::ffff:10.0.0.5',
    '::a00:5': '::10.0.0.5',
  };
  for (const [input, printed] of Object.entries(cases)) assert.equal(formatAddress(parseAddress(input)!), printed, input);
});

test('a range with host bits set is refused with the range it probably meant', () => {
  assert.deepEqual(issues({ ssh_from: ['10.1.2.3/8'] }), ['ssh_from.0: 10.1.2.3/8 has bits set after the /8 prefix; did you mean 10.0.0.0/8?']);
  assert.match(issues({ ssh_from: ['10.0.0.0/33'] })[0]!, /too long for an IPv4 address/);
  assert.match(issues({ ssh_from: ['bastion.example.org'] })[0]!, /expected an IP address or a CIDR range/);
  assert.match(issues({ ssh_from: ['fe80::1%eth0'] })[0]!, /expected an IP address or a CIDR range/);
  assert.match(issues({ ssh_from: [] })[0]!, /leave ssh_from out to allow anywhere/);
  assert.ok('error' in parseCidr('10.0.0.0/x'));
});

test('firewall.allow: a port or a range, tcp by default, an optional source and comment', () => {
  const vars = firewallVars.parse({
    allow: [{ port: 9000 }, { port: '9100-9110', protocol: 'udp', source: '10.0.0.0/8', comment: 'metrics (ops)' }],
  });
  assert.deepEqual(vars.allow, [
    { port: '9000', protocol: 'tcp' },
    { port: '9100-9110', protocol: 'udp', source: '10.0.0.0/8', comment: 'metrics (ops)' },
  ]);
  assert.match(issues({ allow: [{ port: 70000 }] })[0]!, /^allow\.0\.port: expected a port number from 1 to 65535/);
  assert.match(issues({ allow: [{ port: '10-5' }] })[0]!, /^allow\.0\.port:/);
  assert.match(issues({ allow: [{ port: 53, protocol: 'icmp' }] })[0]!, /^allow\.0\.protocol: expected tcp or udp/);
  assert.match(issues({ allow: [{ port: 53, comment: 'say "hi"' }] })[0]!, /^allow\.0\.comment: expected a short note/);
  assert.match(issues({ allow: [{ port: 53, sorce: '10.0.0.0/8' }] })[0]!, /sorce/);
});

test('rollback_after is a duration from 10 s to an hour', () => {
  assert.equal(firewallVars.parse({ rollback_after: '2m' }).rollback_after, 120);
  assert.match(issues({ rollback_after: '5s' })[0]!, /from 10s to 1h/);
  assert.match(issues({ rollback_after: '2h' })[0]!, /from 10s to 1h/);
  assert.equal(firewallVars.parse({ enabled: 'no' }).enabled, false);
});
