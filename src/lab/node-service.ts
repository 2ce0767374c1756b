/**
 * Installs the stand-in node (lab/node-service/) into a lab or test container: a small HTTP service that reads the
 * node's config file and answers like Hornet or Bee, so node tasks and the load balancer have something real to
 * configure, restart and query. Lab and tests only: nothing here is ever installed on an operator's node.
 */
import { readFileSync } from 'node:fs';
import { $ } from 'zx';
import { dockerCommand } from './docker-engine.ts';
import { projectPath } from '../project-root.ts';

/** A file of the stand-in node's sources. */
const source = (name: string) => readFileSync(projectPath('lab', 'node-service', name), 'utf8');

/** The node software the stand-in imitates. */
export type NodeFlavor = 'hornet-2' | 'hornet-1' | 'bee';

/**
 * Where each real node keeps its config and which unit runs it: the stand-in is installed the same way, so the node
 * role finds it where it would find the real one (test/unit/lab-stand-in.test.ts holds the two tables together).
 */
export const STAND_IN_LAYOUT: Record<NodeFlavor, { configPath: string; service: string }> = {
  'hornet-2': { configPath: '/var/lib/hornet/config.json', service: 'hornet' },
  'hornet-1': { configPath: '/var/lib/hornet/config.json', service: 'hornet' },
  bee: { configPath: '/var/lib/bee/config.toml', service: 'bee' },
};

/** Where the service's program goes inside the container. */
export const STAND_IN_PROGRAM = '/usr/local/lib/provision-lab/stand-in-node.py';

/** Runs a command (argv) inside a container, like `docker exec`, and says how it went. */
export type ContainerExec = (command: string[]) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

/** A ContainerExec for a container by name, through the docker CLI. */
export function dockerExec(container: string): ContainerExec {
  return async (command) => {
    const result = await $({ quiet: true, nothrow: true })`${dockerCommand()} exec ${container} ${command}`;
    return { exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
  };
}

/** What to install; every field has the node task's default. */
export interface StandInNodeOptions {
  flavor?: NodeFlavor;
  /** Default: the flavor's (/var/lib/hornet/config.json, /var/lib/bee/config.toml). */
  configPath?: string;
  /** The systemd unit name. Default: the flavor's (hornet, bee). */
  service?: string;
  /** The API port. Default 14265. */
  port?: number;
  /** The config file's content. Default: lab/node-service/config.<flavor>.* (PoW off). */
  config?: string;
  /** Write `config` even when the file exists (default: keep an existing file). */
  replaceConfig?: boolean;
}

/** The sample config the lab starts a flavor with. */
export function sampleConfig(flavor: NodeFlavor): string {
  return source(`config.${flavor}.${flavor === 'bee' ? 'toml' : 'json'}`);
}

/** The unit file for these settings. */
export function renderUnit(flavor: NodeFlavor, configPath: string, port: number): string {
  const template = source('stand-in-node.service');
  return template.replaceAll('@FLAVOR@', flavor).replaceAll('@CONFIG@', configPath).replaceAll('@PORT@', String(port));
}

// Installs python3 (its standard library reads JSON and TOML and serves HTTP) and curl only when missing, then
// the program, the unit and the config, and waits (at most 10 s) until /health answers.
const INSTALL_SCRIPT = `set -e
export DEBIAN_FRONTEND=noninteractive
if ! python3 -c 'import json, tomllib, http.server' >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  apt-get update -q -o DPkg::Lock::Timeout=120 >/dev/null
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 python3-minimal libpython3-stdlib curl >/dev/null
fi
mkdir -p "$(dirname "$8")"
printf '%s' "$1" > "$8"
printf '%s' "$2" > "/etc/systemd/system/$5.service"
mkdir -p "$(dirname "$4")"
if [ "$7" = 1 ] || [ ! -e "$4" ]; then printf '%s' "$3" > "$4"; fi
systemctl daemon-reload
systemctl enable "$5" >/dev/null 2>&1
systemctl restart "$5"
tries=0
until curl -fsS -o /dev/null "http://127.0.0.1:$6/health" 2>/dev/null; do
  tries=$((tries + 1))
  if [ "$tries" -ge 50 ]; then journalctl -u "$5" -n 20 --no-pager >&2; exit 1; fi
  sleep 0.2
done`;

/**
 * Installs and starts the stand-in node as a systemd service in the container behind `exec`, with a config
 * file for its flavor, and waits until it answers on 127.0.0.1. Idempotent: a second call keeps the config.
 */
export async function installStandInNode(exec: ContainerExec, options: StandInNodeOptions = {}): Promise<void> {
  const flavor = options.flavor ?? 'hornet-2';
  const configPath = options.configPath ?? STAND_IN_LAYOUT[flavor].configPath;
  const service = options.service ?? STAND_IN_LAYOUT[flavor].service;
  const port = options.port ?? 14265;
  const program = source('stand-in-node.py');
  const result = await exec([
    'sh',
    '-c',
    INSTALL_SCRIPT,
    'sh',
    program,
    renderUnit(flavor, configPath, port),
    options.config ?? sampleConfig(flavor),
    configPath,
    service,
    String(port),
    options.replaceConfig ? '1' : '0',
    STAND_IN_PROGRAM,
  ]);
  if (result.exitCode !== 0) {
    throw new Error(`installing the stand-in ${flavor} node (${service}) failed with exit code ${result.exitCode}: ${(result.stderr || result.stdout).trim()}`);
  }
}
