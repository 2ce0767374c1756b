/**
 * A trusted certificate from an ACME CA, end to end, through the site playbook: pebble (Let's Encrypt's test CA, from
 * Debian's archive) runs in a container beside a balancer and a node, and reaches the balancer under the certificate's
 * name through a Docker network alias. HAProxy answers the HTTP-01 challenge on port 80; clients check the result from
 * the node's container with openssl and curl, and pebble's own log counts the requests made to the CA.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installStandInNode } from '../../src/lab/node-service.ts';
import { parseRun, runCli, type CliResult } from '../support/cli.ts';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { writeInventory } from '../support/inventory.ts';
import { scratchDir } from '../support/scratch.ts';

const DOMAIN = 'node.example.test';
const EMAIL = 'ops@example.test';
/** A name whose DNS points at another host (the CA's container, where nothing answers on port 80). */
const ELSEWHERE = 'www.node.example.test';
const DIRECTORY = 'https://pebble:14000/dir';
/** Where the node's container keeps pebble's root, to verify what the balancer serves. */
const ROOT = '/tmp/pebble-root.pem';

/**
 * Debian's pebble on this machine (.ci/run installs the package): one binary, linked to libc only, copied into the
 * CA's container, so that the test needs no package mirror for it. Without it the tests are skipped, except in CI.
 */
const PEBBLE_BINARY = ['/usr/bin/pebble', '/usr/local/bin/pebble'].find((path) => existsSync(path));
const PEBBLE_MISSING = PEBBLE_BINARY ? false : 'pebble is not installed on this machine (apt-get install pebble; .ci/run installs it)';

/**
 * pebble with a TLS certificate of its own (signed by a CA made here, which the inventory's ca_file then trusts), its
 * directory on :14000 and management on :15000, challenges checked on port 80 at once (no random sleeps), a real
 * challenge for every order (no reused authorizations), and no nonces refused on purpose. Installed, not started.
 */
const PEBBLE_SETUP = `set -e
mkdir -p /etc/pebble
cd /etc/pebble
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=test ACME server CA' -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=pebble -keyout key.pem -out request.csr 2>/dev/null
printf 'subjectAltName=DNS:pebble\\n' >san.ext
openssl x509 -req -in request.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out cert.pem 2>/dev/null
cat >pebble-config.json <<'EOF'
{"pebble": {"listenAddress": "0.0.0.0:14000", "managementListenAddress": "0.0.0.0:15000", "certificate": "/etc/pebble/cert.pem",
 "privateKey": "/etc/pebble/key.pem", "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
cat >/etc/systemd/system/pebble.service <<'EOF'
[Service]
Environment=PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 PEBBLE_WFE_NONCEREJECT=0
ExecStart=/usr/local/bin/pebble -config /etc/pebble/pebble-config.json
EOF
systemctl daemon-reload`;

/** Every output of every run, checked at the end for key material. */
const outputs: string[] = [];

async function provision(args: string[]): Promise<CliResult> {
  const result = await runCli(args);
  outputs.push(result.stdout, result.stderr);
  return result;
}

function assertOk(result: CliResult): void {
  assert.equal(result.code, 0, result.stdout + result.stderr);
}

describe('a certificate from an ACME CA (pebble), through the site playbook', { skip: process.env.CI ? false : PEBBLE_MISSING }, () => {
  let lab: TestHosts;
  let caFile: string;
  let balancerIp: string;

  function inventory(acme: Record<string, unknown> = {}): string {
    return writeInventory(lab, {
      hosts: {
        balancer1: {
          haproxy: {
            domain: DOMAIN,
            // The client loop below must never meet the rate limit: a 429 would count as a failed request.
            rate_limit: { requests: 100_000 },
            tls: { acme: { email: EMAIL, directory: DIRECTORY, ca_file: caFile, ...acme } },
          },
        },
      },
    });
  }

  const sh = async (name: string, script: string, ...args: string[]) => lab.exec(name, ['sh', '-c', script, 'sh', ...args]);

  /** Requests pebble has answered so far, from its own log. */
  async function caRequests(): Promise<number> {
    const result = await sh('pebble', 'journalctl --sync; journalctl -u pebble -o cat | grep -c "calling handler" || true');
    return Number(result.stdout.trim());
  }

  /** What HAProxy serves on 443 for the domain, as openssl sees it from the node: verified against pebble's root or not. */
  async function served(): Promise<{ verified: boolean; serial: string; issuer: string }> {
    const result = await sh(
      'node1',
      'out=$(timeout 10 openssl s_client -connect "$1:443" -servername "$2" -CAfile "$3" -verify_return_error </dev/null 2>/dev/null); code=$?; ' +
        'printf "%s\\n" "$out" | openssl x509 -noout -serial -issuer -nameopt RFC2253; echo "exit=$code"',
      balancerIp,
      DOMAIN,
      ROOT,
    );
    return {
      verified: /exit=0/.test(result.stdout),
      serial: /serial=(\S+)/.exec(result.stdout)?.[1] ?? '',
      issuer: /issuer=(.*)/.exec(result.stdout)?.[1] ?? '',
    };
  }

  async function serialOnHost(): Promise<string> {
    return (await sh('balancer1', 'openssl x509 -in /etc/haproxy/certs/site.pem -noout -serial')).stdout.trim().replace('serial=', '');
  }

  async function isActive(unit: string): Promise<string> {
    return (await lab.exec('balancer1', ['systemctl', 'is-active', unit])).stdout.trim();
  }

  /** A checksum of everything a run could touch on the balancer, read through docker exec. */
  async function balancerState(): Promise<string> {
    const script =
      'find /etc /usr/local /var/lib/provision -xdev -printf "%p %m %u %g %s\\n" 2>/dev/null | sort | sha256sum; find /etc /usr/local -xdev -type f -exec sha256sum {} + 2>/dev/null | sort | sha256sum; ' +
      'dpkg-query -W -f "\\${Package} \\${Status}\\n" | sha256sum; systemctl list-unit-files --state=enabled --no-legend | sha256sum';
    return (await sh('balancer1', script)).stdout;
  }

  before(async () => {
    const started = Date.now();
    lab = await startTestHosts([
      { name: 'balancer1', group: 'balancers', aliases: [DOMAIN] },
      { name: 'node1', group: 'nodes' },
      { name: 'pebble', group: 'services', managed: false, aliases: [ELSEWHERE] },
    ]);
    balancerIp = lab.hosts.find((host) => host.name === 'balancer1')!.privateIp;
    assert.ok(PEBBLE_BINARY, PEBBLE_MISSING || '');
    await lab.hosts.find((host) => host.name === 'pebble')!.container.copyFilesToContainer([{ source: PEBBLE_BINARY, target: '/usr/local/bin/pebble', mode: 0o755 }]);
    const [pebble] = await Promise.all([sh('pebble', PEBBLE_SETUP), installStandInNode((command) => lab.exec('node1', command))]);
    assert.equal(pebble.exitCode, 0, pebble.stderr);
    caFile = join(scratchDir('provision-acme-ca-'), 'test-acme-server-ca.pem');
    writeFileSync(caFile, (await lab.exec('pebble', ['cat', '/etc/pebble/ca.pem'])).stdout);
    console.error(`# balancer, node and pebble ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  after(async () => lab?.stop());

  test('the dry run shows the certificate it would request and the timer, and changes nothing', async () => {
    const before = await balancerState();
    const result = await provision(['apply', inventory(), '--dry-run']);
    assertOk(result);
    assert.match(result.stdout, new RegExp(`would-change +acme\\.certificate ${DOMAIN.replace(/\./g, '\\.')}\\n(\\s+note: .*\\n)?\\s+- request a certificate for ${DOMAIN.replace(/\./g, '\\.')} from ${DIRECTORY} \\(account ${EMAIL}\\)`));
    assert.match(result.stdout, /would-change +systemd\.unit provision-acme\.timer/);
    assert.match(result.stdout, /\+OnCalendar=\*-\*-\* 00,12:00:00/);
    assert.match(result.stdout, /acl acme_challenge path_beg \/\.well-known\/acme-challenge\//);
    assert.equal(await balancerState(), before);
  });

  test('before the CA answers, HAProxy starts on a temporary self-signed certificate and the run reports the CA failure', async () => {
    const result = await provision(['apply', inventory(), '--yes']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /failed +acme\.certificate node\.example\.test/);
    assert.match(result.stdout, /Requesting pebble\/dir: Connection refused/);
    assert.doesNotMatch(result.stdout + result.stderr, /Traceback|at .*\.ts:\d+/);
    assert.match(result.stdout, /balancer1 +ok=\d+ +changed=\d+ +failed=1/);
    assert.equal(await isActive('haproxy'), 'active');
    assert.equal(await isActive('provision-acme.timer'), 'active');
    const issuer = (await sh('balancer1', 'openssl x509 -in /etc/haproxy/certs/site.pem -noout -issuer -nameopt RFC2253')).stdout;
    assert.match(issuer, /O=provision self-signed,CN=node\.example\.test/);
  });

  test('once the CA answers, the next run gets the certificate through HAProxy’s port 80, chained to the CA’s root', async () => {
    await sh('pebble', 'systemctl start pebble');
    // From the node, which has curl: the directory answers within 10 s; then pebble's root, made new by this start.
    const root = await sh(
      'node1',
      'printf "%s" "$1" >/tmp/pebble-ca.pem; for i in $(seq 50); do curl -sf --cacert /tmp/pebble-ca.pem https://pebble:14000/dir >/dev/null && break; sleep 0.2; done; ' +
        'curl -sf --cacert /tmp/pebble-ca.pem -o "$2" https://pebble:15000/roots/0',
      readFileSync(caFile, 'utf8'),
      ROOT,
    );
    assert.equal(root.exitCode, 0, root.stdout + root.stderr);

    const result = await provision(['apply', inventory(), '--yes', '--json']);
    assertOk(result);
    const run = parseRun(result);
    assert.deepEqual(run.hosts.balancer1?.tasks.filter((task) => task.status === 'changed').map((task) => task.name), ['acme.certificate node.example.test']);
    const now = await served();
    assert.ok(now.verified, 'openssl verifies the served chain against pebble’s root');
    assert.match(now.issuer, /^CN=Pebble Intermediate CA [0-9a-f]+$/);
    assert.equal(now.serial, await serialOnHost());
    // The CA reached the challenge through HAProxy: its request is in HAProxy's log, routed to the ACME backend.
    const log = await sh('balancer1', 'journalctl --sync; journalctl -t haproxy -o cat | grep -c "acme_challenge/acme_client .* 200 "');
    assert.ok(Number(log.stdout.trim()) >= 1, log.stdout);

    assert.equal(await isActive('provision-acme.timer'), 'active');
    assert.equal((await lab.exec('balancer1', ['systemctl', 'is-enabled', 'provision-acme.timer'])).stdout.trim(), 'enabled');
    assert.equal((await lab.exec('balancer1', ['systemctl', 'is-enabled', 'certbot.timer'])).stdout.trim(), 'disabled');
    // The account key and the certificate's key: root's alone, on the balancer.
    const modes = await sh('balancer1', 'stat -c "%a %U %n" /etc/letsencrypt/accounts/*/*/*/private_key.json /etc/letsencrypt/archive/haproxy/privkey*.pem /etc/haproxy/certs/site.pem');
    const lines = modes.stdout.trim().split('\n');
    assert.equal(lines.length, 3, modes.stdout + modes.stderr);
    for (const line of lines) assert.match(line, /^[4-7]00 root /, line);

    const facts = await provision(['facts', inventory()]);
    assertOk(facts);
    assert.match(facts.stdout, /TLS: Pebble Intermediate CA [0-9a-f]+, expires in 18\d\d days/);
  });

  test('a second run with a valid certificate changes nothing and makes no request to the CA', async () => {
    const requests = await caRequests();
    const serial = await serialOnHost();
    const again = await provision(['apply', inventory(), '--yes', '--json']);
    assertOk(again);
    assert.equal(parseRun(again).summary.changed, 0, again.stdout);
    const dry = await provision(['apply', inventory(), '--dry-run', '--detailed-exitcode']);
    assert.equal(dry.code, 0, dry.stdout);
    assert.match(dry.stdout + (await provision(['apply', inventory(), '--dry-run', '-v'])).stdout, /HAProxy serves the certificate for node\.example\.test from https:\/\/pebble:14000\/dir/);
    assert.equal(await caRequests(), requests, 'no request reached the CA');
    assert.equal(await serialOnHost(), serial);
  });

  test('a new account e-mail updates the account at the CA and keeps the certificate; the run after changes nothing', async () => {
    const serial = await serialOnHost();
    const email = 'noc@example.test';
    const before = await caRequests();
    const result = await provision(['apply', inventory({ email }), '--yes', '--json']);
    assertOk(result);
    const changed = parseRun(result).hosts.balancer1?.tasks.filter((task) => task.status === 'changed').map((task) => task.name);
    assert.deepEqual(changed, ['file /etc/provision/acme.conf', 'acme.certificate node.example.test']);
    const requests = await caRequests();
    assert.ok(requests > before, 'the CA was asked');
    // certbot says so once the CA has accepted the new contact.
    const journal = await sh('balancer1', 'journalctl --sync; journalctl -u provision-acme -o cat');
    assert.match(journal.stdout, /e-mail address was updated to noc@example\.test/i, journal.stdout);
    assert.equal(await serialOnHost(), serial);
    const again = await provision(['apply', inventory({ email }), '--yes', '--json']);
    assertOk(again);
    assert.equal(parseRun(again).summary.changed, 0, again.stdout);
    assert.equal(await caRequests(), requests);
  });

  test('a name whose DNS points at another host: the run fails with the CA’s own words and HAProxy keeps its certificate', async () => {
    const serial = await serialOnHost();
    const result = await provision(['apply', inventory({ extra_domains: [ELSEWHERE] }), '--yes']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`- request a certificate for ${DOMAIN}, ${ELSEWHERE} from `.replace(/\./g, '\\.')));
    assert.match(result.stdout, /failed +acme\.certificate node\.example\.test/);
    // pebble's own answer: it could not fetch the challenge from the host the name points at.
    assert.match(result.stdout, /Domain: www\.node\.example\.test\n +Type: +connection\n +Detail: Get "http:\/\/www\.node\.example\.test:80\/\.well-known\/acme-challenge\/[^"]+": .*connection refused\n/);
    assert.doesNotMatch(result.stdout + result.stderr, /Traceback|AttributeError/);
    const now = await served();
    assert.ok(now.verified);
    assert.equal(now.serial, serial);
    // The failure is in the journal too, as the timer's runs log it.
    const journal = await sh('balancer1', 'journalctl --sync; journalctl -u provision-acme -o cat | grep -c "^provision-acme: error: Detail: "');
    assert.ok(Number(journal.stdout.trim()) >= 1, journal.stdout);
  });

  test('a forced renewal issues a new certificate and HAProxy serves it without a failed request', async () => {
    const old = await serialOnHost();
    // Requests from the node until told to stop: at most 3000 of them, and never longer than 90 s.
    const loop = sh(
      'node1',
      'rm -f /tmp/stop; ok=0; failed=0; i=0; end=$(($(date +%s) + 90)); ' +
        'while [ ! -e /tmp/stop ] && [ "$i" -lt 3000 ] && [ "$(date +%s)" -lt "$end" ]; do i=$((i + 1)); ' +
        'code=$(curl -s -o /dev/null -m 5 --cacert "$3" --resolve "$2:443:$1" -w "%{http_code}" "https://$2/health"); ' +
        'if [ "$code" = 200 ]; then ok=$((ok + 1)); else failed=$((failed + 1)); echo "request $i: $code"; fi; done; echo "ok=$ok failed=$failed"',
      balancerIp,
      DOMAIN,
      ROOT,
    );
    // renew_before longer than the certificate's five years: due at once.
    const result = await provision(['apply', inventory({ renew_before: '2000d' }), '--yes', '--json']);
    await sh('node1', 'touch /tmp/stop');
    const counts = (await loop).stdout;
    console.error(`# requests across the renewal: ${counts.trim().split('\n').at(-1)}`);
    assertOk(result);
    assert.match(counts, /ok=\d+ failed=0$/m, counts);
    assert.ok(Number(/ok=(\d+)/.exec(counts)?.[1]) >= 20, counts);
    const renewed = await serialOnHost();
    assert.notEqual(renewed, old);
    const now = await served();
    assert.ok(now.verified);
    assert.equal(now.serial, renewed);
    assert.match((await sh('balancer1', 'cat /etc/letsencrypt/renewal/haproxy.conf')).stdout, /^renew_before_expiry = 2000 days$/m);
  });

  test('with the CA gone, a due renewal fails with the CA’s error and HAProxy keeps serving its certificate', async () => {
    const serial = await serialOnHost();
    await sh('pebble', 'systemctl stop pebble');
    const result = await provision(['apply', inventory({ renew_before: '2000d' }), '--yes']);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, /failed +acme\.certificate node\.example\.test/);
    assert.match(result.stdout, /Failed to renew certificate haproxy with error: Requesting pebble\/dir: Connection refused/);
    assert.doesNotMatch(result.stdout + result.stderr, /Traceback/);
    const now = await served();
    assert.ok(now.verified);
    assert.equal(now.serial, serial);
    assert.equal(await isActive('haproxy'), 'active');
    assert.equal(await isActive('provision-acme.timer'), 'active');
  });

  test('without tls.acme the timer stops and a self-signed certificate replaces the CA’s; the next run changes nothing', async () => {
    const plain = writeInventory(lab, { hosts: { balancer1: { haproxy: { domain: DOMAIN, rate_limit: { requests: 100_000 } } } } });
    assertOk(await provision(['apply', plain, '--yes']));
    assert.equal(await isActive('provision-acme.timer'), 'inactive');
    assert.equal((await lab.exec('balancer1', ['systemctl', 'is-enabled', 'provision-acme.timer'])).stdout.trim(), 'disabled');
    const issuer = (await sh('balancer1', 'openssl x509 -in /etc/haproxy/certs/site.pem -noout -issuer -nameopt RFC2253')).stdout;
    assert.match(issuer, /O=provision self-signed,CN=node\.example\.test/);
    assert.doesNotMatch((await sh('balancer1', 'cat /etc/haproxy/haproxy.cfg')).stdout, /acme/);
    assert.equal(await isActive('haproxy'), 'active');
    const again = await provision(['apply', plain, '--yes', '--json']);
    assertOk(again);
    assert.equal(parseRun(again).summary.changed, 0, again.stdout);
  });

  test('no output showed the account key or the certificate key', async () => {
    const keys = await sh('balancer1', 'cat /etc/letsencrypt/archive/haproxy/privkey*.pem /etc/letsencrypt/accounts/*/*/*/private_key.json');
    const pieces = [
      ...keys.stdout.split('\n').filter((line) => /^[A-Za-z0-9+/=]{16,}$/.test(line)),
      ...[...keys.stdout.matchAll(/"(?:d|p|q|dp|dq|qi)": "([^"]{16,})"/g)].map((match) => match[1]!),
    ];
    assert.ok(pieces.length >= 3, 'the keys were read');
    const all = outputs.join('\n');
    for (const piece of pieces) assert.ok(!all.includes(piece), 'a piece of a private key reached an output');
    assert.ok(readFileSync(caFile, 'utf8').includes('BEGIN CERTIFICATE'));
  });
});
