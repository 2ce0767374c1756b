/** The facts `provision facts` shows for a host: system, CPUs, memory, SSH, firewall, fail2ban and the node's PoW. */
import { sh } from '../src/transport/shell.ts';
import { defineFactsReport } from '../src/engine/facts-report.ts';
import type { Fact } from '../src/engine/types.ts';
import { effectiveSshdConfig } from './ssh/facts.ts';
import { usableCpusOfNode } from './node/facts.ts';
import { pathState } from './core/files.facts.ts';
import { POW_CONFIG_FORMATS } from './node/config.ts';
import { nodeRole } from './node/role.ts';
import type { NodeHostVars } from './node/vars.ts';
import { certificateState, servedCertificate, type ServedCertificate } from './haproxy/facts.ts';
import { HAPROXY_FILES } from './haproxy/render.ts';
import { balancerRole } from './haproxy/role.ts';

const osName: Fact<string> = {
  key: 'report:os',
  command: sh`. /etc/os-release 2>/dev/null && printf '%s' "$PRETTY_NAME" || uname -sr`,
  parse: (output) => output.stdout.trim(),
};

const memory: Fact<number | null> = {
  key: 'report:memory',
  command: sh`awk '/^MemTotal:/ { print $2 }' /proc/meminfo`,
  parse: (output) => (output.stdout.trim() ? Math.round(Number(output.stdout.trim()) / 1024) : null),
};

const firewall: Fact<{ active: boolean; rules: number }> = {
  key: 'report:firewall',
  command: sh`nft list table inet provision 2>/dev/null`,
  parse: (output) => ({ active: output.code === 0, rules: output.stdout.split('\n').filter((line) => /\b(accept|drop|reject)\b/.test(line)).length }),
};

const fail2banJails: Fact<string[] | null> = {
  key: 'report:fail2ban',
  command: sh`command -v fail2ban-client >/dev/null || exit 3; fail2ban-client status 2>/dev/null | sed -n 's/.*Jail list:[[:space:]]*//p'`,
  parse: (output) => (output.code === 3 ? null : output.stdout.split(/[,\s]+/).filter(Boolean)),
};

/** What the facts report says about one host. */
export interface HostFactsReport {
  os: string;
  usableCpus: number;
  memoryMb: number | null;
  ssh: { port: string; passwordAuthentication: string; permitRootLogin: string; authenticationMethods: string } | { error: string };
  firewall: { active: boolean; rules: number };
  fail2banJails: string[] | null;
  node?: { configPath: string; pow: unknown } | { configPath: string; error: string };
  /** On balancers: the certificate HAProxy serves. */
  tls?: ServedCertificate | { error: string };
}

function sshCell(report: HostFactsReport): string {
  if ('error' in report.ssh) return `sshd -T failed`;
  const passwords = report.ssh.passwordAuthentication === 'no' ? 'key-only' : 'passwords on';
  return `port ${report.ssh.port}, ${passwords}, root ${report.ssh.permitRootLogin}`;
}

function nodeCell(report: HostFactsReport): string {
  if (!report.node) return '-';
  if ('error' in report.node) return `config: ${report.node.error}`;
  const pow = report.node.pow as { enabled: unknown; workers: unknown };
  const workers = String(pow.workers ?? '?');
  return `PoW ${pow.enabled === true ? `on, ${workers} worker${workers === '1' ? '' : 's'}` : 'off'}`;
}

function tlsCell(report: HostFactsReport): string {
  if (!report.tls) return '-';
  if ('error' in report.tls) return `TLS: ${report.tls.error}`;
  const { daysLeft } = report.tls;
  const ends = daysLeft === null ? `expires ${report.tls.notAfter}` : daysLeft < 0 ? `EXPIRED ${-daysLeft} days ago` : `expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`;
  return `TLS: ${report.tls.issuer}, ${ends}`;
}

/** The site playbook's facts report: gathered in one round trip per host, as a table or JSON. */
export const siteFactsReport = defineFactsReport<NodeHostVars, HostFactsReport>({
  facts: (host, roles) => {
    const facts: Fact<unknown>[] = [osName, memory, firewall, fail2banJails, effectiveSshdConfig, usableCpusOfNode(host)];
    if (roles.runs(host, nodeRole)) facts.push(pathState(host.vars.node.config_path));
    if (roles.runs(host, balancerRole)) facts.push(certificateState(HAPROXY_FILES.certificate));
    return facts;
  },
  read: (host, facts, roles) => {
    const sshd = facts.get(effectiveSshdConfig);
    const one = (values: Map<string, string[]>, key: string) => (values.get(key) ?? []).join(' ');
    const report: HostFactsReport = {
      os: facts.get(osName),
      usableCpus: facts.get(usableCpusOfNode(host)).usable,
      memoryMb: facts.get(memory),
      ssh: sshd.ok
        ? {
            port: one(sshd.values, 'port'),
            passwordAuthentication: one(sshd.values, 'passwordauthentication'),
            permitRootLogin: one(sshd.values, 'permitrootlogin'),
            authenticationMethods: one(sshd.values, 'authenticationmethods'),
          }
        : { error: sshd.error },
      firewall: facts.get(firewall),
      fail2banJails: facts.get(fail2banJails),
    };
    if (roles.runs(host, nodeRole)) {
      const path = host.vars.node.config_path;
      const state = facts.get(pathState(path));
      if (state.type !== 'file') report.node = { configPath: path, error: 'missing' };
      else {
        try {
          report.node = { configPath: path, pow: POW_CONFIG_FORMATS[host.vars.node.flavor].read(state.content) };
        } catch (error) {
          report.node = { configPath: path, error: error instanceof Error ? error.message : String(error) };
        }
      }
    }
    if (roles.runs(host, balancerRole)) report.tls = servedCertificate(facts.get(certificateState(HAPROXY_FILES.certificate)), Date.now());
    return report;
  },
  columns: [
    { title: 'os', cell: (report) => report.os },
    { title: 'cpus', cell: (report) => `${report.usableCpus} CPU${report.usableCpus === 1 ? '' : 's'}` },
    { title: 'memory', cell: (report) => (report.memoryMb === null ? '?' : `${report.memoryMb} MB`) },
    { title: 'ssh', cell: sshCell },
    { title: 'firewall', cell: (report) => (report.firewall.active ? `firewall on (${report.firewall.rules} rules)` : 'no firewall') },
    { title: 'fail2ban', cell: (report) => (report.fail2banJails === null ? 'no fail2ban' : `fail2ban: ${report.fail2banJails.join(', ') || 'no jails'}`) },
    { title: 'node', cell: nodeCell },
    { title: 'tls', cell: tlsCell },
  ],
});
