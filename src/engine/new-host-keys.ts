/**
 * First contact under `ssh_host_key_checking: ask`: a connection to a host whose key is new stops after the key
 * exchange (UnknownHostKeyError), before any password, command or file is sent. The run then asks the operator once
 * about every such key, records the accepted ones in known_hosts, and connects to those hosts again; the second
 * connection must offer the same key, as the recorded entry now demands.
 */
import { UnreachableError } from '../errors.ts';
import { UnknownHostKeyError } from '../transport/host-key-policy.ts';
import { hostPattern, recordHostKey } from '../transport/known-hosts.ts';

/** A host key seen for the first time, as the operator is shown it. */
export interface NewHostKey {
  /** The inventory's name for the host (for a jump host's key: `jump host of NAME, …`). */
  host: string;
  /** `address` or `[address]:port`, as known_hosts names it. */
  where: string;
  keyType: string;
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** Where the key is recorded once accepted. */
  knownHostsFile: string;
}

/** The operator's answer about a set of new host keys; `why` says why they were not accepted. */
export type HostKeyAnswer = { accepted: true } | { accepted: false; why: string };

/** Asks the operator about new host keys (the CLI's, on a terminal). */
export type HostKeyConsent = (keys: readonly NewHostKey[]) => Promise<HostKeyAnswer>;

/**
 * Settles the new keys found by a run's first connections: per host, undefined when its key was accepted and recorded
 * (connect again), or the error to report. Without `consent`, nothing is accepted.
 */
export async function settleNewHostKeys(found: ReadonlyArray<{ host: string; error: UnknownHostKeyError }>, consent?: HostKeyConsent): Promise<Map<string, UnreachableError | undefined>> {
  const outcome = new Map<string, UnreachableError | undefined>();
  if (found.length === 0) return outcome;
  // One server offering two different keys to two connections of one run: one of them is not the server.
  const keysAt = new Map<string, Set<string>>();
  const targetOf = ({ error }: { error: UnknownHostKeyError }) => `${error.knownHostsFile}\n${hostPattern(error.address, error.port)}`;
  for (const entry of found) keysAt.set(targetOf(entry), (keysAt.get(targetOf(entry)) ?? new Set()).add(entry.error.publicKey));
  const asked = found.filter((entry) => {
    if (keysAt.get(targetOf(entry))!.size === 1) return true;
    outcome.set(entry.host, entry.error.refusedBecause(`${hostPattern(entry.error.address, entry.error.port)} offered different keys to two connections of this run, so one of them is not that host`));
    return false;
  });
  if (asked.length === 0) return outcome;

  const keys: NewHostKey[] = [];
  // A jump host shared by several hosts is one line, naming the hosts it leads to.
  const behindJumpHost = new Map<string, { key: NewHostKey; hosts: string[] }>();
  for (const { host, error } of asked) {
    const key: NewHostKey = { host, where: hostPattern(error.address, error.port), keyType: error.keyType, fingerprint: error.fingerprint, knownHostsFile: error.knownHostsFile };
    if (!error.jumpHost) {
      keys.push(key);
      continue;
    }
    const id = `${targetOf({ error })}\n${error.publicKey}`;
    const line = behindJumpHost.get(id) ?? { key, hosts: [] };
    if (line.hosts.length === 0) {
      behindJumpHost.set(id, line);
      keys.push(key);
    }
    line.hosts.push(host);
    line.key.host = `jump host of ${line.hosts.join(', ')}`;
  }
  const answer: HostKeyAnswer = consent ? await consent(keys) : { accepted: false, why: 'nobody was asked' };
  if (!answer.accepted) {
    for (const { host, error } of asked) outcome.set(host, error.refusedBecause(answer.why));
    return outcome;
  }
  // Several inventory names for one server share its entry: recorded once.
  const recorded = new Map<string, Promise<void>>();
  for (const { host, error } of asked) {
    const target = `${targetOf({ error })}\n${error.publicKey}`;
    if (!recorded.has(target)) recorded.set(target, recordHostKey(error.knownHostsFile, error.address, error.port, Buffer.from(error.publicKey.split(' ')[1] ?? '', 'base64')));
    try {
      await recorded.get(target);
      outcome.set(host, undefined);
    } catch (recordError) {
      outcome.set(host, new UnreachableError(`the new host key ${error.keyType} ${error.fingerprint} was accepted, but cannot be recorded in ${error.knownHostsFile}: ${(recordError as Error).message}`));
    }
  }
  return outcome;
}
