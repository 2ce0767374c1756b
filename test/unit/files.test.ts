import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { directory, editLine, file, line } from '../../tasks/core/files.ts';
import { parsePathState } from '../../tasks/core/files.facts.ts';
import { planWith } from '../support/fake-context.ts';

const digest = (content: string) => createHash('sha256').update(content).digest('hex');
const motd = (content: string, mode = '0644') => ({ type: 'file', mode, owner: 'root', group: 'root', content });

test('path state parses a regular file with its exact content', () => {
  const content = 'héllo\n\n';
  const state = parsePathState({ stdout: `regular file|640|root|adm\n${Buffer.from(content).toString('base64')}`, code: 0 });
  // The digest is of the bytes read, so a file that is not UTF-8 is still compared exactly (its compare-and-swap check).
  assert.deepEqual(state, { type: 'file', mode: '0640', owner: 'root', group: 'adm', content });
  assert.equal(state.type === 'file' && state.sha256, createHash('sha256').update(content).digest('hex'));
  // A state predicted from this one with other content does not keep the old digest: its write expects the new content.
  assert.equal(state.type === 'file' && { ...state, content: 'next\n' }.sha256, undefined);
  const latin1 = parsePathState({ stdout: `regular file|644|root|root\n${Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString('base64')}`, code: 0 });
  assert.equal(latin1.type === 'file' && latin1.sha256, createHash('sha256').update(Buffer.from([0x63, 0x61, 0x66, 0xe9])).digest('hex'));
  assert.deepEqual(parsePathState({ stdout: 'absent\n', code: 0 }), { type: 'absent' });
  assert.deepEqual(parsePathState({ stdout: 'directory|755|root|root\n', code: 0 }), { type: 'directory', mode: '0755', owner: 'root', group: 'root' });
  assert.equal(parsePathState({ stdout: 'regular empty file|600|a|b\n', code: 0 }).type, 'file');
});

test('a file already in place is ok, with the reason', () => {
  const plan = planWith(file('/etc/motd', 'hi\n'), {}, { 'file:/etc/motd': motd('hi\n') });
  assert.deepEqual(plan, { status: 'ok', reason: '/etc/motd is up to date' });
});

test('a missing file is created atomically with its diff and predicted state', () => {
  const plan = planWith(file('/etc/motd', 'hi\n', { mode: '600', notify: ['x'] }), {}, { 'file:/etc/motd': { type: 'absent' } });
  assert.equal(plan.status, 'change');
  if (plan.status !== 'change') return;
  const [change] = plan.changes;
  assert.equal(change.summary, 'create /etc/motd');
  assert.deepEqual(change.diff?.before, null);
  assert.equal(change.diff?.after, 'hi\n');
  assert.deepEqual(change.steps, [{ kind: 'write-file', path: '/etc/motd', content: 'hi\n', mode: '0600', owner: 'root', group: 'root', expect: { absent: true } }]);
  assert.deepEqual(change.notify, ['x']);
  assert.equal(change.predicts?.[0]?.key, 'file:/etc/motd');
});

test('only a mode difference changes the mode, not the content: the same content is written again, never chmod by name', () => {
  const plan = planWith(file('/etc/motd', 'hi\n'), {}, { 'file:/etc/motd': motd('hi\n', '0666') });
  assert.equal(plan.status, 'change');
  if (plan.status !== 'change') return;
  assert.deepEqual(plan.changes[0].steps, [{ kind: 'write-file', path: '/etc/motd', content: 'hi\n', mode: '0644', owner: 'root', group: 'root', expect: { sha256: digest('hi\n') } }]);
  assert.match(plan.changes[0].summary, /mode 0644/);
});

test('a link is refused unless the task follows links; then the file it leads to is read and written', () => {
  assert.throws(() => planWith(file('/etc/motd', 'x'), {}, { 'file:/etc/motd': { type: 'link', mode: '0777', owner: 'root', group: 'root' } }), /is a link, not a regular file/);
  const plan = planWith(file('/etc/motd', 'new\n', { followSymlinks: true }), {}, { 'file:followed:/etc/motd': motd('old\n', '0644') });
  assert.equal(plan.status, 'change');
  if (plan.status !== 'change') return;
  assert.deepEqual(plan.changes[0].steps, [{ kind: 'write-file', path: '/etc/motd', content: 'new\n', mode: '0644', owner: 'root', group: 'root', followSymlinks: true, expect: { sha256: digest('old\n') } }]);
  assert.deepEqual(plan.changes[0].predicts?.map((predicted) => predicted.key), ['file:followed:/etc/motd']);
});

test('a directory at a file path is refused, not replaced', () => {
  assert.throws(() => planWith(file('/etc/motd', 'x'), {}, { 'file:/etc/motd': { type: 'directory', mode: '0755', owner: 'root', group: 'root' } }), /not a regular file/);
});

test('directories are created or fixed', () => {
  const fresh = planWith(directory('/srv/x', { mode: '0750' }), {}, { 'file:/srv/x': { type: 'absent' } });
  assert.equal(fresh.status, 'change');
  const done = planWith(directory('/srv/x', { mode: '0750' }), {}, { 'file:/srv/x': { type: 'directory', mode: '0750', owner: 'root', group: 'root' } });
  assert.equal(done.status, 'ok');
});

test('line edits replace the last match, append, or remove, keeping the rest', () => {
  const text = 'a=1\n#b=2\nb=3\nc=4\n';
  assert.equal(editLine(text, 'b=9', { regexp: /^#?b=/ }), 'a=1\n#b=2\nb=9\nc=4\n');
  assert.equal(editLine(text, 'd=5', {}), `${text}d=5\n`);
  assert.equal(editLine(text, 'c=4', {}), text);
  assert.equal(editLine(text, '', { regexp: /^#?b=/, state: 'absent' }), 'a=1\nc=4\n');
  assert.equal(editLine('no newline', 'x', {}), 'no newline\nx\n');
});

test('a line already present is ok; a missing file is an error unless create is set', () => {
  const present = planWith(line('/etc/x', 'b=3'), {}, { 'file:/etc/x': motd('a\nb=3\n') });
  assert.equal(present.status, 'ok');
  assert.throws(() => planWith(line('/etc/x', 'b=3'), {}, { 'file:/etc/x': { type: 'absent' } }), /does not exist/);
  const created = planWith(line('/etc/x', 'b=3', { create: true }), {}, { 'file:/etc/x': { type: 'absent' } });
  assert.equal(created.status, 'change');
});

test('a line edit keeps the file’s own mode and owner', () => {
  const plan = planWith(line('/etc/x', 'b=4', { regexp: /^b=/ }), {}, { 'file:/etc/x': { ...motd('b=3\n', '0600'), owner: 'app' } });
  assert.equal(plan.status, 'change');
  if (plan.status !== 'change') return;
  const step = plan.changes[0].steps[0];
  assert.equal(step?.kind === 'write-file' && step.mode, '0600');
  assert.equal(step?.kind === 'write-file' && step.owner, 'app');
});
