/**
 * What the balancer's ACME client has, read from its files without contacting the CA: certbot's renewal file for the
 * certificate (directory, renewal window), the certificate's names and end (and whether it is due, by the same rule
 * certbot uses), the account for the directory, and whether HAProxy serves that certificate. Keys are never read.
 */
import { sh } from '../../src/transport/shell.ts';
import type { Fact, FactOutput } from '../../src/engine/types.ts';
import { splitOnce } from '../../src/text/split-once.ts';
import { HAPROXY_FILES } from '../haproxy/render.ts';
import { ACME_FILES } from './render.ts';

/** The ACME client's state on the balancer. */
export interface AcmeState {
  /** certbot is installed. */
  certbot: boolean;
  /** From certbot's renewal file, when it has a certificate. */
  renewal?: { server?: string; renewBefore?: string };
  /** The certificate certbot holds. */
  certificate?: {
    /** subjectAltName DNS names, sorted. */
    names: string[];
    /** openssl's notAfter, e.g. `Dec  5 02:55:02 2031 GMT`. */
    notAfter?: string;
    /** It ends within the renewal window asked about (or cannot be read): certbot would renew it. */
    due: boolean;
    /** SHA-256 fingerprint of the certificate, as openssl prints it. */
    fingerprint?: string;
  };
  /** The fingerprint of the certificate HAProxy serves (the first in its PEM). */
  served?: string;
  /** certbot has an account at the directory asked about. */
  account: boolean;
  /** `DIRECTORY EMAIL`, as provision-acme last registered or updated the account. */
  accountRecord?: string;
}

/** The fingerprint line openssl prints (`sha256 Fingerprint=AB:…`, with the case varying by version). */
const FINGERPRINT = /^sha256 fingerprint=(.+)$/i;

/** Parses the ACME fact's output (pure). */
export function parseAcmeState(output: FactOutput): AcmeState {
  const state: AcmeState = { certbot: false, account: false };
  let section = '';
  const lines = output.stdout.split('\n').map((line) => line.trim());
  lines.forEach((line, index) => {
    if (line.startsWith('[') && line.endsWith(']')) {
      section = line.slice(1, -1);
      if (section === 'certificate') state.certificate = { names: [], due: true };
      return;
    }
    const fingerprint = FINGERPRINT.exec(line)?.[1];
    if (section === 'certificate' && state.certificate) {
      if (fingerprint) state.certificate.fingerprint = fingerprint;
      else if (line.startsWith('notAfter=')) state.certificate.notAfter = line.slice('notAfter='.length);
      else if (line === 'X509v3 Subject Alternative Name:') {
        state.certificate.names = (lines[index + 1] ?? '')
          .split(',')
          .map((name) => name.trim())
          .filter((name) => name.startsWith('DNS:'))
          .map((name) => name.slice('DNS:'.length))
          .sort();
      } else if (line === 'Certificate will not expire') state.certificate.due = false;
      return;
    }
    if (section === 'served') {
      if (fingerprint) state.served = fingerprint;
      return;
    }
    const [key, value] = splitOnce(line, ' ');
    if (key === 'certbot') state.certbot = value === 'yes';
    else if (key === 'server') state.renewal = { ...state.renewal, server: value };
    else if (key === 'renew_before') state.renewal = { ...state.renewal, renewBefore: value };
    else if (key === 'account') state.account = value === 'yes';
    else if (key === 'account_record') state.accountRecord = value;
  });
  return state;
}

/** The fact for the directory `server` and a renewal window of `renewBefore` seconds (both decide what it reads). */
export function acmeState(server: string, renewBefore: number): Fact<AcmeState> {
  const accounts = `${ACME_FILES.accounts}/${server.replace(/^https:\/\//, '')}`;
  return {
    key: `acme:state:${server}:${renewBefore}`,
    description: `the ACME account and certificate (${server})`,
    command: sh`if command -v certbot >/dev/null 2>&1; then echo 'certbot yes'; else echo 'certbot no'; fi
conf=${ACME_FILES.renewalConf}
if [ -f "$conf" ]; then sed -n -e 's/^server = /server /p' -e 's/^renew_before_expiry = /renew_before /p' "$conf"; fi
if ls ${accounts}/*/regr.json >/dev/null 2>&1; then echo 'account yes'; fi
if [ -f ${ACME_FILES.account} ]; then printf 'account_record %s\\n' "$(head -n 1 ${ACME_FILES.account})"; fi
command -v openssl >/dev/null 2>&1 || exit 0
cert=${`${ACME_FILES.live}/cert.pem`}
if [ -f "$cert" ]; then
  echo '[certificate]'
  openssl x509 -in "$cert" -noout -enddate -fingerprint -sha256 -ext subjectAltName -checkend ${renewBefore} 2>/dev/null
fi
if [ -f ${HAPROXY_FILES.certificate} ]; then
  echo '[served]'
  openssl x509 -in ${HAPROXY_FILES.certificate} -noout -fingerprint -sha256 2>/dev/null
fi
exit 0`,
    parse: parseAcmeState,
  };
}
