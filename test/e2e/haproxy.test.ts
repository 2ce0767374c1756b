/**
 * HAProxy on a real balancer in front of two real (stand-in) nodes: TLS, redirect and HSTS, the authorization layer,
 * abuse limits and bans, source lists, failover, CPU weights, the operator's certificate, secrets kept out of every
 * output, idempotence and a dry run that changes nothing. Clients are the test containers themselves (curl, openssl).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { installStandInNode } from '../../src/lab/node-service.ts';
import { parseRun, runCli, type CliResult } from '../support/cli.ts';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { writeInventory } from '../support/inventory.ts';

const PLAYBOOK = 'test/fixtures/playbooks/haproxy.ts';
const FIXTURES = fileURLToPath(new URL('../fixtures/haproxy/', import.meta.url));
const DOMAIN = 'lb.provision.test';
const PASSWORD = 'e2e balancer password';
const TOKEN = `e2e-token-${'0123456789abcdef'.repeat(3)}`;
const ENV = { HAPROXY_TEST_PASSWORD: PASSWORD, HAPROXY_TEST_TOKEN: TOKEN };
/** The base64 lines of the fixture key: no output may show any of them. */
const KEY_LINES = readFileSync(`${FIXTURES}test-only.key`, 'utf8')
  .split('\n')
  .filter((line) => /^[A-Za-z0-9+/=]{16,}$/.test(line));
const RATE = { requests: 20, window: '3s', ban_after: 10, ban: '12s', connections: 3 };

/** Every output of every run, checked at the end for secrets. */
const outputs: string[] = [];

async function provision(args: string[]): Promise<CliResult> {
  const result = await runCli([...args, '--playbook', PLAYBOOK], { env: ENV });
  outputs.push(result.stdout, result.stderr);
  return result;
}

function assertOk(result: CliResult): void {
  assert.equal(result.code, 0, result.stdout + result.stderr);
}

describe('HAProxy in front of the nodes', () => {
  let lab: TestHosts;
  let balancerIp: string;
  const ipOf = (name: string) => lab.hosts.find((host) => host.name === name)!.privateIp;

  /** The inventory with the balancer's haproxy vars (merged over the defaults this file uses). */
  function inventory(haproxy: Record<string, unknown> = {}, extra: Parameters<typeof writeInventory>[1] = {}): string {
    return writeInventory(lab, {
      ...extra,
      hosts: {
        balancer1: {
          haproxy: {
            domain: DOMAIN,
            rate_limit: RATE,
            max_body: '4k',
            auth: { users: [{ name: 'alice', password: '${HAPROXY_TEST_PASSWORD}' }], tokens: [{ name: 'ci-bot', token: '${HAPROXY_TEST_TOKEN}' }] },
            ...haproxy,
          },
        },
      },
    });
  }

  /**
   * Runs curl in `from` against the balancer (the domain resolved to its address) and returns the status code, or
   * 000 when the connection failed. Bounded: 5 s per request.
   */
  async function request(from: string, path: string, options: string[] = []): Promise<string> {
    const target = from === 'balancer1' ? '127.0.0.1' : balancerIp;
    const result = await lab.exec(from, ['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', '--resolve', `${DOMAIN}:443:${target}`, ...options, `https://${DOMAIN}${path}`]);
    return result.stdout.trim();
  }

  /** `count` requests in one go from `from` (bounded: 5 s each, one shell), their status codes in order. */
  async function burst(from: string, path: string, count: number): Promise<string[]> {
    const target = from === 'balancer1' ? '127.0.0.1' : balancerIp;
    const script = `i=0; while [ "$i" -lt ${count} ]; do i=$((i + 1)); curl -sk -o /dev/null -w '%{http_code} ' --max-time 5 --resolve ${DOMAIN}:443:${target} https://${DOMAIN}${path}; done`;
    return (await lab.exec(from, ['sh', '-c', script])).stdout.trim().split(/\s+/);
  }

  /** A checksum of everything a run could touch on the balancer, read through docker exec. */
  async function balancerState(): Promise<string> {
    const script =
      'find /etc -xdev -printf "%p %m %u %g %s\\n" 2>/dev/null | sort | sha256sum; find /etc -xdev -type f -exec sha256sum {} + 2>/dev/null | sort | sha256sum; ' +
      'dpkg-query -W -f "\\${Package} \\${Status}\\n" | sha256sum; systemctl list-units --type=service --state=running --no-legend | sha256sum; ' +
      'systemctl show -p MainPID --value haproxy';
    return (await lab.exec('balancer1', ['sh', '-c', script])).stdout;
  }

  async function read(name: string, path: string): Promise<string> {
    const result = await lab.exec(name, ['cat', path]);
    assert.equal(result.exitCode, 0, result.stderr);
    return result.stdout;
  }

  before(async () => {
    const started = Date.now();
    lab = await startTestHosts([
      { name: 'balancer1', group: 'balancers' },
      { name: 'node1', group: 'nodes', cpusetCpus: '0' },
      { name: 'node2', group: 'nodes', cpusetCpus: '0-1' },
    ]);
    balancerIp = ipOf('balancer1');
    // The stand-in's installer also brings curl. The balancer runs a node too, for the last test (a host in both
    // groups); until then it is not in `nodes`, and its node is just a process no one asks.
    await Promise.all(['node1', 'node2', 'balancer1'].map((name) => installStandInNode((command) => lab.exec(name, command))));
    console.error(`# balancer and two nodes ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  after(async () => lab?.stop());

  test('the dry run shows the plan and leaves the balancer unchanged', async () => {
    const before = await balancerState();
    const result = await provision(['apply', inventory(), '--dry-run']);
    assertOk(result);
    assert.match(result.stdout, /apt\.packages haproxy, openssl, socat\n\s+- install haproxy/);
    assert.match(result.stdout, /make a self-signed certificate for lb\.provision\.test on the host/);
    assert.match(result.stdout, /backend node2 [\d.]+:14265 weight 2: 2 usable CPUs/);
    assert.equal(await balancerState(), before);
  });

  test('apply converges; a second run changes nothing and runs no handler', async () => {
    const first = await provision(['apply', inventory(), '--yes', '--json']);
    assertOk(first);
    assert.ok(parseRun(first).summary.changed > 0);
    assert.deepEqual(parseRun(first).hosts.balancer1?.handlers, [{ name: 'reload haproxy', status: 'changed' }]);
    assert.equal((await lab.exec('balancer1', ['systemctl', 'is-active', 'haproxy'])).stdout.trim(), 'active');
    assert.equal((await lab.exec('balancer1', ['systemctl', 'is-enabled', 'haproxy'])).stdout.trim(), 'enabled');
    const modes = await lab.exec('balancer1', ['stat', '-c', '%n %a %U:%G', '/etc/haproxy/haproxy.cfg', '/etc/haproxy/certs/site.pem', '/etc/haproxy/tokens.map']);
    assert.equal(modes.stdout, '/etc/haproxy/haproxy.cfg 640 root:haproxy\n/etc/haproxy/certs/site.pem 600 root:root\n/etc/haproxy/tokens.map 640 root:haproxy\n');
    const pid = (await lab.exec('balancer1', ['systemctl', 'show', '-p', 'MainPID', '--value', 'haproxy'])).stdout;

    const second = await provision(['apply', inventory(), '--yes', '--json']);
    assertOk(second);
    const run = parseRun(second);
    assert.equal(run.summary.changed, 0, second.stdout);
    assert.deepEqual(run.hosts.balancer1?.handlers, []);
    assert.equal((await lab.exec('balancer1', ['systemctl', 'show', '-p', 'MainPID', '--value', 'haproxy'])).stdout, pid);
    const drift = await provision(['apply', inventory(), '--dry-run', '--detailed-exitcode']);
    assert.equal(drift.code, 0, drift.stdout);
  });

  test('weights follow each node’s usable CPUs, and the config holds hashes, never passwords or tokens', async () => {
    const config = await read('balancer1', '/etc/haproxy/haproxy.cfg');
    assert.match(config, new RegExp(`^ {4}server node1 ${ipOf('node1').replace(/\./g, '\\.')}:14265 weight 1$`, 'm'));
    assert.match(config, new RegExp(`^ {4}server node2 ${ipOf('node2').replace(/\./g, '\\.')}:14265 weight 2$`, 'm'));
    assert.match(config, /^ {4}user alice password \$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/m);
    const tokens = await read('balancer1', '/etc/haproxy/tokens.map');
    assert.match(tokens, /^[0-9a-f]{64} ci-bot$/m);
    for (const text of [config, tokens]) assert.ok(!text.includes(PASSWORD) && !text.includes(TOKEN));
  });

  test('the stats page answers on the balancer’s loopback and nowhere else', async () => {
    const local = await lab.exec('balancer1', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', 'http://127.0.0.1:8404/stats']);
    assert.equal(local.stdout.trim(), '200');
    const remote = await lab.exec('node1', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `http://${balancerIp}:8404/stats`]);
    assert.equal(remote.stdout.trim(), '000');
  });

  test('TLS 1.2 and 1.3 with ALPN h2 are served; TLS 1.1 is refused; the self-signed certificate names the domain', async () => {
    const handshake = (flags: string) =>
      lab.exec('balancer1', ['sh', '-c', `echo | timeout 10 openssl s_client -connect 127.0.0.1:443 -servername ${DOMAIN} ${flags} 2>&1`]);
    const tls13 = await handshake('-tls1_3 -alpn h2,http/1.1');
    assert.match(tls13.stdout, /New, TLSv1\.3, Cipher is TLS_AES_/);
    assert.match(tls13.stdout, /ALPN protocol: h2/);
    assert.match(tls13.stdout, /subject=CN = lb\.provision\.test, O = provision self-signed/);
    assert.match((await handshake('-tls1_2')).stdout, /New, TLSv1\.2, Cipher is ECDHE-ECDSA-AES/);
    // The client side must be talked into TLS 1.1 (OpenSSL 3 refuses it at its default level): the server still says no.
    const tls11 = await handshake('-tls1_1 -cipher DEFAULT:@SECLEVEL=0');
    assert.match(tls11.stdout, /alert protocol version/);
    assert.match(tls11.stdout, /Cipher is \(NONE\)/);
    const cbc = await handshake('-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA');
    assert.match(cbc.stdout, /alert handshake failure/, 'CBC suites are not in Mozilla intermediate');
  });

  test('plain HTTP is redirected to HTTPS, and HTTPS answers carry HSTS', async () => {
    const redirect = await lab.exec('node1', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '--max-time', '5', '-H', `Host: ${DOMAIN}`, `http://${balancerIp}/api/core/v2/info`]);
    assert.equal(redirect.stdout, `301 https://${DOMAIN}/api/core/v2/info`);
    const headers = await lab.exec('node1', ['curl', '-sk', '-D', '-', '-o', '/dev/null', '--max-time', '5', '--resolve', `${DOMAIN}:443:${balancerIp}`, `https://${DOMAIN}/health`]);
    assert.match(headers.stdout, /^strict-transport-security: max-age=63072000\r?$/im);
  });

  test('protected routes need basic auth or a bearer token; health and info stay public', async () => {
    const post = ['-X', 'POST', '-H', 'Content-Type: application/json', '-d', '{"protocolVersion":2}'];
    assert.equal(await request('node1', '/health'), '200');
    assert.equal(await request('node1', '/api/core/v2/info'), '200');
    assert.equal(await request('node1', '/api/core/v2/blocks', post), '401');
    assert.equal(await request('node1', '/api/core/v2/blocks', [...post, '-u', 'alice:wrong password here']), '401');
    assert.equal(await request('node1', '/api/core/v2/blocks', [...post, '-u', `alice:${PASSWORD}`]), '201');
    assert.equal(await request('node1', '/api/core/v2/blocks', [...post, '-H', `Authorization: Bearer ${TOKEN}`]), '201');
    assert.equal(await request('node1', '/api/core/v2/blocks', [...post, '-H', `Authorization: Bearer ${TOKEN.replace(/.$/, 'x')}`]), '401');
    assert.equal(await request('node1', '/api/core/v2/peers', ['-X', 'DELETE']), '401', 'every write method is protected');
    const big = ['-X', 'POST', '-u', `alice:${PASSWORD}`, '--data-binary', 'x'.repeat(5000)];
    assert.equal(await request('node1', '/api/core/v2/blocks', big), '413', 'bodies over max_body are refused');
  });

  test('a source over the rate limit gets 429, one that keeps going is banned for the ban time, then served again', async () => {
    // From the balancer itself (127.0.0.1): the other tests' clients keep their own counters.
    await new Promise((resolve) => setTimeout(resolve, 6500)); // let earlier requests from 127.0.0.1 leave the window
    const codes = await burst('balancer1', '/health', 40);
    const served = codes.indexOf('429');
    // HAProxy's rate is a sliding estimate that can only undercount: a burst across a period boundary may get a
    // few more through, never fewer.
    assert.ok(served >= 20 && served <= 24, codes.join(' '));
    assert.deepEqual(codes.slice(served), Array(40 - served).fill('429'), codes.join(' '));
    const bannedAt = Date.now();
    // Two windows later the rate is back to nothing, but the ban holds.
    await new Promise((resolve) => setTimeout(resolve, 7000));
    assert.equal(await request('balancer1', '/health'), '429', 'still banned after the window');
    assert.equal(await request('node1', '/health'), '200', 'other sources are served');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, bannedAt + 13_000 - Date.now())));
    assert.equal(await request('balancer1', '/health'), '200', 'the ban ends after 12 s');
  });

  test('a source may hold only rate_limit.connections connections at once', async () => {
    const script = `exec 3<>/dev/tcp/${balancerIp}/443 4<>/dev/tcp/${balancerIp}/443 5<>/dev/tcp/${balancerIp}/443; sleep 0.3
curl -sk -o /dev/null -w '%{http_code} ' --max-time 5 --resolve ${DOMAIN}:443:${balancerIp} https://${DOMAIN}/health
exec 3>&- 4>&- 5>&-; sleep 0.3
curl -sk -o /dev/null -w '%{http_code}' --max-time 5 --resolve ${DOMAIN}:443:${balancerIp} https://${DOMAIN}/health`;
    const result = await lab.exec('node2', ['bash', '-c', script]);
    assert.equal(result.stdout, '000 200', 'the fourth connection is refused, and served once the others close');
  });

  test('a node that stops is taken out: requests keep succeeding on the other', async () => {
    const answeredBy = async (count: number) => {
      const script = `i=0; while [ "$i" -lt ${count} ]; do i=$((i + 1)); curl -sk -D - -o /dev/null --max-time 5 --resolve ${DOMAIN}:443:${balancerIp} https://${DOMAIN}/api/core/v2/info | tr -d '\\r' | sed -n 's/^HTTP\\/[0-9.]* \\([0-9]*\\).*/\\1/p; s/^x-node-name: //Ip' | paste -sd' '; done`;
      return (await lab.exec('node1', ['sh', '-c', script])).stdout.trim().split('\n');
    };
    const nodeName = (name: string) => lab.exec(name, ['hostname']).then((result) => result.stdout.trim());
    const [name1, name2] = await Promise.all([nodeName('node1'), nodeName('node2')]);
    assert.deepEqual(new Set(await answeredBy(6)), new Set([`200 ${name1}`, `200 ${name2}`]), 'both nodes serve');
    assert.equal((await lab.exec('node1', ['systemctl', 'stop', 'hornet'])).exitCode, 0);
    try {
      assert.deepEqual(new Set(await answeredBy(6)), new Set([`200 ${name2}`]), 'every request succeeds, on node2');
      // Bounded wait (10 s) for the health check to mark node1 down.
      const script = 'for i in $(seq 1 20); do journalctl -u haproxy --no-pager -o cat | grep -q "Server nodes/node1 is DOWN" && exit 0; sleep 0.5; done; exit 1';
      assert.equal((await lab.exec('balancer1', ['sh', '-c', script])).exitCode, 0, 'HAProxy logs node1 as DOWN');
    } finally {
      await lab.exec('node1', ['systemctl', 'start', 'hornet']);
    }
  });

  test('HAProxy logs each request to the journal with the client address and status', async () => {
    const logs = await lab.exec('balancer1', ['journalctl', '-t', 'haproxy', '--no-pager', '-o', 'cat', '-n', '200']);
    assert.match(logs.stdout, new RegExp(`^${ipOf('node1').replace(/\./g, '\\.')}:\\d+ \\[[^\\]]+\\] https~ nodes/node\\d \\S+ 201 `, 'm'));
    assert.match(logs.stdout, /^127\.0\.0\.1:\d+ \[[^\]]+\] https~ https\/<NOSRV> \S+ 429 /m);
  });

  test('the deny list answers 403; the allow list refuses everyone else', async () => {
    const denied = await provision(['apply', inventory({ deny: [ipOf('node2')] }), '--yes']);
    assertOk(denied);
    assert.equal(await read('balancer1', '/etc/haproxy/deny.lst'), `# Managed by provision (haproxy.deny): these sources get 403.\n${ipOf('node2')}\n`);
    assert.equal(await request('node2', '/health'), '403');
    assert.equal(await request('node1', '/health'), '200');

    const allowed = await provision(['apply', inventory({ allow: [`${ipOf('node1')}/32`, '127.0.0.1'] }), '--yes']);
    assertOk(allowed);
    assert.match(await read('balancer1', '/etc/haproxy/allow.lst'), new RegExp(`^${ipOf('node1').replace(/\./g, '\\.')}/32$`, 'm'));
    assert.equal(await request('node2', '/health'), '000', 'node2 cannot even connect');
    assert.equal(await request('node1', '/health'), '200');
    assertOk(await provision(['apply', inventory(), '--yes']));
    assert.equal(await request('node2', '/health'), '200', 'emptied lists serve everyone again');
  });

  test('the operator’s certificate replaces the self-signed one, and its key never shows in any output', async () => {
    const withCertificate = inventory({ tls: { cert_file: `${FIXTURES}test-only.crt`, key_file: `${FIXTURES}test-only.key` } });
    const before = await balancerState();
    const dry = await provision(['apply', withCertificate, '--dry-run']);
    assertOk(dry);
    assert.match(dry.stdout, /replace the provided certificate in \/etc\/haproxy\/certs\/site\.pem/);
    assert.match(dry.stdout, /\(secret content of \/etc\/haproxy\/certs\/site\.pem changed; not shown\)/);
    assert.equal(await balancerState(), before, 'the dry run changed nothing');
    const dryJson = await provision(['apply', withCertificate, '--dry-run', '--json']);
    assertOk(dryJson);

    const applied = await provision(['apply', withCertificate, '--yes', '--json']);
    assertOk(applied);
    assert.deepEqual(parseRun(applied).hosts.balancer1?.handlers, [{ name: 'reload haproxy', status: 'changed' }]);
    const served = await lab.exec('balancer1', ['sh', '-c', `echo | timeout 10 openssl s_client -connect 127.0.0.1:443 -servername ${DOMAIN} 2>/dev/null | openssl x509 -noout -subject`]);
    assert.match(served.stdout, /O = Provision Test Fixture/);
    assert.equal((await lab.exec('balancer1', ['stat', '-c', '%a', '/etc/haproxy/certs/site.pem'])).stdout.trim(), '600');
    const again = await provision(['apply', withCertificate, '--yes']);
    assertOk(again);
    assert.doesNotMatch(again.stdout, /changed +haproxy/);
    assert.equal(parseRun(await provision(['apply', withCertificate, '--yes', '--json'])).summary.changed, 0);
  });

  test('a host in both groups fronts its own node on 127.0.0.1', async () => {
    const balancer = lab.hosts.find((host) => host.name === 'balancer1')!;
    const both = inventory({}, { extraHosts: { nodes: { balancer1: { ansible_host: '127.0.0.1', ansible_port: balancer.sshPort, private_ip: balancer.privateIp } } } });
    assertOk(await provision(['apply', both, '--yes']));
    assert.match(await read('balancer1', '/etc/haproxy/haproxy.cfg'), /^ {4}server balancer1 127\.0\.0\.1:14265 weight \d+$/m);
    assert.equal(await request('node1', '/api/core/v2/info'), '200');
  });

  test('no output of any run shows the key, the password or the token', () => {
    assert.ok(KEY_LINES.length >= 2);
    for (const text of outputs) {
      for (const secret of [...KEY_LINES, PASSWORD, TOKEN]) assert.ok(!text.includes(secret), `an output shows a secret:\n${text.slice(0, 2000)}`);
      assert.doesNotMatch(text, /PRIVATE KEY-----\n[A-Za-z0-9+/]/);
    }
  });
});
