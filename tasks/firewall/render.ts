/**
 * The firewall's ruleset, rendered from the host, its groups and the inventory (pure: no I/O). The table is written
 * in the exact form `nft list table inet provision` prints it (tabs, one rule per source, nft's address forms), so
 * the plan can show the loaded table and the new one as a comparable diff.
 */
import { plainConfigValues } from '../../src/engine/config-values.ts';
import { SafetyError } from '../../src/errors.ts';
import type { RoleContext } from '../../src/engine/role.ts';
import type { Host } from '../../src/inventory/types.ts';
import { cidrContains, formatAddress, parseAddress, parseCidr, type AllowRule, type FirewallHostVars } from './vars.ts';
import { nodeRole } from '../node/role.ts';
import { balancerRole } from '../haproxy/role.ts';

/** The nftables family and name of provision's own table; nothing else in the ruleset is touched. */
export const TABLE = 'inet provision';

/** Ports a balancer serves to the public. */
export const BALANCER_PORTS = [
  { port: 80, why: 'http' },
  { port: 443, why: 'https' },
] as const;

/** One opening in the input chain: a port (or range) for a protocol, from anywhere or from one source. */
export interface Opening {
  protocol: 'tcp' | 'udp';
  /** A port or `low-high`, as nft writes it. */
  port: string;
  /** An address or range as nft prints it; null means from anywhere. */
  source: string | null;
  /** Why it is open: becomes the rule's comment. */
  why: string;
}

/** Everything the ruleset depends on, gathered from the host, the inventory and this run. */
export interface FirewallInputs {
  /** Ports sshd listens on. */
  sshPorts: readonly number[];
  /** `firewall.ssh_from` as nft prints it, or anywhere. */
  sshFrom: readonly string[] | 'anywhere';
  /** The controller's address when it needs a rule of its own (ssh_from is restrictive and does not cover it). */
  controller: string | null;
  roles: { node: boolean; balancer: boolean };
  nodePorts: { gossip: number; autopeering: number; api: number };
  /** The hosts that may reach the node API: every balancer, by its private address. */
  apiClients: readonly { name: string; address: string }[];
  allow: readonly AllowRule[];
}

/**
 * The rules before any opening: replies, loopback, and the ICMP that IPv4 and IPv6 need to work (path MTU discovery,
 * errors, neighbour and multicast listener discovery), with ping rate-limited. The order is what nft prints.
 */
export const BASE_RULES: readonly string[] = [
  'ct state established,related accept comment "replies and related traffic"',
  'ct state invalid drop',
  'iif "lo" accept comment "loopback"',
  'icmp type { destination-unreachable, time-exceeded, parameter-problem } accept comment "ICMP errors"',
  'icmp type echo-request limit rate 5/second accept comment "ping, rate-limited"',
  'icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept comment "ICMPv6 errors"',
  // Neighbour discovery never crosses a router: a hop limit of 255 proves the sender is on the link.
  'icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment "IPv6 neighbour discovery"',
  'icmpv6 type { mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report } ip6 saddr fe80::/10 accept comment "IPv6 multicast listeners"',
  'icmpv6 type echo-request limit rate 5/second accept comment "ping6, rate-limited"',
  // A DHCPv6 server answers a multicast request from its link-local address: conntrack cannot pair the two.
  'ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept comment "DHCPv6 replies"',
];

/** A comment nft accepts and prints back unchanged: no quotes or control characters, at most 100 characters. */
function commentText(text: string): string {
  return text.replace(/[^\p{L}\p{N} .,:()/+_@-]/gu, '_').slice(0, 100);
}

/** The nft match on a source: `ip saddr …` or `ip6 saddr …`. */
function sourceMatch(source: string): string {
  const parsed = parseCidr(source);
  if ('error' in parsed) throw new Error(`not an address or range: ${source}`);
  return `${parsed.cidr.family === 4 ? 'ip' : 'ip6'} saddr ${source}`;
}

/** One rule per opening, in order: `[ip|ip6 saddr S] tcp|udp dport P accept comment "why"`. */
export function openingRule(opening: Opening): string {
  const source = opening.source === null ? '' : `${sourceMatch(opening.source)} `;
  return `${source}${opening.protocol} dport ${opening.port} accept comment "${commentText(opening.why)}"`;
}

/** Every opening of this host, in rule order: SSH, the balancer's and the node's ports, then `firewall.allow`. */
export function openings(inputs: FirewallInputs): Opening[] {
  const list: Opening[] = [];
  for (const port of inputs.sshPorts) {
    const ssh = { protocol: 'tcp' as const, port: String(port) };
    if (inputs.sshFrom === 'anywhere') {
      list.push({ ...ssh, source: null, why: 'ssh' });
      continue;
    }
    for (const source of inputs.sshFrom) list.push({ ...ssh, source, why: 'ssh from firewall.ssh_from' });
    if (inputs.controller) list.push({ ...ssh, source: inputs.controller, why: 'ssh from the controller' });
  }
  if (inputs.roles.balancer) for (const { port, why } of BALANCER_PORTS) list.push({ protocol: 'tcp', port: String(port), source: null, why: `balancer: ${why}` });
  if (inputs.roles.node) {
    list.push({ protocol: 'tcp', port: String(inputs.nodePorts.gossip), source: null, why: 'node: gossip' });
    list.push({ protocol: 'udp', port: String(inputs.nodePorts.autopeering), source: null, why: 'node: autopeering' });
    for (const client of inputs.apiClients) {
      list.push({ protocol: 'tcp', port: String(inputs.nodePorts.api), source: client.address, why: `node API from ${client.name}` });
    }
  }
  for (const rule of inputs.allow) {
    list.push({ protocol: rule.protocol, port: rule.port, source: rule.source ?? null, why: rule.comment ?? 'firewall.allow' });
  }
  return list;
}

/** The input chain's rules: the base rules, then one per opening. Everything else meets the drop policy. */
export function inputRules(inputs: FirewallInputs): string[] {
  return [...BASE_RULES, ...openings(inputs).map(openingRule)];
}

/** The table exactly as `nft list table inet provision` prints it. Forward and output are not hooked (see README). */
export function renderTable(rules: readonly string[]): string {
  plainConfigValues('the firewall table', rules);
  const body = rules.map((rule) => `\t\t${rule}\n`).join('');
  return `table ${TABLE} {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n${body}\t}\n}\n`;
}

/** The line that makes `delete table` safe when the table does not exist yet (an empty declaration creates it). */
const REPLACE_PRELUDE = `table ${TABLE} {}\ndelete table ${TABLE}\n`;

/** The file `nft -f` loads: create-if-missing, delete, then the table, all in one atomic transaction. */
export function renderConfigFile(table: string): string {
  return [
    '#!/usr/sbin/nft -f',
    '# Managed by provision from the inventory (firewall.*): local edits are overwritten.',
    `# Loading this file replaces table ${TABLE} and nothing else, in one atomic transaction: fail2ban's and`,
    "# Docker's tables stay. There is deliberately no `flush ruleset` here.",
    REPLACE_PRELUDE + table,
  ].join('\n');
}

/** The table's part of a config file: what `nft list` prints once the file is loaded (null when it is not ours). */
export function tableOfConfigFile(content: string): string | null {
  const at = content.indexOf(REPLACE_PRELUDE);
  return at < 0 ? null : content.slice(at + REPLACE_PRELUDE.length);
}

/** The file a rollback loads to put back `previous` (the listing of the table before the change, or null: none). */
export function renderRestoreRuleset(previous: string | null): string {
  return REPLACE_PRELUDE + (previous ?? '');
}

/** The report's lines: what is open to whom, and what the table does not touch. */
export function describeOpenings(list: readonly Opening[]): string[] {
  const lines = list.map((opening) => `open ${opening.port}/${opening.protocol} (${opening.why}) from ${opening.source ?? 'anywhere'}`);
  return ['input policy drop: only what is listed here gets in (forward and output are not filtered by this table)', ...lines];
}

/** What this run knows about the host beyond its vars: sshd's ports and where the controller connects from. */
export interface RunView {
  /** Ports sshd listens on (sshd -T, plus ssh.port). */
  sshPorts: readonly number[];
  /** The controller's address as the host sees it (SSH_CONNECTION), when known. */
  controllerAddress?: string;
}

/** Parses SSH_CONNECTION's client address: IPv4-mapped IPv6 becomes IPv4, a zone (`%eth0`) is dropped. */
export function controllerAddressOf(text: string | undefined): string | null {
  if (text === undefined) return null;
  const bare = text.replace(/%.*$/, '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  const parsed = parseAddress(bare);
  return parsed ? formatAddress(parsed) : null;
}

/**
 * What this host's ruleset depends on. Refuses (SafetyError) a restrictive `ssh_from` when the controller's address
 * is unknown, and refuses balancers whose `private_ip` is a name rather than an address.
 */
export function firewallInputs(host: Host<FirewallHostVars>, roles: RoleContext<FirewallHostVars>, run: RunView): FirewallInputs {
  const vars = host.vars.firewall;
  const sshFrom = vars.ssh_from ?? 'anywhere';
  let controller: string | null = null;
  if (sshFrom !== 'anywhere') {
    controller = controllerAddressOf(run.controllerAddress);
    if (controller === null) {
      throw new SafetyError(
        `refusing to restrict SSH on ${host.name} to firewall.ssh_from: the address this run connects from is unknown` +
          `${run.controllerAddress === undefined ? '' : ` ("${run.controllerAddress}")`}, so it cannot be kept allowed`,
      );
    }
    const address = parseAddress(controller)!;
    const covered = sshFrom.some((range) => {
      const parsed = parseCidr(range);
      return 'cidr' in parsed && cidrContains(parsed.cidr, address);
    });
    if (covered) controller = null;
  }
  const isNode = roles.runs(host, nodeRole);
  const apiClients = isNode
    ? roles.hostsOf(balancerRole).map((balancer) => {
        const parsed = parseAddress(balancer.privateIp);
        if (!parsed) {
          throw new Error(
            `the node API on ${host.name} is opened to each balancer by address, but ${balancer.name}'s private_ip ` +
              `(${balancer.privateIp}) is not an IP address: set private_ip for ${balancer.name}`,
          );
        }
        return { name: balancer.name, address: formatAddress(parsed) };
      })
    : [];
  const node = host.vars.node;
  return {
    sshPorts: [...new Set(run.sshPorts)].sort((a, b) => a - b),
    sshFrom,
    controller,
    roles: { node: isNode, balancer: roles.runs(host, balancerRole) },
    nodePorts: { gossip: node.ports.gossip, autopeering: node.ports.autopeering, api: node.api_port },
    apiClients,
    allow: vars.allow,
  };
}
