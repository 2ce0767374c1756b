/**
 * Draining a node on HAProxy through its runtime API: the admin stats socket that haproxy.cfg declares (local to the
 * balancer, no port), spoken to with socat, which the balancer role installs (HAProxy's own docs use it; Debian's
 * minimal systems have neither nc -U nor python). What provision drained is marked in /var/lib/provision/drained,
 * so a run that ends before the node is back leaves a trace the next run finds and returns to ready.
 */
import type { DrainOutcome, LeftDrained, TrafficBalancer } from '../../src/engine/rolling/traffic.ts';
import type { CommandRunner } from '../../src/engine/gather.ts';
import type { Fact, FactOutput } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { sh, type ShellCommand } from '../../src/transport/shell.ts';
import { nodeRole } from '../node/role.ts';
import type { NodeHostVars } from '../node/vars.ts';
import { HEALTH_CHECK, serverName } from './render.ts';

/** The admin socket of provision's haproxy.cfg (and of Debian's stock one). */
export const ADMIN_SOCKET = '/run/haproxy/admin.sock';

/** The backend the nodes are servers of, in haproxy.cfg (render.ts, nodesBackend). */
export const NODES_BACKEND = 'nodes';

/** One file per server provision drained and has not returned yet. */
export const DRAIN_MARKS = '/var/lib/provision/drained';

/** The tool that speaks to the socket, installed with HAProxy. */
export const RUNTIME_API_PACKAGES = ['socat'] as const;

/** How often the waits ask: five times a second. */
const POLL_SECONDS = 0.2;

/** `api COMMAND`: one runtime API command, its answer on stdout; exit 3 with a reason when the socket cannot be used. */
const API_FUNCTION = sh`api() {
  command -v socat >/dev/null 2>&1 || { echo "socat is not installed on the balancer (the balancer role installs it)" >&2; exit 3; }
  [ -S ${ADMIN_SOCKET} ] || { echo "HAProxy has no admin socket at ${ADMIN_SOCKET} (is haproxy running with provision's config?)" >&2; exit 3; }
  printf '%s\\n' "$1" | socat -t 5 - UNIX-CONNECT:${ADMIN_SOCKET}
}
# The server's op state (2: running, as the health check sees it) and admin state (bit 0x08: drained by the API).
server_state() { api ${`show servers state ${NODES_BACKEND}`} | awk -v s="$1" '$4 == s { print $6, $7 }'; }
# Requests the server is busy with now (show stat: pxname,svname,qcur,qmax,scur,...).
sessions() { api 'show stat' | awk -F, -v b=${NODES_BACKEND} -v s="$1" '$1 == b && $2 == s { print $5 }'; }
set_state() {
  out=$(api "set server ${NODES_BACKEND}/$1 state $2") || exit 3
  if [ -n "$(printf '%s' "$out" | tr -d ' \\n')" ]; then echo "set server ${NODES_BACKEND}/$1 state $2: $out" >&2; exit 1; fi
}`;

/** Marks, drains and waits; prints `unknown` (no such server) or `sessions N` (left when the wait ended). */
export function drainScript(server: string, timeoutSeconds: number): ShellCommand {
  const tries = Math.max(1, Math.ceil(timeoutSeconds / POLL_SECONDS));
  return sh`${API_FUNCTION}
state=$(server_state ${server})
if [ -z "$state" ]; then echo unknown; exit 0; fi
mkdir -p ${DRAIN_MARKS} && date -u +%Y-%m-%dT%H:%M:%SZ > ${DRAIN_MARKS}/${server}
set_state ${server} drain
i=0
while :; do
  now=$(sessions ${server})
  if [ "\${now:-0}" = 0 ] || [ "$i" -ge ${tries} ]; then break; fi
  i=$((i + 1)); sleep ${POLL_SECONDS}
done
echo "sessions \${now:-0}"`;
}

/** Sets ready, waits for the health check to see the server up; prints `up` or `down`. The mark goes either way. */
export function readyScript(server: string, timeoutSeconds: number): ShellCommand {
  const tries = Math.max(1, Math.ceil(timeoutSeconds / POLL_SECONDS));
  return sh`${API_FUNCTION}
state=$(server_state ${server})
if [ -n "$state" ]; then set_state ${server} ready; fi
rm -f ${DRAIN_MARKS}/${server}
i=0
while :; do
  op=$(server_state ${server} | cut -d' ' -f1)
  if [ "$op" = 2 ]; then echo up; exit 0; fi
  if [ -z "$op" ] || [ "$i" -ge ${tries} ]; then echo down; exit 0; fi
  i=$((i + 1)); sleep ${POLL_SECONDS}
done`;
}

/** Parses the left-drained fact's output: `M server` lines (marks), then `S …` lines (show servers state). */
export function parseLeftDrained(output: FactOutput): LeftDrained[] {
  const marks: string[] = [];
  const states = new Map<string, { op: number; admin: number }>();
  for (const line of output.stdout.split('\n')) {
    if (line.startsWith('M ')) marks.push(line.slice(2).trim());
    if (!line.startsWith('S ')) continue;
    const fields = line.slice(2).trim().split(/\s+/);
    if (fields.length < 7 || !/^\d+$/.test(fields[0]!)) continue;
    states.set(fields[3]!, { op: Number(fields[5]), admin: Number(fields[6]) });
  }
  return marks.map((server) => {
    const state = states.get(server);
    return { server, drained: state !== undefined && (state.admin & 0x08) !== 0, up: state?.op === 2 };
  });
}

/** The servers provision drained on this balancer and did not return (read with the balancer's other facts). */
export const leftDrainedFact: Fact<LeftDrained[]> = {
  key: 'haproxy:left-drained',
  command: sh`[ -d ${DRAIN_MARKS} ] || exit 0
for mark in ${DRAIN_MARKS}/*; do [ -f "$mark" ] && echo "M \${mark##*/}"; done
if command -v socat >/dev/null 2>&1 && [ -S ${ADMIN_SOCKET} ]; then
  printf '%s\\n' ${`show servers state ${NODES_BACKEND}`} | socat -t 5 - UNIX-CONNECT:${ADMIN_SOCKET} 2>/dev/null | sed 's/^/S /'
fi
exit 0`,
  parse: parseLeftDrained,
  staleAfter: [],
};

/**
 * Whether HAProxy runs on the balancer (its admin socket, or the process of Debian's pid file), read with builtins
 * only. A stale socket or pid file reads as running: the safe side, batches and drains as usual.
 */
export const servingFact: Fact<boolean> = {
  key: 'haproxy:serving',
  description: 'whether HAProxy runs',
  command: sh`if [ -S ${ADMIN_SOCKET} ]; then echo yes; elif [ -f /run/haproxy.pid ] && read -r pid < /run/haproxy.pid && [ -n "$pid" ] && [ -d "/proc/$pid" ]; then echo yes; else echo no; fi`,
  parse: (output) => output.stdout.trim() !== 'no',
  // Running or not changes with the balancer's own apply, after the order is made; a new run reads it again.
  volatile: true,
  staleAfter: ['packages'],
};

/** Asks the node's health route on 127.0.0.1 until it answers 200, at most `timeoutSeconds` (curl, else bash's /dev/tcp). */
export function healthScript(port: number, timeoutSeconds: number): ShellCommand {
  const tries = Math.max(1, Math.ceil(timeoutSeconds / POLL_SECONDS));
  const request = `GET ${HEALTH_CHECK.path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n`;
  return sh`i=0
while [ "$i" -lt ${tries} ]; do
  if command -v curl >/dev/null 2>&1; then curl -fsS -o /dev/null --max-time 2 ${`http://127.0.0.1:${port}${HEALTH_CHECK.path}`} 2>/dev/null && exit 0
  else timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "%s" "$2" >&3 && head -n 1 <&3' bash ${port} ${request} 2>/dev/null | grep -q ' 200 ' && exit 0
  fi
  i=$((i + 1)); sleep ${POLL_SECONDS}
done
exit 1`;
}

async function run(runner: CommandRunner, command: ShellCommand, what: string): Promise<string> {
  const result = await runner.exec(command);
  if (result.code !== 0) throw new Error(`${what}: ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join('; ') || `exit code ${result.code}`}`);
  return result.stdout.trim();
}

/** Server names as haproxy.cfg has them: the inventory name made safe, a `_` added to tell two apart (as plannedServers does). */
export function nodeServerNames(nodes: readonly Host<NodeHostVars>[]): Map<string, string> {
  const names = new Map<string, string>();
  const taken = new Set<string>();
  for (const node of nodes) {
    let name = serverName(node.name);
    while (taken.has(name)) name = `${name}_`;
    taken.add(name);
    names.set(node.name, name);
  }
  return names;
}

/** HAProxy's part in changes without downtime: how the balancer role drains and returns the nodes. */
export const haproxyDrain: TrafficBalancer<NodeHostVars> = {
  product: 'HAProxy',
  backends: nodeRole,
  serverNames: nodeServerNames,
  services: (node) => [node.vars.node.service],
  leftDrained: () => leftDrainedFact,
  serving: () => servingFact,
  async drain(balancer, server, timeoutSeconds): Promise<DrainOutcome> {
    const out = await run(balancer, drainScript(server, timeoutSeconds), `drain ${server}`);
    if (out === 'unknown') return { known: false, sessionsLeft: 0 };
    return { known: true, sessionsLeft: Number(/sessions (\d+)/.exec(out)?.[1] ?? 0) };
  },
  async ready(balancer, server, timeoutSeconds) {
    return { up: (await run(balancer, readyScript(server, timeoutSeconds), `return ${server} to ready`)) === 'up' };
  },
  async healthy(node, host, timeoutSeconds) {
    return (await node.exec(healthScript(host.vars.node.api_port, timeoutSeconds))).code === 0;
  },
};
