/** Tries a real SSH login from the test machine, to prove what the server accepts. */
import ssh2 from 'ssh2';

/** The outcome of one login attempt. */
export type LoginOutcome = 'accepted' | 'rejected' | 'unreachable';

/** Attempts a login (password, or key); retries only while sshd is not answering (e.g. mid-reload): at most 10 tries. */
export async function tryLogin(options: { host?: string; port: number; user: string; password?: string; privateKey?: string }): Promise<LoginOutcome> {
  let outcome: LoginOutcome = 'unreachable';
  for (let attempt = 0; attempt < 10 && outcome === 'unreachable'; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 300));
    outcome = await loginOnce(options);
  }
  return outcome;
}

/** One login attempt, bounded by a 10 s timeout. */
function loginOnce(options: { host?: string; port: number; user: string; password?: string; privateKey?: string }): Promise<LoginOutcome> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    const timer = setTimeout(() => {
      client.end();
      resolve('unreachable');
    }, 10_000);
    const finish = (outcome: LoginOutcome) => {
      clearTimeout(timer);
      client.end();
      resolve(outcome);
    };
    client.on('ready', () => finish('accepted'));
    client.on('error', (error: Error & { level?: string }) => finish(error.level === 'client-authentication' ? 'rejected' : 'unreachable'));
    client.connect({
      host: options.host ?? '127.0.0.1',
      port: options.port,
      username: options.user,
      readyTimeout: 10_000,
      ...(options.password !== undefined ? { password: options.password, tryKeyboard: true } : {}),
      ...(options.privateKey !== undefined ? { privateKey: options.privateKey } : {}),
      hostVerifier: () => true,
    });
    client.on('keyboard-interactive', (_n, _i, _l, prompts, respond) => respond(prompts.map(() => options.password ?? '')));
  });
}
