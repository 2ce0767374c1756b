/**
 * The kernel settings as a sysctl.d drop-in, applied with `sysctl --system` (every file, in the order a boot applies
 * them) and verified key by key from /proc/sys. A key the host cannot change (a container's read-only /proc/sys, a key
 * this kernel lacks) is skipped with the reason, in the plan and in the result, never failed.
 */
import { join, sh } from '../../src/transport/shell.ts';
import { predict, type Change, type Plan, type Step, type Task } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { plainConfigValues } from '../../src/engine/config-values.ts';
import { planFileWrite } from '../core/files.ts';
import { pathState, type PathState } from '../core/files.facts.ts';
import { kernelState, type KernelState } from './facts.ts';
import { kernelSettings, keysToRead, normalValue, procPath, type HostRole, type KernelSetting } from './settings.ts';
import type { SysctlHostVars, SysctlVars } from './vars.ts';

/** provision's drop-in: named to sort after Debian's 99-protect-links.conf (and before 99-sysctl.conf, /etc/sysctl.conf). */
export const SYSCTL_DROP_IN = '/etc/sysctl.d/99-provision-hardening.conf';

/** Interfaces that show a host routes for containers or VMs. */
const BRIDGES = /^(docker\d*|br-.+|cni.+|virbr.+|flannel.+|cali.+|vxlan.+|podman.+)$/;

/** What the host is: whether (and why) it forwards packets, and how many network devices it has (pure). */
export function hostRole(state: KernelState): HostRole {
  const on = (key: string) => {
    const found = state.keys[key];
    return found?.present === true && normalValue(found.value) === '1';
  };
  const reasons = [
    ...(state.engines.length ? [`${state.engines.join(', ')} ${state.engines.length === 1 ? 'is' : 'are'} present`] : []),
    ...state.interfaces.filter((item) => BRIDGES.test(item.name)).map((item) => `it has the bridge ${item.name}`),
    ...(on('net.ipv4.ip_forward') ? ['net.ipv4.ip_forward is on'] : []),
    ...(on('net.ipv6.conf.all.forwarding') ? ['net.ipv6.conf.all.forwarding is on'] : []),
  ];
  return { ...(reasons.length ? { forwards: `the host forwards packets (${reasons.slice(0, 2).join('; ')})` } : {}), physicalInterfaces: state.interfaces.filter((item) => item.physical).length };
}

/** Why this host cannot change `key`: not in this kernel, or not writable (and the read-only mount that makes it so). */
export function skipReason(key: string, state: KernelState): string | undefined {
  const found = state.keys[key];
  if (!found || !found.present) return 'not present in this kernel';
  if (found.writable) return undefined;
  const path = procPath(key);
  const mount = state.readOnlyMounts.filter((point) => path === point || path.startsWith(`${point}/`)).sort((a, b) => b.length - a.length)[0];
  return mount ? `read-only: ${mount} is mounted read-only (as in a container)` : 'read-only on this host';
}

/** The drop-in: every setting whose key this kernel has, grouped by the variable that decides it. */
export function renderDropIn(settings: readonly KernelSetting[], state: KernelState): string {
  plainConfigValues(SYSCTL_DROP_IN, settings);
  const lines = ['# Managed by provision (sysctl.* in the inventory); applied with `sysctl --system`, after 99-protect-links.conf.'];
  let variable = '';
  for (const setting of settings) {
    if (state.keys[setting.key]?.present !== true) continue;
    if (setting.variable !== variable) lines.push(`# ${(variable = setting.variable)}`);
    lines.push(`${setting.key} = ${setting.value}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Groups skipped keys by reason: `reason: key, key`. */
function skippedLines(skipped: readonly { key: string; reason: string }[]): string[] {
  const byReason = new Map<string, string[]>();
  for (const { key, reason } of skipped) byReason.set(reason, [...(byReason.get(reason) ?? []), key]);
  return [...byReason].map(([reason, keys]) => `skipped (${reason}): ${keys.join(', ')}`);
}

/** Verifies each changeable key from /proc/sys; a mismatch names the files that set the key (a later one wins). */
function verifyCommand(settings: readonly KernelSetting[]) {
  const checks = settings.map(
    // cat, not the shell's `read`: /proc/sys gives a byte-by-byte reader only the first character (see facts.ts).
    (setting) => sh`value=$(cat -- ${procPath(setting.key)} 2>/dev/null) || value='(unreadable)'
if [ "$(printf '%s' "$value" | tr -s '\t ' '  ')" != ${setting.value} ]; then
  printf '%s is %s, not %s, after sysctl --system; the files that set it (the last one applied wins): %s\n' ${setting.key} "$value" ${setting.value} "$(grep -ls -- ${setting.key} /etc/sysctl.d/*.conf /run/sysctl.d/*.conf /usr/lib/sysctl.d/*.conf /lib/sysctl.d/*.conf /etc/sysctl.conf | tr '\n' ' ')" >&2
  failed=1
fi`,
  );
  return join([sh`failed=`, ...checks, sh`[ -z "$failed" ]`], '\n');
}

/**
 * Plans the drop-in and the running values (pure; exported for tests). Changeable keys whose value differs are set by
 * applying every sysctl file again; skipped keys are listed first, with their reasons.
 */
export function planKernelSettings(vars: SysctlVars, state: KernelState, file: PathState): Plan {
  if (!vars.enabled) {
    if (file.type === 'absent') return { status: 'ok', reason: `sysctl.enabled is false and ${SYSCTL_DROP_IN} does not exist` };
    return {
      status: 'change',
      changes: [
        {
          summary: `remove ${SYSCTL_DROP_IN} (sysctl.enabled: false)`,
          details: ['the running values stay until the next boot'],
          diff: { path: SYSCTL_DROP_IN, before: file.type === 'file' ? file.content : null, after: null },
          steps: [{ kind: 'run', command: sh`rm -f -- ${SYSCTL_DROP_IN}` }],
          affects: [{ path: SYSCTL_DROP_IN }],
          predicts: [predict(pathState(SYSCTL_DROP_IN), { type: 'absent' })],
        },
      ],
    };
  }
  const { settings, notes } = kernelSettings(vars, hostRole(state));
  const skipped = settings.flatMap((setting) => {
    const reason = skipReason(setting.key, state);
    return reason ? [{ key: setting.key, reason }] : [];
  });
  const changeable = settings.filter((setting) => !skipped.some((skip) => skip.key === setting.key));
  const differing = changeable.filter((setting) => {
    const found = state.keys[setting.key];
    return !(found?.present && normalValue(found.value) === setting.value);
  });
  const content = renderDropIn(settings, state);
  const write = planFileWrite(SYSCTL_DROP_IN, file, content, { mode: '0644', owner: 'root', group: 'root' });
  const skippedText = skipped.length ? `; ${skipped.length} skipped (${[...new Set(skipped.map((skip) => skip.reason))].join('; ')})` : '';
  if (write.status === 'ok' && differing.length === 0) {
    const inPlace = changeable.length ? `${changeable.length} kernel settings in place (${SYSCTL_DROP_IN})` : `${SYSCTL_DROP_IN} is up to date; no key can be changed on this host now`;
    return { status: 'ok', reason: `${inPlace}${skippedText}` };
  }
  // The kernel's values once applied: what the verification checks, so later plans see them.
  const predicted: KernelState = { ...state, keys: { ...state.keys } };
  for (const setting of changeable) predicted.keys[setting.key] = { present: true, writable: true, value: setting.value };
  const apply: Step[] = changeable.length
    ? [
        // Every sysctl file again, in the order a boot applies them; its exit code says nothing per key (a
        // container's read-only keys fail it), so each changeable key is read back from /proc/sys instead.
        { kind: 'run', command: sh`sysctl --system >/dev/null 2>&1 || true`, description: 'apply every sysctl file (sysctl --system)' },
        { kind: 'run', command: verifyCommand(changeable), description: `check the ${changeable.length} changeable keys in /proc/sys` },
      ]
    : [];
  const fileChange = write.status === 'change' ? write.changes[0] : undefined;
  const change: Change = {
    summary: fileChange
      ? `write ${SYSCTL_DROP_IN}${apply.length ? ' and apply it (sysctl --system)' : ''}`
      : `apply ${SYSCTL_DROP_IN} again (sysctl --system): ${differing.length} running value${differing.length === 1 ? '' : 's'} differ`,
    details: [
      ...skippedLines(skipped),
      ...(changeable.length === 0 ? ['no key can be changed on this host now; the file applies at boot where /proc/sys is writable'] : []),
      ...differing.map((setting) => {
        const found = state.keys[setting.key];
        return `${setting.key}: ${found?.present ? normalValue(found.value) : '(unset)'} → ${setting.value} (${setting.variable})`;
      }),
      ...notes,
    ],
    steps: [...(fileChange?.steps ?? []), ...apply],
    ...(fileChange?.diff ? { diff: fileChange.diff } : {}),
    affects: [{ path: SYSCTL_DROP_IN }],
    predicts: [...(fileChange?.predicts ?? []), predict(kernelState(keysToRead(vars)), predicted)],
  };
  return { status: 'change', changes: [change] };
}

/** The kernel settings of `sysctl.*` on one host. */
export function kernelSettingsTask(host: Host<SysctlHostVars>): Task<SysctlHostVars> {
  const vars = host.vars.sysctl;
  const state = kernelState(keysToRead(vars));
  const file = pathState(SYSCTL_DROP_IN);
  return {
    kind: 'sysctl.settings',
    target: SYSCTL_DROP_IN,
    facts: () => [state, file],
    plan: ({ facts }) => planKernelSettings(vars, facts.get(state), facts.get(file)),
  };
}
