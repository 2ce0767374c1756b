/**
 * HAProxy on the balancers, in front of every host that runs the node role: TLS with Mozilla's intermediate settings, source
 * allow/deny lists, abuse limits per source, an authorization layer for the write and block-submission routes, health
 * checks, and `leastconn` weighted by each node's usable CPUs (read from the nodes in the same run). Every file is
 * validated with `haproxy -c` before it replaces the live one; changes reload HAProxy (open connections survive).
 */
import { sh } from '../../src/transport/shell.ts';
import type { Handler, Plan, PlanContext, Task } from '../../src/engine/types.ts';
import type { RoleContext } from '../../src/engine/role.ts';
import type { Host } from '../../src/inventory/types.ts';
import { aptPackages } from '../core/apt.ts';
import { file, planFileWrite } from '../core/files.ts';
import { pathState } from '../core/files.facts.ts';
import { tokenDigest, userPasswordHash } from './auth.ts';
import { configuredValues } from './facts.ts';
import { HAPROXY_FILES, renderHaproxyConfig, renderSourceList, renderTokenMap, serverName, type BackendServer, type HaproxyConfigSettings } from './render.ts';
import { RELOAD_HAPROXY, haproxyTlsTasks } from './tls.ts';
import type { BalancerHostVars } from './vars.ts';
import { cpusText, describeCpuSources, usableCpusOfNode, type UsableCpus } from '../node/facts.ts';
import { nodeRole } from '../node/role.ts';
import { reloadService, service } from '../core/systemd.ts';
import { ACME_CHALLENGE_PORT } from '../acme/render.ts';
import { RUNTIME_API_PACKAGES } from './drain.ts';

export { RELOAD_HAPROXY };

/** HAProxy itself, and openssl for the self-signed certificate and for checking the served one. */
export const HAPROXY_PACKAGES = ['haproxy', 'openssl'] as const;

/**
 * How the reload handler waits for HAProxy to finish reloading: asked every 0.05 s for the first half second (a
 * reload usually takes a few tenths), then every 0.25 s, 10 s in all.
 */
const RELOAD_WAIT = { quick: 10, quickPause: 0.05, tries: 48, pause: 0.25 };

/**
 * Reloads HAProxy after a file changed: the new workers take over, open connections finish on the old ones. The unit
 * (Type=notify) says `reloading` until the new workers are up; the handler waits for `active`, so the run ends only
 * once the new configuration is served.
 */
export const reloadHaproxy: Handler = {
  ...reloadService('haproxy', RELOAD_HAPROXY),
  steps: [
    ...reloadService('haproxy', RELOAD_HAPROXY).steps,
    {
      kind: 'run',
      command: sh`i=0; while [ "$(systemctl is-active haproxy)" = reloading ] && [ "$i" -lt ${RELOAD_WAIT.tries} ]; do i=$((i + 1)); if [ "$i" -le ${RELOAD_WAIT.quick} ]; then sleep ${RELOAD_WAIT.quickPause}; else sleep ${RELOAD_WAIT.pause}; fi; done; [ "$(systemctl is-active haproxy)" = active ]`,
      description: `wait until haproxy is active again after the reload (at most ${RELOAD_WAIT.quick * RELOAD_WAIT.quickPause + (RELOAD_WAIT.tries - RELOAD_WAIT.quick) * RELOAD_WAIT.pause} s)`,
    },
  ],
};

/** What the balancer tasks read from the inventory. */
type BalancerVars = BalancerHostVars;

/** The highest weight HAProxy accepts. */
const MAX_WEIGHT = 256;

/**
 * The `validate` template for haproxy.cfg: `haproxy -c -f` on the candidate. When a file the candidate names does not
 * exist yet (a dry run before the certificate or a list is written), the check runs on a copy that names a stand-in
 * instead (an empty list, a throwaway certificate), so the rest of the candidate is still checked. Exit 127 when
 * haproxy (or openssl, for the stand-in) is not installed yet.
 */
export function candidateCheck(): string {
  const referenced = [HAPROXY_FILES.certificate, HAPROXY_FILES.allow, HAPROXY_FILES.deny, HAPROXY_FILES.tokens];
  const script = sh`command -v haproxy >/dev/null 2>&1 || exit 127
config=$1
work=
for file in ${referenced}; do
  [ -e "$file" ] && continue
  if [ -z "$work" ]; then
    work=$(mktemp -d) || exit 1
    trap 'rm -rf "$work"' EXIT
    cp "$1" "$work/haproxy.cfg" && config=$work/haproxy.cfg || exit 1
  fi
  stand_in=$work/$(basename "$file")
  if [ "$file" = ${HAPROXY_FILES.certificate} ]; then
    command -v openssl >/dev/null 2>&1 || exit 127
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=candidate-check -keyout "$stand_in.key" -out "$stand_in" >/dev/null 2>&1 || exit 1
    cat "$stand_in.key" >>"$stand_in"
  else
    : >"$stand_in"
  fi
  sed -i "s|$file|$stand_in|g" "$config"
done
haproxy -c -f "$config"`;
  return `${sh`/bin/sh -c ${script.text} haproxy-candidate-check`.text} %s`;
}

/** A node behind the balancer, with the reasoning for its weight (for the plan). */
export interface PlannedServer extends BackendServer {
  why: string;
}

/** Weight from usable CPUs, within HAProxy's 1–256. */
export function weightFor(cpus: number): number {
  return Math.min(MAX_WEIGHT, Math.max(1, Math.floor(cpus)));
}

/**
 * The backends (pure; exported for tests): every host of `nodes` at its private address (127.0.0.1 for the balancer's
 * own node) and API port, weighted by its usable CPUs. A node whose CPUs this run does not know (unreachable, or left
 * out by --limit) keeps the weight the current config gives it, else 1.
 */
export function plannedServers(
  balancer: string,
  nodes: readonly Host<BalancerVars>[],
  cpusOf: (node: Host<BalancerVars>) => UsableCpus | undefined,
  currentWeights: ReadonlyMap<string, number>,
): PlannedServer[] {
  const names = new Set<string>();
  return nodes.map((node) => {
    let name = serverName(node.name);
    while (names.has(name)) name = `${name}_`;
    names.add(name);
    const address = node.name === balancer ? '127.0.0.1' : node.privateIp;
    const port = node.vars.node.api_port;
    const cpus = cpusOf(node);
    if (cpus) return { name, address, port, weight: weightFor(cpus.usable), why: `${cpusText(cpus.usable).replace('CPU', 'usable CPU')} (${describeCpuSources(cpus)})` };
    const kept = currentWeights.get(name);
    return { name, address, port, weight: kept ?? 1, why: kept ? `CPUs not known in this run; keeps its current weight` : 'CPUs not known in this run; weight 1 until they are' };
  });
}

/** The config settings for this balancer, with each password's hash (kept when it still verifies). */
export function configSettings(host: Host<BalancerVars>, servers: BackendServer[], currentHashes: ReadonlyMap<string, string>): { settings: HaproxyConfigSettings; notes: string[] } {
  const vars = host.vars.haproxy;
  const notes: string[] = [];
  const users = vars.auth.users.map((user) => {
    const { hash, reused } = userPasswordHash(host.name, user.name, user.password, currentHashes.get(user.name));
    if (!reused) notes.push(`user ${user.name}: ${currentHashes.has(user.name) ? 'the password changed; new' : 'new'} SHA-512 crypt hash`);
    return { name: user.name, hash };
  });
  const authActive = users.length > 0 || vars.auth.tokens.length > 0;
  const settings: HaproxyConfigSettings = {
    httpPort: vars.http_port,
    httpsPort: vars.https_port,
    ipv6: vars.ipv6,
    maxconn: vars.maxconn,
    maxBodyBytes: vars.max_body,
    hstsMaxAge: vars.tls.hsts_max_age,
    tlsProfile: vars.tls.profile,
    allowListActive: vars.allow.length > 0,
    denyListActive: vars.deny.length > 0,
    rateLimit: { requests: vars.rate_limit.requests, window: vars.rate_limit.window, banAfter: vars.rate_limit.ban_after, ban: vars.rate_limit.ban, connections: vars.rate_limit.connections },
    ...(authActive
      ? {
          auth: {
            users,
            tokens: vars.auth.tokens.length > 0,
            protectedMethods: vars.auth.protected_methods,
            protectedPaths: vars.auth.protected_paths,
            publicPaths: vars.auth.public_paths,
          },
        }
      : {}),
    servers,
    ...(vars.tls.acme ? { acmeChallengePort: ACME_CHALLENGE_PORT } : {}),
  };
  return { settings, notes };
}

function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function summaryLines(host: Host<BalancerVars>, servers: PlannedServer[]): string[] {
  const vars = host.vars.haproxy;
  const limits = vars.rate_limit;
  const auth = vars.auth;
  return [
    ...servers.map((server) => `backend ${server.name} ${server.address}:${server.port} weight ${server.weight}: ${server.why}`),
    `rate limit: ${limits.requests} requests per ${limits.window}s per source, then 429; ${limits.ban_after} more ban it for ${limits.ban}s; ${limits.connections} connections per source`,
    auth.users.length + auth.tokens.length > 0
      ? `credentials (${counted(auth.users.length, 'user')}, ${counted(auth.tokens.length, 'token')}) required for ${[...auth.protected_methods, ...auth.protected_paths].join(', ')}; always public: ${auth.public_paths.join(', ') || 'nothing'}`
      : 'no haproxy.auth users or tokens: every route is open',
  ];
}

/** haproxy.cfg, rendered from the inventory and the nodes' CPU facts, validated with `haproxy -c`. */
export function haproxyConfig(host: Host<BalancerVars>, roles: RoleContext<BalancerVars>): Task<BalancerVars> {
  const config = pathState(HAPROXY_FILES.config);
  const nodes = roles.hostsOf(nodeRole);
  return {
    kind: 'haproxy.config',
    target: HAPROXY_FILES.config,
    facts: () => [config],
    peerFacts: () => nodes.map((node) => ({ host: node.name, fact: usableCpusOfNode(node) })),
    plan: ({ facts, factsOf }: PlanContext<BalancerVars>): Plan => {
      if (nodes.length === 0) throw new Error(`no hosts in the group ${roles.patternOf(nodeRole)}: the balancer would have nothing to send requests to`);
      const state = facts.get(config);
      const current = configuredValues(state.type === 'file' ? state.content : undefined);
      const cpusOf = (node: Host<BalancerVars>): UsableCpus | undefined => {
        try {
          return factsOf(node.name)?.get(usableCpusOfNode(node));
        } catch {
          return undefined;
        }
      };
      const servers = plannedServers(host.name, nodes, cpusOf, current.weights);
      const { settings, notes } = configSettings(host, servers, current.hashes);
      const plan = planFileWrite(HAPROXY_FILES.config, state, renderHaproxyConfig(settings), {
        mode: '0640',
        owner: 'root',
        group: 'haproxy',
        validate: candidateCheck(),
        notify: [RELOAD_HAPROXY],
      });
      const lines = summaryLines(host, servers);
      if (plan.status === 'ok') return { status: 'ok', reason: `${HAPROXY_FILES.config} is up to date (${servers.map((server) => `${server.name} weight ${server.weight}`).join(', ')})` };
      plan.changes[0].details = [...lines, ...notes];
      // Hashes are not passwords, but there is no reason to print them either (a weak password falls to an offline
      // guess): the new ones and those the diff removes.
      plan.changes[0].secrets = [...(settings.auth?.users.map((user) => user.hash) ?? []), ...current.hashes.values()];
      return plan;
    },
  };
}

/** The allow and deny lists and the token map: files HAProxy reads at start, so a change reloads it. */
export function haproxyListTasks(host: Host<BalancerVars>): Task[] {
  const vars = host.vars.haproxy;
  const tokens = vars.auth.tokens.map((entry) => ({ digest: tokenDigest(entry.token), name: entry.name }));
  const notify = [RELOAD_HAPROXY];
  return [
    file(HAPROXY_FILES.allow, renderSourceList('allow', vars.allow), { notify }),
    file(HAPROXY_FILES.deny, renderSourceList('deny', vars.deny), { notify }),
    // Digests only, but no one else needs them: readable by root and HAProxy's group.
    file(HAPROXY_FILES.tokens, renderTokenMap(tokens), { mode: '0640', owner: 'root', group: 'haproxy', notify }),
  ];
}

/** Everything a balancer runs, in order: packages, certificate, lists, config, service. */
export function haproxyTasks(host: Host<BalancerVars>, roles: RoleContext<BalancerVars>): Task<BalancerVars>[] {
  return [aptPackages([...HAPROXY_PACKAGES, ...RUNTIME_API_PACKAGES]), ...haproxyTlsTasks(host), ...haproxyListTasks(host), haproxyConfig(host, roles), service('haproxy')];
}
