import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FactReader, Plan, PlanContext, WriteFileStep } from '../../src/engine/types.ts';
import type { Host, Inventory } from '../../src/inventory/types.ts';
import { containsSecret } from '../../src/report/redact.ts';
import { verifySha512Crypt } from '../../tasks/haproxy/auth.ts';
import { certificateState, configuredValues, parseCertificateState, type CertificateState } from '../../tasks/haproxy/facts.ts';
import { HAPROXY_FILES } from '../../tasks/haproxy/render.ts';
import { planProvidedCertificate, planSelfSignedCertificate, selfSignedProblem } from '../../tasks/haproxy/tls.ts';
import { RELOAD_HAPROXY, candidateCheck, haproxyConfig, haproxyTasks, plannedServers, reloadHaproxy } from '../../tasks/haproxy/tasks.ts';
import { usableCpusOfNode, type UsableCpus } from '../../tasks/node/facts.ts';
import { hostVarsSchema, type HostVars } from '../../playbooks/site.ts';
import { factReader, fakeHost } from '../support/fake-context.ts';
import { roleContext } from '../../src/engine/role.ts';
import { whilePlanning } from '../../src/inventory/secret.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/haproxy/', import.meta.url));
const certificateOutput = (name: string): CertificateState => parseCertificateState({ stdout: readFileSync(`${FIXTURES}certificate-${name}.txt`, 'utf8'), code: 0 });

test('the certificate fact reads metadata, digest, names and renewal from openssl\'s output', () => {
  assert.deepEqual(certificateOutput('absent'), { type: 'absent' });
  assert.deepEqual(certificateOutput('self-signed'), {
    type: 'file',
    mode: '0600',
    owner: 'root',
    group: 'root',
    sha256: '56a5cbaa7bcd3f246b0b9ac37c996680416c4d93b6453fc49b0cf16fb7bf992e',
    inspected: true,
    subject: 'O=provision self-signed,CN=node.example.org',
    issuer: 'O=provision self-signed,CN=node.example.org',
    notAfter: 'Nov 23 20:34:57 2027 GMT',
    names: ['DNS:node.example.org'],
    renewDue: false,
  });
  const several = certificateOutput('several-names');
  assert.deepEqual(several.type === 'file' ? several.names : [], ['DNS:api.example.org', 'DNS:www.example.org', 'IP Address:10.0.0.1']);
  const bare = certificateOutput('no-openssl');
  assert.equal(bare.type === 'file' && bare.inspected, false);
  assert.throws(() => parseCertificateState({ stdout: 'garbage', code: 0 }), /cannot read the certificate's metadata/);
});

test('the certificate fact never prints the key: only stat, a digest and openssl x509 fields', () => {
  const command = certificateState(HAPROXY_FILES.certificate).command.text;
  assert.doesNotMatch(command, /\bcat\b|base64|openssl (pkey|rsa|ec)\b/);
  assert.match(command, /sha256sum/);
});

test('a self-signed certificate provision made for the domain, not due for renewal, is kept', () => {
  const plan = planSelfSignedCertificate('node.example.org', 365, certificateOutput('self-signed'), false);
  assert.deepEqual(plan, { status: 'ok', reason: `${HAPROXY_FILES.certificate} holds a self-signed certificate for node.example.org, valid until Nov 23 20:34:57 2027 GMT` });
});

test('the self-signed certificate is made on the host when absent, for another domain, due for renewal, or not provision\'s', () => {
  const cases: [CertificateState, RegExp][] = [
    [certificateOutput('absent'), /there is no certificate yet/],
    [certificateOutput('renewal-due'), /ends within 30 days \(Dec {2}3 20:34:57 2026 GMT\)/],
    [certificateOutput('operator'), /\(CN=node\.example\) is not a self-signed one made by provision/],
  ];
  for (const [state, why] of cases) {
    const plan = planSelfSignedCertificate('node.example.org', 365, state, false);
    assert.equal(plan.status, 'change');
    if (plan.status !== 'change') continue;
    const [change] = plan.changes;
    assert.match(change.details?.join('\n') ?? '', why);
    assert.deepEqual(change.notify, [RELOAD_HAPROXY]);
    const step = change.steps[0]!;
    assert.equal(step.kind, 'run');
    if (step.kind === 'run') {
      assert.match(step.command.text, /openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 -subj '\/CN=node\.example\.org\/O=provision self-signed' -addext subjectAltName=DNS:node\.example\.org/);
      assert.match(step.command.text, /umask 077/);
    }
    assert.equal(change.diff?.secret, true);
  }
  assert.match(selfSignedProblem(certificateOutput('self-signed') as Extract<CertificateState, { type: 'file' }>, 'other.example.org') ?? '', /is for DNS:node\.example\.org, not other\.example\.org/);
});

test('an IP address as the domain gets an IP subjectAltName', () => {
  const plan = planSelfSignedCertificate('203.0.113.9', 365, { type: 'absent' }, false);
  const step = plan.status === 'change' ? plan.changes[0].steps[0] : undefined;
  assert.match(step?.kind === 'run' ? step.command.text : '', /subjectAltName=IP:203\.0\.113\.9/);
});

test('before openssl is installed the certificate cannot be judged: planned tentatively in a dry run, an error otherwise', () => {
  assert.equal(planSelfSignedCertificate('node.example.org', 365, certificateOutput('no-openssl'), true).status, 'change');
  assert.throws(() => planSelfSignedCertificate('node.example.org', 365, certificateOutput('no-openssl'), false), /openssl is not installed/);
});

test('a kept certificate with the wrong mode is only chmod-ed', () => {
  const state = { ...(certificateOutput('self-signed') as Extract<CertificateState, { type: 'file' }>), mode: '0644' };
  const plan = planSelfSignedCertificate('node.example.org', 365, state, false);
  assert.equal(plan.status === 'change' && plan.changes[0].summary, `set mode 0600, owner root:root on ${HAPROXY_FILES.certificate}`);
});

const PROVIDED = hostVarsSchema(FIXTURES).parse({ haproxy: { tls: { cert_file: 'test-only.crt', key_file: 'test-only.key' } } }).haproxy.tls.provided!;

test('the provided certificate is uploaded as one PEM, 0600, and the diff shows only digests', () => {
  const plan = planProvidedCertificate(PROVIDED, { type: 'absent' });
  assert.equal(plan.status, 'change');
  if (plan.status !== 'change') return;
  const [change] = plan.changes;
  const step = change.steps[0] as WriteFileStep;
  assert.deepEqual({ kind: step.kind, path: step.path, mode: step.mode, owner: step.owner, group: step.group }, { kind: 'write-file', path: HAPROXY_FILES.certificate, mode: '0600', owner: 'root', group: 'root' });
  assert.equal(step.content, PROVIDED.certificate + PROVIDED.key);
  assert.equal(change.diff?.secret, true);
  const shown = JSON.stringify({ diff: change.diff, details: change.details, summary: change.summary });
  assert.doesNotMatch(shown, /PRIVATE KEY/);
  assert.ok(!containsSecret(shown), 'nothing the report shows holds the key');
});

test('the provided certificate already in place (same digest, 0600) is left alone', () => {
  const digest = createHash('sha256').update(PROVIDED.certificate + PROVIDED.key).digest('hex');
  const state: CertificateState = { type: 'file', mode: '0600', owner: 'root', group: 'root', sha256: digest, inspected: true };
  assert.equal(planProvidedCertificate(PROVIDED, state).status, 'ok');
  assert.equal(planProvidedCertificate(PROVIDED, { ...state, sha256: 'other' }).status, 'change');
});

/** An inventory of balancers and nodes (a host may be in both), with validated vars. */
function inventoryOf(groups: Record<string, string[]>, vars: object = {}): Inventory<HostVars> {
  const names = [...new Set(Object.values(groups).flat())];
  const hosts: Host<HostVars>[] = names.map((name, index) => ({
    ...fakeHost<HostVars>(hostVarsSchema(FIXTURES).parse(vars), name),
    privateIp: `10.0.0.${index + 10}`,
    groups: ['all', ...Object.keys(groups).filter((group) => groups[group]!.includes(name))],
  }));
  return { file: `${FIXTURES}inventory.yaml`, hosts, groups: new Map(Object.entries(groups)) };
}

function cpus(usable: number): UsableCpus {
  return { usable, nproc: usable };
}

/** Plans haproxy.cfg on `balancer` with the config file's current content and each node's usable CPUs. */
function planConfig(inventory: Inventory<HostVars>, balancer: string, current: string | null, nodeCpus: Record<string, number | undefined>): Plan {
  const host = inventory.hosts.find((candidate) => candidate.name === balancer)!;
  const task = haproxyConfig(host, roleContext(inventory));
  const config = current === null ? { type: 'absent' } : { type: 'file', mode: '0640', owner: 'root', group: 'haproxy', content: current };
  const peer = (name: string): FactReader | undefined => {
    const node = inventory.hosts.find((candidate) => candidate.name === name)!;
    const value = nodeCpus[name];
    return value === undefined ? undefined : factReader({ [usableCpusOfNode(node).key]: cpus(value) });
  };
  const context: PlanContext<HostVars> = { host, inventory, facts: factReader({ [`file:${HAPROXY_FILES.config}`]: config }), factsOf: peer, roles: roleContext(inventory) };
  // As the engine plans: with secret() closed, so the task cannot mark values itself.
  return whilePlanning(() => task.plan(context));
}

function writtenConfig(plan: Plan): string {
  assert.equal(plan.status, 'change');
  const step = plan.status === 'change' ? plan.changes[0].steps[0] : undefined;
  assert.equal(step?.kind, 'write-file');
  return step?.kind === 'write-file' ? step.content : '';
}

test('every node becomes a server at its private address, weighted by its usable CPUs', () => {
  const inventory = inventoryOf({ balancers: ['lb1'], nodes: ['n1', 'n2'] });
  const plan = planConfig(inventory, 'lb1', null, { n1: 1, n2: 4 });
  const config = writtenConfig(plan);
  assert.match(config, /^ {4}server n1 10\.0\.0\.11:14265 weight 1$/m);
  assert.match(config, /^ {4}server n2 10\.0\.0\.12:14265 weight 4$/m);
  if (plan.status !== 'change') return;
  const [change] = plan.changes;
  assert.deepEqual(change.notify, [RELOAD_HAPROXY]);
  const step = change.steps[0] as WriteFileStep;
  assert.deepEqual([step.mode, step.owner, step.group, step.validate], ['0640', 'root', 'haproxy', candidateCheck()]);
  assert.match(change.details?.join('\n') ?? '', /backend n2 10\.0\.0\.12:14265 weight 4: 4 usable CPUs \(nproc 4, no CPU quota\)/);
});

test('a host in both groups fronts its own node on 127.0.0.1; a single node still gets its proxy', () => {
  const inventory = inventoryOf({ balancers: ['n1'], nodes: ['n1'] });
  assert.match(writtenConfig(planConfig(inventory, 'n1', null, { n1: 2 })), /^ {4}server n1 127\.0\.0\.1:14265 weight 2$/m);
});

test('a node whose CPUs are unknown in this run keeps its current weight (else 1), so a --limit run changes nothing', () => {
  const nodes = inventoryOf({ nodes: ['n1', 'n2'] }).hosts;
  const servers = plannedServers('lb1', nodes, () => undefined, new Map([['n1', 3]]));
  assert.deepEqual(servers.map((server) => server.weight), [3, 1]);
  assert.match(servers[0]!.why, /keeps its current weight/);
  assert.equal(plannedServers('lb1', nodes, () => cpus(1000), new Map())[0]!.weight, 256, 'HAProxy weights stop at 256');
});

const WITH_AUTH = {
  haproxy: {
    auth: { users: [{ name: 'alice', password: 'alice password 1' }], tokens: [{ name: 'ci', token: 't'.repeat(40) }] },
    rate_limit: { requests: 5, window: '3s', ban: '8s' },
  },
};

test('passwords reach the config only as SHA-512 crypt hashes, which the change declares secret for every output', () => {
  const inventory = inventoryOf({ balancers: ['lb1'], nodes: ['n1'] }, WITH_AUTH);
  const plan = planConfig(inventory, 'lb1', null, { n1: 1 });
  const config = writtenConfig(plan);
  assert.ok(!config.includes('alice password 1'));
  const hash = configuredValues(config).hashes.get('alice')!;
  assert.ok(verifySha512Crypt('alice password 1', hash));
  assert.ok(plan.status === 'change' && plan.changes[0].secrets?.includes(hash), 'the engine masks it as ******** in the diff');
  assert.ok(!config.includes('t'.repeat(40)), 'no token in the config either');
});

test('a second plan over the written config changes nothing: the existing hash verifies and is kept', () => {
  const inventory = inventoryOf({ balancers: ['lb1'], nodes: ['n1', 'n2'] }, WITH_AUTH);
  const first = writtenConfig(planConfig(inventory, 'lb1', null, { n1: 1, n2: 2 }));
  const again = planConfig(inventory, 'lb1', first, { n1: 1, n2: 2 });
  assert.equal(again.status, 'ok');
  assert.match(again.status === 'ok' ? again.reason : '', /is up to date \(n1 weight 1, n2 weight 2\)/);
  assert.equal(planConfig(inventory, 'lb1', first, {}).status, 'ok', 'unknown CPUs keep the written weights');
  assert.equal(planConfig(inventory, 'lb1', first, { n1: 1, n2: 3 }).status, 'change', 'a node with more CPUs gets more weight');
});

test('a changed password gets a new hash, and the plan says so', () => {
  const inventory = inventoryOf({ balancers: ['lb1'], nodes: ['n1'] }, WITH_AUTH);
  const first = writtenConfig(planConfig(inventory, 'lb1', null, { n1: 1 }));
  const changed = inventoryOf({ balancers: ['lb1'], nodes: ['n1'] }, { haproxy: { auth: { users: [{ name: 'alice', password: 'alice password 2' }] } } });
  const plan = planConfig(changed, 'lb1', first, { n1: 1 });
  assert.match(plan.status === 'change' ? (plan.changes[0].details ?? []).join('\n') : '', /user alice: the password changed; new SHA-512 crypt hash/);
});

test('without nodes the balancer refuses rather than serve nothing', () => {
  const inventory = inventoryOf({ balancers: ['lb1'] });
  assert.throws(() => planConfig(inventory, 'lb1', null, {}), /no hosts in the group nodes/);
});

test('the balancer runs, in order: packages, certificate directory and certificate, lists, config, service', () => {
  const inventory = inventoryOf({ balancers: ['lb1'], nodes: ['n1'] });
  const tasks = haproxyTasks(inventory.hosts[0]!, roleContext(inventory));
  assert.deepEqual(
    tasks.map((task) => `${task.kind} ${task.target}`),
    [
      'apt.packages haproxy, openssl, socat',
      'directory /etc/haproxy/certs',
      'haproxy.certificate /etc/haproxy/certs/site.pem',
      'file /etc/haproxy/allow.lst',
      'file /etc/haproxy/deny.lst',
      'file /etc/haproxy/tokens.map',
      'haproxy.config /etc/haproxy/haproxy.cfg',
      'systemd.service haproxy',
    ],
  );
  assert.deepEqual(tasks[6]!.peerFacts?.(inventory.hosts[0]!, inventory).map((entry) => entry.host), ['n1'], 'the config reads the nodes\' CPU facts');
});

test('the validate template is haproxy -c -f on the candidate, with stand-ins only for files not written yet', () => {
  const template = candidateCheck();
  assert.ok(template.endsWith(' %s'));
  assert.equal(template.split('%s').length, 2, 'the engine replaces every %s: only the last one may be there');
  assert.match(template, /haproxy -c -f "\$config"/);
  assert.match(template, /\[ -e "\$file" \] && continue/);
});

test('the reload handler reloads (never restarts) and waits until HAProxy is active on the new config', () => {
  const [reload, wait] = reloadHaproxy.steps;
  assert.equal(reload?.kind === 'run' && reload.command.text, 'systemctl reload -- haproxy');
  assert.match(wait?.kind === 'run' ? wait.command.text : '', /while \[ "\$\(systemctl is-active haproxy\)" = reloading \] && \[ "\$i" -lt 48 \].*sleep 0\.05; else sleep 0\.25/);
  assert.deepEqual(reloadHaproxy.services, [{ name: 'haproxy', action: 'reload' }]);
});
