import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HAPROXY_FILES,
  TLS_PROFILES,
  renderHaproxyConfig,
  renderSourceList,
  renderTokenMap,
  serverName,
  type HaproxyConfigSettings,
} from '../../tasks/haproxy/render.ts';

const BASE: HaproxyConfigSettings = {
  httpPort: 80,
  httpsPort: 443,
  ipv6: true,
  maxconn: 4096,
  maxBodyBytes: 131072,
  hstsMaxAge: 63072000,
  allowListActive: false,
  denyListActive: false,
  rateLimit: { requests: 200, window: 10, banAfter: 200, ban: 600, connections: 50 },
  servers: [
    { name: 'node1', address: '10.0.0.2', port: 14265, weight: 1 },
    { name: 'node2', address: '10.0.0.3', port: 14265, weight: 4 },
  ],
};

const AUTH = {
  users: [{ name: 'alice', hash: '$6$salt$hash' }],
  tokens: true,
  protectedMethods: ['POST', 'PUT', 'PATCH', 'DELETE'],
  protectedPaths: ['/api/core/v2/blocks', '/api/core/v2/control/*'],
  publicPaths: ['/health', '/api/core/v2/info'],
};

function lines(settings: Partial<HaproxyConfigSettings>): string[] {
  return renderHaproxyConfig({ ...BASE, ...settings }).split('\n').map((line) => line.trim());
}

/** The lines of one section (`frontend https`, `backend nodes`…), up to the next blank line. */
function section(settings: Partial<HaproxyConfigSettings>, header: string): string[] {
  const all = lines(settings);
  const start = all.indexOf(header);
  assert.ok(start >= 0, `no section ${header}`);
  const end = all.indexOf('', start);
  return all.slice(start + 1, end < 0 ? undefined : end);
}

test('TLS follows Mozilla intermediate: TLS 1.2+, ECDHE AEAD ciphers in the server\'s order, TLS 1.3 suites, no tickets, h2 and http/1.1', () => {
  const global = section({}, 'global');
  const intermediate = TLS_PROFILES.intermediate;
  assert.ok(global.includes(`ssl-default-bind-ciphers ${intermediate.ciphers.join(':')}`));
  assert.ok(global.includes('ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256'));
  assert.ok(global.includes('ssl-default-bind-curves X25519:prime256v1:secp384r1'));
  assert.ok(global.includes('ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets'));
  // TLS towards servers follows the same profile.
  assert.ok(global.includes(`ssl-default-server-ciphers ${intermediate.ciphers.join(':')}`));
  assert.ok(global.includes('ssl-default-server-options ssl-min-ver TLSv1.2 no-tls-tickets'));
  assert.ok(!global.some((line) => line.includes('prefer-client-ciphers')), 'the server\'s cipher order: auditors flag a server without one');
  assert.ok(intermediate.ciphers.every((cipher) => cipher.startsWith('ECDHE-') && /GCM|CHACHA20/.test(cipher)), 'ECDHE with AEAD only: no DHE, no CBC');
  const https = section({}, 'frontend https');
  assert.ok(https.includes(`bind 0.0.0.0:443 ssl crt ${HAPROXY_FILES.certificate} alpn h2,http/1.1`));
  assert.ok(https.includes(`bind [::]:443 v6only ssl crt ${HAPROXY_FILES.certificate} alpn h2,http/1.1`));
});

test('modern is TLS 1.3 only, without TLS 1.2 cipher lists', () => {
  const global = section({ tlsProfile: 'modern' }, 'global');
  assert.ok(global.includes('ssl-default-bind-options ssl-min-ver TLSv1.3 no-tls-tickets'));
  assert.ok(global.includes('ssl-default-server-options ssl-min-ver TLSv1.3 no-tls-tickets'));
  assert.ok(!global.some((line) => line.startsWith('ssl-default-bind-ciphers ') || line.startsWith('ssl-default-server-ciphers ')));
});

test('HSTS and the security headers go on every HTTPS response, HAProxy\'s own answers (401, 403, 429) too', () => {
  const https = section({}, 'frontend https');
  const headers = [
    'http-after-response set-header Strict-Transport-Security "max-age=63072000"',
    'http-after-response set-header X-Content-Type-Options nosniff',
    'http-after-response set-header X-Frame-Options DENY',
  ];
  for (const header of headers) assert.ok(https.includes(header), header);
  assert.ok(!https.some((line) => line.startsWith('http-response set-header')), 'http-response skips the responses HAProxy makes itself');
});

test('port 80 only redirects to HTTPS; another HTTPS port is kept in the redirect', () => {
  assert.deepEqual(section({}, 'frontend http'), ['bind 0.0.0.0:80', 'bind [::]:80 v6only', 'http-request redirect scheme https code 301']);
  const moved = section({ httpPort: 8080, httpsPort: 8443, ipv6: false }, 'frontend http');
  assert.deepEqual(moved, ['bind 0.0.0.0:8080', 'http-request redirect location https://%[req.hdr(host),field(1,:)]:8443%[capture.req.uri] code 301']);
});

test('without IPv6 only IPv4 is bound; hsts_max_age 0 sends no HSTS header', () => {
  const https = section({ ipv6: false, hstsMaxAge: 0 }, 'frontend https');
  assert.equal(https.filter((line) => line.startsWith('bind ')).length, 1);
  assert.ok(!https.some((line) => line.includes('Strict-Transport-Security')));
});

test('the allow list refuses other sources at connect (both ports); the deny list answers 403', () => {
  const https = section({ allowListActive: true, denyListActive: true }, 'frontend https');
  assert.equal(https.filter((line) => line.startsWith('tcp-request connection'))[0], `tcp-request connection reject unless { src -f ${HAPROXY_FILES.allow} }`);
  assert.ok(https.includes(`http-request deny deny_status 403 if { src -f ${HAPROXY_FILES.deny} }`));
  const http = section({ allowListActive: true, denyListActive: true }, 'frontend http');
  assert.ok(http.includes(`tcp-request connection reject unless { src -f ${HAPROXY_FILES.allow} }`));
  assert.ok(http.indexOf(`http-request deny deny_status 403 if { src -f ${HAPROXY_FILES.deny} }`) < http.indexOf('http-request redirect scheme https code 301'));
  const open = renderHaproxyConfig(BASE);
  assert.ok(!open.includes(HAPROXY_FILES.allow) && !open.includes(HAPROXY_FILES.deny), 'empty lists are not referenced');
});

test('every TCP rule comes before the HTTP rules (HAProxy runs them first anyway, and warns otherwise)', () => {
  const https = section({ allowListActive: true, denyListActive: true, auth: AUTH }, 'frontend https');
  const lastTcp = https.findLastIndex((line) => line.startsWith('tcp-request'));
  const firstHttp = https.findIndex((line) => line.startsWith('http-request'));
  assert.ok(lastTcp < firstHttp);
});

test('rate limits: 429 over the limit, a ban flag over limit + ban_after, a connection cap, IPv6 counted per /64', () => {
  const settings = { rateLimit: { requests: 5, window: 3, banAfter: 7, ban: 60, connections: 3 } };
  const https = section(settings, 'frontend https');
  assert.ok(https.includes('tcp-request connection track-sc0 src,ipmask(32,64) table per_source'));
  assert.ok(https.includes('tcp-request connection reject if { sc_conn_cur(0) gt 3 }'));
  const banned = https.indexOf('http-request deny deny_status 429 if { src,ipmask(32,64),table_gpt0(banned_sources) gt 0 }');
  const track = https.indexOf('http-request track-sc1 src,ipmask(32,64) table banned_sources if { sc_http_req_rate(0) gt 12 }');
  const flag = https.indexOf('http-request sc-set-gpt0(1) 1 if { sc_http_req_rate(0) gt 12 }');
  const limited = https.indexOf('http-request deny deny_status 429 if { sc_http_req_rate(0) gt 5 }');
  assert.ok(banned >= 0 && banned < track && track < flag && flag < limited, 'a banned source is refused before anything refreshes its ban');
  assert.deepEqual(section(settings, 'backend per_source'), ['stick-table type ipv6 size 100k expire 10s store conn_cur,http_req_rate(3s)']);
  assert.deepEqual(section(settings, 'backend banned_sources'), ['stick-table type ipv6 size 100k expire 60s store gpt0']);
  assert.ok(section({}, 'frontend https').includes('http-request deny deny_status 413 if { req.body_size gt 131072 }'));
  assert.ok(section({}, 'global').includes('maxconn 4096'));
});

test('the authorization layer: basic auth from the userlist or a bearer token from the map, on protected routes only', () => {
  const config = renderHaproxyConfig({ ...BASE, auth: AUTH });
  assert.match(config, /^userlist api_users\n {4}user alice password \$6\$salt\$hash$/m);
  const https = section({ auth: AUTH }, 'frontend https');
  assert.ok(https.includes('acl public_route path /health /api/core/v2/info'));
  assert.ok(https.includes('acl protected_route method POST PUT PATCH DELETE'));
  assert.ok(https.includes('acl protected_route path /api/core/v2/blocks'));
  assert.ok(https.includes('acl protected_route path_beg /api/core/v2/control/'));
  assert.ok(https.includes(`http-request set-var(txn.api_client) http_auth_bearer,sha2(256),hex,lower,map(${HAPROXY_FILES.tokens}) if protected_route`));
  assert.ok(https.includes('http-request auth realm node-api if protected_route !public_route !basic_auth_ok !token_ok'));
  assert.ok(https.includes('http-request del-header Authorization if protected_route !public_route'));
  // Abuse limits answer before the (CPU-heavy) password check.
  assert.ok(https.findIndex((line) => line.includes('deny_status 429')) < https.findIndex((line) => line.startsWith('http-request auth')));
});

test('users without tokens, or tokens without users, check only what exists; no credentials: no auth rules at all', () => {
  const usersOnly = section({ auth: { ...AUTH, tokens: false } }, 'frontend https');
  assert.ok(usersOnly.includes('http-request auth realm node-api if protected_route !public_route !basic_auth_ok'));
  assert.ok(!usersOnly.some((line) => line.includes('tokens.map')));
  const tokensOnly = renderHaproxyConfig({ ...BASE, auth: { ...AUTH, users: [] } });
  assert.ok(!tokensOnly.includes('userlist'));
  assert.match(tokensOnly, /http-request auth realm node-api if protected_route !public_route !token_ok$/m);
  const nothingProtected = renderHaproxyConfig({ ...BASE, auth: { ...AUTH, protectedMethods: [], protectedPaths: [] } });
  assert.ok(!nothingProtected.includes('protected_route'), 'no rule names an ACL that is not defined');
  const open = renderHaproxyConfig(BASE);
  assert.ok(!open.includes('http-request auth'));
  assert.match(open, /# No haproxy.auth users or tokens: every route is open\./);
});

test('the backend balances by leastconn over weighted servers, health-checked on /health', () => {
  assert.deepEqual(section({}, 'backend nodes'), [
    'balance leastconn',
    'option httpchk',
    'http-check send meth GET uri /health',
    'http-check expect status 200',
    'default-server check inter 2s fall 2 rise 2',
    'server node1 10.0.0.2:14265 weight 1',
    'server node2 10.0.0.3:14265 weight 4',
  ]);
});

test('logs go to the journal through /dev/log in HAProxy\'s HTTP format (client address and status on every line)', () => {
  assert.ok(section({}, 'global').includes('log /dev/log local0 info'));
  const defaults = section({}, 'defaults');
  assert.ok(defaults.includes('log global') && defaults.includes('option httplog'));
});

test('lists and the token map say what they do, and hold one entry per line', () => {
  assert.equal(renderSourceList('allow', []), '# Managed by provision (haproxy.allow): empty, so every source is served.\n');
  assert.equal(renderSourceList('deny', ['10.0.0.0/8', '2001:db8::/32']).split('\n').slice(1).join('\n'), '10.0.0.0/8\n2001:db8::/32\n');
  const map = renderTokenMap([{ digest: 'ab'.repeat(32), name: 'ci-bot' }]);
  assert.match(map, new RegExp(`^${'ab'.repeat(32)} ci-bot$`, 'm'));
});

test('server names keep only the characters HAProxy accepts', () => {
  assert.equal(serverName('node-1.example.org'), 'node-1.example.org');
  assert.equal(serverName('node 1/a'), 'node_1_a');
});

test('the stats page listens on loopback only', () => {
  const config = renderHaproxyConfig(BASE);
  assert.match(config, /^listen stats\n {4}bind 127\.0\.0\.1:8404\n/m);
  const binds = config.split('\n').filter((line) => line.trim().startsWith('bind '));
  assert.ok(binds.some((line) => line.includes('127.0.0.1:8404')));
  assert.ok(!binds.some((line) => /:8404/.test(line) && !line.includes('127.0.0.1:8404')));
});
