/**
 * OpenSSH host certificates (PROTOCOL.certkeys): parsed and checked against the `@cert-authority` keys of
 * known_hosts, with OpenSSH's rules (a host certificate, in its validity window, naming the host among its principals
 * or naming none, no critical option, signed by the CA with a SHA-2 or EdDSA signature).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

/** A parsed host certificate. */
export interface HostCertificate {
  /** The certified key as a plain public key blob (`ssh-ed25519 …`): the key that must sign the session. */
  key: Buffer;
  kind: 'user' | 'host';
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: string[];
  /** The CA's public key blob. */
  signatureKey: Buffer;
  /** The signature's algorithm and raw bytes. */
  signatureType: string;
  signature: Buffer;
  /** The bytes the CA signed: the certificate up to its signature. */
  signed: Buffer;
}

const CERT_SUFFIX = '-cert-v01@openssh.com';

/** True for a certificate's algorithm name, e.g. `ssh-ed25519-cert-v01@openssh.com`. */
export function isCertificateType(type: string): boolean {
  return type.endsWith(CERT_SUFFIX);
}

/** Reads SSH wire-format fields (RFC 4251), refusing to read past the end. */
class WireReader {
  private offset = 0;
  constructor(private readonly data: Buffer) {}

  get position(): number {
    return this.offset;
  }

  get done(): boolean {
    return this.offset === this.data.length;
  }

  uint32(): number {
    this.need(4);
    const value = this.data.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  uint64(): bigint {
    this.need(8);
    const value = this.data.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  string(): Buffer {
    const length = this.uint32();
    this.need(length);
    const value = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  text(): string {
    return this.string().toString('utf8');
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.data.length) throw new Error('malformed certificate: truncated');
  }
}

function wireString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function stringList(data: Buffer): string[] {
  const reader = new WireReader(data);
  const items: string[] = [];
  while (!reader.done) items.push(reader.text());
  return items;
}

/** Names of a critical options or extensions field: name, data pairs. */
function optionNames(data: Buffer): string[] {
  const reader = new WireReader(data);
  const names: string[] = [];
  while (!reader.done) {
    names.push(reader.text());
    reader.string();
  }
  return names;
}

/** Parses a certificate blob; throws on anything malformed or of an unsupported key type. */
export function parseHostCertificate(blob: Buffer): HostCertificate {
  const reader = new WireReader(blob);
  const type = reader.text();
  if (!isCertificateType(type)) throw new Error(`not a certificate: ${type}`);
  const baseType = type.slice(0, -CERT_SUFFIX.length);
  reader.string(); // nonce
  const keyStart = reader.position;
  if (baseType === 'ssh-ed25519') reader.string();
  else if (/^ecdsa-sha2-nistp(256|384|521)$/.test(baseType)) {
    reader.string();
    reader.string();
  } else if (baseType === 'ssh-rsa') {
    reader.string();
    reader.string();
  } else throw new Error(`unsupported certificate key type: ${baseType}`);
  const key = Buffer.concat([wireString(baseType), blob.subarray(keyStart, reader.position)]);
  reader.uint64(); // serial
  const kindCode = reader.uint32();
  const keyId = reader.text();
  const principals = stringList(reader.string());
  const validAfter = reader.uint64();
  const validBefore = reader.uint64();
  const criticalOptions = optionNames(reader.string());
  optionNames(reader.string()); // extensions: none matter for a host certificate
  reader.string(); // reserved
  const signatureKey = reader.string();
  const signedEnd = reader.position;
  const signatureField = new WireReader(reader.string());
  const signatureType = signatureField.text();
  const signature = signatureField.string();
  if (!reader.done) throw new Error('malformed certificate: trailing bytes');
  if (kindCode !== 1 && kindCode !== 2) throw new Error(`malformed certificate: type ${kindCode}`);
  return {
    key,
    kind: kindCode === 2 ? 'host' : 'user',
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    signatureKey,
    signatureType,
    signature,
    signed: blob.subarray(0, signedEnd),
  };
}

const unsignedInteger = (mpint: Buffer): Buffer => {
  let start = 0;
  while (start < mpint.length - 1 && mpint[start] === 0) start++;
  return mpint.subarray(start);
};

const CURVES: Record<string, { jwk: string; hash: string; bytes: number }> = {
  nistp256: { jwk: 'P-256', hash: 'sha256', bytes: 32 },
  nistp384: { jwk: 'P-384', hash: 'sha384', bytes: 48 },
  nistp521: { jwk: 'P-521', hash: 'sha512', bytes: 66 },
};

/** A public key blob as a Node key object, with the curve's details for ECDSA. */
function publicKeyObject(blob: Buffer): { type: string; key: KeyObject; curve?: (typeof CURVES)[string] } {
  const reader = new WireReader(blob);
  const type = reader.text();
  if (type === 'ssh-ed25519') {
    return { type, key: createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: reader.string().toString('base64url') } }) };
  }
  if (type.startsWith('ecdsa-sha2-')) {
    const curve = CURVES[reader.text()];
    const point = reader.string();
    if (!curve || point[0] !== 4 || point.length !== 1 + 2 * curve.bytes) throw new Error(`unsupported ECDSA key: ${type}`);
    const x = point.subarray(1, 1 + curve.bytes).toString('base64url');
    const y = point.subarray(1 + curve.bytes).toString('base64url');
    return { type, curve, key: createPublicKey({ format: 'jwk', key: { kty: 'EC', crv: curve.jwk, x, y } }) };
  }
  if (type === 'ssh-rsa') {
    const e = unsignedInteger(reader.string()).toString('base64url');
    const n = unsignedInteger(reader.string()).toString('base64url');
    return { type, key: createPublicKey({ format: 'jwk', key: { kty: 'RSA', e, n } }) };
  }
  throw new Error(`unsupported CA key type: ${type}`);
}

/** True when `signature` (SSH format, `signatureType`) by the key `signer` is valid over `data`; throws on a refused algorithm. */
export function verifySshSignature(signer: Buffer, data: Buffer, signatureType: string, signature: Buffer): boolean {
  const { type, key, curve } = publicKeyObject(signer);
  if (type === 'ssh-ed25519') {
    if (signatureType !== 'ssh-ed25519') throw new Error(`an ${type} key cannot make a ${signatureType} signature`);
    return verify(null, data, key, signature);
  }
  if (curve) {
    if (signatureType !== type) throw new Error(`an ${type} key cannot make a ${signatureType} signature`);
    const reader = new WireReader(signature);
    const pad = (value: Buffer) => {
      const bytes = unsignedInteger(value);
      if (bytes.length > curve.bytes) throw new Error('malformed ECDSA signature');
      return Buffer.concat([Buffer.alloc(curve.bytes - bytes.length), bytes]);
    };
    const raw = Buffer.concat([pad(reader.string()), pad(reader.string())]);
    return verify(curve.hash, data, { key, dsaEncoding: 'ieee-p1363' }, raw);
  }
  // RSA: OpenSSH no longer accepts SHA-1 (ssh-rsa) signatures from a CA.
  const hash = signatureType === 'rsa-sha2-256' ? 'sha256' : signatureType === 'rsa-sha2-512' ? 'sha512' : undefined;
  if (!hash) throw new Error(`CA signatures of type ${signatureType} are refused (SHA-1); re-sign with rsa-sha2-512`);
  return verify(hash, data, key, signature);
}

function principalMatches(principal: string, host: string): boolean {
  const pattern = principal
    .toLowerCase()
    .split('')
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.+()[\]{}|/]/g, '\\$&')))
    .join('');
  return new RegExp(`^${pattern}$`, 's').test(host.toLowerCase());
}

/**
 * Why `certificate` does not vouch for `sessionKey` as the key of `host` under the CA `authority`, or undefined when it
 * does. `now` is in seconds since the epoch.
 */
export function certificateProblem(certificate: HostCertificate, sessionKey: Buffer, host: string, authority: Buffer, now: number): string | undefined {
  if (!certificate.key.equals(sessionKey)) return 'the certificate is for another key than the one the server signed with';
  if (certificate.kind !== 'host') return 'it is a user certificate, not a host certificate';
  if (!certificate.signatureKey.equals(authority)) return 'it is signed by another CA';
  const seconds = BigInt(Math.floor(now));
  if (seconds < certificate.validAfter) return 'the certificate is not valid yet';
  if (seconds >= certificate.validBefore) return 'the certificate has expired';
  if (certificate.principals.length > 0 && !certificate.principals.some((principal) => principalMatches(principal, host))) {
    return `the certificate names ${certificate.principals.join(', ')}, not ${host}`;
  }
  if (certificate.criticalOptions.length > 0) return `unknown critical options: ${certificate.criticalOptions.join(', ')}`;
  try {
    if (!verifySshSignature(authority, certificate.signed, certificate.signatureType, certificate.signature)) return 'the CA signature is not valid';
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}
