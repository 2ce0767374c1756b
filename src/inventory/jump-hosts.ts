/**
 * Jump hosts as they are written: `ssh_jump`, ssh's `-J` and `ProxyJump` (in ssh arguments or ~/.ssh/config) all take
 * OpenSSH's form, `[user@]host[:port]` or `ssh://[user@]host[:port]`, several hops separated by commas, the first
 * reached directly; `none` means no jump at all.
 */

/** One hop as written; what is not written comes from ~/.ssh/config or the defaults (see connection-settings.ts). */
export interface WrittenHop {
  host: string;
  port?: number;
  user?: string;
}

/** The hops of a jump specification (empty for `none`), or why it cannot be read. */
export function parseJumpSpec(text: string): { hops: WrittenHop[] } | { problem: string } {
  const spec = text.trim();
  if (spec === '') return { problem: 'expected a jump host such as admin@bastion.example.com:22, not an empty string' };
  if (spec.toLowerCase() === 'none') return { hops: [] };
  const hops: WrittenHop[] = [];
  for (const part of spec.split(',')) {
    const hop = parseHop(part.trim());
    if ('problem' in hop) return { problem: `${hop.problem} (in ${JSON.stringify(spec)})` };
    hops.push(hop.hop);
  }
  return { hops };
}

/** `user@host:port` (IPv6 addresses in brackets), the form messages and `provision inventory` show a hop in. */
export function formatHop(hop: { host: string; port?: number; user?: string }): string {
  const host = hop.host.includes(':') ? `[${hop.host}]` : hop.host;
  return `${hop.user !== undefined ? `${hop.user}@` : ''}${host}${hop.port !== undefined ? `:${hop.port}` : ''}`;
}

function parseHop(written: string): { hop: WrittenHop } | { problem: string } {
  if (written === '') return { problem: 'a jump host is missing between two commas' };
  let text = written;
  if (/^ssh:\/\//i.test(text)) {
    text = text.slice('ssh://'.length);
    if (text.endsWith('/')) text = text.slice(0, -1);
    if (text.includes('/')) return { problem: `a jump host URI takes no path: ${written}` };
  }
  if (/\s/.test(text)) return { problem: `a jump host has no spaces: ${JSON.stringify(written)}` };
  const at = text.lastIndexOf('@');
  const user = at >= 0 ? text.slice(0, at) : undefined;
  if (user === '') return { problem: `the user before @ is empty: ${written}` };
  const rest = at >= 0 ? text.slice(at + 1) : text;
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return { problem: `no closing ] in ${written}` };
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return { problem: `unexpected ${JSON.stringify(after)} after the address in ${written}` };
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colons = rest.split(':').length - 1;
    // Several colons without brackets: an IPv6 address, with no port.
    if (colons === 1) [host, portText] = rest.split(':') as [string, string];
    else host = rest;
  }
  if (host === '') return { problem: `the host name is empty in ${written}` };
  const hop: WrittenHop = { host };
  if (user !== undefined) hop.user = user;
  if (portText !== undefined) {
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) return { problem: `expected a port number from 1 to 65535 after the colon in ${written}` };
    hop.port = port;
  }
  return { hop };
}
