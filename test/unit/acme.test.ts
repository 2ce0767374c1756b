import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigValueError } from '../../src/engine/config-values.ts';
import type { Plan } from '../../src/engine/types.ts';
import { acmeState, parseAcmeState, type AcmeState } from '../../tasks/acme/facts.ts';
import { ACME_FILES, certbotInterval, renderAcmeScript, renderAcmeSettings, renderAcmeTimer, renderDeployScript } from '../../tasks/acme/render.ts';
import { acmeTasks, acmeWanted, acmeWork, planAcmeCertificate, runAcmeClient, type AcmeWanted } from '../../tasks/acme/tasks.ts';
import { ACME_DIRECTORIES } from '../../tasks/acme/vars.ts';
import { issuerLabel, parseCertificateState, parseOpensslDate, servedCertificate, type CertificateState } from '../../tasks/haproxy/facts.ts';
import { HAPROXY_FILES, renderHaproxyConfig, type HaproxyConfigSettings } from '../../tasks/haproxy/render.ts';
import { planSelfSignedCertificate } from '../../tasks/haproxy/tls.ts';
import { haproxyVars } from '../../tasks/haproxy/vars.ts';
import { fakeHost, planWith } from '../support/fake-context.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/acme/', import.meta.url));
const HAPROXY_FIXTURES = fileURLToPath(new URL('../fixtures/haproxy/', import.meta.url));
const schema = haproxyVars(FIXTURES);
const state = (name: string): AcmeState => parseAcmeState({ stdout: readFileSync(`${FIXTURES}state-${name}.txt`, 'utf8'), code: 0 });
const ACME = { email: 'ops@example.org' };

function issues(input: unknown): string[] {
  const result = schema.safeParse(input);
  assert.equal(result.success, false, 'expected the input to be refused');
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

const LETSENCRYPT = ACME_DIRECTORIES.letsencrypt;
const WANTED: AcmeWanted = { names: ['node.example.org', 'www.example.org'], server: LETSENCRYPT, email: 'ops@example.org', renewBefore: 30 * 86_400 };

test('acme: the e-mail is required; Let’s Encrypt, a 30-day window and no extra names by default; directories by name or URL', () => {
  const vars = schema.parse({ domain: 'node.example.org', tls: { acme: ACME } });
  assert.deepEqual(vars.tls.acme, { email: 'ops@example.org', directory: LETSENCRYPT, renew_before: 2_592_000, extra_domains: [] });
  assert.equal(schema.parse({ tls: { acme: { ...ACME, directory: 'letsencrypt-staging' } } }).tls.acme?.directory, 'https://acme-staging-v02.api.letsencrypt.org/directory');
  assert.equal(schema.parse({ tls: { acme: { ...ACME, directory: 'https://ca.internal:9000/acme/acme/directory' } } }).tls.acme?.directory, 'https://ca.internal:9000/acme/acme/directory');
  assert.equal(schema.parse({ tls: { acme: { ...ACME, renew_before: '45d' } } }).tls.acme?.renew_before, 45 * 86_400);
  assert.match(issues({ tls: { acme: {} } })[0]!, /^tls\.acme\.email: /);
  assert.equal(schema.parse({}).tls.acme, undefined, 'off unless asked for');
});

test('acme: e-mail, directory and names holding spaces, quotes, newlines or shell characters are refused with what was expected', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ email: 'ops @example.org' }, /tls\.acme\.email: expected an e-mail address/],
    [{ email: "o'ps@example.org" }, /tls\.acme\.email: expected an e-mail address/],
    [{ email: 'ops@example.org\nACME_SERVER=https://evil.example' }, /tls\.acme\.email: expected an e-mail address/],
    [{ email: 'ops@$(reboot).org' }, /tls\.acme\.email: expected an e-mail address/],
    [{ directory: 'http://acme.example.org/directory' }, /tls\.acme\.directory: expected letsencrypt or letsencrypt-staging, or an ACME directory URL/],
    [{ directory: 'https://acme.example.org/dir ectory' }, /tls\.acme\.directory: /],
    [{ directory: 'https://acme.example.org/"directory"' }, /tls\.acme\.directory: /],
    [{ directory: 'https://acme.example.org/directory\n' }, /tls\.acme\.directory: /],
    [{ directory: 'lets-encrypt' }, /tls\.acme\.directory: /],
    [{ extra_domains: ['www.example.org', 'api example.org'] }, /tls\.acme\.extra_domains\.1: expected a DNS name/],
    [{ extra_domains: ['*.example.org'] }, /HTTP-01 cannot prove a wildcard/],
    [{ extra_domains: ['203.0.113.7'] }, /tls\.acme\.extra_domains\.0: expected a DNS name/],
    [{ extra_domains: ['"www.example.org"'] }, /tls\.acme\.extra_domains\.0: /],
    [{ renew_before: '12h' }, /tls\.acme\.renew_before: expected at least 1d/],
    [{ ca_file: 'missing.pem' }, /tls\.acme\.ca_file: cannot read .*missing\.pem/],
    [{ ca_file: 'not-a-ca.pem' }, /tls\.acme\.ca_file: expected PEM certificates/],
    [{ staging: true }, /tls\.acme: Unrecognized key/],
  ];
  for (const [acme, expected] of bad) assert.match(issues({ tls: { acme: { ...ACME, ...acme } } }).join('\n'), expected, JSON.stringify(acme));
  assert.match(issues({ domain: '203.0.113.7', tls: { acme: ACME } }).join('\n'), /^domain: expected a DNS name such as node\.example\.org for a certificate from a CA/m);
  assert.match(issues({ domain: '*.example.org', tls: { acme: ACME } }).join('\n'), /^domain: /m);
});

test('acme excludes cert_file/key_file: both together are refused with a clear message', () => {
  const refused = issues({ tls: { acme: ACME, cert_file: 'test-only.crt', key_file: 'test-only.key' } });
  assert.deepEqual(refused, ['tls: expected either acme (a certificate the balancer gets from a CA) or cert_file and key_file (your own), not both']);
  assert.match(issues({ tls: { acme: ACME, cert_file: 'test-only.crt' } })[0]!, /not both/);
});

test('ca_file is read on the controller: its certificates only, each one parsed', () => {
  const vars = schema.parse({ tls: { acme: { ...ACME, ca_file: 'test-ca.pem' } } });
  const ca = vars.tls.acme!.ca!;
  assert.equal(ca.path, `${FIXTURES}test-ca.pem`);
  assert.match(ca.pem, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
});

test('with ACME, port 80 sends challenges to the ACME client, redirects the rest, and keeps the allow list off the CA’s way', () => {
  const base: HaproxyConfigSettings = {
    httpPort: 80,
    httpsPort: 443,
    ipv6: false,
    maxconn: 4096,
    maxBodyBytes: 131072,
    hstsMaxAge: 0,
    allowListActive: false,
    denyListActive: false,
    rateLimit: { requests: 200, window: 10, banAfter: 200, ban: 600, connections: 50 },
    servers: [{ name: 'node1', address: '10.0.0.2', port: 14265, weight: 1 }],
    acmeChallengePort: 8402,
  };
  const section = (settings: Partial<HaproxyConfigSettings>, header: string) => {
    const lines = renderHaproxyConfig({ ...base, ...settings }).split('\n').map((line) => line.trim());
    const start = lines.indexOf(header);
    assert.ok(start >= 0, `no section ${header}`);
    return lines.slice(start + 1, lines.indexOf('', start));
  };
  assert.deepEqual(section({}, 'frontend http'), [
    'bind 0.0.0.0:80',
    'acl acme_challenge path_beg /.well-known/acme-challenge/',
    'http-request redirect scheme https code 301 unless acme_challenge',
    'use_backend acme_challenge if acme_challenge',
  ]);
  assert.deepEqual(section({}, 'backend acme_challenge'), ['server acme_client 127.0.0.1:8402']);
  const listed = section({ allowListActive: true, denyListActive: true }, 'frontend http');
  assert.ok(!listed.some((line) => line.startsWith('tcp-request connection reject')), 'no source is refused at connect on port 80');
  assert.ok(listed.includes(`http-request deny deny_status 403 unless acme_challenge || { src -f ${HAPROXY_FILES.allow} }`));
  assert.ok(listed.includes(`http-request deny deny_status 403 if { src -f ${HAPROXY_FILES.deny} }`));
  assert.ok(section({ allowListActive: true }, 'frontend https').includes(`tcp-request connection reject unless { src -f ${HAPROXY_FILES.allow} }`), 'HTTPS still refuses at connect');
  assert.ok(section({ httpsPort: 8443 }, 'frontend http').includes('http-request redirect location https://%[req.hdr(host),field(1,:)]:8443%[capture.req.uri] code 301 unless acme_challenge'));
  const without = renderHaproxyConfig({ ...base, acmeChallengePort: undefined });
  assert.doesNotMatch(without, /acme/, 'without ACME nothing of it is in the config');
});

test('the temporary self-signed certificate is made when there is none, and never replaces a certificate a CA issued', () => {
  // Even one within its renewal window: renewing it is the ACME client's job, and a self-signed one would be worse.
  const issued = parseCertificateState({ stdout: readFileSync(`${FIXTURES}certificate-issued.txt`, 'utf8'), code: 0 });
  const kept = planSelfSignedCertificate('node.example.org', 365, issued, false, true);
  assert.deepEqual(kept, { status: 'ok', reason: `${HAPROXY_FILES.certificate} holds a certificate issued by CN=R11,O=Let's Encrypt,C=US (valid until Jan 10 08:00:00 2027 GMT); the ACME client keeps it current` });
  const operator = parseCertificateState({ stdout: readFileSync(`${HAPROXY_FIXTURES}certificate-operator.txt`, 'utf8'), code: 0 });
  const chmod = planSelfSignedCertificate('node.example.org', 365, operator, false, true);
  assert.match(chmod.status === 'change' ? chmod.changes[0].summary : '', /^set mode 0600, owner root:root on /, 'a certificate that is not provision’s own is only made private');
  const absent = planSelfSignedCertificate('node.example.org', 365, { type: 'absent' }, false, true);
  assert.equal(absent.status === 'change' && absent.changes[0].summary, 'make a temporary self-signed certificate for node.example.org on the host (365 days)');
  assert.match(absent.status === 'change' ? absent.changes[0].details!.join('\n') : '', /HAProxy serves this one until the CA has issued one/);
  // Its own temporary certificate for another domain is made again; without ACME an issued one is replaced as before.
  const ours = parseCertificateState({ stdout: readFileSync(`${HAPROXY_FIXTURES}certificate-self-signed.txt`, 'utf8'), code: 0 });
  assert.equal(planSelfSignedCertificate('other.example.org', 365, ours, false, true).status, 'change');
  assert.equal(planSelfSignedCertificate('node.example.org', 365, issued, false, false).status, 'change');
});

test('the ACME fact reads certbot’s files and the certificates’ public fields, never a key, and never asks the CA', () => {
  assert.deepEqual(state('issued'), {
    certbot: true,
    renewal: { renewBefore: '30 days', server: LETSENCRYPT },
    account: true,
    accountRecord: `${LETSENCRYPT} ops@example.org`,
    certificate: {
      names: ['node.example.org', 'www.example.org'],
      notAfter: 'Dec  5 03:04:08 2031 GMT',
      due: false,
      fingerprint: 'B1:58:FF:1F:E9:17:1B:D3:FE:A2:FC:DE:24:9D:41:D5:9B:CA:43:07:36:10:46:F3:92:2C:1A:EE:D0:FF:C3:CD',
    },
    served: 'B1:58:FF:1F:E9:17:1B:D3:FE:A2:FC:DE:24:9D:41:D5:9B:CA:43:07:36:10:46:F3:92:2C:1A:EE:D0:FF:C3:CD',
  });
  assert.deepEqual(parseAcmeState({ stdout: 'certbot no\n', code: 0 }), { certbot: false, account: false });
  const command = acmeState(LETSENCRYPT, 2_592_000).command.text;
  assert.doesNotMatch(command, /privkey|private_key|openssl (pkey|rsa|ec)\b|certbot (renew|certonly|register)|curl|wget/);
  assert.match(command, /-checkend 2592000/);
  assert.match(command, /\/etc\/letsencrypt\/accounts\/acme-v02\.api\.letsencrypt\.org\/directory\/\*\/regr\.json/);
});

test('the CA is asked only for a new certificate, other names or directory, a due renewal or a new account e-mail', () => {
  assert.deepEqual(acmeWork(WANTED, state('issued')), { local: [], why: [] });
  assert.deepEqual(acmeWork(WANTED, state('fresh')), { certificate: 'new', account: 'register', local: [], why: ['there is no certificate from the CA yet', 'register the account ops@example.org at the directory'] });
  assert.deepEqual(acmeWork({ ...WANTED, names: ['node.example.org', 'api.example.org'] }, state('issued')).why, ['the names change: +api.example.org -www.example.org']);
  assert.deepEqual(acmeWork({ ...WANTED, names: ['WWW.example.org', 'node.example.org'] }, state('issued')).why, [], 'names compare regardless of case and order');
  assert.deepEqual(acmeWork({ ...WANTED, server: ACME_DIRECTORIES['letsencrypt-staging'] }, state('issued')).certificate, 'new');
  assert.deepEqual(acmeWork(WANTED, state('due')), { certificate: 'renew', local: [], why: ['the certificate ends Jan 10 08:00:00 2027 GMT, within renew_before (30 days)'] });
  assert.deepEqual(acmeWork({ ...WANTED, email: 'new@example.org' }, state('issued')), { account: 'update', local: [], why: ["set the account's e-mail to new@example.org"] });
  // Without a request: a new window goes into certbot's renewal file, and an issued certificate HAProxy lacks is installed.
  assert.deepEqual(acmeWork({ ...WANTED, renewBefore: 60 * 86_400 }, state('issued')), { local: ["set certbot's renewal window to 60 days (was 30 days)"], why: [] });
  assert.deepEqual(acmeWork(WANTED, { ...state('issued'), served: 'AA:BB' }), { local: ['install the issued certificate for HAProxy, which serves another one'], why: [] });
});

test('the plan names the certificate it would request: names, directory and account; a current one is left alone', () => {
  const fresh = planAcmeCertificate(WANTED, state('fresh'), false);
  assert.equal(fresh.status, 'change');
  const change = (fresh as Extract<Plan, { status: 'change' }>).changes[0];
  assert.equal(change.summary, `request a certificate for node.example.org, www.example.org from ${LETSENCRYPT} (account ops@example.org)`);
  assert.ok(change.details!.includes('the account key and the certificate key are made on the balancer and never leave it'));
  assert.deepEqual(change.steps, [{ kind: 'run', command: runAcmeClient(), description: `systemctl start provision-acme.service (certbot, ${LETSENCRYPT})` }]);
  const ok = planAcmeCertificate(WANTED, state('issued'), false);
  assert.deepEqual(ok, {
    status: 'ok',
    reason: `HAProxy serves the certificate for node.example.org, www.example.org from ${LETSENCRYPT}, valid until Dec  5 03:04:08 2031 GMT; provision-acme.timer renews it 30 days before its end`,
  });
  const renew = planAcmeCertificate(WANTED, state('due'), false);
  assert.match(renew.status === 'change' ? renew.changes[0].summary : '', /^renew the certificate for node\.example\.org, www\.example\.org from /);
  const local = planAcmeCertificate({ ...WANTED, renewBefore: 60 * 86_400 }, state('issued'), false);
  assert.equal(local.status === 'change' && local.changes[0].summary, "set certbot's renewal window to 60 days (was 30 days) (no request to the CA)");
  // Before certbot is installed (a dry run on a fresh host) the request is planned; after an install that failed, it is an error.
  assert.equal(planAcmeCertificate(WANTED, parseAcmeState({ stdout: 'certbot no\n', code: 0 }), true).status, 'change');
  assert.throws(() => planAcmeCertificate(WANTED, parseAcmeState({ stdout: 'certbot no\n', code: 0 }), false), /certbot is not installed/);
});

test('a failed request shows only the reason the client recorded, in the CA’s words', () => {
  const command = runAcmeClient().text;
  assert.match(command, /systemctl start provision-acme\.service/);
  assert.match(command, /cat \/var\/lib\/provision\/acme\/last-error >&2/);
  const script = renderAcmeScript();
  assert.match(script, /grep -E '\^ \*\(Domain\|Type\|Detail\): \|\^Failed to renew certificate /);
  assert.match(script, /grep -m1 '\^acme\\.messages\\.Error: '/, 'the ACME error that certbot 2.1 hides is read from its log');
});

test('the client contacts the CA only through certbot renew (which asks nothing when nothing is due) unless names or directory changed', () => {
  const script = renderAcmeScript();
  assert.match(script, /run_certbot renew --non-interactive --no-random-sleep-on-renew --cert-name haproxy/);
  assert.match(script, /--standalone --http-01-address 127\.0\.0\.1 --http-01-port 8402/);
  assert.doesNotMatch(script, /--dry-run|--staging/, 'certbot --dry-run would go to Let’s Encrypt’s staging whatever the directory');
  assert.match(script, /umask 077/);
  const deploy = renderDeployScript();
  assert.match(deploy, /mv -f "\$tmp" "\$target"/);
  assert.match(deploy, /openssl pkey -pubout -in "\$live\/privkey\.pem"/, 'the key must belong to the certificate before HAProxy sees it');
  assert.match(deploy, /systemctl reload haproxy/);
  assert.doesNotMatch(deploy, /systemctl restart/);
  assert.match(renderAcmeTimer(), /OnCalendar=\*-\*-\* 00,12:00:00\nRandomizedDelaySec=12h\nPersistent=true/);
});

test('the settings file holds plain values, one per line; a control character is refused', () => {
  const text = renderAcmeSettings({ domains: ['node.example.org', 'www.example.org'], server: LETSENCRYPT, email: 'ops@example.org', renewBefore: 2_592_000, extraCa: true });
  assert.deepEqual(text.split('\n').slice(1), [
    'ACME_DOMAINS=node.example.org,www.example.org',
    `ACME_SERVER=${LETSENCRYPT}`,
    'ACME_EMAIL=ops@example.org',
    'ACME_RENEW_BEFORE_SECONDS=2592000',
    `ACME_CA_FILE=${ACME_FILES.extraCa}`,
    '',
  ]);
  assert.throws(() => renderAcmeSettings({ domains: ['a.example.org'], server: LETSENCRYPT, email: 'ops@example.org\nACME_SERVER=x', renewBefore: 1, extraCa: false }), ConfigValueError);
  assert.deepEqual([certbotInterval(2_592_000), certbotInterval(90_000)], ['30 days', '90000 seconds']);
});

test('the balancer’s ACME tasks, in order; without acme only the timer is kept off', () => {
  const vars = schema.parse({ domain: 'node.example.org', tls: { acme: { ...ACME, extra_domains: ['www.example.org', 'node.example.org'], ca_file: 'test-ca.pem' } } });
  const host = fakeHost({ haproxy: vars }, 'lb1', ['all', 'balancers']);
  assert.deepEqual(acmeWanted('node.example.org', vars.tls.acme!).names, ['node.example.org', 'www.example.org']);
  assert.deepEqual(
    acmeTasks(host).map((task) => `${task.kind} ${task.target}`),
    [
      'apt.packages certbot, openssl',
      'directory /etc/provision',
      'file /etc/provision/acme.conf',
      'file /etc/provision/acme-ca.pem',
      'file /usr/local/sbin/provision-acme',
      'file /usr/local/sbin/provision-acme-deploy',
      'systemd.unit provision-acme.service',
      'systemd.unit provision-acme.timer',
      'systemd.service certbot.timer',
      'systemd.service provision-acme.timer',
      'acme.certificate node.example.org',
    ],
  );
  const off = fakeHost({ haproxy: schema.parse({}) }, 'lb1', ['all', 'balancers']);
  assert.deepEqual(acmeTasks(off).map((task) => `${task.kind} ${task.target}`), ['systemd.service provision-acme.timer']);
  // Off: a timer left by an earlier run is stopped and disabled; none is fine, also while packages are installed.
  const [timer] = acmeTasks(off);
  const [fact] = timer!.facts(off);
  assert.deepEqual(fact!.staleAfter, [], 'no package ships the unit: an install in the same run does not make it unknown');
  assert.equal(planWith(timer!, {}, { [fact!.key]: { load: 'not-found', active: 'inactive', unitFile: '' } }).status, 'ok');
  const left = planWith(timer!, {}, { [fact!.key]: { load: 'loaded', active: 'active', unitFile: 'enabled' } });
  assert.equal(left.status === 'change' && left.changes[0].summary, 'stop and disable provision-acme.timer');
  assert.equal(planWith(timer!, {}, { [fact!.key]: { load: 'loaded', active: 'inactive', unitFile: 'disabled' } }).status, 'ok');
  const short = fakeHost({ haproxy: schema.parse({ tls: { acme: ACME } }) }, 'lb1', ['all', 'balancers']);
  assert.throws(() => acmeTasks(short), /"lb1" cannot be on a certificate from a CA .*: set haproxy\.domain/);
});

test('the facts report names the issuer as people do and counts the days left', () => {
  assert.equal(issuerLabel("CN=R11,O=Let's Encrypt,C=US", 'CN=node.example.org'), "Let's Encrypt (R11)");
  assert.equal(issuerLabel('CN=Pebble Intermediate CA 01382d', 'CN=node.example.org'), 'Pebble Intermediate CA 01382d');
  assert.equal(issuerLabel('O=provision self-signed,CN=node.example.org', 'O=provision self-signed,CN=node.example.org'), 'self-signed (provision)');
  assert.equal(issuerLabel('CN=Example\\, Inc. CA,O=Example\\, Inc.', 'CN=x'), 'Example, Inc. (Example, Inc. CA)');
  assert.equal(parseOpensslDate('Dec  5 03:04:08 2031 GMT'), Date.UTC(2031, 11, 5, 3, 4, 8));
  assert.equal(parseOpensslDate('tomorrow'), null);
  const file: CertificateState = { type: 'file', mode: '0600', owner: 'root', group: 'root', sha256: 'x', inspected: true, subject: 'CN=node.example.org', issuer: "CN=R11,O=Let's Encrypt,C=US", names: ['DNS:node.example.org'], notAfter: 'Jan 31 00:00:00 2027 GMT', renewDue: false };
  assert.deepEqual(servedCertificate(file, Date.UTC(2027, 0, 1, 12)), { issuer: "Let's Encrypt (R11)", names: ['DNS:node.example.org'], notAfter: 'Jan 31 00:00:00 2027 GMT', daysLeft: 29 });
  assert.deepEqual(servedCertificate({ type: 'absent' }, 0), { error: 'no certificate' });
});
