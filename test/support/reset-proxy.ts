/**
 * A TCP proxy on 127.0.0.1 in front of a test host's sshd that resets chosen connections right after accepting them,
 * before sshd's banner: what a port proxy (Docker's, a cloud load balancer) shows while sshd re-executes on reload.
 */
import net from 'node:net';

/** What the proxy does with the Nth connection it accepts (counted from 1). */
export type ProxyVerdict = 'forward' | 'reset';

/** A started proxy. */
export interface ResetProxy {
  port: number;
  /** Connections accepted so far, and how many of them were reset. */
  readonly accepted: number;
  readonly resets: number;
  close(): Promise<void>;
}

/** Listens on an ephemeral 127.0.0.1 port and forwards to 127.0.0.1:`targetPort`, or resets, as `decide` says. */
export async function startResetProxy(targetPort: number, decide: (connection: number) => ProxyVerdict): Promise<ResetProxy> {
  let accepted = 0;
  let resets = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    accepted += 1;
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => undefined);
    if (decide(accepted) === 'reset') {
      resets += 1;
      // A moment after the accept, as a port proxy does once its own connect to the backend fails: the client has seen
      // its TCP connect succeed and waits for the banner.
      setTimeout(() => client.resetAndDestroy(), 20);
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    open.add(upstream);
    upstream.on('close', () => open.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get accepted() {
      return accepted;
    },
    get resets() {
      return resets;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
