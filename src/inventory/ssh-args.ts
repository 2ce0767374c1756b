/**
 * `ansible_ssh_common_args` and `ansible_ssh_extra_args`: the ssh command-line arguments Ansible passes on. provision
 * has no ssh command to pass them to, so it reads the ones that say how to reach the host, the jump host (`-J`,
 * `-o ProxyJump=`) and the ssh config file (`-F`), and refuses every other one by name, with the variable to write
 * instead where there is one: an option silently dropped would connect differently from what the operator wrote.
 */

import { splitShellWords } from './shlex.ts';
import { formatHop, parseJumpSpec, type WrittenHop } from './jump-hosts.ts';

/** What provision takes from ssh arguments. */
export interface SshArgs {
  /** `-J` or `-o ProxyJump=`; empty hops for `none`. The first one given wins, as in ssh. */
  jump?: WrittenHop[];
  /** `-F FILE`, as written (ssh reads it relative to the working directory). */
  configFile?: string;
}

/** Where provision has a variable of its own for what an ssh option does. */
const OPTION_HINTS: Readonly<Record<string, string>> = {
  stricthostkeychecking: 'write ssh_host_key_checking (strict, ask, accept-new or off) instead',
  userknownhostsfile: 'write ssh_known_hosts_file instead',
  globalknownhostsfile: 'write ssh_known_hosts_file instead',
  identityfile: 'write ansible_ssh_private_key_file instead',
  port: 'write ansible_port instead',
  user: 'write ansible_user instead',
  connecttimeout: 'write ssh_connect_timeout instead',
  connectionattempts: 'write ssh_connect_retries instead',
  controlmaster: 'provision keeps connections between runs itself (ssh_persist)',
  controlpersist: 'provision keeps connections between runs itself (ssh_persist)',
  controlpath: 'provision keeps connections between runs itself (ssh_persist)',
};

/** The same for ssh's flags. */
const FLAG_HINTS: Readonly<Record<string, string>> = {
  i: 'write ansible_ssh_private_key_file instead',
  p: 'write ansible_port instead',
  l: 'write ansible_user instead',
};

/** Flags of ssh that take a value: the value is the next word when not attached. */
const FLAGS_WITH_VALUE = new Set(['B', 'b', 'c', 'D', 'E', 'e', 'F', 'I', 'i', 'J', 'L', 'l', 'm', 'O', 'o', 'P', 'p', 'Q', 'R', 'S', 'W', 'w']);

const SUPPORTED = 'provision reads only the jump host (-J HOST or -o ProxyJump=HOST) and -F FILE from ssh arguments';

/** What the arguments say, or why they cannot be followed. */
export function parseSshArgs(text: string): { args: SshArgs } | { problem: string } {
  let words: string[];
  try {
    words = splitShellWords(text, { comments: false }).map((word) => word.text);
  } catch (error) {
    return { problem: `cannot split the ssh arguments into words: ${(error as Error).message}` };
  }
  const args: SshArgs = {};
  for (let at = 0; at < words.length; at++) {
    const word = words[at]!;
    if (!/^-[A-Za-z0-9]/.test(word)) return { problem: `unexpected ${JSON.stringify(word)} in the ssh arguments: ${SUPPORTED}` };
    const flag = word[1]!;
    let value: string | undefined;
    if (FLAGS_WITH_VALUE.has(flag)) {
      value = word.length > 2 ? word.slice(2) : words[++at];
      if (value === undefined) return { problem: `ssh option ${word} is missing its value` };
    } else {
      const hint = FLAG_HINTS[flag];
      return { problem: `ssh option ${word} is not supported: ${SUPPORTED}${hint ? `; ${hint}` : ''}` };
    }
    if (flag === 'J') {
      const jump = parseJumpSpec(value);
      if ('problem' in jump) return { problem: `-J: ${jump.problem}` };
      args.jump ??= jump.hops;
    } else if (flag === 'F') {
      args.configFile ??= value;
    } else if (flag === 'o') {
      const option = parseOption(value);
      if (option.key !== 'proxyjump') return { problem: `ssh option '-o ${value}' is not supported: ${SUPPORTED}${optionHint(option.key, option.value)}` };
      const jump = parseJumpSpec(option.value);
      if ('problem' in jump) return { problem: `-o ProxyJump: ${jump.problem}` };
      args.jump ??= jump.hops;
    } else {
      const hint = FLAG_HINTS[flag];
      return { problem: `ssh option -${flag} ${value} is not supported: ${SUPPORTED}${hint ? `; ${hint}` : ''}` };
    }
  }
  return { args };
}

/** `Key=Value` or `Key Value`, as ssh reads an `-o` option; the key in lower case (ssh ignores its case). */
function parseOption(text: string): { key: string; value: string } {
  const match = /^\s*([A-Za-z0-9]+)\s*(?:=\s*|\s+)(.*)$/s.exec(text);
  if (!match) return { key: text.trim().toLowerCase(), value: '' };
  return { key: match[1]!.toLowerCase(), value: match[2]!.trim() };
}

function optionHint(key: string, value: string): string {
  if (key === 'proxycommand') {
    const hop = jumpOfProxyCommand(value);
    return hop ? `; this ProxyCommand is a jump host: write -o ProxyJump=${formatHop(hop)} (or ssh_jump: ${formatHop(hop)}) instead` : '; use a jump host (-o ProxyJump=… or ssh_jump) instead';
  }
  const hint = OPTION_HINTS[key];
  return hint ? `; ${hint}` : '';
}

/**
 * The jump host a ProxyCommand of the usual form stands for, `ssh -W %h:%p [-q] [-p PORT] [-l USER] [USER@]HOST`,
 * for the error's suggestion; undefined for anything else.
 */
export function jumpOfProxyCommand(command: string): WrittenHop | undefined {
  let words: string[];
  try {
    words = splitShellWords(command, { comments: false }).map((word) => word.text);
  } catch {
    return undefined;
  }
  if (!/(^|\/)ssh$/.test(words[0] ?? '')) return undefined;
  let forwarded = false;
  let port: number | undefined;
  let user: string | undefined;
  let host: string | undefined;
  for (let at = 1; at < words.length; at++) {
    const word = words[at]!;
    if (word === '-W' && /^\[?%h\]?:%p$/.test(words[at + 1] ?? '')) {
      forwarded = true;
      at++;
    } else if (word === '-p' && /^\d+$/.test(words[at + 1] ?? '')) port = Number(words[++at]);
    else if (word === '-l' && words[at + 1]) user = words[++at];
    else if (/^-[qTnNxaAC46]+$/.test(word)) continue;
    else if (!word.startsWith('-') && host === undefined) host = word;
    else return undefined;
  }
  if (!forwarded || host === undefined) return undefined;
  const parsed = parseJumpSpec(host);
  if ('problem' in parsed || parsed.hops.length !== 1) return undefined;
  const hop = parsed.hops[0]!;
  return { ...hop, ...(user !== undefined && hop.user === undefined ? { user } : {}), ...(port !== undefined && hop.port === undefined ? { port } : {}) };
}
