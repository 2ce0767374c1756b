/**
 * `ssh_host_key`: a host's public key written in the inventory (a line of its /etc/ssh/ssh_host_*_key.pub), or its
 * SHA256 fingerprint as `ssh-keygen -l` prints it. Checked when the inventory loads, so a pasted key with a typo is a
 * `file:line` error rather than a host that never connects.
 */

/** Host key algorithms a pin may name: those sshd offers and the SSH library negotiates. */
const PIN_TYPES = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa']);

const HINT = 'expected a host public key `TYPE BASE64` (a line of /etc/ssh/ssh_host_ed25519_key.pub) or a fingerprint `SHA256:…` (ssh-keygen -lf)';

/** A pin in its normal form (`type base64`, the comment dropped, or `SHA256:…`), or why the text is not one. */
export function parseHostKeyPin(text: string): { pin: string } | { problem: string } {
  const fields = text.trim().split(/\s+/);
  const [first, base64] = fields;
  if (first === undefined || first === '') return { problem: HINT };
  if (first.startsWith('SHA256:')) {
    if (fields.length > 1 || !/^SHA256:[A-Za-z0-9+/]{43}$/.test(first)) return { problem: `${HINT}; a SHA256 fingerprint is SHA256: and 43 base64 characters` };
    return { pin: first };
  }
  if (/^(MD5:)?([0-9a-f]{2}:){15}[0-9a-f]{2}$/i.test(first)) return { problem: `MD5 fingerprints are too weak to pin a host key: ${HINT}` };
  if (!PIN_TYPES.has(first)) {
    return { problem: `unknown host key type ${JSON.stringify(first)}: ${HINT}; types: ${[...PIN_TYPES].join(', ')}` };
  }
  if (base64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) return { problem: `the key after ${first} is not base64: ${HINT}` };
  const blob = Buffer.from(base64, 'base64');
  const named = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const inner = named > 0 && named <= blob.length - 4 ? blob.toString('latin1', 4, 4 + named) : undefined;
  if (inner !== first) return { problem: `the key is not a ${first} key${inner ? ` (it says ${JSON.stringify(inner)})` : ''}: it was cut or mixed up when copied` };
  if (blob.length < 4 + named + 4 + 16) return { problem: `the ${first} key is too short: it was cut when copied` };
  return { pin: `${first} ${base64}` };
}
