/**
 * `haproxy.tls.acme.*`: a certificate from an ACME CA (Let's Encrypt by default) for the balancer's name. Every value
 * reaches a shell script's settings file and certbot's command line on the host, so each is checked for what it is:
 * an e-mail address, an https URL, DNS names; none may hold a space, a quote or a newline.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { duration } from '../../src/inventory/duration.ts';
import { resolveInventoryPath } from '../../src/inventory/paths.ts';

/** The directories known by name; any other is given as its URL. */
export const ACME_DIRECTORIES = {
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
} as const;

const EMAIL_HINT = 'expected an e-mail address such as ops@example.org (letters, digits and . _ % + - only)';
/** The account's contact: plain characters only, as it goes into a settings file and certbot's command line. */
const emailAddress = z.string({ error: EMAIL_HINT }).regex(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/, EMAIL_HINT);

const DIRECTORY_HINT = `expected ${Object.keys(ACME_DIRECTORIES).join(' or ')}, or an ACME directory URL such as https://acme.example.org/directory (https, no spaces, quotes or query)`;
/** `letsencrypt`, `letsencrypt-staging`, or an https URL of plain characters; the output is the URL. */
const directoryUrl = z.string({ error: DIRECTORY_HINT }).transform((text, context) => {
  const known = ACME_DIRECTORIES[text as keyof typeof ACME_DIRECTORIES];
  if (known) return known;
  if (!/^https:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~%/-]*)?$/.test(text)) {
    context.issues.push({ code: 'custom', message: DIRECTORY_HINT, input: text });
    return z.NEVER;
  }
  return text;
});

const NAME_HINT = 'expected a DNS name such as www.example.org (HTTP-01 cannot prove a wildcard or an IP address)';
/** A name the CA can check over HTTP: a DNS name with a dot, no wildcard, no address. */
export const acmeDomainName = z
  .string({ error: NAME_HINT })
  .refine((text) => isAcmeName(text), NAME_HINT);

/** True when a CA can check `name` with an HTTP-01 challenge: a DNS name of at least two labels, not a wildcard or an address. */
export function isAcmeName(name: string): boolean {
  return isIP(name) === 0 && /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(name);
}

/** An extra CA the balancer trusts to reach the directory, read on the controller. */
export interface AcmeCaFile {
  /** The file as given, resolved against the inventory. */
  path: string;
  /** Its certificates, PEM, one after another. */
  pem: string;
}

/** Reads `ca_file`: every certificate in it, each of which must parse. */
function readCaFile(file: string, inventoryDir: string, context: z.RefinementCtx): AcmeCaFile | undefined {
  const path = resolveInventoryPath(file, inventoryDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    context.addIssue({ code: 'custom', path: ['ca_file'], message: `cannot read ${path}` });
    return undefined;
  }
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g)].map((match) => match[0].replace(/\r\n/g, '\n'));
  if (blocks.length === 0) {
    context.addIssue({ code: 'custom', path: ['ca_file'], message: `expected PEM certificates (-----BEGIN CERTIFICATE-----) in ${path}` });
    return undefined;
  }
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      context.addIssue({ code: 'custom', path: ['ca_file'], message: `certificate ${index + 1} in ${path} cannot be read` });
      return undefined;
    }
  }
  return { path, pem: `${blocks.join('\n')}\n` };
}

/** The shortest renewal window: the timer looks twice a day, so a shorter one could let the certificate lapse. */
const MIN_RENEW_BEFORE = 86_400;

/** `haproxy.tls.acme`, for an inventory in `inventoryDir`. */
export function acmeVars(inventoryDir: string) {
  return z
    .object({
      email: emailAddress.describe('The ACME account’s contact address: the CA writes to it about expiring certificates and problems. Required.'),
      directory: directoryUrl
        .default(ACME_DIRECTORIES.letsencrypt)
        .describe('The CA: `letsencrypt` (default), `letsencrypt-staging` (untrusted test certificates, generous rate limits), or any ACME directory URL (https).'),
      ca_file: z.string().min(1).optional().describe('An extra CA (PEM, on the controller, relative to the inventory) the balancer trusts to reach the directory, for a CA of your own. Default: the system’s CAs only.'),
      renew_before: duration
        .refine((seconds) => seconds >= MIN_RENEW_BEFORE, 'expected at least 1d: the renewal timer looks twice a day')
        .default(30 * 86_400)
        .describe('Renew when the certificate ends within this. Default 30d. Longer than the certificate’s life renews at the next run.'),
      extra_domains: z.array(acmeDomainName).max(99, 'expected at most 99 extra names (a certificate holds 100)').default([]).describe('More names (subjectAltNames) on the same certificate, each pointing at this balancer. Default none.'),
    })
    .strict()
    .transform((acme, context) => {
      const ca = acme.ca_file === undefined ? undefined : readCaFile(acme.ca_file, inventoryDir, context);
      return { email: acme.email, directory: acme.directory, renew_before: acme.renew_before, extra_domains: acme.extra_domains, ...(ca ? { ca } : {}) };
    });
}

/** The validated `haproxy.tls.acme`. */
export type AcmeVars = z.output<ReturnType<typeof acmeVars>>;
