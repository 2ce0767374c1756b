import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leaveStartToHandler } from '../../src/engine/handler-start.ts';
import { restartService, reloadService } from '../../tasks/core/systemd.ts';
import { sh } from '../../src/transport/shell.ts';
import type { Change } from '../../src/engine/types.ts';

const start: Change = {
  summary: 'start fail2ban',
  steps: [{ kind: 'run', command: sh`systemctl start fail2ban` }],
  services: [{ name: 'fail2ban', action: 'start' }],
};

test('a start of a service whose restart handler is notified is left to the handler', () => {
  const handlers = [restartService('fail2ban')];
  const folded = leaveStartToHandler(start, new Set(['restart fail2ban']), handlers);
  assert.deepEqual(folded.steps, []);
  assert.equal(folded.summary, 'start fail2ban (by the handler "restart fail2ban" at the end of the play)');
  assert.deepEqual(folded.services, start.services);
});

test('the start runs itself when the handler is not notified, only reloads, or restarts another service', () => {
  assert.equal(leaveStartToHandler(start, new Set(), [restartService('fail2ban')]), start);
  assert.equal(leaveStartToHandler(start, new Set(['reload fail2ban']), [reloadService('fail2ban')]), start);
  assert.equal(leaveStartToHandler(start, new Set(['restart haproxy']), [restartService('haproxy')]), start);
});

test('a change that does more than start (an enable, a stop) keeps its steps', () => {
  const handlers = [restartService('fail2ban')];
  const enable: Change = { ...start, services: [{ name: 'fail2ban', action: 'enable' }] };
  assert.equal(leaveStartToHandler(enable, new Set(['restart fail2ban']), handlers), enable);
  const mixed: Change = { ...start, services: [{ name: 'fail2ban', action: 'start' }, { name: 'haproxy', action: 'start' }] };
  assert.equal(leaveStartToHandler(mixed, new Set(['restart fail2ban']), handlers), mixed);
});
