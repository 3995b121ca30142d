// Runs a short-lived program (the OCI runtime's start/kill/state/delete/
// update) without blocking the event loop: output is collected up to a
// bound, the run is bounded in time, and the child is killed when either
// bound is hit or the caller aborts.

import type { Socket } from 'node:net';
import { startChild } from '../../process/child.js';

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
export async function runCommand(file: string, args: string[], opts: CommandOptions): Promise<CommandResult> {
  const max = opts.maxOutput ?? 1024 * 1024;
  const stdout = new OutputBuffer(max);
  const stderr = new OutputBuffer(max);
  const child = await startChild(file, args, { env: opts.env, stdio: [opts.input === undefined ? 'null' : 'pipe', 'pipe', 'pipe'] });
  const [input, out, err] = child.stdio;
  let timedOut = false;
  const kill = (): void => void child.kill('SIGKILL');
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, opts.timeoutMs);
  opts.signal?.addEventListener('abort', kill, { once: true });
  const drained = (stream: Socket | null | undefined, into: OutputBuffer): Promise<void> =>
    new Promise((resolve) => {
      if (!stream) return resolve();
      stream.on('data', (c: Buffer) => into.push(c));
      stream.on('error', () => undefined);
      stream.once('close', () => resolve());
    });
  const outputs = Promise.all([drained(out, stdout), drained(err, stderr)]);
  if (input && opts.input !== undefined) {
    // A runtime that exits without reading its stdin is not an error here.
    input.on('error', () => undefined);
    input.end(opts.input);
  }
  const exit = await child.exited;
  clearTimeout(timer);
  opts.signal?.removeEventListener('abort', kill);
  // A grandchild that keeps stdout or stderr open must not hold us: a
  // second after the exit, take what has arrived.
  await new Promise<void>((resolve) => {
    const grace = setTimeout(resolve, 1000);
    void outputs.then(() => {
      clearTimeout(grace);
      resolve();
    });
  });
  for (const s of child.stdio) s?.destroy();
  return { code: exit.code, signal: exit.signal, stdout: stdout.toString(), stderr: stderr.toString(), timedOut };
}
