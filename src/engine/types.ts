/** The data that flows from tasks to the engine: facts in, plans out. Tasks never write to a host. */
import type { Host, Inventory } from '../inventory/types.ts';
import type { ShellCommand } from '../transport/shell.ts';

/** What a fact command printed: stdout untouched, and its exit code. */
export interface FactOutput {
  stdout: string;
  code: number;
}

/**
 * How facts of one kind are asked together: one `stat` for many paths, one `systemctl show` for many units. Every
 * process costs milliseconds on a small host, and a gather asks dozens of facts.
 */
export interface FactBatch {
  /** Facts of the same kind share one command (the kind names the command, e.g. `path-state`). */
  readonly kind: string;
  /** What this fact asks about, e.g. its path or unit. */
  readonly item: string;
  /** The one command for all the items, deduplicated, in order. */
  command(items: readonly string[]): ShellCommand;
  /** Each item's output, in the form the fact's own command prints it (so `parse` reads both). */
  split(output: FactOutput, items: readonly string[]): FactOutput[];
}

/**
 * A kind of change to a host that makes facts stale without naming them: `packages`, an install or removal (packages
 * ship files, units and commands); `{ path }`, a write of a file: in a change, the file it writes; in a fact, any file
 * at or below that path.
 */
export type Staleness = 'packages' | { readonly path: string };

/** A question about a host: a shell command and a pure parser of its output. */
export interface Fact<T> {
  /** Cache key, unique per question, e.g. `file:/etc/motd`. */
  readonly key: string;
  readonly command: ShellCommand;
  parse(output: FactOutput): T;
  /** Set when the fact can be asked together with others of its kind. */
  readonly batch?: FactBatch;
  /**
   * What makes the value stale besides a change that names this fact (see Change.affects). Default `['packages']`:
   * a new kind of fact is read again after a package install unless it says that no package changes it (`[]`).
   */
  readonly staleAfter?: readonly Staleness[];
  /**
   * The values inside this fact's value that must never be shown (a config file's credentials): they become secrets as
   * soon as the fact is read, before anything plans on them or prints them.
   */
  secrets?(value: T): readonly string[];
  /** What the fact is about, for people: `/etc/ssh/sshd_config`, `the unit ssh.service` (default: its key). */
  readonly description?: string;
  /**
   * True when the value moves by itself (an age, a timer's next run): a plan does not rest on it, so a change of it
   * does not make the plan stale.
   */
  readonly volatile?: boolean;
}

/** A fact's value after a change, known in advance: made by `predict`, so that the value has the fact's type. */
export interface Prediction<T = unknown> {
  readonly fact: Fact<T>;
  /** The fact's key (for reports and tests). */
  readonly key: string;
  readonly value: T;
}

/** The value `fact` will have once the change is applied. */
export function predict<T>(fact: Fact<T>, value: T): Prediction<T> {
  return { fact, key: fact.key, value };
}

/** A file the change writes, for the diff: before (null when absent) and after. */
export interface FileDiff {
  path: string;
  before: string | null;
  after: string | null;
  /** Content that must never be shown (TLS keys): the diff prints only that it changes. */
  secret?: boolean;
  /** Owner, group and mode lines shown alongside the content diff. */
  metaBefore?: string;
  metaAfter?: string;
}

/** Write a file atomically: temp file in the same directory, created with its final mode, then renamed. */
export interface WriteFileStep {
  kind: 'write-file';
  path: string;
  content: string;
  mode: string;
  owner: string;
  group: string;
  /** Command template run on the candidate before it replaces the live file; `%s` is the candidate path. */
  validate?: string;
  /** When the path is a symbolic link, write the file it leads to (else a link there is refused). */
  followSymlinks?: boolean;
  /**
   * Writes whose validations judge one and the same whole configuration (each check puts the set's other files in
   * place as they will be) share a scope, named after that configuration's content. One pass per scope stands for
   * all of them: once in the plan, once in the apply.
   */
  validationScope?: string;
  /**
   * What the file must still be when it is replaced (compare-and-swap): the SHA-256 of the content the plan saw, or
   * absent. Checked in the write's own command, just before the rename; a mismatch writes nothing.
   */
  expect?: { sha256: string } | { absent: true };
}

/** Run a command that must succeed; `stdin` is fed to it (used for secrets, never on the command line). */
export interface RunStep {
  kind: 'run';
  command: ShellCommand;
  stdin?: string;
  /** Exit codes that count as success (default [0]). */
  okCodes?: number[];
  /** What the command does, for error messages (long scripts are not repeated in full). */
  description?: string;
}

/**
 * Prove that a NEW SSH connection still logs in: the guard after a change that could lock the operator out. `user`
 * and `port` default to the run's own. What it may log in with depends on what the change must prove (see `with`).
 */
export interface VerifyLoginStep {
  kind: 'verify-login';
  user?: string;
  port?: number;
  /**
   * `key` (the default): a key only, never the password; for changes to how sshd authenticates, which must prove the
   * way in that is left once passwords are off. `run`: the credentials this run logged in with (the key first, then
   * the password); for changes to the path (the firewall), on a host that may not have the key yet.
   */
  with?: 'key' | 'run';
  /** Also prove that the new login can become root (`sudo -n true`): before root's own logins end. */
  sudo?: boolean;
}

/**
 * Record one of the host's keys in the run's known_hosts, read over this run's connection, whose key was verified (as
 * OpenSSH's UpdateHostKeys learns keys after a login): before sshd stops offering the key type the controller knows.
 */
export interface TrustHostKeyStep {
  kind: 'trust-host-key';
  /** The public key file on the host, e.g. /etc/ssh/ssh_host_ed25519_key.pub. */
  path: string;
}

/** One effectful step of a change; the engine is the only code that performs it. */
export type Step = WriteFileStep | RunStep | VerifyLoginStep | TrustHostKeyStep;

/** How the run reaches a host from now on, after a change moved SSH (new port, or root login disabled). */
export interface LoginUpdate {
  port?: number;
  user?: string;
}

/** One change a task wants, with everything the report shows about it. */
export interface Change {
  /** Imperative summary, e.g. `write /etc/motd`, `install haproxy`. */
  summary: string;
  steps: Step[];
  diff?: FileDiff;
  /** Packages this change installs or removes, for the report. */
  packages?: { install?: string[]; remove?: string[] };
  /** Services this change starts, restarts or reloads, for the report. */
  services?: { name: string; action: string }[];
  /** Handler names to notify when this change is applied. */
  notify?: string[];
  /** Extra lines for the report, e.g. the effective settings that will change. */
  details?: string[];
  /**
   * Steps that restore the previous state if a later step of this change fails (the change is then reported
   * failed, with what was restored). Without them, a failed step leaves the steps before it applied.
   */
  rollback?: Step[];
  /** New connections of this run (and the verify steps after this change) use this login. */
  movesLogin?: LoginUpdate;
  /** Something the operator must do after this change, printed with the recap. */
  notice?: string;
  /**
   * Values the change holds that were made while planning and that no output may show (a password's hash): the engine
   * makes them secrets as it receives the plan, before anything is printed. Tasks do not call `secret()` themselves.
   */
  secrets?: readonly string[];
  /** Facts whose cached values this change makes stale; later tasks needing them get them re-read. */
  invalidates?: Fact<unknown>[];
  /**
   * What the change does beyond the facts it names: every fact whose `staleAfter` lists it becomes stale (a package
   * install names no fact). `everything`: a command whose effects cannot be known.
   */
  affects?: readonly (Staleness | 'everything')[];
  /** Facts whose new values are known in advance (so a dry run plans later tasks on the predicted state). */
  predicts?: Prediction[];
}

/** At least one element. */
export type NonEmpty<T> = [T, ...T[]];

/** A task's verdict: already in the desired state (with the reason), or the changes to get there. */
export type Plan = { status: 'ok'; reason: string } | { status: 'change'; changes: NonEmpty<Change> };

/** Read access to gathered facts while planning. */
export interface FactReader {
  get<T>(fact: Fact<T>): T;
  /** True when an earlier planned change alters this fact in a way that cannot be predicted (dry run only). */
  isStale(fact: Fact<unknown>): boolean;
}

/** How this run logged in to the host: the safety checks of SSH hardening depend on it. */
export interface LoginInfo {
  user: string;
  port: number;
  /** The method that authenticated this run's connection. */
  method: 'publickey' | 'agent' | 'password';
  /** Public keys this run can log in with (the key file's, or the agent's), as `type base64` lines. */
  publicKeys: string[];
  /** The address this host sees the controller connect from (SSH_CONNECTION), when known. */
  controllerAddress?: string;
  /** What a new SSH login of this run offers the host, and how it trusts the host's key. */
  sshClient?: SshClientProfile;
}

/**
 * This run's SSH client as a host meets it: the algorithms a new login offers, and which of the host's keys it trusts.
 * Changes to sshd's algorithms and host keys check against it that the run can still log in afterwards.
 */
export interface SshClientProfile {
  /** Key exchange, cipher and MAC algorithms in the client's order: the first one the server also has is used (RFC 4253 §7.1). */
  kex: readonly string[];
  cipher: readonly string[];
  mac: readonly string[];
  /** Host key algorithms in the library's own order; those of the key types trusted for the host are asked for first. */
  hostKey: readonly string[];
  /** `pinned`: only `ssh_host_key` counts; `known-hosts`: known_hosts (and its @cert-authority lines); `unchecked`: `off`. */
  trust: 'pinned' | 'known-hosts' | 'unchecked';
  /** The keys trusted for the host as `type base64`, in order: its pins, or its known_hosts lines (its address, its ports). */
  trustedKeys: readonly string[];
  /** `SHA256:…` pins, which match a key of any type. */
  trustedFingerprints: readonly string[];
  /** A @cert-authority line of known_hosts covers the host. */
  certificateAuthority: boolean;
  /** The known_hosts file a recorded key goes to. */
  knownHostsFile: string;
}

/** What a task sees while planning: its host, the inventory, and facts (its own host's and other hosts'). */
export interface PlanContext<Vars = Record<string, unknown>> {
  host: Host<Vars>;
  /** This run's login to the host; absent only in unit tests that do not need it. */
  login?: LoginInfo;
  inventory: Inventory<Vars>;
  facts: FactReader;
  /** Facts gathered from another host in this run (e.g. the nodes' CPU counts, read by the balancer). */
  factsOf(hostName: string): FactReader | undefined;
  /** Which hosts run which role of the playbook (the balancers, the nodes), as the playbook assigns them. */
  roles: RoleContext<Vars>;
}

/** A typed, idempotent task: declares the facts it reads and plans changes from them. */
export interface Task<Vars = Record<string, unknown>> {
  /** Task kind, a noun of state: `file`, `apt.packages`, `systemd.service`. */
  readonly kind: string;
  /** What this instance manages, e.g. `/etc/motd`. */
  readonly target: string;
  /** The Debian packages this task installs, so that one install up front can cover every task's. */
  readonly packages?: readonly string[];
  /** The facts `plan` reads; gathered in one batch before planning. */
  facts(host: Host<Vars>): Fact<unknown>[];
  /** Facts this task reads from other hosts (e.g. the balancer reads each node's CPU count). */
  peerFacts?(host: Host<Vars>, inventory: Inventory<Vars>): { host: string; fact: Fact<unknown> }[];
  plan(context: PlanContext<Vars>): Plan;
}

/** A named action that changes notify; it runs once per host after the play's tasks. */
export interface Handler {
  name: string;
  steps: Step[];
  services?: { name: string; action: string }[];
}

/** A play: a host pattern and the tasks (built per host) that run on the matching hosts. */
export interface Play<Vars = Record<string, unknown>> {
  name: string;
  /** Host pattern, as for --limit: group or host names, globs, comma lists. */
  hosts: string;
  tasks(host: Host<Vars>, inventory: Inventory<Vars>): Task<Vars>[];
  /** The play's handlers; a function when they depend on the host (a service name or port from its vars). */
  handlers?: Handler[] | HostHandlers<Vars>;
  /** Tags that select the play with --tags (a role's play: the role's name and its tags). */
  tags?: readonly string[];
  /** Which hosts run which role, for its tasks' plan context; a plain play sees no roles. */
  roles?(inventory: Inventory<Vars>): RoleContext<Vars>;
}

/** Handlers that depend on the host. Checked like a method, so a play for some variables fits a playbook of more. */
export type HostHandlers<Vars> = { handlers(host: Host<Vars>): Handler[] }['handlers'];

/** The handlers of a play for one host. */
export function playHandlers<Vars>(play: Play<Vars>, host: Host<Vars>): Handler[] {
  return typeof play.handlers === 'function' ? play.handlers(host) : (play.handlers ?? []);
}

/** What identifies a role to another one: its name (the playbook's copy wins) and its own group expression. */
export interface RoleRef {
  readonly name: string;
  readonly hosts: string;
}

/** What a role sees of the run while it lists a host's tasks: the inventory, and which hosts run which role. */
export interface RoleContext<Vars = Record<string, unknown>> {
  inventory: Inventory<Vars>;
  /** The hosts that run `role` in this playbook (by the playbook's group expression for it), in inventory order. */
  hostsOf(role: RoleRef): Host<Vars>[];
  /** True when `host` runs `role` in this playbook. */
  runs(host: Host<Vars>, role: RoleRef): boolean;
  /** The group expression that says which hosts run `role` in this playbook, for messages. */
  patternOf(role: RoleRef): string;
  /** The roles this run runs, in order (after --tags and --skip-tags). */
  roles: readonly RunningRole<Vars>[];
}

/** A role of this run, as another role sees it: its hosts, and the tasks it plans on one. */
export interface RunningRole<Vars = Record<string, unknown>> extends RoleRef {
  tasks(host: Host<Vars>, context: RoleContext<Vars>): Task<Vars>[];
}

/** Where the run still finds a host after a role moved its SSH (a new port, root's logins ended), until the inventory says so. */
export interface LoginFallbacks {
  ports?: number[];
  user?: string;
}
