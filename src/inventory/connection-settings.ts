/**
 * A host's connection settings from its connection variables and, as OpenSSH (and so Ansible and pyinfra) would
 * apply it, the ssh client configuration: when the host's address is a `Host` alias there, its HostName, Port, User,
 * IdentityFile and ProxyJump apply, and an inventory variable that is set wins over them. Jump hosts come from
 * `ssh_jump`, else the ssh arguments (`-J`, `-o ProxyJump=`), else the configuration; each hop is looked up in the
 * configuration too.
 */

import { isAbsolute, resolve } from 'node:path';
import type { ConnectionSettings, JumpHost } from './types.ts';
import { CONNECTION_DEFAULTS, type ConnectionVars } from './connection.ts';
import { expandHostName, type HostConfig, type ObtainedValue, type SshConfigFiles } from './ssh-config.ts';
import { formatHop, parseJumpSpec, type WrittenHop } from './jump-hosts.ts';
import { jumpOfProxyCommand, parseSshArgs } from './ssh-args.ts';
import { identityFileState } from './identity-file.ts';
import { expandHome } from './paths.ts';

/** At most this many hops: more is a ProxyJump that leads back to itself. */
const MAX_HOPS = 10;

/** A host's settings, or why they cannot be made (each message names the file of ~/.ssh/config it comes from). */
export type ResolvedConnection = { connection: ConnectionSettings; privateIp: string } | { problems: string[] };

/**
 * The settings of one host. `given` holds the connection variables the inventory sets (not their defaults): only
 * those win over the ssh configuration.
 */
export function resolveConnection(hostName: string, vars: ConnectionVars, given: ReadonlySet<string>, sshConfig: SshConfigFiles): ResolvedConnection {
  const problems: string[] = [];
  const args = [vars.ansible_ssh_common_args, vars.ansible_ssh_extra_args].flatMap((text) => {
    if (text === undefined) return [];
    const parsed = parseSshArgs(text);
    return 'args' in parsed ? [parsed.args] : [];
  });
  const files = configFiles(vars, args.find((each) => each.configFile !== undefined)?.configFile, sshConfig);
  const alias = vars.ansible_host ?? hostName;
  const config = sshConfig.lookup(alias, files, given.has('ansible_user') ? { user: vars.ansible_user } : {});
  problems.push(...config.problems);

  const configured = config.values.get('hostname');
  const address = configured ? expandHostName(configured.value, alias) : alias;
  const port = given.has('ansible_port') ? vars.ansible_port : (configPort(config, problems) ?? CONNECTION_DEFAULTS.port);
  const user = given.has('ansible_user') ? vars.ansible_user : (config.values.get('user')?.value ?? CONNECTION_DEFAULTS.user);
  const privateKeyFile =
    vars.ansible_ssh_private_key_file ?? vars.ansible_private_key_file ?? identityFile(config, { alias, address, port, user }, sshConfig, problems);

  // The inventory's jump first (`none` and `[]` included: they turn the configuration's off), then the configuration's.
  const written = vars.ssh_jump ?? args.find((each) => each.jump !== undefined)?.jump ?? configJump(config, alias, problems);
  const jump = resolveHops(written, files, sshConfig, problems, new Set([alias]));

  if (problems.length > 0) return { problems };
  const connection: ConnectionSettings = {
    address,
    port,
    user,
    become: vars.ansible_become,
    knownHostsFile: vars.ssh_known_hosts_file,
    hostKeyChecking: vars.ssh_host_key_checking,
    hostKeyPort: port,
    connectTimeout: vars.ssh_connect_timeout,
    commandTimeout: vars.ssh_command_timeout,
    connectRetries: vars.ssh_connect_retries,
    persist: vars.ssh_persist,
  };
  if (privateKeyFile !== undefined) connection.privateKeyFile = privateKeyFile;
  if (jump.length > 0) connection.jump = jump;
  if (vars.ansible_password !== undefined) connection.password = vars.ansible_password;
  if (vars.ansible_become_password !== undefined) connection.becomePassword = vars.ansible_become_password;
  if (vars.ssh_host_key !== undefined) connection.hostKeys = vars.ssh_host_key;
  return { connection, privateIp: vars.private_ip ?? address };
}

/** A jump host as messages and `provision inventory` show it: `user@host:port`. */
export function describeJumpHost(hop: JumpHost): string {
  return formatHop({ host: hop.address, port: hop.port, user: hop.user });
}

/** The configuration files to read: `ssh_config_file` (`none`: none), else `-F`, else ~/.ssh/config and the system file. */
function configFiles(vars: ConnectionVars, argsFile: string | undefined, sshConfig: SshConfigFiles): string[] {
  if (vars.ssh_config_file === 'none') return [];
  if (vars.ssh_config_file !== undefined) return [vars.ssh_config_file];
  if (argsFile !== undefined) return [resolve(expandHome(argsFile))];
  return sshConfig.defaultFiles();
}

function configPort(config: HostConfig, problems: string[]): number | undefined {
  const obtained = config.values.get('port');
  if (!obtained) return undefined;
  const port = /^\d{1,5}$/.test(obtained.value) ? Number(obtained.value) : NaN;
  if (port >= 1 && port <= 65535) return port;
  problems.push(`${obtained.where}: Port ${JSON.stringify(obtained.value)} is not a port number from 1 to 65535`);
  return undefined;
}

/**
 * The ProxyJump the configuration gives the host (none when it names the host itself, as `Host *` with a ProxyJump
 * does for the jump host: ssh does not jump through a host to reach it); a ProxyCommand without one is refused.
 */
function configJump(config: HostConfig, alias: string, problems: string[]): WrittenHop[] {
  const proxyJump = config.values.get('proxyjump');
  if (proxyJump) {
    const parsed = parseJumpSpec(proxyJump.value);
    if ('hops' in parsed) return parsed.hops.some((hop) => hop.host.toLowerCase() === alias.toLowerCase()) ? [] : parsed.hops;
    problems.push(`${proxyJump.where}: ProxyJump: ${parsed.problem}`);
    return [];
  }
  const proxyCommand = config.values.get('proxycommand');
  if (proxyCommand && proxyCommand.value.toLowerCase() !== 'none') {
    const hop = jumpOfProxyCommand(proxyCommand.value);
    const instead = hop ? `ProxyJump ${formatHop(hop)}` : 'ProxyJump (or ssh_jump in the inventory)';
    problems.push(`${proxyCommand.where}: ProxyCommand applies to ${alias}, and provision runs no proxy command; write ${instead} instead`);
  }
  return [];
}

/** Each hop as the configuration completes it; the first hop's own ProxyJump goes before it, as ssh would reach it. */
function resolveHops(written: readonly WrittenHop[], files: readonly string[], sshConfig: SshConfigFiles, problems: string[], seen: Set<string>): JumpHost[] {
  const hops: JumpHost[] = [];
  for (const [index, hop] of written.entries()) {
    const config = sshConfig.lookup(hop.host, files, hop.user !== undefined ? { user: hop.user } : {});
    for (const problem of config.problems) if (!problems.includes(problem)) problems.push(problem);
    const hostName = config.values.get('hostname');
    const address = hostName ? expandHostName(hostName.value, hop.host) : hop.host;
    const port = hop.port ?? configPort(config, problems) ?? CONNECTION_DEFAULTS.port;
    // As ssh: the configuration's User for the jump host, else the local user's name.
    const user = hop.user ?? config.values.get('user')?.value ?? sshConfig.localUser;
    const resolved: JumpHost = { address, port, user };
    const key = identityFile(config, { alias: hop.host, address, port, user }, sshConfig, problems);
    if (key !== undefined) resolved.privateKeyFile = key;
    if (index === 0) {
      if (seen.has(hop.host) || seen.size > MAX_HOPS) {
        problems.push(`the jump host ${formatHop(hop)} leads back to itself through ProxyJump (hops: ${[...seen].join(' → ')})`);
        return [];
      }
      const before = configJump(config, hop.host, problems);
      if (before.length > 0) hops.push(...resolveHops(before, files, sshConfig, problems, new Set([...seen, hop.host])));
    }
    hops.push(resolved);
  }
  if (hops.length > MAX_HOPS) problems.push(`more than ${MAX_HOPS} jump hosts: ${hops.map(describeJumpHost).join(', ')}`);
  return hops;
}

/** What the tokens of an IdentityFile stand for. */
interface TokenValues {
  alias: string;
  address: string;
  port: number;
  user: string;
}

/**
 * The first IdentityFile of the configuration that can be read as it is: one that is not there is skipped (as ssh
 * skips it), and one locked with a passphrase is left to the SSH agent, which holds its unlocked copy.
 */
function identityFile(config: HostConfig, tokens: TokenValues, sshConfig: SshConfigFiles, problems: string[]): string | undefined {
  for (const obtained of config.identityFiles) {
    if (obtained.value.toLowerCase() === 'none') return undefined;
    const path = expandIdentityFile(obtained, tokens, sshConfig, problems);
    if (path === undefined) continue;
    if (identityFileState(path) === 'usable') return path;
  }
  return undefined;
}

/** `~`, `${ENV}` and ssh's `%` tokens of an IdentityFile; a relative path is read from the working directory, as ssh does. */
function expandIdentityFile(obtained: ObtainedValue, tokens: TokenValues, sshConfig: SshConfigFiles, problems: string[]): string | undefined {
  const values: Record<string, string> = {
    '%': '%',
    d: sshConfig.expandTilde('~'),
    h: tokens.address,
    n: tokens.alias,
    p: String(tokens.port),
    r: tokens.user,
    u: sshConfig.localUser,
    i: String(process.getuid?.() ?? ''),
  };
  let unknown: string | undefined;
  let missingEnv: string | undefined;
  const expanded = obtained.value
    .replace(/%(.)/g, (whole, token: string) => values[token] ?? ((unknown ??= whole), whole))
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_whole, name: string) => process.env[name] ?? ((missingEnv ??= name), ''));
  if (unknown !== undefined) {
    problems.push(`${obtained.where}: IdentityFile ${obtained.value}: the token ${unknown} is not supported (only %%, %d, %h, %i, %n, %p, %r, %u)`);
    return undefined;
  }
  if (missingEnv !== undefined) {
    problems.push(`${obtained.where}: IdentityFile ${obtained.value}: environment variable ${missingEnv} is not set`);
    return undefined;
  }
  const path = sshConfig.expandTilde(expanded);
  return isAbsolute(path) ? path : resolve(path);
}
