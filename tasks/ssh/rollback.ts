/**
 * sshd's "commit confirmed", as the firewall's: before a new configuration is loaded, the current one is saved on the
 * host and a timer is armed that puts it back and reloads sshd; only the new-login proof disarms it. If this run's
 * session dies after the reload (the network, the controller, a hung proof), the host restores itself.
 */
import { sh } from '../../src/transport/shell.ts';
import type { Step } from '../../src/engine/types.ts';

/** Where the rollback keeps the saved configuration and its script. */
export const SSH_STATE_DIR = '/var/lib/provision/ssh';
/** The transient systemd unit (timer + service) that restores the previous configuration unless the change is confirmed. */
export const SSH_ROLLBACK_UNIT = 'provision-ssh-rollback';

const RESTORE_SCRIPT = `${SSH_STATE_DIR}/restore.sh`;
const PREVIOUS_MAIN = `${SSH_STATE_DIR}/previous-sshd_config`;
const PREVIOUS_SOCKET = `${SSH_STATE_DIR}/previous-socket.conf`;
/** Written by the restore script: the change was rolled back (by `timer` or by `provision`). */
export const SSH_ROLLED_BACK_MARKER = `${SSH_STATE_DIR}/rolled-back`;

/** The files a change to sshd may write: the main configuration and, under socket activation, the socket's port. */
export interface SshdFiles {
  main: string;
  socketOverride: string;
}

/**
 * The script that puts the saved files back and makes sshd read them: a reload, or under socket activation a restart
 * of the socket (its port may have moved with the change). Open sessions survive either.
 */
export function renderSshdRestoreScript(files: SshdFiles): string {
  return `#!/bin/sh
# Managed by provision: restores the sshd configuration that was in place before an unconfirmed change.
set -u
cp -p ${PREVIOUS_MAIN} ${files.main}.provision-restore && mv -f ${files.main}.provision-restore ${files.main} || exit 1
if [ -f ${PREVIOUS_SOCKET} ]; then
  cp -p ${PREVIOUS_SOCKET} ${files.socketOverride}.provision-restore && mv -f ${files.socketOverride}.provision-restore ${files.socketOverride}
else
  rm -f ${files.socketOverride}
fi
systemctl daemon-reload
if systemctl is-active --quiet ssh.socket; then
  systemctl stop ssh.service; systemctl restart ssh.socket
else
  systemctl try-reload-or-restart ssh.service
fi
echo "\${1:-timer}" > ${SSH_ROLLED_BACK_MARKER}
echo "restored the previous sshd configuration (rolled back by \${1:-timer})"
`;
}

/** Steps that save the current files and arm the timer that restores them after `seconds`. */
export function armSshdRollback(files: SshdFiles, seconds: number): Step[] {
  const save = sh`set -e
rm -f ${SSH_ROLLED_BACK_MARKER}
cp -p ${files.main} ${PREVIOUS_MAIN}
if [ -f ${files.socketOverride} ]; then cp -p ${files.socketOverride} ${PREVIOUS_SOCKET}; else rm -f ${PREVIOUS_SOCKET}; fi
systemctl stop ${`${SSH_ROLLBACK_UNIT}.timer`} 2>/dev/null || true
systemctl reset-failed ${`${SSH_ROLLBACK_UNIT}.timer`} ${`${SSH_ROLLBACK_UNIT}.service`} 2>/dev/null || true
systemd-run --quiet --unit=${SSH_ROLLBACK_UNIT} --description=${'restore the sshd configuration unless provision confirms the change'} --on-active=${seconds} --timer-property=AccuracySec=1s /bin/sh ${RESTORE_SCRIPT} timer`;
  return [
    { kind: 'run', command: sh`install -d -m 0700 ${SSH_STATE_DIR}` },
    { kind: 'write-file', path: RESTORE_SCRIPT, content: renderSshdRestoreScript(files), mode: '0700', owner: 'root', group: 'root' },
    { kind: 'run', command: save, description: `save ${files.main} and arm the rollback timer (${seconds}s)` },
  ];
}

/** The step that disarms the timer after the new login was proven; it fails if the timer fired first. */
export function confirmSshd(seconds: number): Step {
  const command = sh`systemctl stop ${`${SSH_ROLLBACK_UNIT}.timer`} 2>/dev/null || true
i=0
while [ "$i" -lt 20 ] && systemctl is-active --quiet ${`${SSH_ROLLBACK_UNIT}.service`}; do sleep 0.5; i=$((i + 1)); done
if [ -e ${SSH_ROLLED_BACK_MARKER} ]; then
  echo ${`the rollback timer fired before the new sshd configuration was confirmed (ssh.rollback_after is ${seconds}s): the previous one is back`} >&2
  exit 1
fi`;
  return { kind: 'run', command, description: 'confirm the new sshd configuration: disarm the rollback timer' };
}

/** The first step of the controller's own rollback: the timer must not restore again behind it. */
export const disarmSshdRollback: Step = {
  kind: 'run',
  command: sh`systemctl stop ${`${SSH_ROLLBACK_UNIT}.timer`} 2>/dev/null || true`,
  description: 'disarm the sshd rollback timer',
};
