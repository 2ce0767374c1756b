/**
 * A trusted certificate for the balancer from an ACME CA: certbot, the scripts and the settings it runs with, the
 * timer that renews it on the host, and the task that gets it now when the host's files say it is needed (no
 * certificate yet, other names, another directory, another account e-mail, or due for renewal). Everything else is
 * read from the host's files: a run with a current certificate makes no request to the CA.
 */
import { sh } from '../../src/transport/shell.ts';
import { predict, type Change, type Fact, type NonEmpty, type Plan, type Task } from '../../src/engine/types.ts';
import type { Host } from '../../src/inventory/types.ts';
import { aptPackages } from '../core/apt.ts';
import { directory, file } from '../core/files.ts';
import { service, unitFile } from '../core/systemd.ts';
import { unitState, type UnitState } from '../core/systemd.facts.ts';
import { balancerDomain } from '../haproxy/tls.ts';
import type { HaproxyVars } from '../haproxy/vars.ts';
import { acmeState, type AcmeState } from './facts.ts';
import {
  ACME_FILES,
  ACME_PACKAGES,
  certbotInterval,
  renderAcmeScript,
  renderAcmeService,
  renderAcmeSettings,
  renderAcmeTimer,
  renderDeployScript,
} from './render.ts';
import { isAcmeName, type AcmeVars } from './vars.ts';

/** What the balancer's certificate must be. */
export interface AcmeWanted {
  /** The names, the domain first. */
  names: string[];
  server: string;
  email: string;
  /** Seconds. */
  renewBefore: number;
}

/** The certificate the inventory asks for on this balancer: its domain first, then the extra names. */
export function acmeWanted(domain: string, acme: AcmeVars): AcmeWanted {
  const names = [domain, ...acme.extra_domains.filter((name) => name.toLowerCase() !== domain.toLowerCase())];
  return { names: [...new Set(names)], server: acme.directory, email: acme.email, renewBefore: acme.renew_before };
}

function days(seconds: number): string {
  return seconds % 86_400 === 0 ? `${seconds / 86_400} days` : `${seconds} s`;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const sorted = (names: readonly string[]) => [...new Set(names.map((name) => name.toLowerCase()))].sort().join(' ');
  return sorted(a) === sorted(b);
}

/** What the ACME task must do, and why (pure; exported for tests). Empty lists: nothing. */
export function acmeWork(wanted: AcmeWanted, state: AcmeState): { certificate?: 'new' | 'renew'; account?: 'register' | 'update'; local: string[]; why: string[] } {
  const why: string[] = [];
  const local: string[] = [];
  let certificate: 'new' | 'renew' | undefined;
  const current = state.certificate;
  if (!state.renewal || !current) {
    certificate = 'new';
    why.push('there is no certificate from the CA yet');
  } else if (state.renewal.server !== wanted.server) {
    certificate = 'new';
    why.push(`the directory changes from ${state.renewal.server ?? 'none'} to ${wanted.server}`);
  } else if (!sameNames(current.names, wanted.names)) {
    certificate = 'new';
    const lower = (names: readonly string[]) => names.map((name) => name.toLowerCase());
    const added = wanted.names.filter((name) => !lower(current.names).includes(name.toLowerCase()));
    const removed = current.names.filter((name) => !lower(wanted.names).includes(name.toLowerCase()));
    why.push(`the names change: ${[...added.map((name) => `+${name}`), ...removed.map((name) => `-${name}`)].join(' ')}`);
  } else if (current.due) {
    certificate = 'renew';
    why.push(`the certificate ends ${current.notAfter ?? 'at an unknown date'}, within renew_before (${days(wanted.renewBefore)})`);
  }
  let account: 'register' | 'update' | undefined;
  if (!state.account) {
    account = 'register';
    why.push(`register the account ${wanted.email} at the directory`);
  } else if (state.accountRecord !== `${wanted.server} ${wanted.email}`) {
    account = 'update';
    why.push(`set the account's e-mail to ${wanted.email}`);
  }
  if (certificate !== 'new' && state.renewal && state.renewal.renewBefore !== certbotInterval(wanted.renewBefore)) {
    local.push(`set certbot's renewal window to ${certbotInterval(wanted.renewBefore)} (was ${state.renewal.renewBefore ?? 'its default'})`);
  }
  if (certificate === undefined && current && state.served !== current.fingerprint) {
    local.push('install the issued certificate for HAProxy, which serves another one');
  }
  return { ...(certificate ? { certificate } : {}), ...(account ? { account } : {}), local, why };
}

/** The command that runs the ACME client now and, when it fails, prints its reason (the CA's own words) alone. */
export function runAcmeClient(): ReturnType<typeof sh> {
  return sh`rm -f ${ACME_FILES.lastError}
if started=$(systemctl start ${ACME_FILES.service} 2>&1); then exit 0; fi
if [ -s ${ACME_FILES.lastError} ]; then cat ${ACME_FILES.lastError} >&2; else printf '%s\\n' "$started" >&2; fi
exit 1`;
}

/** Plans the certificate from the CA (pure; exported for tests). `pending`: certbot arrives earlier in this run. */
export function planAcmeCertificate(wanted: AcmeWanted, state: AcmeState, pending: boolean, fact = acmeState(wanted.server, wanted.renewBefore)): Plan {
  const names = wanted.names.join(', ');
  if (!state.certbot && !pending) throw new Error('certbot is not installed (the packages role installs it: do not skip it)');
  const work = acmeWork(wanted, state);
  if (!work.certificate && !work.account && work.local.length === 0) {
    const current = state.certificate!;
    return {
      status: 'ok',
      reason: `HAProxy serves the certificate for ${names} from ${wanted.server}, valid until ${current.notAfter}; ${ACME_FILES.timer} renews it ${days(wanted.renewBefore)} before its end`,
    };
  }
  const asks = work.certificate !== undefined || work.account !== undefined;
  const summary =
    work.certificate === 'new'
      ? `request a certificate for ${names} from ${wanted.server} (account ${wanted.email})`
      : work.certificate === 'renew'
        ? `renew the certificate for ${names} from ${wanted.server} (account ${wanted.email})`
        : work.account
          ? `${work.account === 'register' ? 'register' : 'update'} the ACME account ${wanted.email} at ${wanted.server}`
          : `${work.local.join('; ')} (no request to the CA)`;
  const details = [
    ...work.why,
    ...(asks ? work.local : []),
    ...(work.certificate
      ? [
          `HTTP-01 through HAProxy's port 80: the CA fetches http://NAME/.well-known/acme-challenge/… for each name, which must point at this balancer`,
          'the account key and the certificate key are made on the balancer and never leave it',
          `should the CA refuse or not answer, HAProxy keeps its current certificate and ${ACME_FILES.timer} tries again`,
        ]
      : []),
  ];
  const fingerprint = '(issued by the CA)';
  const after: AcmeState = {
    certbot: true,
    renewal: { server: wanted.server, renewBefore: certbotInterval(wanted.renewBefore) },
    certificate: work.certificate ? { names: [...wanted.names].sort(), due: false, fingerprint } : { ...state.certificate!, ...(state.certificate?.fingerprint ? {} : { fingerprint }) },
    account: true,
    accountRecord: `${wanted.server} ${wanted.email}`,
  };
  after.served = after.certificate?.fingerprint;
  const change: Change = {
    summary,
    details,
    steps: [{ kind: 'run', command: runAcmeClient(), description: `systemctl start ${ACME_FILES.service} (certbot${asks ? `, ${wanted.server}` : ''})` }],
    services: [{ name: ACME_FILES.service, action: 'start' }],
    predicts: [predict(fact, after)],
  };
  return { status: 'change', changes: [change] as NonEmpty<Change> };
}

/** The task that runs the ACME client when the host's files say it is needed. */
export function acmeCertificate(wanted: AcmeWanted): Task {
  const fact = acmeState(wanted.server, wanted.renewBefore);
  return {
    kind: 'acme.certificate',
    target: wanted.names[0]!,
    facts: () => [fact],
    plan: ({ facts }) => planAcmeCertificate(wanted, facts.get(fact), facts.isStale(fact), fact),
  };
}

/**
 * Without `haproxy.tls.acme`: provision-acme.timer stopped and disabled, if an earlier run set it up, so that a
 * certificate from the CA never replaces the one the inventory now gives. No package ships the unit, so a package
 * install in the same run leaves its state known (a dry run on a fresh host plans nothing for it).
 */
export function acmeTimerOff(): Task {
  const fact: Fact<UnitState> = { ...unitState(ACME_FILES.timer), key: `acme:${ACME_FILES.timer}`, staleAfter: [] };
  return {
    kind: 'systemd.service',
    target: ACME_FILES.timer,
    facts: () => [fact],
    plan: ({ facts }) => {
      const state = facts.get(fact);
      if (state.load === 'not-found') return { status: 'ok', reason: `${ACME_FILES.timer} is not installed (haproxy.tls.acme is off)` };
      const running = state.active === 'active' || state.active === 'activating';
      if (!running && state.unitFile !== 'enabled') return { status: 'ok', reason: `${ACME_FILES.timer} is stopped and disabled (haproxy.tls.acme is off)` };
      return {
        status: 'change',
        changes: [
          {
            summary: `stop and disable ${ACME_FILES.timer}`,
            details: ['haproxy.tls.acme is off: a certificate from the CA must not replace the one the inventory gives'],
            steps: [{ kind: 'run', command: sh`systemctl disable --now -- ${ACME_FILES.timer}` }],
            services: [{ name: ACME_FILES.timer, action: 'stop and disable' }],
            predicts: [predict(fact, { ...state, active: 'inactive', unitFile: 'disabled' })],
          },
        ],
      };
    },
  };
}

/** The balancer's domain, checked to be a name a CA can issue for. */
function acmeDomain(host: Host<{ haproxy: HaproxyVars }>): string {
  const domain = balancerDomain(host);
  if (!isAcmeName(domain)) {
    throw new Error(`${JSON.stringify(domain)} cannot be on a certificate from a CA (a DNS name such as node.example.org is needed): set haproxy.domain`);
  }
  return domain;
}

/**
 * The balancer's ACME tasks, in order: certbot, the settings and scripts, the service and timer (certbot's own
 * timer off: this one renews), then the certificate itself. Without `haproxy.tls.acme`, only the timer is kept off,
 * so that a certificate once got from a CA never replaces the one the inventory now gives.
 */
export function acmeTasks(host: Host<{ haproxy: HaproxyVars }>): Task[] {
  const acme = host.vars.haproxy.tls.acme;
  if (!acme) return [acmeTimerOff()];
  const wanted = acmeWanted(acmeDomain(host), acme);
  const settings = renderAcmeSettings({ domains: wanted.names, server: wanted.server, email: wanted.email, renewBefore: wanted.renewBefore, extraCa: acme.ca !== undefined });
  return [
    aptPackages(ACME_PACKAGES),
    directory(ACME_FILES.settingsDir, { mode: '0755', owner: 'root', group: 'root' }),
    file(ACME_FILES.settings, settings),
    ...(acme.ca ? [file(ACME_FILES.extraCa, acme.ca.pem)] : []),
    file(ACME_FILES.script, renderAcmeScript(), { mode: '0755' }),
    file(ACME_FILES.deployScript, renderDeployScript(), { mode: '0755' }),
    unitFile(ACME_FILES.service, renderAcmeService()),
    unitFile(ACME_FILES.timer, renderAcmeTimer(), { enable: true }),
    // Debian's package renews every certificate from its own timer; this balancer's is renewed by provision-acme.timer.
    service('certbot.timer', { enabled: false, running: false }),
    service(ACME_FILES.timer),
    acmeCertificate(wanted),
  ];
}
