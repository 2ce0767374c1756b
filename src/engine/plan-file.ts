/**
 * A saved plan: what `provision plan -o FILE` writes and `provision apply FILE` applies. It holds what the plan was
 * made from (digests of the inventory's files and variables and of the playbook's code, the selection), and per host
 * the digests of the facts the plan rests on and every task's plan as records (see plan-record.ts). It holds no
 * secret: a file with one in it only as "changes", and every digest keyed (see plan-key.ts). A digest of the whole
 * document tells an altered file from the one written.
 */
import { z } from 'zod';
import { canonicalJson, sha256, type Digester } from './digest.ts';
import { digestPreconditions, type PreconditionDigest } from './preconditions.ts';
import { taskReport, type TaskRecord } from './plan-record.ts';
import { PROVISIONAL_NOTE } from './host-plan.ts';
import { summarize, type HostResult, type RunResult } from './results.ts';
import type { PlannedRun } from './run.ts';
import type { SavedHostPlan } from './stale-hosts.ts';

/** What the file says it is. */
export const PLAN_FORMAT = 'provision-plan';
/** The version of the format this build reads and writes. */
export const PLAN_FORMAT_VERSION = 1;

/** A file's digest, by its path as shown. */
export interface FileDigest {
  path: string;
  digest: string;
}

/** What the plan was made from: the digests the apply compares before it touches any host. */
export interface PlanInputs {
  inventory: {
    /** The inventory sources as given (the apply reads the same). */
    sources: string[];
    /** Every inventory file, group_vars/ and host_vars/ file. */
    files: FileDigest[];
    /** Each `-e` argument (with an @FILE's content), in order. */
    extraVars: string[];
    /** Each host's resolved variables and connection settings, by host name. */
    hosts: Record<string, string>;
  };
  playbook: {
    /** The playbook module as given (`--playbook`); absent: the default playbook. */
    path?: string;
    /** The playbook module and every module it imports, relative to the playbook's directory. */
    files: FileDigest[];
  };
  /** Which hosts and roles the plan covers. */
  selection: { limit?: string; tags: string[]; skipTags: string[] };
}

/** One host in a saved plan. */
export interface SavedHost extends SavedHostPlan {
  name: string;
  status: 'ok' | 'changed' | 'failed' | 'unreachable';
  error?: string;
  preconditions: PreconditionDigest[];
  tasks: TaskRecord[];
  /** The handlers the plan's changes notify. */
  handlers: string[];
}

/** The saved plan, as written. */
export interface SavedPlan extends PlanInputs {
  format: typeof PLAN_FORMAT;
  version: typeof PLAN_FORMAT_VERSION;
  /** The provision version that made it. */
  provision: string;
  /** When it was made (ISO 8601, UTC). */
  createdAt: string;
  /** The plan's seed: what its tasks invented (a salt) is made again from it, and its key is derived with it. */
  seed: string;
  hosts: SavedHost[];
  /** SHA-256 of the document without this member: an altered file does not match. */
  digest: string;
}

const digest = z.string().regex(/^[0-9a-f]{64}$/);
const fileDigest = z.object({ path: z.string(), digest }).strict();
const diffRecord = z.union([
  z.object({ path: z.string(), metaBefore: z.string().optional(), metaAfter: z.string().optional(), before: z.string().nullable(), after: z.string().nullable() }).strict(),
  z.object({ path: z.string(), metaBefore: z.string().optional(), metaAfter: z.string().optional(), secret: z.literal(true), existed: z.boolean(), changes: z.boolean() }).strict(),
]);
const changeRecord = z
  .object({
    summary: z.string(),
    details: z.array(z.string()).optional(),
    notice: z.string().optional(),
    note: z.string().optional(),
    packages: z.object({ install: z.array(z.string()).optional(), remove: z.array(z.string()).optional() }).strict().optional(),
    services: z.array(z.object({ name: z.string(), action: z.string() }).strict()).optional(),
    diff: diffRecord.optional(),
    digest,
  })
  .strict();
const taskRecord = z
  .object({
    play: z.string(),
    name: z.string(),
    status: z.enum(['ok', 'would-change', 'failed']),
    reason: z.string().optional(),
    error: z.string().optional(),
    provisional: z.literal(true).optional(),
    changes: z.array(changeRecord),
  })
  .strict();
const savedHost = z
  .object({
    name: z.string(),
    status: z.enum(['ok', 'changed', 'failed', 'unreachable']),
    error: z.string().optional(),
    preconditions: z.array(z.object({ host: z.string(), key: z.string(), about: z.string(), digest }).strict()),
    tasks: z.array(taskRecord),
    handlers: z.array(z.string()),
  })
  .strict();

/** The schema a plan file must meet (the format and version are checked first, for a clearer message). */
const savedPlanSchema = z
  .object({
    format: z.literal(PLAN_FORMAT),
    version: z.literal(PLAN_FORMAT_VERSION),
    provision: z.string(),
    createdAt: z.iso.datetime(),
    seed: z.string().regex(/^[0-9a-f]{64}$/),
    inventory: z.object({ sources: z.array(z.string()).min(1), files: z.array(fileDigest), extraVars: z.array(digest), hosts: z.record(z.string(), digest) }).strict(),
    playbook: z.object({ path: z.string().optional(), files: z.array(fileDigest).min(1) }).strict(),
    selection: z.object({ limit: z.string().optional(), tags: z.array(z.string()), skipTags: z.array(z.string()) }).strict(),
    hosts: z.array(savedHost),
    digest,
  })
  .strict();

/** The digest of a plan document: its canonical JSON without the `digest` member. */
export function documentDigest(document: Omit<SavedPlan, 'digest'> & { digest?: string }): string {
  const { digest: _digest, ...rest } = document;
  return sha256.digest(canonicalJson(rest));
}

/** What each host of `run` would do, with the facts its plan rests on, as a saved plan holds them. */
export function savedHosts<Vars>(run: PlannedRun<Vars>, digester: Digester): SavedHost[] {
  const byName = new Map(run.sessions.map((session) => [session.host.name, session]));
  return run.sessions.map((session): SavedHost => {
    const report = session.planReport();
    const status = report.status === 'failed' || report.status === 'unreachable' || report.status === 'changed' ? report.status : 'ok';
    const reachable = status !== 'unreachable';
    return {
      name: session.host.name,
      status,
      ...(report.error ? { error: report.error } : {}),
      preconditions: reachable ? digestPreconditions(session.preconditions, (host, fact) => byName.get(host)!.gathered.get(fact), digester) : [],
      tasks: reachable ? session.records(digester) : [],
      handlers: report.handlers.map((handler) => handler.name),
    };
  });
}

/** A saved plan of `run`: its inputs, its hosts, the time and the seed, and the digest of it all. */
export function savePlan<Vars>(run: PlannedRun<Vars>, inputs: PlanInputs, meta: { provision: string; createdAt: Date; seed: string }, digester: Digester): SavedPlan {
  const document: Omit<SavedPlan, 'digest'> = {
    format: PLAN_FORMAT,
    version: PLAN_FORMAT_VERSION,
    provision: meta.provision,
    createdAt: meta.createdAt.toISOString(),
    seed: meta.seed,
    // The playbook first: the command's starter reads the file's first bytes to see whether it names one.
    playbook: inputs.playbook,
    inventory: inputs.inventory,
    selection: inputs.selection,
    hosts: savedHosts(run, digester),
  };
  return { ...document, digest: documentDigest(document) };
}

/** Why a text is not a plan this build can apply, or the plan. Checks its shape and that it was not altered. */
export function parsePlan(text: string): SavedPlan | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: 'it is not JSON' };
  }
  const head = value as { format?: unknown; version?: unknown };
  if (head?.format !== PLAN_FORMAT) return { problem: `it is not a provision plan (no "format": "${PLAN_FORMAT}")` };
  if (head.version !== PLAN_FORMAT_VERSION) return { problem: `it is a plan of format version ${String(head.version)}; this provision reads version ${PLAN_FORMAT_VERSION}` };
  const parsed = savedPlanSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { problem: `it was altered or damaged: ${issue.path.join('.') || 'the document'}: ${issue.message}` };
  }
  const plan = parsed.data as SavedPlan;
  if (documentDigest(plan) !== plan.digest) return { problem: 'it was altered after it was written (its digest does not match its content)' };
  return plan;
}

/** True when the text says it is a plan (whether or not it is a sound one): how `apply FILE` tells a plan from an inventory. */
export function looksLikePlan(text: string): boolean {
  if (!text.trimStart().startsWith('{')) return false;
  try {
    return (JSON.parse(text) as { format?: unknown })?.format === PLAN_FORMAT;
  } catch {
    return false;
  }
}

/** A saved plan as the dry run reports it. */
export function planResult(plan: SavedPlan): RunResult {
  const hosts = plan.hosts.map(
    (host): HostResult => ({
      name: host.name,
      status: host.status,
      ...(host.error ? { error: host.error } : {}),
      tasks: host.tasks.map((task) => taskReport(task, PROVISIONAL_NOTE)),
      handlers: host.handlers.map((name) => ({ name, status: 'would-change' })),
      stats: { connections: 0, commands: 0, commandMs: 0 },
    }),
  );
  return { mode: 'dry-run', hosts, summary: summarize(hosts) };
}
