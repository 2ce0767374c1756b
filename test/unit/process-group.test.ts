import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { killGroupCommand, reportGroup, takeGroupReport } from '../../src/transport/process-group.ts';

const MARKER = '--provision-group-0123456789abcdef01--';

test("stderr's first line names the group and is taken off; anything else is left as it was", () => {
  assert.deepEqual(takeGroupReport(`${MARKER} 4242\nerr\n`, MARKER), { group: 4242, stderr: 'err\n' });
  assert.deepEqual(takeGroupReport(`${MARKER} 0\n`, MARKER), { group: 0, stderr: '' });
  assert.deepEqual(takeGroupReport(`${MARKER} 1\n`, MARKER), { group: 0, stderr: '' }, 'never init');
  assert.deepEqual(takeGroupReport(`${MARKER} 42`, MARKER), { group: 0, stderr: '' }, 'cut off by a timeout');
  assert.deepEqual(takeGroupReport('err\n', MARKER), { group: 0, stderr: 'err\n' });
  assert.equal(killGroupCommand(4242).text, 'kill -s TERM -- -4242 2>/dev/null || true');
});

for (const shell of ['sh', 'bash']) {
  test(`under ${shell}, a session leader names its group; a shell inside another's group names none`, () => {
    const script = `${reportGroup(MARKER)}\necho "$$ $# \${provision_group-unset} \${provision_stat-unset}"`;
    const leader = spawnSync('setsid', ['--wait', shell, '-c', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(leader.status, 0, leader.stderr);
    const [pid, args, ...left] = leader.stdout.trim().split(' ');
    assert.deepEqual({ args, left }, { args: '0', left: ['unset', 'unset'] }, 'no argument and no variable is left to the command');
    assert.deepEqual(takeGroupReport(leader.stderr, MARKER), { group: Number(pid), stderr: '' });
    // A shell in a group of its own inside another's session (a job of a shell with job control): it names none.
    const inside = spawnSync('setsid', ['--wait', 'bash', '-c', 'set -m; "$0" -c "$1" & wait', shell, script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(inside.status, 0, inside.stderr);
    assert.equal(takeGroupReport(inside.stderr, MARKER).group, 0);
    assert.ok(inside.stderr.startsWith(`${MARKER} 0\n`), inside.stderr);
  });
}
