/**
 * The hardening as outside auditors see it, through the site playbook on a node and a balancer: ssh-audit (Debian 12's
 * 2.5) finds failures on the fresh image and none on a provisioned host; testssl.sh 3.2 grades the balancer A+ with a
 * test CA's certificate; the kernel's network keys are set where a host may change them and skipped where it may not;
 * a host known only by its ECDSA key stays reachable (its ed25519 key is recorded first); and provision still connects
 * and changes nothing afterwards, with fresh logins and with kept connections.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installStandInNode } from '../../src/lab/node-service.ts';
import { KEEPER_PROTOCOL } from '../../src/transport/keeper/protocol.ts';
import { parseRun, runCli } from '../support/cli.ts';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { writeInventory } from '../support/inventory.ts';
import { scratchDir } from '../support/scratch.ts';

const run = promisify(execFile);
const DOMAIN = 'node.example.test';
/** What ssh-audit 2.5 wrongly warns about on a good sshd: Terrapin's countermeasure and the post-quantum hybrid. */
const ALLOWED_WARNINGS = new Set(['kex-strict-s-v00@openssh.com', 'sntrup761x25519-sha512@openssh.com']);

/** One finding of ssh-audit: the section and algorithm it is about, its level and text. */
interface AuditFinding {
  section: string;
  algorithm: string;
  level: 'fail' | 'warn' | 'info';
  text: string;
}

/** Parses ssh-audit's text output (`-n`): `(kex) name -- [fail] text`, continued by `` `- [warn] text`` lines. */
function parseSshAudit(output: string): AuditFinding[] {
  const findings: AuditFinding[] = [];
  let section = '';
  let algorithm = '';
  for (const line of output.split('\n')) {
    const head = /^\((\w+)\) (\S+)(?: \([^)]*\))?\s+--\s+\[(fail|warn|info)\] (.*)$/.exec(line);
    if (head) {
      [, section = '', algorithm = ''] = head;
      findings.push({ section, algorithm, level: head[3] as AuditFinding['level'], text: head[4]!.trim() });
      continue;
    }
    const more = /^\s+`- \[(fail|warn|info)\] (.*)$/.exec(line);
    if (more && algorithm) findings.push({ section, algorithm, level: more[1] as AuditFinding['level'], text: more[2]!.trim() });
  }
  return findings;
}

/** Runs ssh-audit once against a host's published SSH port (9 connections: once per host, see fail2ban). */
async function sshAudit(port: number): Promise<{ code: number; output: string; findings: AuditFinding[] }> {
  try {
    const { stdout } = await run('ssh-audit', ['-n', '-p', String(port), '127.0.0.1'], { timeout: 60_000 });
    return { code: 0, output: stdout, findings: parseSshAudit(stdout) };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, output: failed.stdout ?? '', findings: parseSshAudit(failed.stdout ?? '') };
  }
}

/**
 * A test CA and a leaf for DOMAIN as Let's Encrypt issues them today: 90 days, ECDSA, a CRL address and no OCSP responder
 * (it has none since 2025), so there is nothing to staple and testssl.sh rightly does not ask for it.
 */
async function testCertificate(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const file = (name: string) => join(dir, name);
  writeFileSync(
    file('leaf.cnf'),
    [
      `subjectAltName=DNS:${DOMAIN}`,
      'basicConstraints=critical,CA:false',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'crlDistributionPoints=URI:http://127.0.0.1:8888/ca.crl',
      '',
    ].join('\n'),
  );
  const openssl = (args: string[]) => run('openssl', args, { timeout: 30_000 });
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650', '-subj', '/CN=provision auditors test CA', '-keyout', file('ca.key'), '-out', file('ca.pem')]);
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${DOMAIN}`, '-keyout', file('leaf.key'), '-out', file('leaf.csr')]);
  await openssl(['x509', '-req', '-in', file('leaf.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '90', '-extfile', file('leaf.cnf'), '-out', file('leaf.pem')]);
  writeFileSync(file('chain.pem'), readFileSync(file('leaf.pem'), 'utf8') + readFileSync(file('ca.pem'), 'utf8'));
  return { ca: file('ca.pem'), cert: file('chain.pem'), key: file('leaf.key') };
}

/** One HTTPS request to the balancer, by its address with DOMAIN's name, trusting the test CA: status and headers. */
function httpsRequest(address: string, method: string, path: string, ca: string): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port: 443, servername: DOMAIN, method, path, ca: readFileSync(ca), headers: { host: DOMAIN }, timeout: 10_000 }, (response) => {
      response.resume();
      resolve({ status: response.statusCode ?? 0, headers: response.headers });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${address}:443 in 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** One finding of testssl.sh's JSON file. */
interface TlsFinding {
  id: string;
  severity: string;
  finding: string;
}

describe('outside auditors on hosts the site playbook provisioned', () => {
  let lab: TestHosts;
  let dir: string;
  let inventory: string;
  let ca: string;
  const portOf = (name: string) => lab.hosts.find((host) => host.name === name)!.sshPort;
  const ipOf = (name: string) => lab.hosts.find((host) => host.name === name)!.privateIp;

  before(async () => {
    lab = await startTestHosts([
      // Its own network keys writable, as on a VM: the sysctl role's apply path (the machine's kernel keys stay read-only).
      { name: 'node1', group: 'nodes', writableNetSysctls: true },
      { name: 'balancer1', group: 'balancers' },
    ]);
    dir = scratchDir('provision-auditors-');
    await installStandInNode((command) => lab.exec('node1', command));
    const certificate = await testCertificate(dir);
    ca = certificate.ca;
    inventory = writeInventory(lab, {
      vars: { ssh: { authorized_keys: [`${lab.keyFile}.pub`] } },
      // A token makes POST need credentials: HAProxy's own 401 then shows whether its answers carry HSTS too.
      hosts: { balancer1: { haproxy: { domain: DOMAIN, tls: { cert_file: certificate.cert, key_file: certificate.key }, auth: { tokens: [{ name: 'auditor', token: 'a'.repeat(40) }] } } } },
    });
    // node1 is known only by its ECDSA key, as many known_hosts files know older hosts: sshd is about to stop offering it.
    const known = readFileSync(lab.knownHostsFile, 'utf8').split('\n');
    writeFileSync(lab.knownHostsFile, known.filter((line) => !line.startsWith(`[127.0.0.1]:${portOf('node1')} `) || line.includes(' ecdsa-sha2-')).join('\n'));
  });
  after(async () => lab?.stop());

  /**
   * Everything of the hardening a run could touch on a host, read through docker exec. Files only: a dry run checks its
   * candidates beside their targets and removes them, which leaves a directory's own time changed.
   */
  async function hardeningState(name: string): Promise<string> {
    const script =
      'cat /etc/ssh/sshd_config /etc/ssh/moduli /etc/ssh/ssh_host_*_key.pub 2>/dev/null | sha256sum; find /etc/ssh /etc/sysctl.d -mindepth 1 -printf "%p %m %u %g %s %T@\\n" | sort | sha256sum; ' +
      'cat /etc/sysctl.d/* 2>/dev/null | sha256sum; cat /proc/sys/net/ipv4/conf/all/* 2>/dev/null | sha256sum; ls /etc/haproxy 2>/dev/null | sha256sum';
    return (await lab.exec(name, ['sh', '-c', script])).stdout;
  }

  test('ssh-audit fails the fresh lab image', async (t: TestContext) => {
    const audit = await sshAudit(portOf('balancer1'));
    t.diagnostic(`fresh image: ${audit.findings.filter((f) => f.level === 'fail').length} [fail], ${audit.findings.filter((f) => f.level === 'warn').length} [warn] (exit ${audit.code})`);
    assert.equal(audit.code, 3, audit.output);
    const failed = audit.findings.filter((finding) => finding.level === 'fail').map((finding) => finding.algorithm);
    assert.deepEqual(failed.sort(), ['ecdh-sha2-nistp256', 'ecdh-sha2-nistp384', 'ecdh-sha2-nistp521', 'ecdsa-sha2-nistp256']);
    assert.ok(audit.findings.some((finding) => finding.level === 'warn' && finding.algorithm === 'hmac-sha1'), 'and warns about SHA-1 MACs');
  });

  test('a dry run says up front which kernel keys it skips, and changes nothing on the hosts or in known_hosts', async () => {
    const before = await Promise.all(['node1', 'balancer1'].map(hardeningState));
    const knownHosts = readFileSync(lab.knownHostsFile, 'utf8');
    const dry = await runCli(['apply', inventory, '--dry-run']);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /skipped \(read-only: \/proc\/sys\/kernel is mounted read-only \(as in a container\)\): kernel\.kptr_restrict, kernel\.dmesg_restrict/);
    assert.match(dry.stdout, /skipped \(read-only: \/proc\/sys is mounted read-only \(as in a container\)\): net\.ipv4\.conf\.all\.rp_filter/);
    assert.match(dry.stdout, /net\.ipv4\.conf\.all\.log_martians: 0 → 1 \(sysctl\.log_martians\)/);
    assert.match(dry.stdout, /\+KexAlgorithms sntrup761x25519-sha512@openssh\.com,curve25519-sha256,/);
    assert.match(dry.stdout, /ssh-ed25519 key SHA256:\S+ is not in .*known_hosts: recorded there first, read over this run's verified connection/);
    assert.match(dry.stdout, /write \/etc\/ssh\/moduli\.provision: the 363 of 423 groups of \/etc\/ssh\/moduli of at least 3072 bits/);
    assert.deepEqual(await Promise.all(['node1', 'balancer1'].map(hardeningState)), before);
    assert.equal(readFileSync(lab.knownHostsFile, 'utf8'), knownHosts, 'the dry run records no key');
  });

  test('a host pinned by its ECDSA key alone is refused before anything is written, with the ed25519 line to pin', async () => {
    const ecdsa = (await lab.exec('node1', ['cat', '/etc/ssh/ssh_host_ecdsa_key.pub'])).stdout.trim().split(' ').slice(0, 2).join(' ');
    const ed25519 = (await lab.exec('node1', ['cat', '/etc/ssh/ssh_host_ed25519_key.pub'])).stdout.trim().split(' ').slice(0, 2).join(' ');
    const pinned = writeInventory(lab, { only: ['node1'], vars: { ssh: { authorized_keys: [`${lab.keyFile}.pub`] } }, hosts: { node1: { ssh_host_key: ecdsa } } });
    const before = await hardeningState('node1');
    const result = await runCli(['apply', pinned, '--yes', '--playbook', 'test/fixtures/playbooks/ssh.ts']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /refusing to change sshd's host keys on node1: afterwards sshd offers this run its ssh-ed25519 key SHA256:\S+, which it is not among the keys pinned by ssh_host_key/);
    assert.ok(result.stdout.includes(`Pin it too (ssh_host_key: ${ed25519};`), result.stdout);
    assert.equal(await hardeningState('node1'), before);
  });

  test('the site playbook hardens both hosts: ed25519 recorded for the operator, sshd, moduli and kernel keys as planned', async () => {
    const applied = await runCli(['apply', inventory, '--yes']);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    // The key the run gets from now on was recorded before sshd stopped offering ECDSA, and shown to the operator.
    const ed25519 = (await lab.exec('node1', ['cat', '/etc/ssh/ssh_host_ed25519_key.pub'])).stdout.trim().split(' ').slice(0, 2).join(' ');
    assert.match(applied.stdout, /recorded node1's ssh-ed25519 host key SHA256:\S+ in \S+ \(port \d+\), read over this run's verified connection/);
    assert.ok(readFileSync(lab.knownHostsFile, 'utf8').includes(`[127.0.0.1]:${portOf('node1')} ${ed25519}`));

    const effective = (await lab.exec('node1', ['/usr/sbin/sshd', '-T'])).stdout.split('\n');
    for (const line of ['allowtcpforwarding no', 'permittunnel no', 'maxstartups 10:30:60', 'loglevel VERBOSE', 'modulifile /etc/ssh/moduli.provision']) {
      assert.ok(effective.includes(line), `sshd -T lacks ${line}`);
    }
    assert.deepEqual(effective.filter((line) => line.startsWith('hostkey ')), ['hostkey /etc/ssh/ssh_host_ed25519_key', 'hostkey /etc/ssh/ssh_host_rsa_key']);
    // The pruned groups, read on the host: every group 3072 bits or more; the shipped file as it was.
    const groups = await lab.exec('node1', ['awk', '!/^#/ { n++; if (NF != 7 || $5 < 3071) bad++ } END { print n + 0, bad + 0 }', '/etc/ssh/moduli.provision']);
    assert.equal(groups.stdout.trim(), '363 0');
    assert.equal((await lab.exec('node1', ['dpkg', '--verify', 'openssh-server'])).stdout.includes('/etc/ssh/moduli'), false, 'the conffile is untouched');
    // VERBOSE logs the key of each login.
    const journal = await lab.exec('node1', ['journalctl', '-u', 'ssh', '--no-pager', '-o', 'cat']);
    assert.match(journal.stdout, /Accepted key ED25519 SHA256:\S+ found at \/root\/\.ssh\/authorized_keys/);

    // Kernel keys: node1's own network keys set and read back; the machine's kernel keys skipped, never failed.
    const proc = async (key: string) => (await lab.exec('node1', ['cat', `/proc/sys/${key.replace(/\./g, '/')}`])).stdout.trim();
    assert.deepEqual(
      await Promise.all(['net.ipv4.conf.all.log_martians', 'net.ipv4.conf.all.accept_redirects', 'net.ipv4.conf.default.send_redirects', 'net.ipv6.conf.all.accept_redirects', 'net.ipv4.conf.all.rp_filter'].map(proc)),
      ['1', '0', '0', '0', '2'],
    );
    assert.equal(await proc('net.ipv4.ip_forward'), '1', 'forwarding stays on: the container forwards');
    assert.match((await lab.exec('balancer1', ['cat', '/etc/sysctl.d/99-provision-hardening.conf'])).stdout, /^net\.ipv4\.tcp_syncookies = 1$/m);
  });

  test('ssh-audit: no failure, and no warning beyond the two this old ssh-audit raises against good choices', async (t: TestContext) => {
    const audit = await sshAudit(portOf('node1'));
    const fails = audit.findings.filter((finding) => finding.level === 'fail');
    const warnings = audit.findings.filter((finding) => finding.level === 'warn');
    t.diagnostic(`provisioned: ${fails.length} [fail], ${warnings.length} [warn]: ${warnings.map((w) => `${w.algorithm} (${w.text})`).join('; ')} (exit ${audit.code})`);
    assert.deepEqual(fails, [], audit.output);
    assert.deepEqual(warnings.filter((finding) => !ALLOWED_WARNINGS.has(finding.algorithm)), [], audit.output);
    assert.deepEqual([...new Set(warnings.map((finding) => finding.algorithm))].sort(), [...ALLOWED_WARNINGS].sort());
    assert.ok(audit.findings.some((finding) => finding.section === 'key' && finding.algorithm === 'ssh-ed25519'));
    assert.equal(audit.findings.some((finding) => finding.algorithm.startsWith('ecdsa-') || finding.algorithm.startsWith('ecdh-')), false);
  });

  test('testssl.sh grades the balancer A+: no protocol or cipher flagged, HSTS on', async (t: TestContext) => {
    const version = await run('testssl', ['--version'], { timeout: 30_000 }).catch(() => ({ stdout: '' }));
    // eslint-disable-next-line no-control-regex
    assert.match(version.stdout.replace(/\x1b\[[0-9;]*m/g, ''), /version 3\.2/, 'testssl.sh 3.2 (bookworm-backports; .ci/install-judges installs it) grades; 3.0 does not');
    const report = join(dir, 'testssl.json');
    await run('testssl', ['--quiet', '--color', '0', '--warnings', 'off', '--add-ca', ca, '--ip', ipOf('balancer1'), '--jsonfile', report, '-p', '-s', '-f', '-S', '-h', '-U', `https://${DOMAIN}/`], {
      timeout: 180_000,
    }).catch((error: { code?: unknown }) => {
      // testssl exits with the count of problems it found; the JSON is judged below.
      if (typeof error.code !== 'number') throw error;
    });
    const findings = JSON.parse(readFileSync(report, 'utf8')) as TlsFinding[];
    const byId = (id: string) => findings.find((finding) => finding.id === id);
    const flagged = findings.filter((finding) => ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'].includes(finding.severity) && finding.id !== 'DNS_CAArecord');
    t.diagnostic(`grade ${byId('overall_grade')?.finding}, score ${byId('final_score')?.finding}; flagged: ${flagged.map((f) => `${f.id} ${f.severity}`).join(', ') || 'nothing'}`);
    assert.deepEqual(flagged, []);
    for (const protocol of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) assert.equal(byId(protocol)?.finding, 'not offered', protocol);
    assert.equal(byId('TLS1_2')?.finding, 'offered');
    assert.match(byId('HSTS_time')?.finding ?? '', /^730 days/);
    assert.equal(byId('overall_grade')?.finding, 'A+');
  });

  test('HAProxy\'s own answers carry HSTS and the security headers too, not only the nodes\' responses', async () => {
    // A node's answer (its info route), and HAProxy's own 401 to a POST without credentials.
    for (const [method, path, status] of [['GET', '/api/core/v2/info', 200], ['POST', '/api/core/v2/blocks', 401]] as const) {
      const response = await httpsRequest(ipOf('balancer1'), method, path, ca);
      assert.equal(response.status, status, method);
      assert.equal(response.headers['strict-transport-security'], 'max-age=63072000', `${method} ${status}`);
      assert.equal(response.headers['x-content-type-options'], 'nosniff', `${method} ${status}`);
      assert.equal(response.headers['x-frame-options'], 'DENY', `${method} ${status}`);
    }
  });

  test('provision still connects, plans and changes nothing: with fresh logins, and with kept connections', async () => {
    const fresh = await runCli(['apply', inventory, '--dry-run', '--detailed-exitcode']);
    assert.equal(fresh.code, 0, fresh.stdout + fresh.stderr);
    const keeperDir = join(dir, 'keeper');
    const env = { PROVISION_SSH_PERSIST: '30s', PROVISION_KEEPER_DIR: keeperDir };
    const socket = join(keeperDir, `keeper-${KEEPER_PROTOCOL}.sock`);
    try {
      const first = parseRun(await runCli(['apply', inventory, '--yes', '--json'], { env }));
      assert.deepEqual([first.summary.changed, first.summary.failed, first.summary.unreachable], [0, 0, 0], JSON.stringify(first.hosts));
      const deadline = Date.now() + 15_000;
      while (!existsSync(`${socket}.pid`) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      // The first run connected directly and started the keeper; the second logs in through it; the third is served.
      await runCli(['apply', inventory, '--yes', '--json'], { env });
      const kept = parseRun(await runCli(['apply', inventory, '--yes', '--json'], { env }));
      assert.deepEqual([kept.summary.changed, kept.summary.failed], [0, 0]);
      assert.deepEqual(Object.values(kept.hosts).map((host) => host.stats.connections), [0, 0], 'kept connections, no new login');
    } finally {
      // The keeper this test started: stopped by its pid, nothing broader.
      if (existsSync(`${socket}.pid`)) {
        const pid = Number(readFileSync(`${socket}.pid`, 'utf8'));
        if (pid > 0) {
          try {
            process.kill(pid);
          } catch {
            // Gone already.
          }
        }
      }
    }
  });
});
