import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { haproxyVars, pemBlocks } from '../../tasks/haproxy/vars.ts';
import { containsSecret, redact } from '../../src/report/redact.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/haproxy/', import.meta.url));
const schema = haproxyVars(FIXTURES);

function issues(input: unknown): string[] {
  const result = schema.safeParse(input);
  assert.equal(result.success, false, 'expected the input to be refused');
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

test('every key has a documented default', () => {
  const vars = schema.parse({});
  assert.equal(vars.domain, undefined);
  assert.deepEqual(
    { http: vars.http_port, https: vars.https_port, ipv6: vars.ipv6, maxconn: vars.maxconn, body: vars.max_body, allow: vars.allow, deny: vars.deny },
    { http: 80, https: 443, ipv6: true, maxconn: 4096, body: 131072, allow: [], deny: [] },
  );
  assert.deepEqual(vars.tls, { profile: 'intermediate', hsts_max_age: 63072000, self_signed_days: 365 });
  assert.deepEqual(vars.rate_limit, { requests: 200, window: 10, ban_after: 200, ban: 600, connections: 50 });
  assert.deepEqual(vars.auth, {
    users: [],
    tokens: [],
    protected_methods: ['POST', 'PUT', 'PATCH', 'DELETE'],
    protected_paths: ['/api/core/v2/blocks', '/api/v1/messages'],
    public_paths: ['/health', '/api/core/v2/info', '/api/v1/info'],
  });
});

test('sizes and durations read as an operator writes them', () => {
  const vars = schema.parse({ max_body: '1m', rate_limit: { window: '1m', ban: '2h', requests: 10, ban_after: 3 }, tls: { hsts_max_age: '365d' } });
  assert.equal(vars.max_body, 1048576);
  assert.deepEqual([vars.rate_limit.window, vars.rate_limit.ban, vars.rate_limit.ban_after], [60, 7200, 3]);
  assert.equal(vars.tls.hsts_max_age, 31536000);
  assert.match(issues({ max_body: 'lots' })[0]!, /max_body: expected a size in bytes/);
});

test('allow and deny take addresses and ranges, never host names', () => {
  assert.deepEqual(schema.parse({ allow: ['10.0.0.0/8', '2001:db8::/32', '203.0.113.7'] }).allow, ['10.0.0.0/8', '2001:db8::/32', '203.0.113.7']);
  assert.match(issues({ deny: ['evil.example.org'] })[0]!, /deny\.0: expected an IP address or a CIDR range/);
});

test('the provided certificate and key are read next to the inventory, checked to match, and the key is a secret', () => {
  const vars = schema.parse({ tls: { cert_file: 'test-only.crt', key_file: 'test-only.key' } });
  const provided = vars.tls.provided!;
  assert.match(provided.subject, /CN=node\.example\.org/);
  assert.ok(provided.certificate.startsWith('-----BEGIN CERTIFICATE-----') && provided.certificate.endsWith('-----END CERTIFICATE-----\n'));
  assert.ok(provided.key.startsWith('-----BEGIN PRIVATE KEY-----'), 'the text around the PEM block is dropped');
  assert.ok(containsSecret(provided.key));
  const keyLine = provided.key.split('\n')[1]!;
  assert.equal(redact(`diff line: ${keyLine}`), 'diff line: ********', 'each line of the key is masked on its own too');
});

test('a key that does not belong to the certificate, or only one of the two files, stops the run', () => {
  assert.deepEqual(issues({ tls: { cert_file: 'test-only.crt', key_file: 'test-only-other.key' } }), ['tls.key_file: this private key does not belong to the first certificate in cert_file']);
  assert.match(issues({ tls: { cert_file: 'test-only.crt' } })[0]!, /expected both cert_file and key_file, or neither/);
  assert.match(issues({ tls: { cert_file: 'missing.crt', key_file: 'test-only.key' } })[0]!, /tls\.cert_file: cannot read .*missing\.crt/);
});

test('passwords and tokens come from the environment (as ${ENV} expands) or from files, and are registered as secrets', () => {
  const vars = schema.parse({
    auth: {
      users: [{ name: 'alice', password: 'a long enough password' }],
      tokens: [{ name: 'ci-bot', token_file: 'token.txt' }],
    },
  });
  assert.deepEqual(vars.auth.users, [{ name: 'alice', password: 'a long enough password' }]);
  assert.equal(vars.auth.tokens[0]!.token, readFileSync(`${FIXTURES}/token.txt`, 'utf8').split('\n')[0]);
  assert.ok(containsSecret('a long enough password'));
  assert.ok(containsSecret(vars.auth.tokens[0]!.token));
});

test('weak or ambiguous credentials are refused', () => {
  assert.match(issues({ auth: { users: [{ name: 'alice', password: 'short' }] } })[0]!, /at least 12 characters/);
  assert.match(issues({ auth: { users: [{ name: 'alice' }] } })[0]!, /exactly one of password and password_file/);
  assert.match(issues({ auth: { tokens: [{ name: 'bot', token: 'too-short' }] } })[0]!, /at least 32 characters/);
  assert.match(issues({ auth: { users: [{ name: 'bad name', password: 'a long enough password' }] } })[0]!, /expected a name/);
  assert.match(
    issues({ auth: { users: [{ name: 'a', password: 'a long enough password' }, { name: 'a', password: 'another long password' }] } })[0]!,
    /auth\.users: user a is listed twice/,
  );
  assert.match(issues({ auth: { protected_paths: ['api/no-slash'] } })[0]!, /expected a URL path starting with \//);
});

test('misspelt keys are refused (strict schema)', () => {
  assert.match(issues({ rate_limit: { request: 5 } })[0]!, /rate_limit/);
  assert.match(issues({ http_port: 443 })[0]!, /different ports/);
});

test('PEM blocks are cut out of the text around them', () => {
  const text = 'Bag Attributes\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\nnoise\n-----BEGIN CERTIFICATE-----\r\nBBB\r\n-----END CERTIFICATE-----\n';
  assert.deepEqual(pemBlocks(text), ['-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----', '-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----']);
});
