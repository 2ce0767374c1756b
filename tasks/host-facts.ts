/** The facts `provision facts` shows for a host: system, CPUs, memory, SSH, firewall, fail2ban and the node's PoW. */
import { sh } from '../src/transport/shell.ts';
import type { Fact, FactReader } from '../src/engine/types.ts';
import type { Host } from '../src/inventory/types.ts';
import { effectiveSshdConfig } from './ssh/facts.ts';
import { usableCpusOfNode } from './node/facts.ts';
import { pathState } from './core/files.facts.ts';
import { POW_CONFIG_FORMATS } from './node/config.ts';
import type { HostVars } from './vars.ts';

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
}

/** The facts to gather for the report. */
export function reportFacts(host: Host<HostVars>): Fact<unknown>[] {
  const facts: Fact<unknown>[] = [osName, memory, firewall, fail2banJails, effectiveSshdConfig, usableCpusOfNode(host)];
  if (host.groups.includes('nodes')) facts.push(pathState(host.vars.node.config_path));
  return facts;
}

/** Builds the report from gathered facts (pure). */
export function factsReport(host: Host<HostVars>, facts: FactReader): HostFactsReport {
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
  if (host.groups.includes('nodes')) {
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
  return report;
}
