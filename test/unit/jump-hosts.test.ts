/** Jump hosts as written (ssh_jump, -J, ProxyJump) and the ssh arguments Ansible inventories carry. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHop, parseJumpSpec } from '../../src/inventory/jump-hosts.ts';
import { jumpOfProxyCommand, parseSshArgs } from '../../src/inventory/ssh-args.ts';

describe('jump host specifications, in OpenSSH ProxyJump form', () => {
  test('user, host and port are each optional but the host; hops are separated by commas, the first reached first', () => {
    assert.deepEqual(parseJumpSpec('bastion'), { hops: [{ host: 'bastion' }] });
    assert.deepEqual(parseJumpSpec('admin@bastion.example.com:2222'), { hops: [{ host: 'bastion.example.com', user: 'admin', port: 2222 }] });
    assert.deepEqual(parseJumpSpec(' a@gw1 , gw2:22 '), { hops: [{ host: 'gw1', user: 'a' }, { host: 'gw2', port: 22 }] });
    assert.deepEqual(parseJumpSpec('ssh://ops@gw:2200'), { hops: [{ host: 'gw', user: 'ops', port: 2200 }] });
    assert.deepEqual(parseJumpSpec('ssh://gw/'), { hops: [{ host: 'gw' }] });
  });

  test('IPv6 addresses: in brackets with a port, bare without', () => {
    assert.deepEqual(parseJumpSpec('root@[2001:db8::1]:2222'), { hops: [{ host: '2001:db8::1', user: 'root', port: 2222 }] });
    assert.deepEqual(parseJumpSpec('[2001:db8::1]'), { hops: [{ host: '2001:db8::1' }] });
    assert.deepEqual(parseJumpSpec('2001:db8::1'), { hops: [{ host: '2001:db8::1' }] });
    assert.equal(formatHop({ host: '2001:db8::1', user: 'root', port: 2222 }), 'root@[2001:db8::1]:2222');
    assert.equal(formatHop({ host: 'gw', port: 22 }), 'gw:22');
  });

  test('none means no jump at all', () => {
    assert.deepEqual(parseJumpSpec('none'), { hops: [] });
    assert.deepEqual(parseJumpSpec('None'), { hops: [] });
  });

  test('a bad hop is named with what is wrong', () => {
    const problem = (text: string) => {
      const parsed = parseJumpSpec(text);
      assert.ok('problem' in parsed, `${text} was accepted`);
      return parsed.problem;
    };
    assert.match(problem(''), /not an empty string/);
    assert.match(problem('gw:0'), /port number from 1 to 65535 after the colon in gw:0/);
    assert.match(problem('gw:ssh'), /port number/);
    assert.match(problem('gw1,,gw2'), /missing between two commas/);
    assert.match(problem('@gw'), /user before @ is empty/);
    assert.match(problem('root@:22'), /host name is empty/);
    assert.match(problem('[::1'), /no closing \]/);
    assert.match(problem('ssh://gw/path'), /takes no path/);
    assert.match(problem('gw other'), /no spaces/);
  });
});

describe('ssh arguments (ansible_ssh_common_args, ansible_ssh_extra_args)', () => {
  const args = (text: string) => {
    const parsed = parseSshArgs(text);
    assert.ok('args' in parsed, `${text}: ${'problem' in parsed ? parsed.problem : ''}`);
    return parsed.args;
  };
  const problem = (text: string) => {
    const parsed = parseSshArgs(text);
    assert.ok('problem' in parsed, `${text} was accepted`);
    return parsed.problem;
  };

  test('the jump host, in each of the ways ssh takes it', () => {
    const expected = { jump: [{ host: 'gw', user: 'ops', port: 2222 }] };
    for (const text of ['-o ProxyJump=ops@gw:2222', '-oProxyJump=ops@gw:2222', '-o proxyjump=ops@gw:2222', "-o 'ProxyJump ops@gw:2222'", '-o "ProxyJump = ops@gw:2222"', '-J ops@gw:2222', '-Jops@gw:2222']) {
      assert.deepEqual(args(text), expected, text);
    }
    assert.deepEqual(args('-J a,b'), { jump: [{ host: 'a' }, { host: 'b' }] });
    assert.deepEqual(args('-o ProxyJump=none'), { jump: [] });
  });

  test('the first jump host given wins, as in ssh; -F names an ssh config file', () => {
    assert.deepEqual(args('-J first -o ProxyJump=second'), { jump: [{ host: 'first' }] });
    assert.deepEqual(args('-F ./ssh.cfg -J gw'), { configFile: './ssh.cfg', jump: [{ host: 'gw' }] });
    assert.deepEqual(args(''), {});
  });

  test('any other option is refused by name, with the variable to write instead where there is one', () => {
    assert.match(problem('-o ProxyJump=gw -o ForwardAgent=yes'), /^ssh option '-o ForwardAgent=yes' is not supported: provision reads only the jump host \(-J HOST or -o ProxyJump=HOST\) and -F FILE from ssh arguments$/);
    assert.match(problem('-o StrictHostKeyChecking=no'), /'-o StrictHostKeyChecking=no' is not supported: .*; write ssh_host_key_checking \(strict, ask, accept-new or off\) instead$/);
    assert.match(problem('-o UserKnownHostsFile=/dev/null'), /write ssh_known_hosts_file instead$/);
    assert.match(problem('-o ControlMaster=auto -o ControlPersist=60s'), /'-o ControlMaster=auto'.*keeps connections between runs itself \(ssh_persist\)$/);
    assert.match(problem('-i ~/.ssh/key'), /^ssh option -i ~\/\.ssh\/key is not supported: .*; write ansible_ssh_private_key_file instead$/);
    assert.match(problem('-p 2222'), /write ansible_port instead$/);
    assert.match(problem('-C'), /^ssh option -C is not supported/);
    assert.match(problem('-A'), /^ssh option -A is not supported/);
    assert.match(problem('bastion'), /^unexpected "bastion" in the ssh arguments/);
    assert.match(problem('-o'), /^ssh option -o is missing its value$/);
    assert.match(problem('-J gw:99999'), /^-J: expected a port number/);
    assert.match(problem("-o 'ProxyJump=gw"), /cannot split the ssh arguments into words: no closing quotation/);
  });

  test('a ProxyCommand that is a jump host in disguise is refused with the ProxyJump to write', () => {
    assert.match(problem('-o ProxyCommand="ssh -W %h:%p -q ops@gw.example.com"'), /this ProxyCommand is a jump host: write -o ProxyJump=ops@gw\.example\.com \(or ssh_jump: ops@gw\.example\.com\) instead$/);
    assert.deepEqual(jumpOfProxyCommand('ssh -q -p 2222 -l ops -W [%h]:%p gw'), { host: 'gw', user: 'ops', port: 2222 });
    assert.deepEqual(jumpOfProxyCommand('/usr/bin/ssh -W %h:%p gw'), { host: 'gw' });
    assert.equal(jumpOfProxyCommand('nc -X connect -x proxy:3128 %h %p'), undefined);
    assert.equal(jumpOfProxyCommand('ssh gw nc %h %p'), undefined);
    assert.match(problem('-o ProxyCommand="nc %h %p"'), /use a jump host \(-o ProxyJump=… or ssh_jump\) instead$/);
  });
});
