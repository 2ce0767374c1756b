/**
 * `haproxy.*`: the load balancer in front of the nodes (hosts in `balancers`). Every key is documented with its
 * default; durations are seconds inside; paths resolve against the inventory's directory; passwords, tokens and the
 * TLS key are registered as secrets as they are read, so no output can show them.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { defineNamespace, type VarsOf } from '../../src/engine/role.ts';
import type { nodeNamespace } from '../node/vars.ts';
import { yamlBoolean } from '../../src/inventory/connection.ts';
import { duration } from '../../src/inventory/duration.ts';
import { resolveInventoryPath } from '../../src/inventory/paths.ts';
import { secret, secretString, type Secret } from '../../src/inventory/secret.ts';
import { acmeVars, isAcmeName } from '../acme/vars.ts';

const PORT_HINT = 'expected a port number from 1 to 65535';
const port = z.number({ error: PORT_HINT }).int(PORT_HINT).min(1, PORT_HINT).max(65535, PORT_HINT);
const count = (what: string, min: number, max: number) =>
  z.number({ error: `expected ${what}` }).int(`expected ${what}`).min(min, `expected ${what}`).max(max, `expected ${what}`);

const ADDRESS_HINT = 'expected an IP address or a CIDR range, e.g. 203.0.113.7 or 10.0.0.0/8';
/** An `allow`/`deny` entry. Host names are refused: HAProxy reads addresses, and a name would resolve only at start. */
const sourceRange = z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()], { error: ADDRESS_HINT });

const DOMAIN_HINT = 'expected a DNS name such as node.example.org, or an IP address';
/** The name the self-signed certificate is made for; only DNS-name characters, so it is safe in openssl's -subj. */
const domainName = z
  .string({ error: DOMAIN_HINT })
  .refine((text) => isIP(text) !== 0 || /^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(text), DOMAIN_HINT);

const SIZE_HINT = 'expected a size in bytes, e.g. 131072, 128k or 1m';
const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 * 1024 };
/** A byte size: a whole number, or with a `k`/`m` suffix (binary units, as HAProxy reads them). */
const byteSize = z.union([z.number(), z.string()], { error: SIZE_HINT }).transform((value, ctx) => {
  const match = /^(\d+)\s*([km]?)b?$/i.exec(String(value).trim());
  const bytes = match ? Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    ctx.issues.push({ code: 'custom', message: SIZE_HINT, input: value });
    return z.NEVER;
  }
  return bytes;
});

/** Names in HAProxy's userlist and token map: no spaces or quotes, so they are safe in both files. */
const credentialName = z.string({ error: 'expected a name' }).regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'expected a name of letters, digits, . _ @ and - (at most 64)');

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
/** A URL path; `/prefix/*` means every path under the prefix, anything else the exact path. */
const routePath = z.string({ error: 'expected a URL path such as /api/core/v2/blocks' }).regex(/^\/[A-Za-z0-9._~!$&'()+,;=:@%/-]*\*?$/, 'expected a URL path starting with / (end it with * for a prefix), without spaces or quotes');

/** Reads a secret from a file next to the inventory: its first line. */
function readSecretFile(path: string, inventoryDir: string, what: string, context: z.RefinementCtx): Secret {
  const file = resolveInventoryPath(path, inventoryDir);
  try {
    const value = secret(readFileSync(file, 'utf8').split('\n')[0]!.replace(/\r$/, ''));
    if (value === '') context.addIssue({ code: 'custom', message: `${file} is empty; expected the ${what} on its first line` });
    return value;
  } catch {
    context.addIssue({ code: 'custom', message: `cannot read the ${what} from ${file}` });
    return '' as Secret;
  }
}

/** One basic-auth user: `password` (usually `${ENV}`) or `password_file`, exactly one. */
function userEntry(inventoryDir: string) {
  return z
    .object({
      name: credentialName.describe('The user name clients send.'),
      password: secretString().optional().describe('The password, usually `${HAPROXY_PASSWORD}` from the environment. Never written anywhere in clear.'),
      password_file: z.string().min(1).optional().describe('Or a file (relative to the inventory) whose first line is the password.'),
    })
    .strict()
    .transform((user, context) => {
      if ((user.password === undefined) === (user.password_file === undefined)) {
        context.addIssue({ code: 'custom', message: 'expected exactly one of password and password_file' });
        return z.NEVER;
      }
      const password = user.password ?? readSecretFile(user.password_file!, inventoryDir, 'password', context);
      if (password.length > 0 && password.length < 12) context.addIssue({ code: 'custom', message: 'expected a password of at least 12 characters' });
      return { name: user.name, password };
    });
}

/** Tokens are compared by their unsalted SHA-256 in a map file, which is only safe for long random strings. */
const MIN_TOKEN_LENGTH = 32;

/** One bearer token: `token` (usually `${ENV}`) or `token_file`, exactly one; `name` shows in the map file. */
function tokenEntry(inventoryDir: string) {
  return z
    .object({
      name: credentialName.describe('Who holds the token (a label in the map file; the token itself is stored only as its SHA-256).'),
      token: secretString().optional().describe('The token, usually `${HAPROXY_TOKEN}`; at least 32 characters, e.g. from `openssl rand -hex 32`.'),
      token_file: z.string().min(1).optional().describe('Or a file (relative to the inventory) whose first line is the token.'),
    })
    .strict()
    .transform((entry, context) => {
      if ((entry.token === undefined) === (entry.token_file === undefined)) {
        context.addIssue({ code: 'custom', message: 'expected exactly one of token and token_file' });
        return z.NEVER;
      }
      const token = entry.token ?? readSecretFile(entry.token_file!, inventoryDir, 'token', context);
      if (token.length > 0 && (token.length < MIN_TOKEN_LENGTH || /\s/.test(token))) {
        context.addIssue({ code: 'custom', message: `expected a token of at least ${MIN_TOKEN_LENGTH} characters without spaces (e.g. openssl rand -hex 32)` });
      }
      return { name: entry.name, token };
    });
}

/** `haproxy.auth.*`: who may use the protected routes. */
function authVars(inventoryDir: string) {
  return z
    .object({
      users: z.array(userEntry(inventoryDir)).default([]).describe('Basic-auth users ({name, password} or {name, password_file}). Default none.'),
      tokens: z.array(tokenEntry(inventoryDir)).default([]).describe('Bearer tokens ({name, token} or {name, token_file}). Default none.'),
      protected_methods: z.array(z.enum(HTTP_METHODS, { error: `expected one of ${HTTP_METHODS.join(', ')}` })).default(['POST', 'PUT', 'PATCH', 'DELETE']).describe('Methods that need credentials on every path (except `public_paths`). Default POST, PUT, PATCH, DELETE.'),
      protected_paths: z.array(routePath).default(['/api/core/v2/blocks', '/api/v1/messages']).describe('Paths that need credentials with any method: the block submission routes (PoW-heavy). Default those of Hornet 2 and Chrysalis.'),
      public_paths: z.array(routePath).default(['/health', '/api/core/v2/info', '/api/v1/info']).describe('Paths that never need credentials, whatever else says: health and node info.'),
    })
    .strict()
    .superRefine((auth, context) => {
      const duplicate = (names: string[]) => names.find((name, index) => names.indexOf(name) !== index);
      const user = duplicate(auth.users.map((entry) => entry.name));
      if (user) context.addIssue({ code: 'custom', path: ['users'], message: `user ${user} is listed twice` });
      const token = duplicate(auth.tokens.map((entry) => entry.name));
      if (token) context.addIssue({ code: 'custom', path: ['tokens'], message: `token ${token} is listed twice` });
    });
}

/** `haproxy.rate_limit.*`: abuse limits per source address (IPv6 sources count per /64). */
export const rateLimitVars = z
  .object({
    requests: count('a whole number of requests from 1 to 1000000', 1, 1_000_000).default(200).describe('Requests a source may make per `window`; beyond them it gets 429. Default 200.'),
    window: duration.refine((seconds) => seconds >= 1, 'expected a window of at least 1s').default(10).describe('The sliding window the requests are counted over. Default 10s.'),
    ban_after: count('a whole number of requests from 1 to 1000000', 1, 1_000_000).optional().describe('Further requests within the window, after the limit, that ban the source. Default: as many as `requests`.'),
    ban: duration.refine((seconds) => seconds >= 1, 'expected a ban of at least 1s').default(600).describe('How long a banned source gets 429 for everything. Default 10m.'),
    connections: count('a whole number of connections from 1 to 100000', 1, 100_000).default(50).describe('Concurrent connections per source; more are refused. Default 50.'),
  })
  .strict()
  .transform((limits) => ({ ...limits, ban_after: limits.ban_after ?? limits.requests }));

/** The TLS key and certificate read from the controller, checked to belong together. */
export interface ProvidedCertificate {
  /** The certificate chain, PEM, leaf first. */
  certificate: string;
  /** The private key, PEM. Registered as a secret. */
  key: string;
  /** The leaf's subject and expiry, for the plan. */
  subject: string;
  validTo: string;
  fingerprint: string;
}

/** The PEM blocks of a file, without the text around them (openssl exports often carry "Bag Attributes" lines). */
export function pemBlocks(text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g)].map((match) => match[0].replace(/\r\n/g, '\n'));
}

/** Reads and checks `cert_file` and `key_file`; issues are reported on the namespace's paths. */
function readCertificate(certFile: string, keyFile: string, inventoryDir: string, context: z.RefinementCtx): ProvidedCertificate | undefined {
  const keyPath = resolveInventoryPath(keyFile, inventoryDir);
  const certPath = resolveInventoryPath(certFile, inventoryDir);
  let keyText: string;
  let certText: string;
  try {
    keyText = readFileSync(keyPath, 'utf8');
  } catch {
    context.addIssue({ code: 'custom', path: ['key_file'], message: `cannot read ${keyPath}` });
    return undefined;
  }
  const keyBlocks = pemBlocks(keyText).filter((block) => /^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(block));
  // Made secrets before any check, so not even an error message can show them.
  for (const block of keyBlocks) secret(block);
  try {
    certText = readFileSync(certPath, 'utf8');
  } catch {
    context.addIssue({ code: 'custom', path: ['cert_file'], message: `cannot read ${certPath}` });
    return undefined;
  }
  const chain = pemBlocks(certText).filter((block) => block.startsWith('-----BEGIN CERTIFICATE-----'));
  if (chain.length === 0) {
    context.addIssue({ code: 'custom', path: ['cert_file'], message: `expected a PEM certificate (-----BEGIN CERTIFICATE-----) in ${certPath}` });
    return undefined;
  }
  if (keyBlocks.length !== 1) {
    context.addIssue({ code: 'custom', path: ['key_file'], message: `expected exactly one PEM private key in ${keyPath}` });
    return undefined;
  }
  const key = keyBlocks[0]!;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chain[0]!);
  } catch {
    context.addIssue({ code: 'custom', path: ['cert_file'], message: `the first certificate in ${certPath} cannot be read` });
    return undefined;
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(key))) {
      context.addIssue({ code: 'custom', path: ['key_file'], message: 'this private key does not belong to the first certificate in cert_file' });
      return undefined;
    }
  } catch {
    context.addIssue({ code: 'custom', path: ['key_file'], message: 'expected an unencrypted PEM private key (HAProxy cannot ask for a passphrase)' });
    return undefined;
  }
  return {
    certificate: `${chain.join('\n')}\n`,
    key: `${key}\n`,
    subject: leaf.subject.replace(/\n/g, ', '),
    validTo: leaf.validTo,
    fingerprint: leaf.fingerprint256,
  };
}

/** `haproxy.tls.*`: the certificate served on HTTPS. */
function tlsVars(inventoryDir: string) {
  return z
    .object({
      cert_file: z.string().min(1).optional().describe('The certificate chain (PEM) on the controller, relative to the inventory. Default: a self-signed one made on the balancer.'),
      key_file: z.string().min(1).optional().describe('Its private key (PEM, unencrypted) on the controller. Given together with cert_file.'),
      profile: z.enum(['intermediate', 'modern'], { error: 'expected intermediate or modern' }).default('intermediate').describe("Mozilla's TLS profile: intermediate (TLS 1.2 and 1.3, ECDHE with AEAD ciphers) or modern (TLS 1.3 only). Default intermediate."),
      hsts_max_age: duration.default(63_072_000).describe("Strict-Transport-Security max-age, on every HTTPS response; 0 sends no HSTS header. Default 730d (two years, Mozilla's recommendation)."),
      self_signed_days: count('a whole number of days from 31 to 3650', 31, 3650).default(365).describe('Lifetime of the self-signed certificate. Default 365d; it is renewed 30 days before it ends.'),
      acme: acmeVars(inventoryDir).optional().describe('A trusted certificate from an ACME CA (Let’s Encrypt by default), issued and renewed on the balancer. Default: off.'),
    })
    .strict()
    .transform((tls, context) => {
      if (tls.acme && (tls.cert_file !== undefined || tls.key_file !== undefined)) {
        context.addIssue({ code: 'custom', message: 'expected either acme (a certificate the balancer gets from a CA) or cert_file and key_file (your own), not both' });
        return z.NEVER;
      }
      if ((tls.cert_file === undefined) !== (tls.key_file === undefined)) {
        context.addIssue({ code: 'custom', message: 'expected both cert_file and key_file, or neither (for a self-signed certificate)' });
        return z.NEVER;
      }
      const provided = tls.cert_file && tls.key_file ? readCertificate(tls.cert_file, tls.key_file, inventoryDir, context) : undefined;
      return { profile: tls.profile, hsts_max_age: tls.hsts_max_age, self_signed_days: tls.self_signed_days, ...(provided ? { provided } : {}), ...(tls.acme ? { acme: tls.acme } : {}) };
    });
}

/** The `haproxy` namespace, for an inventory in `inventoryDir`. */
export function haproxyVars(inventoryDir: string) {
  return z
    .object({
      domain: domainName.optional().describe("The name clients use; the certificate is for it (self-signed, or from the CA with tls.acme). Default: the host's inventory name."),
      http_port: port.default(80).describe('Plain HTTP port; it only redirects to HTTPS. Default 80.'),
      https_port: port.default(443).describe('HTTPS port. Default 443.'),
      ipv6: yamlBoolean.default(true).describe('Also listen on IPv6 (::). Set false on hosts booted with ipv6.disable=1. Default true.'),
      maxconn: count('a whole number of connections from 1 to 1000000', 1, 1_000_000).default(4096).describe('Connections HAProxy accepts in total (global maxconn). Default 4096.'),
      max_body: byteSize.default(128 * 1024).describe('Largest request body accepted (413 beyond it). Default 128k: a 32 KiB block, hex-encoded in JSON, fits.'),
      allow: z.array(sourceRange).default([]).describe('Only these addresses/ranges are served; the rest are refused at connect. Default: everyone.'),
      deny: z.array(sourceRange).default([]).describe('These addresses/ranges get 403. Default none.'),
      tls: tlsVars(inventoryDir).prefault({}),
      rate_limit: rateLimitVars.prefault({}),
      auth: authVars(inventoryDir).prefault({}),
    })
    .strict()
    .refine((vars) => vars.http_port !== vars.https_port, { message: 'expected different ports for HTTP and HTTPS', path: ['http_port'] })
    .refine((vars) => !vars.tls.acme || vars.domain === undefined || isAcmeName(vars.domain), {
      message: 'expected a DNS name such as node.example.org for a certificate from a CA (HTTP-01 cannot prove a wildcard or an IP address)',
      path: ['domain'],
    });
}

/** The validated `haproxy` namespace. */
export type HaproxyVars = z.output<ReturnType<typeof haproxyVars>>;

/** The `haproxy` namespace: the balancer's TLS, source lists, limits and authorization. */
export const haproxyNamespace = defineNamespace('haproxy', (inventoryDir) => haproxyVars(inventoryDir).prefault({}));

/** The host variables the balancer reads: its own, and each node's API port. */
export type BalancerHostVars = VarsOf<typeof haproxyNamespace | typeof nodeNamespace>;
