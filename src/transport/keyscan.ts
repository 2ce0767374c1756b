/**
 * Fetches a server's host certificates with OpenSSH's `ssh-keyscan -c`: the SSH library negotiates plain host keys
 * only. A certificate is public; it vouches for a session only when the key it certifies is the very key that signed
 * the session's key exchange (host-key-policy.ts checks that), so fetching it over a connection of its own is safe.
 */
import { execFile } from 'node:child_process';
import { isCertificateType } from './host-certificate.ts';

/** The certificate blobs the server offers, or why none could be read. */
export function fetchHostCertificates(address: string, port: number, timeoutSeconds: number): Promise<{ certificates: Buffer[] } | { problem: string }> {
  return new Promise((resolve) => {
    const seconds = String(Math.max(1, Math.ceil(timeoutSeconds)));
    execFile(
      'ssh-keyscan',
      ['-c', '-T', seconds, '-p', String(port), '--', address],
      { timeout: (Number(seconds) + 5) * 1000, maxBuffer: 1 << 20, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (error, stdout) => {
        if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
          resolve({ problem: 'host certificates are read with ssh-keyscan (OpenSSH client), which is not installed' });
          return;
        }
        const certificates: Buffer[] = [];
        // `-c` prints `TYPE BASE64` (as in a -cert.pub file); some versions put the host first, as for plain keys.
        for (const line of String(stdout).split('\n')) {
          const fields = line.trim().split(/\s+/);
          const at = fields.findIndex(isCertificateType);
          const base64 = at >= 0 ? fields[at + 1] : undefined;
          if (base64 && /^[A-Za-z0-9+/]+={0,2}$/.test(base64)) certificates.push(Buffer.from(base64, 'base64'));
        }
        resolve(certificates.length > 0 ? { certificates } : { problem: 'the server offers no host certificate' });
      },
    );
  });
}
