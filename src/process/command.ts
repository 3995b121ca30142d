// Runs a short-lived program (the OCI runtime's start/kill/state/delete/
// update, mount(8)) without blocking the event loop: the addon's runProgram spawns
// it, feeds its input, keeps a bounded part of its output, kills it at the
// timeout and reaps it on one thread of its own, and the loop wakes once,
// for the result, rather than at every stage (spawned, each stream's end,
// exited, grace timer) as streams and timers here would.

import { runProgram } from '../native/index.js';
import { environmentEntries, exitSignal } from './child.js';

export interface CommandOptions {
  env: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed; absent: /dev/null. */
  input?: string | Buffer;
  timeoutMs: number;
  /** Bytes kept of stdout and of stderr each (the rest is dropped). */
  maxOutput?: number;
}

export interface CommandResult {
  /** Exit status; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** A bounded buffer: keeps the first `max` bytes and counts the rest. */
export class OutputBuffer {
  private chunks: Buffer[] = [];
  private kept = 0;
  dropped = 0;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    const room = this.max - this.kept;
    if (room <= 0) {
      this.dropped += chunk.length;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(part);
    this.kept += part.length;
    this.dropped += chunk.length - part.length;
  }
  toString(): string {
    return withDropped(Buffer.concat(this.chunks), this.dropped);
  }
}

/** The text, and how much of it was cut off when some was. */
const withDropped = (bytes: Buffer, dropped: number): string => {
  const text = bytes.toString('utf8');
  return dropped > 0 ? `${text}… (${dropped} more bytes)` : text;
};

/** A count the addon takes (a safe integer >= 0); unbounded for Infinity or NaN. */
const whole = (n: number): number => (Number.isFinite(n) ? Math.min(Math.max(Math.ceil(n), 0), Number.MAX_SAFE_INTEGER) : Number.MAX_SAFE_INTEGER);

/** Runs `file args`; rejects only when the program cannot be started. */
export async function runCommand(file: string, args: string[], opts: CommandOptions): Promise<CommandResult> {
  const run = await runProgram({
    file,
    args,
    env: environmentEntries(opts.env),
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    timeoutMs: whole(opts.timeoutMs),
    maxOutput: whole(opts.maxOutput ?? 1024 * 1024),
  });
  return {
    code: run.code,
    signal: exitSignal(run.signal),
    stdout: withDropped(run.stdout, run.stdoutDropped),
    stderr: withDropped(run.stderr, run.stderrDropped),
    timedOut: run.timedOut,
  };
}
