import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fail2banVars, FAIL2BAN_DEFAULTS } from '../../tasks/fail2ban/vars.ts';
import { hostVarsSchema } from '../../playbooks/site.ts';

function messages(input: unknown): string[] {
  const result = fail2banVars.safeParse(input);
  assert.equal(result.success, false, `expected ${JSON.stringify(input)} to be refused`);
  return result.error!.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

test('the documented defaults: 1h bans after 5 failures within 10m, aggressive sshd mode, nftables, controller kept out', () => {
  assert.deepEqual(FAIL2BAN_DEFAULTS, {
    bantime: 3600,
    findtime: 600,
    maxretry: 5,
    bantime_increment: false,
    bantime_factor: 1,
    bantime_maxtime: 604_800,
    ignoreip: [],
    ignore_controller: true,
    banaction: 'nftables-multiport',
    sshd_mode: 'aggressive',
    haproxy: { enabled: true, maxretry: 20, findtime: 60, bantime: 3600 },
  });
  assert.deepEqual(hostVarsSchema('/inventory').parse({}).fail2ban, FAIL2BAN_DEFAULTS, 'a host without fail2ban.* gets the defaults');
});

test('durations are written as in the rest of the inventory and become seconds', () => {
  const vars = fail2banVars.parse({ bantime: '2h', findtime: 300, bantime_increment: 'yes', bantime_maxtime: '1d12h', bantime_factor: 1.5 });
  assert.equal(vars.bantime, 7200);
  assert.equal(vars.findtime, 300);
  assert.equal(vars.bantime_increment, true);
  assert.equal(vars.bantime_maxtime, 129_600);
  assert.equal(vars.bantime_factor, 1.5);
});

test('ignoreip takes addresses and CIDR ranges of both families, never host names', () => {
  const vars = fail2banVars.parse({ ignoreip: ['203.0.113.7', '10.0.0.0/8', '2001:db8::1', '2001:db8::/32'] });
  assert.deepEqual(vars.ignoreip, ['203.0.113.7', '10.0.0.0/8', '2001:db8::1', '2001:db8::/32']);
  assert.match(messages({ ignoreip: ['office.example.com'] }).join('\n'), /ignoreip\.0: expected an IP address or a CIDR range/);
  assert.match(messages({ ignoreip: ['10.0.0.0/33'] }).join('\n'), /ignoreip\.0/);
});

test('mistakes are refused with the key and what was expected', () => {
  assert.match(messages({ maxretry: 0 }).join('\n'), /maxretry: expected a whole number of failures/);
  assert.match(messages({ bantime: '0s' }).join('\n'), /bantime: expected a duration longer than 0s/);
  assert.match(messages({ findtime: 'ten minutes' }).join('\n'), /findtime: expected a duration/);
  assert.match(messages({ banaction: 'iptables-multiport' }).join('\n'), /banaction: expected nftables-multiport or nftables-allports/);
  assert.match(messages({ sshd_mode: 'paranoid' }).join('\n'), /sshd_mode: expected one of normal, ddos, extra, aggressive/);
  assert.match(messages({ bantime_increment: true, bantime: '2d', bantime_maxtime: '1d' }).join('\n'), /bantime_maxtime: expected a duration no shorter than bantime/);
  assert.equal(messages({ maxretries: 3 }).length, 1, 'a misspelt key is refused (strict)');
});

test('fail2ban.haproxy.*: its own limits, in the inventory\'s durations, and strict keys', () => {
  assert.deepEqual(fail2banVars.parse({ haproxy: { enabled: 'no', maxretry: 5, findtime: '10s', bantime: '2h' } }).haproxy, { enabled: false, maxretry: 5, findtime: 10, bantime: 7200 });
  assert.match(messages({ haproxy: { maxretry: 0 } }).join('\n'), /haproxy\.maxretry: expected a whole number of failures/);
  assert.match(messages({ haproxy: { findtime: '0s' } }).join('\n'), /haproxy\.findtime: expected a duration longer than 0s/);
  assert.equal(messages({ haproxy: { max_retry: 5 } }).length, 1, 'a misspelt key is refused (strict)');
});

test('a short maxtime is fine while bans do not grow', () => {
  assert.equal(fail2banVars.parse({ bantime: '2d', bantime_maxtime: '1d' }).bantime, 172_800);
});
