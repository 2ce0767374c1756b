/**
 * Facts of the load balancer: the TLS certificate HAProxy serves (read with openssl on the host; only its digest and
 * public fields leave the host, never the key), and the values an existing haproxy.cfg already holds (password hashes
 * to keep, server weights to keep when a node's CPUs are not known in this run).
 */
import { sh } from '../../src/transport/shell.ts';
import type { Fact, FactOutput } from '../../src/engine/types.ts';
import { splitOnce } from '../../src/text/split-once.ts';

/** The certificate file as the host has it. */
export type CertificateState =
  | { type: 'absent' }
  | {
      type: 'file';
      mode: string;
      owner: string;
      group: string;
      /** SHA-256 of the whole file (certificate and key), to compare with the wanted content without reading it. */
      sha256: string;
      /** False when openssl is not installed yet: the fields below are then unknown. */
      inspected: boolean;
      /** RFC 2253 distinguished names, e.g. `O=provision self-signed,CN=node.example`. */
      subject?: string;
      issuer?: string;
      /** subjectAltName entries, e.g. `DNS:node.example`, `IP Address:10.0.0.1`. */
      names?: string[];
      /** openssl's notAfter, e.g. `Nov 23 20:00:00 2027 GMT`. */
      notAfter?: string;
      /** True when it ends within the renewal window (or cannot be parsed as a certificate). */
      renewDue?: boolean;
    };

/** Renewal window of the self-signed certificate: 30 days. */
export const RENEW_BEFORE_SECONDS = 30 * 86_400;

/** The organisation written into certificates provision makes, so it can tell them from the operator's. */
export const SELF_SIGNED_ORGANISATION = 'provision self-signed';

/** openssl's header above the subjectAltName entries, which it prints on the next line. */
const SAN_HEADER = 'X509v3 Subject Alternative Name:';

/** Parses the certificate command's output (pure). */
export function parseCertificateState(output: FactOutput): CertificateState {
  const lines = output.stdout.split('\n').map((line) => line.trim());
  if (lines[0] === 'absent') return { type: 'absent' };
  const state: Extract<CertificateState, { type: 'file' }> = { type: 'file', mode: '', owner: '', group: '', sha256: '', inspected: false };
  lines.forEach((line, index) => {
    const [key, value] = splitOnce(line, ' ');
    if (key === 'meta') {
      const [mode = '', owner = '', group = ''] = value.split(' ');
      Object.assign(state, { mode: mode.padStart(4, '0'), owner, group });
    } else if (key === 'sha256') state.sha256 = value;
    else if (key === 'openssl') state.inspected = value === 'yes';
    else if (line.startsWith('subject=')) state.subject = line.slice('subject='.length).trim();
    else if (line.startsWith('issuer=')) state.issuer = line.slice('issuer='.length).trim();
    else if (line.startsWith('notAfter=')) state.notAfter = line.slice('notAfter='.length).trim();
    else if (line === SAN_HEADER) state.names = (lines[index + 1] ?? '').split(',').map((name) => name.trim()).filter(Boolean);
    else if (line === 'Certificate will not expire') state.renewDue = false;
    else if (line === 'Certificate will expire') state.renewDue = true;
  });
  // A file openssl cannot read as a certificate says neither: it is replaced like one that is due.
  if (state.inspected && state.renewDue === undefined) state.renewDue = true;
  if (state.mode === '' || state.sha256 === '') throw new Error(`cannot read the certificate's metadata (got ${JSON.stringify(output.stdout.slice(0, 120))})`);
  return state;
}

/**
 * The certificate at `path`. Its key is under `file:`, so a package install (which invalidates `file:*`) has it
 * re-read: openssl may have just arrived.
 */
export function certificateState(path: string): Fact<CertificateState> {
  return {
    key: `file:certificate:${path}`,
    description: path,
    // One openssl for every field: -checkend adds its verdict ("Certificate will [not] expire") to the same output.
    command: sh`p=${path}
if [ ! -e "$p" ]; then echo absent; exit 0; fi
stat -c 'meta %a %U %G' "$p"
sum=$(sha256sum <"$p") && echo "sha256 \${sum%% *}"
if ! command -v openssl >/dev/null 2>&1; then echo 'openssl no'; exit 0; fi
echo 'openssl yes'
openssl x509 -in "$p" -noout -subject -issuer -enddate -ext subjectAltName -checkend ${RENEW_BEFORE_SECONDS} -nameopt RFC2253 2>/dev/null`,
    parse: parseCertificateState,
  };
}

/** What an existing haproxy.cfg holds that a re-render should keep. */
export interface ConfiguredValues {
  /** userlist user → its password hash. */
  hashes: Map<string, string>;
  /** backend server name → its weight. */
  weights: Map<string, number>;
}

/** Reads the `user NAME password HASH` and `server NAME ADDR weight N` lines of a config (pure). */
export function configuredValues(text: string | undefined): ConfiguredValues {
  const hashes = new Map<string, string>();
  const weights = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const user = /^\s*user\s+(\S+)\s+password\s+(\S+)/.exec(line);
    if (user) hashes.set(user[1]!, user[2]!);
    const server = /^\s*server\s+(\S+)\s+\S+.*\bweight\s+(\d+)/.exec(line);
    if (server) weights.set(server[1]!, Number(server[2]));
  }
  return { hashes, weights };
}

/** The certificate HAProxy serves, as the facts report shows it. */
export interface ServedCertificate {
  /** Who issued it, as people name a CA: `Let's Encrypt (R11)`, `self-signed`. */
  issuer: string;
  names: string[];
  /** openssl's notAfter. */
  notAfter: string;
  /** Whole days until it ends (negative once it has ended); null when the date cannot be read. */
  daysLeft: number | null;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** openssl's date (`Dec  5 02:55:02 2031 GMT`) as a time, or null (pure). */
export function parseOpensslDate(text: string): number | null {
  const match = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4}) GMT$/.exec(text.trim());
  const month = match ? MONTHS.indexOf(match[1]!) : -1;
  if (!match || month < 0) return null;
  return Date.UTC(Number(match[6]), month, Number(match[2]), Number(match[3]), Number(match[4]), Number(match[5]));
}

/** The attributes of an RFC 2253 name (`CN=R11,O=Let's Encrypt,C=US`), commas escaped with `\` kept inside values. */
function nameAttributes(name: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const part of name.split(/(?<!\\),/)) {
    const [key, ...value] = part.split('=');
    if (key && value.length) attributes.set(key.trim().toUpperCase(), value.join('=').replace(/\\(.)/g, '$1'));
  }
  return attributes;
}

/** An issuer's name for people: its organisation with its CA's common name, else the common name (pure). */
export function issuerLabel(issuer: string | undefined, subject: string | undefined): string {
  if (issuer === undefined) return 'unknown issuer';
  if (issuer === subject) return issuer.includes(`O=${SELF_SIGNED_ORGANISATION}`) ? 'self-signed (provision)' : 'self-signed';
  const attributes = nameAttributes(issuer);
  const organisation = attributes.get('O');
  const common = attributes.get('CN');
  if (organisation && common) return `${organisation} (${common})`;
  return organisation ?? common ?? issuer;
}

/** What the facts report says of the certificate HAProxy serves, or an error (pure). */
export function servedCertificate(state: CertificateState, now: number): ServedCertificate | { error: string } {
  if (state.type === 'absent') return { error: 'no certificate' };
  if (!state.inspected) return { error: 'openssl is not installed' };
  if (state.subject === undefined || state.notAfter === undefined) return { error: 'not a readable certificate' };
  const end = parseOpensslDate(state.notAfter);
  return {
    issuer: issuerLabel(state.issuer, state.subject),
    names: state.names ?? [],
    notAfter: state.notAfter,
    daysLeft: end === null ? null : Math.floor((end - now) / 86_400_000),
  };
}
