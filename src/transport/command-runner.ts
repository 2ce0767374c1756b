/**
 * One long-lived shell per connection that runs small commands one after another. A command sent on an open channel
 * costs a write, a fork and a read (~5 ms); a command in a session channel of its own makes sshd set up a session
 * and start a login shell every time (~15–25 ms). The shell is the one an exec channel would start (the login shell,
 * or `sh` under sudo), and each command runs in a subshell of its own with stdin from /dev/null, so that commands see
 * what they would see in a channel of their own: none of the loop's variables or arguments, and an `exit`, a `cd` or a
 * variable ends with the command.
 *
 * The protocol is line-based, so that neither side depends on the host's locale:
 *   start:    the client sends `MARKER hello` (after sudo's password line, when sudo wants one); the loop skips any
 *             line before it (a password sudo did not read) and answers `MARKER ready PGID`
 *   request:  `MARKER ID LINES`, the command's LINES lines, `MARKER end ID`
 *   reply:    the command's stdout then `MARKER ID STATUS\n` on stdout; its stderr then `MARKER ID\n` on stderr.
 * The marker is random per runner. A request that does not parse ends the shell without running anything.
 */
import { randomBytes } from 'node:crypto';
import type { Client, ClientChannel } from 'ssh2';
import { SESSION_GROUP_PROBE } from './process-group.ts';
import { MAX_OUTPUT_BYTES } from './remote-command.ts';

/** What a command returned. */
export interface RunnerReply {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * The shell ended (or its channel closed) before a command's reply was complete. When the command was sent, whether it
 * ran is unknown; when it was not (`sent` false), it certainly did not run.
 */
export class RunnerEndedError extends Error {
  constructor(
    message = 'the remote command shell ended before the command finished',
    readonly sent = true,
  ) {
    super(message);
    this.name = 'RunnerEndedError';
  }
}

/**
 * The command ran past its time; the shell's channel is closed, its process group still has to be stopped (0 when the
 * shell could not name a group of its own).
 */
export class RunnerTimeoutError extends Error {
  constructor(
    readonly timeoutMs: number,
    readonly processGroup: number,
  ) {
    super(`timed out after ${timeoutMs} ms`);
    this.name = 'RunnerTimeoutError';
  }
}

/** The command sent more than MAX_OUTPUT_BYTES; the shell's channel is closed, its process group still has to be stopped. */
export class RunnerOutputLimitError extends Error {
  constructor(readonly processGroup: number) {
    super('too much output');
    this.name = 'RunnerOutputLimitError';
  }
}

/** Commands longer than this go in a channel of their own: the shell reads a request a byte at a time. */
export const RUNNER_MAX_COMMAND_BYTES = 4096;

/** How long the shell may take to start (sudo and PAM included) before commands go in channels of their own. */
const START_TIMEOUT_MS = 15_000;

/**
 * The shell loop (POSIX sh). It first says which process group it leads (see process-group.ts): everything it starts
 * stays in that group, which a command past its timeout is stopped by.
 */
export function runnerScript(marker: string): string {
  return `M='${marker}'
while :; do
  IFS= read -r hello || exit 3
  [ "$hello" = "$M hello" ] && break
done
unset hello
# The loop splits its requests into words: a login shell that does not (zsh) says so and ends.
words='a b'
set -- $words
if [ "$#" -ne 2 ]; then printf '%s ready -\\n' "$M"; exit 3; fi
unset words
${SESSION_GROUP_PROBE}
printf '%s ready %s\\n' "$M" "$provision_group"
unset provision_group
while IFS= read -r head; do
  case "$head" in "$M "*) ;; *) exit 3 ;; esac
  set -- $head
  [ "$#" -eq 3 ] || exit 3
  id=$2; n=$3; cmd=
  case "$n" in ''|*[!0-9]*) exit 3 ;; esac
  while [ "$n" -gt 0 ]; do
    IFS= read -r line || exit 3
    cmd="$cmd$line
"
    n=$((n - 1))
  done
  IFS= read -r tail || exit 3
  [ "$tail" = "$M end $id" ] || exit 3
  (
    unset M head id n line tail status
    set -- "$cmd"
    unset cmd
    eval "set --
$1"
  ) </dev/null
  status=$?
  printf '%s %s %s\\n' "$M" "$id" "$status"
  printf '%s %s\\n' "$M" "$id" >&2
done`;
}

/** One request: the header, the command's lines, and the closing line naming the same request. */
export function frameRequest(marker: string, id: number, command: string): string {
  const lines = command.split('\n');
  return `${marker} ${id} ${lines.length}\n${lines.join('\n')}\n${marker} end ${id}\n`;
}

/** A stream's bytes, split off at the end-of-reply line once it has arrived. */
export class ReplyStream {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly ending: RegExp) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** How many bytes arrived so far. */
  get bytes(): number {
    return this.size;
  }

  /** The bytes before the end line and the end line's captured value, once the end line is the stream's last. */
  finished(): { body: Buffer; value: string } | undefined {
    if (this.size === 0 || this.chunks.at(-1)!.at(-1) !== 0x0a) return undefined;
    // The end line is short: only the last chunks are decoded to look for it, so a long output is not copied per chunk.
    const tailChunks: Buffer[] = [];
    let tailSize = 0;
    for (let i = this.chunks.length - 1; i >= 0 && tailSize < TAIL_BYTES; i--) {
      tailChunks.unshift(this.chunks[i]!);
      tailSize += this.chunks[i]!.length;
    }
    const tail = Buffer.concat(tailChunks, tailSize).subarray(Math.max(0, tailSize - TAIL_BYTES));
    const match = this.ending.exec(tail.toString('latin1'));
    if (!match) return undefined;
    const all = Buffer.concat(this.chunks, this.size);
    return { body: all.subarray(0, all.length - tail.length + match.index), value: match[1] ?? '' };
  }
}

/** More than an end line's length: the marker (42 characters), a request id and a status. */
const TAIL_BYTES = 160;

/** A running command shell on one channel; commands run one at a time, in the order they were asked for. */
export class CommandRunner {
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private ended = false;
  /** Called when the channel ends, to fail the request in flight. */
  private onEnd: (() => void) | undefined;

  private constructor(
    private readonly channel: ClientChannel,
    private readonly marker: string,
    /** The shell's process group on the host: the shell and every command it started. */
    readonly processGroup: number,
  ) {
    channel.on('close', () => {
      this.ended = true;
      this.onEnd?.();
    });
  }

  /**
   * Starts the shell. `wrap` turns the loop's script into the channel's command (sudo, for one) and may name a line
   * to send first (sudo's password). Resolves once the shell has said it is ready; rejects when it ends first.
   */
  static open(client: Client, wrap: (script: string) => { command: string; firstLine?: string }): Promise<CommandRunner> {
    const marker = `--provision-runner-${randomBytes(12).toString('hex')}--`;
    const { command, firstLine } = wrap(runnerScript(marker));
    return new Promise((resolve, reject) => {
      client.exec(command, (error: Error | undefined, channel: ClientChannel) => {
        if (error) return reject(new RunnerEndedError(`cannot start the remote command shell: ${error.message}`));
        const ready = new RegExp(`${marker} ready (\\S*)\\n$`);
        let seen = '';
        const timer = setTimeout(() => {
          channel.close();
          reject(new RunnerEndedError('the remote command shell did not start in time', false));
        }, START_TIMEOUT_MS);
        const onData = (chunk: Buffer) => {
          seen += chunk.toString('latin1');
          const match = ready.exec(seen);
          if (!match) return;
          clearTimeout(timer);
          channel.off('data', onData);
          channel.off('close', onClose);
          if (!/^\d+$/.test(match[1]!)) {
            // A login shell that is not a POSIX sh (zsh does not split words): commands get channels of their own.
            channel.close();
            reject(new RunnerEndedError(`the remote command shell did not start: it said ${JSON.stringify(match[1])}`, false));
            return;
          }
          resolve(new CommandRunner(channel, marker, Number(match[1])));
        };
        const onClose = () => {
          clearTimeout(timer);
          reject(new RunnerEndedError('the remote command shell ended as it started', false));
        };
        channel.on('data', onData);
        channel.once('close', onClose);
        // Stderr is read per request; until then it is drained so that the channel's window never fills.
        channel.stderr.resume();
        channel.write(`${firstLine ?? ''}${marker} hello\n`);
      });
    });
  }

  /** False once the shell has ended (a timeout, a lost connection, or close()). */
  get alive(): boolean {
    return !this.ended;
  }

  /** True when `command` can be sent to the shell: small enough, and free of the shell's marker. */
  accepts(command: string): boolean {
    return Buffer.byteLength(command) <= RUNNER_MAX_COMMAND_BYTES && !command.includes(this.marker);
  }

  /** Runs one command after those already asked for. */
  run(command: string, timeoutMs: number): Promise<RunnerReply> {
    const result = this.queue.then(() => this.runNow(command, timeoutMs));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private runNow(command: string, timeoutMs: number): Promise<RunnerReply> {
    if (this.ended) return Promise.reject(new RunnerEndedError('the remote command shell had ended', false));
    const id = this.nextId++;
    // The marker is dashes, letters and hex digits: nothing in it for a regular expression to read as syntax.
    const stdout = new ReplyStream(new RegExp(`${this.marker} ${id} (\\d+)\\n$`));
    const stderr = new ReplyStream(new RegExp(`${this.marker} ${id}()\\n$`));
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.channel.off('data', onOut);
        this.channel.stderr.off('data', onErr);
        this.onEnd = undefined;
      };
      // Once found, the stdout reply stands: bytes after it (a background process the command left) are not its own.
      let out: { body: Buffer; value: string } | undefined;
      const check = () => {
        out ??= stdout.finished();
        const err = out && stderr.finished();
        if (!out || !err) return;
        finish();
        resolve({ stdout: out.body.toString('utf8'), stderr: err.body.toString('utf8'), code: Number(out.value) });
      };
      const overflow = () => {
        finish();
        this.ended = true;
        this.channel.close();
        reject(new RunnerOutputLimitError(this.processGroup));
      };
      const onOut = (chunk: Buffer) => {
        if (out) return;
        stdout.push(chunk);
        if (stdout.bytes + stderr.bytes > MAX_OUTPUT_BYTES) return overflow();
        check();
      };
      const onErr = (chunk: Buffer) => {
        stderr.push(chunk);
        if (stdout.bytes + stderr.bytes > MAX_OUTPUT_BYTES) return overflow();
        check();
      };
      const timer = setTimeout(() => {
        finish();
        this.ended = true;
        this.channel.close();
        reject(new RunnerTimeoutError(timeoutMs, this.processGroup));
      }, timeoutMs);
      this.onEnd = () => {
        finish();
        reject(new RunnerEndedError());
      };
      this.channel.on('data', onOut);
      this.channel.stderr.on('data', onErr);
      this.channel.write(frameRequest(this.marker, id, command));
    });
  }

  /** Ends the shell; resolves once its channel has closed (or after a second: the connection may be going too). */
  close(): Promise<void> {
    if (this.ended) return Promise.resolve();
    this.ended = true;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 1000);
      this.channel.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.channel.end();
    });
  }
}
