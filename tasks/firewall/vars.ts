/**
 * `firewall.*`: the default-deny nftables firewall. Every key is documented with its default. Addresses and ranges
 * come out in the form `nft list` prints them (network address, compressed IPv6, no /32 or /128), so the rendered
 * ruleset is byte-for-byte what the kernel reports back.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { defineNamespace, type VarsOf } from '../../src/engine/role.ts';
import type { sshNamespace } from '../ssh/vars.ts';
import type { nodeNamespace } from '../node/vars.ts';
import { yamlBoolean } from '../../src/inventory/connection.ts';
import { duration } from '../../src/inventory/duration.ts';

/** An IP address as a number, with its family. */
export interface ParsedAddress {
  family: 4 | 6;
  value: bigint;
}

/** An address range: the network address and the prefix length. */
export interface ParsedCidr extends ParsedAddress {
  prefix: number;
}

const BITS = { 4: 32, 6: 128 } as const;

function ipv4Value(text: string): bigint {
  return text.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

function ipv6Value(text: string): bigint {
  // An embedded IPv4 tail (::ffff:10.0.0.1) stands for the last two groups.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  const v4 = dotted ? ipv4Value(dotted[2]!) : null;
  const body = dotted ? `${dotted[1]}${((v4! >> 16n) & 0xffffn).toString(16)}:${(v4! & 0xffffn).toString(16)}` : text;
  const [head = '', tail] = body.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n);
}

/** Parses an IPv4 or IPv6 address (no zone, no prefix); null when it is not one. */
export function parseAddress(text: string): ParsedAddress | null {
  if (isIPv4(text)) return { family: 4, value: ipv4Value(text) };
  if (isIPv6(text) && !text.includes('%')) return { family: 6, value: ipv6Value(text) };
  return null;
}

/** Formats an address as nft prints it: dotted IPv4; IPv6 as glibc's inet_ntop does (RFC 5952, embedded IPv4 kept). */
export function formatAddress(address: ParsedAddress): string {
  if (address.family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((address.value >> shift) & 0xffn)).join('.');
  const words = Array.from({ length: 8 }, (_, i) => Number((address.value >> BigInt(112 - 16 * i)) & 0xffffn));
  // The first longest run of at least two zero groups becomes `::`.
  let best = { base: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && words[end] === 0) end++;
    if (end - i > best.len) best = { base: i, len: end - i };
    i = end;
  }
  if (best.len < 2) best = { base: -1, len: 0 };
  const embedsIpv4 = best.base === 0 && (best.len === 6 || (best.len === 5 && words[5] === 0xffff));
  const parts: string[] = [];
  for (let i = 0; i < 8; i++) {
    if (i === best.base) {
      parts.push(i === 0 ? ':' : '');
      i += best.len - 1;
      if (i === 7) parts.push('');
      continue;
    }
    if (i === 6 && embedsIpv4) {
      parts.push(formatAddress({ family: 4, value: address.value & 0xffffffffn }));
      break;
    }
    parts.push(words[i]!.toString(16));
  }
  return parts.join(':');
}

/** Parses `address` or `address/prefix`; the error says what is wrong (host bits set, a bad prefix). */
export function parseCidr(text: string): { cidr: ParsedCidr } | { error: string } {
  const [addressText = '', prefixText, ...extra] = text.trim().split('/');
  const address = parseAddress(addressText);
  if (!address || extra.length > 0) return { error: CIDR_HINT };
  const bits = BITS[address.family];
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return { error: CIDR_HINT };
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return { error: `a prefix of /${prefix} is too long for an IPv${address.family} address (at most /${bits})` };
  const network = address.value & networkMask(address.family, prefix);
  if (network !== address.value) {
    const suggestion = formatCidr({ family: address.family, value: network, prefix });
    return { error: `${text.trim()} has bits set after the /${prefix} prefix; did you mean ${suggestion}?` };
  }
  return { cidr: { ...address, prefix } };
}

function networkMask(family: 4 | 6, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

/** Formats a range as nft prints it: a whole-length prefix is the bare address. */
export function formatCidr(cidr: ParsedCidr): string {
  const address = formatAddress(cidr);
  return cidr.prefix === BITS[cidr.family] ? address : `${address}/${cidr.prefix}`;
}

/** True when `address` lies within `cidr`. */
export function cidrContains(cidr: ParsedCidr, address: ParsedAddress): boolean {
  return cidr.family === address.family && (address.value & networkMask(cidr.family, cidr.prefix)) === cidr.value;
}

const CIDR_HINT = 'expected an IP address or a CIDR range, e.g. 203.0.113.7, 198.51.100.0/24 or 2001:db8::/32';

/** An address or range from the inventory, validated and written the way nft prints it. */
export const cidrText = z.string({ error: CIDR_HINT }).transform((text, context) => {
  const parsed = parseCidr(text);
  if ('error' in parsed) {
    context.issues.push({ code: 'custom', message: parsed.error, input: text });
    return z.NEVER;
  }
  return formatCidr(parsed.cidr);
});

const PORT_HINT = 'expected a port number from 1 to 65535, or a range such as 9000-9010';

/** A port, or an inclusive range `low-high`, as nft writes it. */
const portText = z.union([z.number(), z.string()], { error: PORT_HINT }).transform((value, context) => {
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(String(value).trim());
  const low = Number(match?.[1]);
  const high = match?.[2] === undefined ? low : Number(match[2]);
  if (!match || !Number.isInteger(low) || low < 1 || high > 65535 || high < low) {
    context.issues.push({ code: 'custom', message: PORT_HINT, input: value });
    return z.NEVER;
  }
  return low === high ? String(low) : `${low}-${high}`;
});

const COMMENT_HINT = 'expected a short note (up to 60 letters, digits, spaces and . , : ( ) / + _ -)';

/** One extra opening in `firewall.allow`. */
export const allowRule = z
  .object({
    port: portText.describe('The port or range, e.g. 9000 or 9000-9010.'),
    protocol: z.enum(['tcp', 'udp'], { error: 'expected tcp or udp' }).default('tcp').describe('tcp or udp. Default tcp.'),
    source: cidrText.optional().describe('Only from this address or range. Default: from anywhere.'),
    comment: z
      .string({ error: COMMENT_HINT })
      .regex(/^[\p{L}\p{N} .,:()/+_-]{1,60}$/u, COMMENT_HINT)
      .optional()
      .describe("A note shown in the ruleset (nft's rule comment). Default: firewall.allow."),
  })
  .strict();

/** One validated `firewall.allow` entry. */
export type AllowRule = z.output<typeof allowRule>;

const ROLLBACK_HINT = 'expected a duration from 10s to 1h';

/** The `firewall` namespace. */
export const firewallVars = z
  .object({
    enabled: yamlBoolean.default(true).describe("Manage the firewall. false removes provision's table (and file), leaving other tables alone. Default true."),
    ssh_from: z.array(cidrText).min(1, 'expected at least one address or range (leave ssh_from out to allow anywhere)').optional().describe("Addresses and ranges that may reach SSH. Default: anywhere. The controller's address is always allowed."),
    allow: z.array(allowRule).default([]).describe('Extra openings: `{port, protocol: tcp|udp, source?, comment?}`. Default none.'),
    rollback_after: duration.refine((seconds) => seconds >= 10 && seconds <= 3600, ROLLBACK_HINT).default(60).describe('Unless a NEW SSH login confirms the new rules within this time, the host restores the previous ones. Default 60s.'),
  })
  .strict();

/** The validated `firewall` namespace. */
export type FirewallVars = z.output<typeof firewallVars>;

/** The defaults of `firewall` (the schema's own, so they cannot drift). */
export const FIREWALL_DEFAULTS: FirewallVars = firewallVars.parse({});

/** The `firewall` namespace: the default-deny table, who may reach SSH, and the rollback window. */
export const firewallNamespace = defineNamespace('firewall', firewallVars.prefault({}));

/** The host variables the firewall reads: its own, the SSH port it keeps open, and a node's ports. */
export type FirewallHostVars = VarsOf<typeof firewallNamespace | typeof sshNamespace | typeof nodeNamespace>;
