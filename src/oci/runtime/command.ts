// Runs a short-lived program (the OCI runtime's start/kill/state/delete/
// update) without blocking the event loop: output is collected up to a
// bound, the run is bounded in time, and the child is killed when either
// bound is hit or the caller aborts.

import { spawn } from 'node:child_process';

export interface CommandOptions {
  env: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed; absent: /dev/null. */
  input?: string | Buffer;
  timeoutMs: number;
  /** Bytes kept of stdout and of stderr each (the rest is dropped). */
  maxOutput?: number;
  signal?: AbortSignal;
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
    const text = Buffer.concat(this.chunks).toString('utf8');
    return this.dropped > 0 ? `${text}… (${this.dropped} more bytes)` : text;
  }
}

/** Runs `file args`; rejects only when the program cannot be started. */
export function runCommand(file: string, args: string[], opts: CommandOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const max = opts.maxOutput ?? 1024 * 1024;
    const stdout = new OutputBuffer(max);
    const stderr = new OutputBuffer(max);
    const child = spawn(file, args, {
      env: opts.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let timedOut = false;
    let settled = false;
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, opts.timeoutMs);
    const onAbort = (): void => kill();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.stdout?.on('data', (c: Buffer) => stdout.push(c));
    child.stderr?.on('data', (c: Buffer) => stderr.push(c));
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      finish();
      reject(err);
    });
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      finish();
      resolve({ code, signal, stdout: stdout.toString(), stderr: stderr.toString(), timedOut });
    };
    child.on('close', done);
    // A grandchild that keeps stdout or stderr open must not hold us: a
    // second after the exit, take what has arrived.
    child.on('exit', (code, signal) => {
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        done(code, signal);
      }, 1000).unref();
    });
    if (opts.input !== undefined && child.stdin) {
      // A runtime that exits without reading its stdin is not an error here.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}
