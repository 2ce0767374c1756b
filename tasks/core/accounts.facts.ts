/** Facts about a user account: whether it exists, its home, groups, and authorized_keys. */
import { sh } from '../../src/transport/shell.ts';
import type { Fact, FactOutput } from '../../src/engine/types.ts';

/** A user account as the host knows it. */
export type Account =
  | { exists: false }
  | {
      exists: true;
      uid: number;
      gid: number;
      home: string;
      groups: string[];
      /** ~/.ssh/authorized_keys content, or null when the file does not exist. */
      authorizedKeys: string | null;
    };

/** Parses the account script's output (pure). */
export function parseAccount(output: FactOutput): Account {
  const [passwd = '', groups = '', keysState = '', keys = ''] = output.stdout.split('\n');
  if (passwd === 'absent' || passwd === '') return { exists: false };
  const fields = passwd.split(':');
  return {
    exists: true,
    uid: Number(fields[2]),
    gid: Number(fields[3]),
    home: fields[5] ?? '',
    groups: groups.trim().split(/\s+/).filter(Boolean),
    authorizedKeys: keysState === 'keys' ? Buffer.from(keys.trim(), 'base64').toString('utf8') : null,
  };
}

/** The fact key of an account, so tasks that create users or keys can predict it. */
export function accountKey(user: string): string {
  return `account:${user}`;
}

/** The account `user`, with its groups and authorized keys. */
export function account(user: string): Fact<Account> {
  return {
    key: accountKey(user),
    description: `the account ${user} (its groups and authorized keys)`,
    // The home directory is cut out of the passwd entry by the shell itself (the sixth field), not by cut.
    command: sh`entry=$(getent passwd -- ${user}) || { echo absent; exit 0; }
printf '%s\n' "$entry"
id -nG -- ${user}
home=\${entry#*:*:*:*:*:}
keys="\${home%%:*}/.ssh/authorized_keys"
if [ -f "$keys" ]; then echo keys; base64 -w0 "$keys"; echo; else echo none; fi`,
    parse: parseAccount,
    // Accounts change by the tasks that manage them, which say so; no package install touches an operator's account.
    staleAfter: [],
  };
}
