/** Runs the real CLI as a child process, as an operator would. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/provision.js', import.meta.url));

/** What the CLI printed and how it exited. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `provision ARGS`; stdin is closed (no TTY), so a run without --yes must refuse. */
export function runCli(args: string[], options: { env?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      // Connections are not kept between runs (each test counts its own logins) unless a test asks for it.
      env: { ...process.env, NO_COLOR: '1', PROVISION_SSH_PERSIST: process.env.PROVISION_SSH_PERSIST ?? '0', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // An abort kills the CLI outright, as a lost controller would end: no cleanup of its own.
      ...(options.signal ? { signal: options.signal, killSignal: 'SIGKILL' as const } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    child.on('error', () => undefined);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`provision ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 300_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 255, stdout, stderr });
    });
  });
}

/** Parses the --json document of a run. */
export function parseRun(result: CliResult): {
  mode: string;
  hosts: Record<string, { status: string; tasks: { name: string; status: string }[]; handlers: { name: string; status: string }[]; stats: { connections: number; commands: number; commandMs: number } }>;
  summary: { changed: number; failed: number; unreachable: number; ok: number };
} {
  try {
    return JSON.parse(result.stdout);
  } catch {
    throw new Error(`not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}
