/**
 * Renders HAProxy's files from settings (pure): haproxy.cfg, the allow and deny lists, and the token map. Everything
 * host-specific (password hashes, server weights, addresses) is decided before; this module only writes text, so
 * its output can be tested line by line.
 */

import { plainConfigValues } from '../../src/engine/config-values.ts';

/** Where HAProxy's files live on the balancer. */
export const HAPROXY_FILES = {
  config: '/etc/haproxy/haproxy.cfg',
  certificateDir: '/etc/haproxy/certs',
  certificate: '/etc/haproxy/certs/site.pem',
  allow: '/etc/haproxy/allow.lst',
  deny: '/etc/haproxy/deny.lst',
  tokens: '/etc/haproxy/tokens.map',
} as const;

/** The TLS profiles of Mozilla's server-side TLS guidelines (6.0) that `haproxy.tls.profile` chooses from. */
export type TlsProfileName = 'intermediate' | 'modern';

/** What a profile sets, for binds (`ssl-default-bind-*`) and for servers (`ssl-default-server-*`) alike. */
export interface TlsProfile {
  /** TLS 1.2 cipher suites (none for a TLS 1.3-only profile). */
  ciphers: readonly string[];
  ciphersuites: readonly string[];
  curves: readonly string[];
  options: readonly string[];
}

const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;
/** X25519MLKEM768 heads Mozilla's curve list but needs OpenSSL 3.5; Debian 12 has 3.0, so the list starts at X25519. */
const CURVES = ['X25519', 'prime256v1', 'secp384r1'] as const;

/**
 * Mozilla "intermediate": TLS 1.2 and 1.3, ECDHE with AEAD ciphers only (no DHE: no DH group to get wrong), and
 * "modern": TLS 1.3 only. Unlike Mozilla's, the server's cipher order (no `prefer-client-ciphers`: auditors flag a
 * server without a cipher order). No session tickets: their keys would need rotating across reloads.
 */
export const TLS_PROFILES: Record<TlsProfileName, TlsProfile> = {
  intermediate: {
    ciphers: [
      'ECDHE-ECDSA-AES128-GCM-SHA256',
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-ECDSA-AES256-GCM-SHA384',
      'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-ECDSA-CHACHA20-POLY1305',
      'ECDHE-RSA-CHACHA20-POLY1305',
    ],
    ciphersuites: TLS13_SUITES,
    curves: CURVES,
    options: ['ssl-min-ver', 'TLSv1.2', 'no-tls-tickets'],
  },
  modern: { ciphers: [], ciphersuites: TLS13_SUITES, curves: CURVES, options: ['ssl-min-ver', 'TLSv1.3', 'no-tls-tickets'] },
};

/** One node behind the balancer. */
export interface BackendServer {
  /** Server name in HAProxy (the inventory name, made safe). */
  name: string;
  address: string;
  port: number;
  /** 1–256; leastconn divides each server's connections by it. */
  weight: number;
}

/** The authorization layer, when credentials are configured. */
export interface AuthSettings {
  /** userlist entries: name and SHA-512 crypt hash. */
  users: { name: string; hash: string }[];
  /** True when the token map is in use. */
  tokens: boolean;
  protectedMethods: string[];
  protectedPaths: string[];
  publicPaths: string[];
}

/** Everything haproxy.cfg is rendered from. */
export interface HaproxyConfigSettings {
  httpPort: number;
  httpsPort: number;
  ipv6: boolean;
  maxconn: number;
  maxBodyBytes: number;
  /** Seconds; 0 means no HSTS header. */
  hstsMaxAge: number;
  /** Mozilla's TLS profile (default intermediate). */
  tlsProfile?: TlsProfileName;
  /** The allow list is enforced (haproxy.allow is not empty). */
  allowListActive: boolean;
  /** The deny list is enforced (haproxy.deny is not empty). */
  denyListActive: boolean;
  rateLimit: { requests: number; window: number; banAfter: number; ban: number; connections: number };
  auth?: AuthSettings;
  servers: BackendServer[];
  /** With a certificate from an ACME CA: the loopback port the ACME client answers HTTP-01 challenges on, behind :80. */
  acmeChallengePort?: number;
}

/** The path of every ACME HTTP-01 challenge (RFC 8555, 8.3). */
export const ACME_CHALLENGE_PATH = '/.well-known/acme-challenge/';

/** The health route every node answers, and how often it is asked. */
export const HEALTH_CHECK = { path: '/health', interval: '2s', fall: 2, rise: 2 } as const;

/** HAProxy time values are written in seconds with a unit, so nobody reads them as milliseconds. */
function seconds(value: number): string {
  return `${value}s`;
}

function binds(port: number, ipv6: boolean, suffix = ''): string[] {
  return [`    bind 0.0.0.0:${port}${suffix}`, ...(ipv6 ? [`    bind [::]:${port} v6only${suffix}`] : [])];
}

/** The per-source key: the address, IPv6 sources by their /64 (one subscriber's network, not one of its many addresses). */
const SOURCE_KEY = 'src,ipmask(32,64)';

/** ACL patterns for paths: `/x/*` matches by prefix (path_beg), anything else exactly (path). */
function pathAcls(name: string, paths: string[]): string[] {
  const exact = paths.filter((path) => !path.endsWith('*'));
  const prefixes = paths.filter((path) => path.endsWith('*')).map((path) => path.slice(0, -1));
  return [...(exact.length ? [`    acl ${name} path ${exact.join(' ')}`] : []), ...(prefixes.length ? [`    acl ${name} path_beg ${prefixes.join(' ')}`] : [])];
}

function globalSection(settings: HaproxyConfigSettings): string[] {
  return [
    'global',
    // The unit bind-mounts /dev/log into the chroot: lines reach the journal (and syslog), tagged haproxy.
    '    log /dev/log local0 info',
    '    chroot /var/lib/haproxy',
    '    stats socket /run/haproxy/admin.sock mode 660 level admin',
    '    stats timeout 30s',
    '    user haproxy',
    '    group haproxy',
    `    maxconn ${settings.maxconn}`,
    ...tlsDefaults(settings.tlsProfile ?? 'intermediate'),
  ];
}

/** The profile's settings for every bind and every server line that uses TLS. */
function tlsDefaults(name: TlsProfileName): string[] {
  const profile = TLS_PROFILES[name];
  const lines = (side: 'bind' | 'server') => [
    ...(profile.ciphers.length ? [`    ssl-default-${side}-ciphers ${profile.ciphers.join(':')}`] : []),
    `    ssl-default-${side}-ciphersuites ${profile.ciphersuites.join(':')}`,
    ...(side === 'bind' ? [`    ssl-default-bind-curves ${profile.curves.join(':')}`] : []),
    `    ssl-default-${side}-options ${profile.options.join(' ')}`,
  ];
  const summary = name === 'modern' ? 'TLS 1.3 only' : 'TLS 1.2+ with ECDHE and AEAD ciphers only, in the server’s order';
  return [`    # Mozilla ${name} TLS (guidelines 6.0): ${summary}; no session tickets.`, ...lines('bind'), ...lines('server')];
}

/**
 * Headers on every response of the HTTPS frontend, HAProxy's own answers too (401, 403, 413, 429, 503): HSTS, and
 * the two that keep a browser from sniffing a response's type or framing it.
 */
function securityHeaders(settings: HaproxyConfigSettings): string[] {
  return [
    ...(settings.hstsMaxAge > 0 ? [`    http-after-response set-header Strict-Transport-Security "max-age=${settings.hstsMaxAge}"`] : []),
    '    http-after-response set-header X-Content-Type-Options nosniff',
    '    http-after-response set-header X-Frame-Options DENY',
  ];
}

function defaultsSection(settings: HaproxyConfigSettings): string[] {
  return [
    'defaults',
    '    log global',
    '    mode http',
    // httplog: client address and port, status, timers, termination state and the request line, one line each.
    '    option httplog',
    '    option dontlognull',
    '    option forwardfor',
    // A request that cannot reach its node is sent to another one (connection failures only; nothing is replayed).
    '    option redispatch',
    '    retries 2',
    `    maxconn ${settings.maxconn}`,
    '    timeout connect 5s',
    '    timeout client 30s',
    // Remote proof of work can keep a block submission busy for a while.
    '    timeout server 60s',
    '    timeout http-request 10s',
    '    timeout http-keep-alive 10s',
  ];
}

function userlistSection(auth: AuthSettings | undefined): string[] {
  if (!auth || auth.users.length === 0) return [];
  return ['userlist api_users', ...auth.users.map((user) => `    user ${user.name} password ${user.hash}`)];
}

function tableSections(settings: HaproxyConfigSettings): string[] {
  const { window, ban } = settings.rateLimit;
  return [
    '# Per-source counters: concurrent connections and the request rate over the window.',
    'backend per_source',
    `    stick-table type ipv6 size 100k expire ${seconds(Math.max(2 * window, 10))} store conn_cur,http_req_rate(${seconds(window)})`,
    '',
    '# Banned sources: the flag lasts `ban` from the moment the source is banned.',
    'backend banned_sources',
    `    stick-table type ipv6 size 100k expire ${seconds(ban)} store gpt0`,
  ];
}

/** Allow list: refused at connect, before any TLS work. TCP rules come first: HAProxy runs them before HTTP rules anyway. */
function allowRule(settings: HaproxyConfigSettings): string[] {
  return settings.allowListActive ? [`    tcp-request connection reject unless { src -f ${HAPROXY_FILES.allow} }`] : [];
}

function denyRule(settings: HaproxyConfigSettings): string[] {
  return settings.denyListActive ? [`    http-request deny deny_status 403 if { src -f ${HAPROXY_FILES.deny} }`] : [];
}

function httpFrontend(settings: HaproxyConfigSettings): string[] {
  const challenge = settings.acmeChallengePort !== undefined;
  const unlessChallenge = challenge ? ' unless acme_challenge' : '';
  // Keep the Host header's name, change scheme and port; for 443 HAProxy's own scheme redirect does exactly that.
  const redirect =
    settings.httpsPort === 443
      ? `    http-request redirect scheme https code 301${unlessChallenge}`
      : `    http-request redirect location https://%[req.hdr(host),field(1,:)]:${settings.httpsPort}%[capture.req.uri] code 301${unlessChallenge}`;
  if (!challenge) return ['frontend http', ...binds(settings.httpPort, settings.ipv6), ...allowRule(settings), ...denyRule(settings), redirect];
  return [
    'frontend http',
    ...binds(settings.httpPort, settings.ipv6),
    // ACME HTTP-01: the CA fetches http://NAME/.well-known/acme-challenge/TOKEN, and the ACME client answers on loopback.
    `    acl acme_challenge path_beg ${ACME_CHALLENGE_PATH}`,
    // The CA is not on the allow list: refused at connect it could never check the name, so others get 403 here instead.
    ...(settings.allowListActive ? [`    http-request deny deny_status 403 unless acme_challenge || { src -f ${HAPROXY_FILES.allow} }`] : []),
    ...denyRule(settings),
    redirect,
    '    use_backend acme_challenge if acme_challenge',
  ];
}

/** Where :80 sends ACME challenges: the ACME client, listening on loopback only while it asks the CA (503 otherwise). */
function acmeChallengeBackend(settings: HaproxyConfigSettings): string[] {
  if (settings.acmeChallengePort === undefined) return [];
  return ['backend acme_challenge', `    server acme_client 127.0.0.1:${settings.acmeChallengePort}`];
}

function connectionRules(settings: HaproxyConfigSettings): string[] {
  return [
    ...allowRule(settings),
    `    tcp-request connection track-sc0 ${SOURCE_KEY} table per_source`,
    `    tcp-request connection reject if { sc_conn_cur(0) gt ${settings.rateLimit.connections} }`,
  ];
}

/**
 * Over `requests` per window: 429. Over `requests + banAfter` (the source kept going after its 429s): flagged in
 * banned_sources, whose entry is never refreshed while the flag is set, so the ban ends `ban` after it began.
 */
function rateLimitRules(settings: HaproxyConfigSettings): string[] {
  const { requests, banAfter } = settings.rateLimit;
  const banThreshold = requests + banAfter;
  return [
    `    http-request deny deny_status 429 if { ${SOURCE_KEY},table_gpt0(banned_sources) gt 0 }`,
    `    http-request track-sc1 ${SOURCE_KEY} table banned_sources if { sc_http_req_rate(0) gt ${banThreshold} }`,
    `    http-request sc-set-gpt0(1) 1 if { sc_http_req_rate(0) gt ${banThreshold} }`,
    `    http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${requests} }`,
  ];
}

function authRules(auth: AuthSettings | undefined): string[] {
  if (!auth || (auth.users.length === 0 && !auth.tokens)) return ['    # No haproxy.auth users or tokens: every route is open.'];
  if (auth.protectedMethods.length === 0 && auth.protectedPaths.length === 0) return ['    # haproxy.auth protects no method and no path: every route is open.'];
  const checks = [...(auth.users.length ? ['!basic_auth_ok'] : []), ...(auth.tokens ? ['!token_ok'] : [])];
  return [
    ...pathAcls('public_route', auth.publicPaths),
    ...(auth.protectedMethods.length ? [`    acl protected_route method ${auth.protectedMethods.join(' ')}`] : []),
    ...pathAcls('protected_route', auth.protectedPaths),
    ...(auth.users.length ? ['    acl basic_auth_ok http_auth(api_users)'] : []),
    ...(auth.tokens
      ? [
          // The holder's name from the map, looked up by the token's SHA-256 (only on routes that need it).
          `    http-request set-var(txn.api_client) http_auth_bearer,sha2(256),hex,lower,map(${HAPROXY_FILES.tokens}) if protected_route`,
          '    acl token_ok var(txn.api_client) -m found',
        ]
      : []),
    `    http-request auth realm node-api if protected_route ${auth.publicPaths.length ? '!public_route ' : ''}${checks.join(' ')}`,
    // The node never sees the credentials HAProxy checked (they would cross the private network in clear).
    `    http-request del-header Authorization if protected_route${auth.publicPaths.length ? ' !public_route' : ''}`,
  ];
}

function httpsFrontend(settings: HaproxyConfigSettings): string[] {
  const tls = ` ssl crt ${HAPROXY_FILES.certificate} alpn h2,http/1.1`;
  return [
    'frontend https',
    ...binds(settings.httpsPort, settings.ipv6, tls),
    // Wait for the body, so that its size (and a chunked body's buffered part) can be checked.
    '    option http-buffer-request',
    ...connectionRules(settings),
    ...denyRule(settings),
    ...rateLimitRules(settings),
    `    http-request deny deny_status 413 if { req.body_size gt ${settings.maxBodyBytes} }`,
    ...authRules(settings.auth),
    '    http-request set-header X-Forwarded-Proto https',
    ...securityHeaders(settings),
    '    default_backend nodes',
  ];
}

function nodesBackend(settings: HaproxyConfigSettings): string[] {
  return [
    'backend nodes',
    // Each request goes to the node with the fewest connections per unit of weight (its usable CPUs).
    '    balance leastconn',
    '    option httpchk',
    `    http-check send meth GET uri ${HEALTH_CHECK.path}`,
    '    http-check expect status 200',
    `    default-server check inter ${HEALTH_CHECK.interval} fall ${HEALTH_CHECK.fall} rise ${HEALTH_CHECK.rise}`,
    ...settings.servers.map((server) => `    server ${server.name} ${server.address}:${server.port} weight ${server.weight}`),
  ];
}

/** haproxy.cfg for these settings. */
export function renderHaproxyConfig(settings: HaproxyConfigSettings): string {
  plainConfigValues(HAPROXY_FILES.config, settings);
  const sections = [
    ['# Managed by provision (haproxy.* in the inventory); local edits are replaced on the next run.', ...globalSection(settings)],
    defaultsSection(settings),
    userlistSection(settings.auth),
    tableSections(settings),
    httpFrontend(settings),
    acmeChallengeBackend(settings),
    httpsFrontend(settings),
    nodesBackend(settings),
    statsSection(),
  ].filter((section) => section.length > 0);
  return `${sections.map((section) => section.join('\n')).join('\n\n')}\n`;
}

/** Where HAProxy's stats page listens: loopback only (reach it through an SSH tunnel). */
export const STATS_ADDRESS = '127.0.0.1:8404';

function statsSection(): string[] {
  return [
    'listen stats',
    // Loopback only: backend health and weights are for the operator, never for the internet.
    `    bind ${STATS_ADDRESS}`,
    '    mode http',
    '    stats enable',
    '    stats uri /stats',
    '    stats refresh 10s',
    '    stats show-legends',
  ];
}

/** An allow or deny list: one address or range per line, with a header saying what it does. */
export function renderSourceList(kind: 'allow' | 'deny', entries: readonly string[]): string {
  plainConfigValues(HAPROXY_FILES[kind], entries);
  const header =
    kind === 'allow'
      ? entries.length
        ? '# Managed by provision (haproxy.allow): only these sources are served; every other connection is refused.'
        : '# Managed by provision (haproxy.allow): empty, so every source is served.'
      : entries.length
        ? '# Managed by provision (haproxy.deny): these sources get 403.'
        : '# Managed by provision (haproxy.deny): empty, so no source is denied.';
  return `${[header, ...entries].join('\n')}\n`;
}

/** The token map: SHA-256 of each token (lowercase hex) and the name of its holder; never a token itself. */
export function renderTokenMap(entries: readonly { digest: string; name: string }[]): string {
  plainConfigValues(HAPROXY_FILES.tokens, entries);
  const header = '# Managed by provision (haproxy.auth.tokens): SHA-256 of each bearer token, and who holds it.';
  return `${[header, ...entries.map((entry) => `${entry.digest} ${entry.name}`)].join('\n')}\n`;
}

/** A HAProxy server name for an inventory host: the characters HAProxy accepts, others replaced by `_`. */
export function serverName(hostName: string): string {
  return hostName.replace(/[^A-Za-z0-9._:-]/g, '_');
}
