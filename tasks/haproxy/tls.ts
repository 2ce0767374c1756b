/**
 * The certificate HAProxy serves, as one PEM (certificate chain, then key) with mode 0600: either the operator's
 * (read on the controller, uploaded, never shown in a diff) or a self-signed one made ON the balancer with openssl,
 * so its key never leaves the host. The self-signed one is kept across runs and made again only when the domain
 * changes, when it is due for renewal, or when it is not one provision made.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { sh } from '../../src/transport/shell.ts';
import { predict, type Change, type FileDiff, type Plan, type Task } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { directory } from '../core/files.ts';
import { RENEW_BEFORE_SECONDS, SELF_SIGNED_ORGANISATION, certificateState, type CertificateState } from './facts.ts';
import { HAPROXY_FILES } from './render.ts';
import type { HaproxyVars, ProvidedCertificate } from './vars.ts';

/** The name changes to HAProxy's files notify (the handler lives in tasks/haproxy/tasks.ts). */
export const RELOAD_HAPROXY = 'reload haproxy';

const WANTED_META = { mode: '0600', owner: 'root', group: 'root' };
type CertificateFile = Extract<CertificateState, { type: 'file' }>;

function metaLine(state: { mode: string; owner: string; group: string }): string {
  return `mode ${state.mode}, owner ${state.owner}:${state.group}`;
}

function metaMatches(state: CertificateFile): boolean {
  return state.mode === WANTED_META.mode && state.owner === WANTED_META.owner && state.group === WANTED_META.group;
}

/** A diff entry that says the secret file changes and shows only digests, never content. */
function secretDiff(state: CertificateState, afterDigest: string): FileDiff {
  return {
    path: HAPROXY_FILES.certificate,
    before: state.type === 'file' ? `sha256:${state.sha256}` : null,
    after: `sha256:${afterDigest}`,
    secret: true,
    metaAfter: metaLine(WANTED_META),
    ...(state.type === 'file' ? { metaBefore: metaLine(state) } : {}),
  };
}

function chmodChange(state: CertificateFile): Change {
  return {
    summary: `set ${metaLine(WANTED_META)} on ${HAPROXY_FILES.certificate}`,
    steps: [{ kind: 'run', command: sh`chown root:root ${HAPROXY_FILES.certificate} && chmod 0600 ${HAPROXY_FILES.certificate}` }],
    diff: { path: HAPROXY_FILES.certificate, before: `sha256:${state.sha256}`, after: `sha256:${state.sha256}`, secret: true, metaBefore: metaLine(state), metaAfter: metaLine(WANTED_META) },
    predicts: [predict(certificateState(HAPROXY_FILES.certificate), { ...state, ...WANTED_META })],
  };
}

/** Plans the upload of the operator's certificate and key (pure; exported for tests). */
export function planProvidedCertificate(provided: ProvidedCertificate, state: CertificateState): Plan {
  const content = provided.certificate + provided.key;
  const digest = createHash('sha256').update(content).digest('hex');
  const described = `${provided.subject}, valid until ${provided.validTo}`;
  if (state.type === 'file' && state.sha256 === digest) {
    if (metaMatches(state)) return { status: 'ok', reason: `${HAPROXY_FILES.certificate} holds the provided certificate (${described})` };
    return { status: 'change', changes: [{ ...chmodChange(state), notify: [RELOAD_HAPROXY] }] };
  }
  const fact = certificateState(HAPROXY_FILES.certificate);
  return {
    status: 'change',
    changes: [
      {
        summary: `${state.type === 'absent' ? 'install' : 'replace'} the provided certificate in ${HAPROXY_FILES.certificate}`,
        details: [`certificate: ${described}`, `sha256 fingerprint: ${provided.fingerprint}`],
        diff: secretDiff(state, digest),
        steps: [{ kind: 'write-file', path: HAPROXY_FILES.certificate, content, ...WANTED_META }],
        notify: [RELOAD_HAPROXY],
        predicts: [predict(fact, { type: 'file', ...WANTED_META, sha256: digest, inspected: true, subject: provided.subject, renewDue: false } satisfies CertificateState)],
      },
    ],
  };
}

/** The subjectAltName entry for a domain (`DNS:name`, or `IP:address` for an address) as openssl writes and prints it. */
function altName(domain: string): { request: string; printed: string } {
  return isIP(domain) ? { request: `IP:${domain}`, printed: `IP Address:${domain}` } : { request: `DNS:${domain}`, printed: `DNS:${domain}` };
}

/** True for a self-signed certificate that provision made (its organisation says so). */
function madeByProvision(state: CertificateFile): boolean {
  return state.subject !== undefined && state.subject === state.issuer && state.subject.includes(`O=${SELF_SIGNED_ORGANISATION}`);
}

/** Why the current certificate must be made again, or undefined when it is fine (pure; exported for tests). */
export function selfSignedProblem(state: CertificateFile, domain: string): string | undefined {
  const ours = madeByProvision(state);
  if (!ours) return state.subject ? `the current certificate (${state.subject}) is not a self-signed one made by provision` : 'the current file is not a readable certificate';
  if (!(state.names ?? []).includes(altName(domain).printed)) return `the current certificate is for ${(state.names ?? []).join(', ') || 'no name'}, not ${domain}`;
  if (state.renewDue) return `the current certificate ends within ${RENEW_BEFORE_SECONDS / 86_400} days (${state.notAfter ?? 'unknown end'})`;
  return undefined;
}

/**
 * Makes the certificate on the host: a P-256 key and a self-signed certificate in a private temp directory, joined
 * into one PEM and renamed over the live one. The key is never printed and never leaves the host.
 */
export function selfSignedCommand(domain: string, days: number) {
  const name = altName(domain).request;
  return sh`set -e
umask 077
dir=$(mktemp -d ${`${HAPROXY_FILES.certificateDir}/.provision-XXXXXX`})
trap 'rm -rf "$dir"' EXIT
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days ${days} -subj ${`/CN=${domain}/O=${SELF_SIGNED_ORGANISATION}`} -addext ${`subjectAltName=${name}`} -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>"$dir/log"; then cat "$dir/log" >&2; exit 1; fi
cat "$dir/cert.pem" "$dir/key.pem" >"$dir/site.pem"
chmod 0600 "$dir/site.pem"
mv -f "$dir/site.pem" ${HAPROXY_FILES.certificate}`;
}

/**
 * Plans the self-signed certificate for `domain` (pure; exported for tests). `pending`: openssl arrives earlier in this
 * run. `temporary`: a CA's certificate replaces it (haproxy.tls.acme), so a certificate that a CA issued is never
 * replaced by it, whatever its names or expiry: the ACME client keeps that one current.
 */
export function planSelfSignedCertificate(domain: string, days: number, state: CertificateState, pending: boolean, temporary = false): Plan {
  const kind = temporary ? 'a temporary self-signed certificate' : 'a self-signed certificate';
  let why: string;
  if (state.type === 'absent') why = temporary ? 'there is no certificate yet: HAProxy serves this one until the CA has issued one' : 'there is no certificate yet';
  else if (!state.inspected) {
    if (!pending) throw new Error(`cannot inspect ${HAPROXY_FILES.certificate}: openssl is not installed`);
    why = 'the current certificate is checked once openssl is installed; made again only if it does not fit';
  } else if (temporary && state.subject !== undefined && !madeByProvision(state)) {
    if (!metaMatches(state)) return { status: 'change', changes: [{ ...chmodChange(state), notify: [RELOAD_HAPROXY] }] };
    return { status: 'ok', reason: `${HAPROXY_FILES.certificate} holds a certificate issued by ${state.issuer ?? 'a CA'} (valid until ${state.notAfter}); the ACME client keeps it current` };
  } else {
    const problem = selfSignedProblem(state, domain);
    if (!problem) {
      if (!metaMatches(state)) return { status: 'change', changes: [{ ...chmodChange(state), notify: [RELOAD_HAPROXY] }] };
      return { status: 'ok', reason: `${HAPROXY_FILES.certificate} holds ${kind} for ${domain}, valid until ${state.notAfter}` };
    }
    why = problem;
  }
  const fact = certificateState(HAPROXY_FILES.certificate);
  const subject = `O=${SELF_SIGNED_ORGANISATION},CN=${domain}`;
  return {
    status: 'change',
    changes: [
      {
        summary: `make ${kind} for ${domain} on the host (${days} days)`,
        details: [why, 'the private key is generated on the balancer and never leaves it'],
        diff: secretDiff(state, '(made on the host)'),
        steps: [{ kind: 'run', command: selfSignedCommand(domain, days), description: `make a self-signed certificate for ${domain} with openssl` }],
        notify: [RELOAD_HAPROXY],
        predicts: [
          predict(fact, { type: 'file', ...WANTED_META, sha256: '(made on the host)', inspected: true, subject, issuer: subject, names: [altName(domain).printed], notAfter: `in ${days} days`, renewDue: false } satisfies CertificateState),
        ],
      },
    ],
  };
}

/** The domain the balancer answers for: `haproxy.domain`, else the host's inventory name. */
export function balancerDomain(host: Host<{ haproxy: HaproxyVars }>): string {
  return host.vars.haproxy.domain ?? host.name;
}

/**
 * The certificate task: the provided PEM when `haproxy.tls.cert_file` is set, else the self-signed one (a temporary one
 * under `haproxy.tls.acme`, until the CA has issued a certificate: the acme role's task installs that one).
 */
export function haproxyCertificate(host: Host<{ haproxy: HaproxyVars }>): Task {
  const fact = certificateState(HAPROXY_FILES.certificate);
  const tls = host.vars.haproxy.tls;
  const domain = balancerDomain(host);
  return {
    kind: 'haproxy.certificate',
    target: HAPROXY_FILES.certificate,
    facts: () => [fact],
    plan: ({ facts }) => {
      if (tls.provided) return planProvidedCertificate(tls.provided, facts.get(fact));
      if (!/^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(domain) && isIP(domain) === 0) {
        throw new Error(`the host name ${JSON.stringify(domain)} is not a DNS name for the self-signed certificate: set haproxy.domain`);
      }
      return planSelfSignedCertificate(domain, tls.self_signed_days, facts.get(fact), facts.isStale(fact), tls.acme !== undefined);
    },
  };
}

/** The certificate directory (0700, root) and the certificate in it. */
export function haproxyTlsTasks(host: Host<{ haproxy: HaproxyVars }>): Task[] {
  return [directory(HAPROXY_FILES.certificateDir, { mode: '0700', owner: 'root', group: 'root' }), haproxyCertificate(host)];
}
