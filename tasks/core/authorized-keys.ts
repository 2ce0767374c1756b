/** The operator's public keys in a user's ~/.ssh/authorized_keys; existing keys stay unless `exclusive`. */
import { createHash } from 'node:crypto';
import { SafetyError } from '../../src/errors.ts';
import { sh } from '../../src/transport/shell.ts';
import { type Change, type PlanContext, type Task, type WriteFileStep, predict } from '../../src/engine/types.ts';
import { directoryScript } from '../../src/engine/write-script.ts';
import { account, type Account } from './accounts.facts.ts';

const KEY_TYPE = /^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp\d+|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;

/** The `type base64` identity of an authorized_keys line (options and comment ignored); null for other lines. */
export function keyIdentity(line: string): string | null {
  const tokens = line.trim().split(/\s+/);
  // Options (from="…",no-pty) come before the type; the key is the first token that is a key type.
  for (let index = 0; index < tokens.length - 1; index++) {
    if (KEY_TYPE.test(tokens[index]!)) return `${tokens[index]} ${tokens[index + 1]}`;
  }
  return null;
}

/** The new authorized_keys content: existing lines kept (or only the wanted ones when exclusive), missing keys appended. */
export function mergeAuthorizedKeys(current: string, wanted: readonly string[], exclusive: boolean): string {
  const wantedIds = new Set(wanted.map(keyIdentity));
  const lines = current === '' ? [] : current.replace(/\n$/, '').split('\n');
  const kept = exclusive ? lines.filter((line) => { const id = keyIdentity(line); return id === null ? line.trim().startsWith('#') : wantedIds.has(id); }) : lines;
  const present = new Set(kept.map(keyIdentity));
  const added = wanted.filter((key) => !present.has(keyIdentity(key)));
  const all = [...kept, ...added];
  return all.length === 0 ? '' : `${all.join('\n')}\n`;
}

/** Options of `authorizedKeys`. */
export interface AuthorizedKeysOptions {
  /** Remove keys that are not in `keys`. */
  exclusive?: boolean;
  /** The account is created earlier in this run (its home is /home/USER until the facts say otherwise). */
  createdInRun?: boolean;
  /**
   * This run logs in as `user`, now or once sshd is hardened: a change that removes keys must leave one of the run's
   * own authorized, and proves it with a new login (or puts the old file back).
   */
  guardsLogin?: boolean;
}

/** `keys` are authorized for `user`. */
export function authorizedKeys(user: string, keys: readonly string[], options: AuthorizedKeysOptions = {}): Task {
  const fact = account(user);
  return {
    kind: 'ssh.authorized_keys',
    target: user,
    facts: () => [fact],
    plan: (context) => {
      const { facts } = context;
      const gathered = facts.get(fact);
      // A user created earlier in this run: a dry run plans on the home and group useradd will give it.
      const state: Account = !gathered.exists && facts.isStale(fact) ? newAccount(user) : gathered;
      if (!state.exists) throw new Error(`user ${user} does not exist on this host`);
      const current = state.authorizedKeys ?? '';
      const next = mergeAuthorizedKeys(current, keys, options.exclusive ?? false);
      if (state.authorizedKeys !== null && next === current) {
        return { status: 'ok', reason: `${keys.length} key${keys.length === 1 ? ' is' : 's are'} authorized for ${user}` };
      }
      if (state.authorizedKeys === null && keys.length === 0) return { status: 'ok', reason: `no keys to authorize for ${user}` };
      const change = keysChange(user, state, current, next);
      if (!options.guardsLogin || !removesKeys(current, next)) return { status: 'change', changes: [change] };
      checkRunKeysKept(context, user, next);
      return { status: 'change', changes: [guarded(change, user, state)] };
    },
  };
}

function removesKeys(current: string, next: string): boolean {
  const kept = new Set(next.split('\n').map(keyIdentity));
  return current.split('\n').some((line) => {
    const id = keyIdentity(line);
    return id !== null && !kept.has(id);
  });
}

/** Refuses a removal that leaves none of this run's keys authorized for a user it logs in as. */
function checkRunKeysKept(context: PlanContext, user: string, next: string): void {
  const runKeys = (context.login?.publicKeys ?? []).map(keyIdentity).filter((id): id is string => id !== null);
  if (runKeys.length === 0) return;
  const kept = new Set(next.split('\n').map(keyIdentity));
  if (runKeys.some((id) => kept.has(id))) return;
  throw new SafetyError(
    `refusing to rewrite ${user}'s authorized_keys on ${context.host.name}: ssh.exclusive_keys would remove every key this run logs in with ` +
      `(${runKeys.map((id) => `${id.slice(0, 28)}…`).join(', ')}). List that key in ssh.authorized_keys.`,
  );
}

/** The change, proven by a new key login as `user` once written, or undone. */
function guarded(change: Change, user: string, state: Extract<Account, { exists: true }>): Change {
  const path = `${state.home}/.ssh/authorized_keys`;
  const restore = state.authorizedKeys === null
    ? { kind: 'run' as const, command: sh`rm -f ${path}` }
    : { kind: 'write-file' as const, path, content: state.authorizedKeys, mode: '0600', ...ownership(user, state) };
  return {
    ...change,
    steps: [...change.steps, { kind: 'verify-login', user }],
    rollback: [restore],
  };
}

/** What useradd --create-home gives a new user on Debian: /home/USER and a group of its own. */
function newAccount(user: string): Extract<Account, { exists: true }> {
  return { exists: true, uid: -1, gid: -1, home: `/home/${user}`, groups: [user], authorizedKeys: null };
}

/** Owner and group for chown: numbers when known, else the names useradd gives. */
function ownership(user: string, state: Extract<Account, { exists: true }>): { owner: string; group: string } {
  return state.uid < 0 ? { owner: user, group: user } : { owner: String(state.uid), group: String(state.gid) };
}

/** The compare-and-swap check of a keys write: the file as the plan read it, or none. */
function keysExpected(current: string | null): WriteFileStep['expect'] {
  return current === null ? { absent: true } : { sha256: createHash('sha256').update(current, 'utf8').digest('hex') };
}

function keysChange(user: string, state: Extract<Account, { exists: true }>, current: string, next: string): Change {
  const dir = `${state.home}/.ssh`;
  const path = `${dir}/authorized_keys`;
  const added = next.split('\n').filter((line) => line && !current.split('\n').includes(line)).length;
  const removed = current.split('\n').filter((line) => line && !next.split('\n').includes(line)).length;
  return {
    summary: `authorize keys for ${user} (${added} added${removed ? `, ${removed} removed` : ''})`,
    diff: { path, before: state.authorizedKeys, after: next, metaAfter: `mode 0600, owner ${user}` },
    steps: [
      // Through the directory script: a user who owns the home could otherwise point ~/.ssh at another directory.
      { kind: 'run', command: directoryScript(dir, { ...ownership(user, state), mode: '0700' }), description: `make ${dir} (mode 0700, owner ${user})` },
      { kind: 'write-file', path, content: next, mode: '0600', ...ownership(user, state), expect: keysExpected(state.authorizedKeys) },
    ],
    predicts: [predict(account(user), { ...state, authorizedKeys: next })],
  };
}
