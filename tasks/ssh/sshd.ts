/**
 * Key-only sshd, without ever locking the operator out: the hardened settings go in a managed block at the top of
 * sshd_config (sshd keeps the first value it reads), checked against `sshd -T`, validated with `sshd -t`, reloaded
 * (open sessions survive), and proven by a NEW key login, or rolled back.
 */
import { SafetyError } from '../../src/errors.ts';
import { join, sh } from '../../src/transport/shell.ts';
import { predict, type Change, type Fact, type PlanContext, type Step, type Task } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { account, type Account } from '../core/accounts.facts.ts';
import { keyIdentity } from '../core/authorized-keys.ts';
import { pathState, type PathState } from '../core/files.facts.ts';
import { expectedBefore } from '../core/files.ts';
import { effectiveSshdConfig, knowsKbdInteractive, opensshVersion } from './facts.ts';
import { sshdCrypto, type SshdCrypto } from './algorithms.ts';
import { KEY_ALGORITHM, KEY_FILE_TYPES, hostKeys, type HostKeys } from './host-keys.ts';
import { PRUNED_MODULI, groupExchangeProblem, moduliState } from './moduli.ts';
import { clientOffer, fingerprintOf, keyTrust, keyTypeOf, negotiate, type Negotiation, type ServerOffer } from './negotiation.ts';
import { effectiveDifferences, expectedEffective, hardeningSettings, removeManagedBlock, renderBlock, withManagedBlock } from './render.ts';
import { armSshdRollback, confirmSshd, disarmSshdRollback } from './rollback.ts';
import { commentOutLines, findConflicts, parseDropIns, type ConfigFile } from './scan.ts';
import { unitState } from '../core/systemd.facts.ts';
import type { SshHostVars } from './vars.ts';

const MAIN_CONFIG = '/etc/ssh/sshd_config';
const VALIDATE = 'install -d -m 0755 /run/sshd && /usr/sbin/sshd -t -f %s';
const SOCKET_OVERRIDE = '/etc/systemd/system/ssh.socket.d/provision-port.conf';

/** The sshd -T keywords of the algorithm lists and host keys: checked before the reload too. */
const CRYPTO_KEYWORDS = new Set(['kexalgorithms', 'ciphers', 'macs', 'hostkeyalgorithms', 'hostkey', 'modulifile']);

/** A command that fails unless `sshd -T` prints every expected value, naming the first one it does not. */
function sshdTCheck(expected: Map<string, string[]>) {
  const checks = [...expected].flatMap(([keyword, values]) =>
    values.map((value) => {
      const wanted = `${keyword} ${value}`;
      const test = value === 'prohibit-password' ? sh`grep -Eqx ${`${keyword} (prohibit-password|without-password)`}` : sh`grep -qxF ${wanted}`;
      return sh`printf '%s\n' "$config" | ${test} || { echo ${`sshd -T does not report: ${wanted}`} >&2; exit 1; }`;
    }),
  );
  return join([sh`install -d -m 0755 /run/sshd; config=$(/usr/sbin/sshd -T) || exit 1`, ...checks], '\n');
}

/** Every drop-in sshd includes, with its content. */
const dropIns: Fact<ConfigFile[]> = {
  key: 'sshd:drop-ins',
  description: '/etc/ssh/sshd_config.d/*.conf',
  command: sh`for f in /etc/ssh/sshd_config.d/*.conf; do [ -f "$f" ] && { echo "== $f"; base64 -w0 "$f"; echo; }; done; true`,
  parse: (output) => parseDropIns(output.stdout),
  staleAfter: [{ path: '/etc/ssh' }],
};

/** The user this run will log in as once sshd is hardened: the admin user when one is configured. */
function targetUser(host: Host<SshHostVars>): string {
  return host.vars.ssh.admin_user ?? host.connection.user;
}

/** Refuses (SafetyError) unless a key this run holds is authorized for the user it will log in as afterwards. */
function checkKeyAccess(context: PlanContext<SshHostVars>, user: string, target: Account): void {
  const { host } = context;
  const keys = context.login?.publicKeys ?? [];
  const name = host.name;
  if (keys.length === 0) {
    throw new SafetyError(
      `refusing to disable password logins on ${name}: this run has no SSH key to log in with afterwards ` +
        `(set ansible_ssh_private_key_file or load the key into an SSH agent, and list its public key in ssh.authorized_keys)`,
    );
  }
  const authorized = new Set(
    target.exists ? (target.authorizedKeys ?? '').split('\n').map(keyIdentity).filter((id): id is string => id !== null) : [],
  );
  if (!keys.some((key) => authorized.has(keyIdentity(key) ?? ''))) {
    const shown = keys.map((key) => `${key.slice(0, 28)}…`).join(', ');
    throw new SafetyError(
      `refusing to disable password logins on ${name}: none of this run's keys (${shown}) is authorized for ${user}, ` +
        `so the next login would fail. Add the public key to ssh.authorized_keys.`,
    );
  }
  const { allow_users: allowUsers, allow_groups: allowGroups } = host.vars.ssh;
  const groups = target.exists ? target.groups : [];
  const allowedByUser = !allowUsers || allowUsers.includes(user);
  const allowedByGroup = !allowGroups || allowGroups.some((group) => groups.includes(group));
  if (!allowedByUser || !allowedByGroup) {
    throw new SafetyError(`refusing to apply ssh.allow_users/allow_groups on ${name}: they would not let ${user} (this run's login) in`);
  }
}

/**
 * Refuses an admin user that could not become root once root's own logins end: it has no password (logins are
 * key-only), so without the NOPASSWD rule only a sudo password the operator gave can work.
 */
function checkBecomeRoot(host: Host<SshHostVars>): void {
  const { admin_user: admin, admin_sudo_nopasswd: nopasswd } = host.vars.ssh;
  if (admin === undefined || nopasswd || host.connection.user !== 'root' || host.connection.becomePassword !== undefined) return;
  throw new SafetyError(
    `refusing to end root's SSH logins on ${host.name}: ${admin} would be the only way in, and with ssh.admin_sudo_nopasswd: false ` +
      `it could not become root (it has no password). Set ssh.admin_sudo_nopasswd: true, or give ${admin} a password and set ansible_become_password.`,
  );
}

/**
 * Refuses to turn TCP forwarding off on a host that other hosts of the inventory are reached through (`ssh_jump`,
 * ProxyJump): their runs, and anyone's `ssh -J`, would be cut off at the bastion.
 */
function checkJumpHostForwarding(context: PlanContext<SshHostVars>): void {
  const { host } = context;
  const vars = host.vars.ssh;
  if (vars.allow_forwarding) return;
  const addresses = new Set([host.connection.address, host.privateIp, host.name].map((address) => address.toLowerCase()));
  const ports = new Set([host.connection.port, vars.port ?? host.connection.port]);
  const behind = context.inventory.hosts.filter(
    (other) => other !== host && (other.connection.jump ?? []).some((hop) => addresses.has(hop.address.toLowerCase()) && ports.has(hop.port)),
  );
  if (behind.length === 0) return;
  throw new SafetyError(
    `refusing to turn off TCP forwarding on ${host.name}: it is the jump host of ${behind.map((other) => other.name).join(', ')} (ssh_jump or ProxyJump), ` +
      `which could no longer be reached through it. Set ssh.allow_forwarding: true for ${host.name}.`,
  );
}

/** The key file type (ed25519, rsa, ecdsa) that holds keys of this key type (`ssh-ed25519`), by the standard names. */
function fileTypeOf(keyType: string): (typeof KEY_FILE_TYPES)[number] | undefined {
  return KEY_FILE_TYPES.find((type) => KEY_ALGORITHM[type] === keyType || (type === 'ecdsa' && keyType.startsWith('ecdsa-sha2-')));
}

/** What sshd offers now, from `sshd -T`: its lists, and the key types of the host keys it loads (standard files only). */
function currentOffer(values: Map<string, string[]>, keys: HostKeys): ServerOffer {
  const list = (keyword: string) => (values.get(keyword)?.[0] ?? '').split(',').filter(Boolean);
  const hostKeyTypes = (values.get('hostkey') ?? []).flatMap((path) => {
    const type = KEY_FILE_TYPES.find((candidate) => keys[candidate]?.path === path);
    const publicKey = type ? keys[type]?.publicKey : undefined;
    return publicKey ? [publicKey.split(' ')[0]!] : [];
  });
  return { kex: list('kexalgorithms'), hostKeyAlgorithms: list('hostkeyalgorithms'), ciphers: list('ciphers'), macs: list('macs'), hostKeyTypes };
}

function describeNegotiation(result: Extract<Negotiation, { ok: true }>): string {
  return `host key ${result.hostKey}, key exchange ${result.kex}, cipher ${result.cipher}${result.mac ? `, MAC ${result.mac}` : ''}`;
}

/**
 * The lock-out guard for sshd's algorithms and host keys: this run's SSH client (what it offers, which of the host's
 * keys it trusts) must still complete a handshake with the new lists and get a key it trusts. A key it does not know
 * yet is recorded in known_hosts first (a step of the change, before the reload); under pinned keys the run refuses.
 */
function checkClientAfter(context: PlanContext<SshHostVars>, crypto: SshdCrypto, keys: HostKeys, current: Map<string, string[]>): { details: string[]; steps: Step[] } {
  const profile = context.login?.sshClient;
  if (!profile) return { details: [], steps: [] };
  const name = context.host.name;
  const client = clientOffer(profile);
  const after = negotiate(client, { kex: crypto.kex, hostKeyAlgorithms: crypto.hostKeyAlgorithms, ciphers: crypto.ciphers, macs: crypto.macs, hostKeyTypes: crypto.hostKeyTypes });
  if (!after.ok) {
    throw new SafetyError(
      `refusing to change sshd's algorithms on ${name}: this run's SSH client could not log in afterwards:\n${after.problems.map((problem) => `  ${problem}`).join('\n')}\n` +
        'Keep at least one algorithm of each kind it offers in ssh.kex_algorithms, ssh.ciphers, ssh.macs and ssh.host_key_algorithms.',
    );
  }
  const keyType = keyTypeOf(after.hostKey);
  const fileType = fileTypeOf(keyType);
  const key = fileType ? keys[fileType] : undefined;
  const publicKey = key?.publicKey ?? null;
  const shown = publicKey ? `${keyType} key ${fingerprintOf(publicKey)}` : `${keyType} key (made by this run)`;
  const before = negotiate(client, currentOffer(current, keys));
  const details = [`this run's SSH client afterwards: ${describeNegotiation(after)}${before.ok && before.hostKey !== after.hostKey ? ` (now: host key ${before.hostKey})` : ''}`];
  const trust = keyTrust(profile, publicKey);
  if (trust.status === 'trusted') return { details, steps: [] };
  if (trust.status === 'refused' || !key) {
    const pins = profile.trustedKeys.map((pinned) => `${pinned.split(' ')[0]} ${fingerprintOf(pinned)}`).concat(profile.trustedFingerprints);
    throw new SafetyError(
      `refusing to change sshd's host keys on ${name}: afterwards sshd offers this run its ${shown}, which ${trust.status === 'refused' ? trust.reason : 'cannot be read'} ` +
        `(ssh_host_key: ${pins.join(', ')}), so the next login would fail. ` +
        (publicKey ? `Pin it too (ssh_host_key: ${publicKey}; compare on the host: ssh-keygen -lf ${key!.path}.pub), ` : `Run once without ssh_host_key, then pin the host's ${keyType} key, `) +
        'or set ssh.host_key_types to keep offering a pinned type.',
    );
  }
  return {
    details: [...details, `${shown} is not in ${profile.knownHostsFile}: recorded there first, read over this run's verified connection (as OpenSSH's UpdateHostKeys does)`],
    steps: [{ kind: 'trust-host-key', path: `${key.path}.pub` }],
  };
}

/** The account the plan sees for `user`; a user created earlier in this run counts as existing with the sudo group. */
function plannedAccount(context: PlanContext<SshHostVars>, fact: Fact<Account>, user: string): Account {
  const state = context.facts.get(fact);
  if (state.exists || !context.facts.isStale(fact)) return state;
  return { exists: true, uid: -1, gid: -1, home: `/home/${user}`, groups: [user, 'sudo'], authorizedKeys: null };
}

/** sshd is key-only with the hardened settings of `ssh.*`. */
export function sshdHardening(host: Host<SshHostVars>): Task<SshHostVars> {
  const main = pathState(MAIN_CONFIG);
  const socket = unitState('ssh.socket');
  const service = unitState('ssh.service');
  const user = targetUser(host);
  const target = account(user);
  return {
    kind: 'sshd.config',
    target: MAIN_CONFIG,
    facts: () => [main, dropIns, effectiveSshdConfig, opensshVersion, socket, service, target, hostKeys, moduliState],
    plan: (context) => {
      const { facts } = context;
      const vars = host.vars.ssh;
      const mainState = facts.get(main);
      if (mainState.type !== 'file') throw new Error(`${MAIN_CONFIG} is missing: is openssh-server installed?`);
      const effective = facts.get(effectiveSshdConfig);
      if (!effective.ok) throw new Error(`sshd -T fails, so the current configuration is broken: ${effective.error}`);

      const version = facts.get(opensshVersion);
      const kbd = knowsKbdInteractive(version) ? 'KbdInteractiveAuthentication' : 'ChallengeResponseAuthentication';
      const keys = facts.get(hostKeys);
      const moduliFile = groupExchangeProblem(facts.get(moduliState), version, vars.moduli_min_bits) === undefined ? PRUNED_MODULI : undefined;
      const crypto = sshdCrypto(vars, version, keys, moduliFile);
      const settings = hardeningSettings(vars, { kbdInteractiveKeyword: kbd, crypto, ...(vars.admin_user ? { adminUser: vars.admin_user } : {}) });
      const managed = new Map([
        ...settings.map(([keyword, values]): [string, string] => [keyword.toLowerCase(), values.join(' ')]),
        ['kbdinteractiveauthentication', 'no'],
        ['challengeresponseauthentication', 'no'],
      ]);

      // The main config is ours to edit: accumulating keywords elsewhere in it are commented out. Drop-ins are not.
      const rest = removeManagedBlock(mainState.content);
      const mainConflicts = findConflicts({ path: MAIN_CONFIG, content: rest }, managed);
      const blocking = [...mainConflicts.filter((c) => c.why.startsWith('a Match')), ...facts.get(dropIns).flatMap((file) => findConflicts(file, managed))];
      if (blocking.length > 0) {
        throw new Error(
          `sshd would not end up hardened; fix these lines first:\n${blocking.map((c) => `  ${c.path}:${c.line}: ${c.text} (${c.why})`).join('\n')}`,
        );
      }
      const nextMain = withManagedBlock(commentOutLines(rest, new Set(mainConflicts.map((c) => c.line))), renderBlock(settings));
      const differences = effectiveDifferences(effective.values, expectedEffective(settings));
      if (nextMain === mainState.content && differences.length === 0) {
        return {
          status: 'ok',
          reason: `sshd is key-only and hardened (sshd -T: passwordauthentication no, authenticationmethods publickey, ${crypto.hostKeyTypes.join(' and ')} host keys, ${crypto.kex.length} key exchanges, forwarding ${vars.allow_forwarding ? 'TCP only' : 'off'})`,
        };
      }
      if (nextMain === mainState.content) {
        throw new Error(
          `${MAIN_CONFIG} holds the hardened block, yet sshd -T reports ${differences.map((d) => `${d.keyword} ${d.current}`).join(', ')}`,
        );
      }
      checkKeyAccess(context, user, plannedAccount(context, target, user));
      checkBecomeRoot(host);
      checkJumpHostForwarding(context);
      const client = checkClientAfter(context, crypto, keys, effective.values);
      return { status: 'change', changes: [hardeningChange(context, mainState, nextMain, settings, differences, effective.values, crypto, client)] };
    },
  };

  function hardeningChange(
    context: PlanContext<SshHostVars>,
    mainState: Extract<PathState, { type: 'file' }>,
    nextMain: string,
    settings: ReturnType<typeof hardeningSettings>,
    differences: ReturnType<typeof effectiveDifferences>,
    effectiveValues: Map<string, string[]>,
    crypto: SshdCrypto,
    client: { details: string[]; steps: Step[] },
  ): Change {
    const vars = host.vars.ssh;
    const { facts } = context;
    // The admin user will be the way in, and root is reached through its sudo.
    const becomesRoot = vars.admin_user !== undefined && user !== 'root';
    const currentPort = context.login?.port ?? host.connection.port;
    const newPort = vars.port ?? currentPort;
    const socketState = facts.get(socket);
    const socketActive = socketState.active === 'active' || socketState.unitFile === 'enabled';
    const serviceActive = facts.get(service).active === 'active';
    const moveSocket = socketActive && newPort !== currentPort;
    // A reload (SIGHUP) keeps open sessions; "try" does nothing when socket activation has not started sshd yet.
    const reload: Step[] = [{ kind: 'run', command: sh`systemctl try-reload-or-restart ssh.service` }];
    const socketSteps = (port: number | null): Step[] =>
      port === null
        ? [{ kind: 'run', command: sh`rm -f ${SOCKET_OVERRIDE} && systemctl daemon-reload && systemctl stop ssh.service && systemctl restart ssh.socket` }]
        : [
            { kind: 'run', command: sh`mkdir -p /etc/systemd/system/ssh.socket.d` },
            // The empty ListenStream= clears the unit's own port 22 before adding ours; socket activation ignores sshd's Port.
            { kind: 'write-file', path: SOCKET_OVERRIDE, content: `[Socket]\nListenStream=\nListenStream=${port}\n`, mode: '0644', owner: 'root', group: 'root' },
            // Stopping ssh.service ends only its listener (KillMode=process): sessions survive, and the next
            // connection starts sshd on the socket's new port.
            { kind: 'run', command: sh`systemctl daemon-reload && systemctl stop ssh.service && systemctl restart ssh.socket` },
          ];
    const expected = expectedEffective(settings);
    const verifyEffective = sshdTCheck(expected);
    // Before the reload, sshd -T reads the new file: what sshd will offer must be what the client check above assumed.
    const verifyCandidate = sshdTCheck(new Map([...expected].filter(([keyword]) => CRYPTO_KEYWORDS.has(keyword))));
    const notices: string[] = [];
    if (newPort !== host.connection.port) notices.push(`sshd on ${host.name} now listens on port ${newPort}: set ansible_port: ${newPort} in the inventory`);
    if (vars.admin_user && host.connection.user === 'root') {
      notices.push(`root can no longer log in to ${host.name} over SSH: set ansible_user: ${vars.admin_user} and ansible_become: true`);
    }
    return {
      summary: `harden sshd (key-only${vars.port !== undefined ? `, port ${newPort}` : ''}) and reload it`,
      diff: { path: MAIN_CONFIG, before: mainState.content, after: nextMain },
      details: [
        ...(differences.length
          ? differences.map((d) => `effective ${d.keyword}: ${d.current} → ${d.wanted}`)
          : ['effective settings: unchanged (the managed block makes them independent of other files)']),
        ...crypto.notes,
        ...client.details,
      ],
      services: [{ name: 'ssh', action: serviceActive ? 'reload' : 'none (socket-activated)' }],
      steps: [
        // First prove the key works for the user we will log in as, before passwords go (and, when that is the admin
        // user, that it can become root, before root's own logins end).
        { kind: 'verify-login', user, ...(becomesRoot ? { sudo: true } : {}) },
        // From here on, should this run's session die, the host restores the old configuration by itself.
        ...armSshdRollback({ main: MAIN_CONFIG, socketOverride: SOCKET_OVERRIDE }, vars.rollback_after),
        // The host key this run will get afterwards, when known_hosts does not know it yet (see checkClientAfter).
        ...client.steps,
        // sshd -t needs its privilege separation directory, which systemd removes while ssh.service is stopped.
        { kind: 'write-file', path: MAIN_CONFIG, content: nextMain, mode: mainState.mode, owner: mainState.owner, group: mainState.group, validate: VALIDATE, expect: expectedBefore(mainState) },
        { kind: 'run', command: verifyCandidate, description: 'check the new algorithms and host keys in sshd -T before the reload' },
        ...(moveSocket ? socketSteps(newPort) : []),
        ...reload,
        { kind: 'run', command: verifyEffective, description: 'check the hardened values in sshd -T' },
        { kind: 'verify-login', user, port: newPort, ...(becomesRoot ? { sudo: true } : {}) },
        confirmSshd(vars.rollback_after),
      ],
      rollback: [
        disarmSshdRollback,
        { kind: 'write-file', path: MAIN_CONFIG, content: mainState.content, mode: mainState.mode, owner: mainState.owner, group: mainState.group },
        ...(moveSocket ? socketSteps(null) : []),
        ...reload,
      ],
      ...(newPort !== currentPort || vars.admin_user ? { movesLogin: { port: newPort, user } } : {}),
      ...(notices.length ? { notice: notices.join('; ') } : {}),
      predicts: [
        predict(main, { ...mainState, content: nextMain }),
        predict(effectiveSshdConfig, { ok: true, values: new Map([...effectiveValues, ...expected]) }),
      ],
    };
  }
}
