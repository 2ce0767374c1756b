/** The inventory as the engine sees it: hosts with their groups, typed vars and connection settings. */

import type { SourcePosition } from '../errors.ts';

/**
 * How a host key is checked against known_hosts: `strict` refuses keys it does not know, `ask` (the default) asks the
 * operator on a terminal before trusting a new one, `accept-new` trusts and records new keys, `off` checks nothing.
 */
export type HostKeyChecking = 'strict' | 'ask' | 'accept-new' | 'off';

/**
 * A server on the way to a host (`ssh_jump`, ProxyJump): logged in to, then asked to forward the connection to the
 * next hop or the host. Its key is checked like any host's, against the host's known_hosts and checking mode.
 */
export interface JumpHost {
  address: string;
  port: number;
  user: string;
  /** Its own key (an IdentityFile of ~/.ssh/config for it); absent: the host's key file, then the SSH agent. */
  privateKeyFile?: string;
}

/** Everything needed to open and use the SSH connection to one host. */
export interface ConnectionSettings {
  /** Address to connect to (`ansible_host`, default: the host's name; its HostName when ~/.ssh/config has one). */
  address: string;
  /** `ansible_port`, else the Port of ~/.ssh/config, else 22. */
  port: number;
  /** `ansible_user`, else the User of ~/.ssh/config, else root. */
  user: string;
  /** `ansible_ssh_private_key_file` (or an IdentityFile of ~/.ssh/config), an absolute path; absent: use the SSH agent. */
  privateKeyFile?: string;
  /** `ansible_password`: first contact with a password-only server. Tried after the key. */
  password?: string;
  /** `ansible_become`: run commands through sudo when the user is not root. */
  become: boolean;
  /** `ansible_become_password`, usually `${ENV}`; absent: `sudo -n`. */
  becomePassword?: string;
  /** The jump hosts to go through, the first reached directly (`ssh_jump`, `-J`/ProxyJump, ~/.ssh/config); absent: none. */
  jump?: JumpHost[];
  /** `ssh_known_hosts_file`, default ~/.ssh/known_hosts. */
  knownHostsFile: string;
  /** `ssh_host_key_checking`, default ask. */
  hostKeyChecking: HostKeyChecking;
  /** `ssh_host_key`: the host's keys pinned in the inventory (`type base64` or `SHA256:…`); the server's key must be one of them. */
  hostKeys?: string[];
  /** The inventory's port: its known_hosts entries vouch for the host on any port sshd moves to. */
  hostKeyPort?: number;
  /** `ssh_connect_timeout` in seconds, default 10. */
  connectTimeout: number;
  /** `ssh_command_timeout` in seconds, default 300. */
  commandTimeout: number;
  /** `ssh_connect_retries`, default 2: further attempts, with backoff, when connecting fails for a passing reason. */
  connectRetries?: number;
  /** `ssh_persist` in seconds, default 60: how long a connection is kept for the next run after a run with no change on the host; 0: never. */
  persist?: number;
  /** Ports to try when `port` does not answer: where an earlier run moved sshd (`ssh.port`). */
  fallbackPorts?: number[];
  /**
   * A user to log in as, with the key and through sudo, when `user` is refused: the admin user an earlier run made
   * when it ended root's logins (`ssh.admin_user`).
   */
  fallbackUser?: string;
}

/** One host of the inventory, with vars merged (all < parent group < child group < host) and validated. */
export interface Host<Vars = Record<string, unknown>> {
  name: string;
  /** Every group the host belongs to, ancestors included, `all` first. */
  groups: string[];
  /** `private_ip`: the address other hosts use to reach this one (default: the connection address). */
  privateIp: string;
  connection: ConnectionSettings;
  /** Task variables, validated by the task library's schema. */
  vars: Vars;
}

/** A variable that is not provision's (another role's, say), loaded and left alone, where it is (first) set. */
export interface IgnoredVariable {
  name: string;
  position: SourcePosition;
}

/** A loaded, validated inventory. */
export interface Inventory<Vars = Record<string, unknown>> {
  /** Absolute path of the inventory file (or directory; the first one given). */
  file: string;
  /** Hosts in file order. */
  hosts: Host<Vars>[];
  /** Group name → names of its member hosts (direct and through child groups). */
  groups: Map<string, string[]>;
  /** Variables that are not provision's, by name (listed by `validate` and `-v`). */
  ignored?: IgnoredVariable[];
}
