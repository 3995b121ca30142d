// Starting conmon for a create, and its handshake:
//
//  1. spawn conmon with fd 3 (sync) and fd 4 (start) as socketpairs, in the
//     bundle directory, in a session of its own;
//  2. optionally place it (a cgroup, say) while it blocks on the start pipe;
//  3. write one byte to the start pipe: conmon forks, the parent writes the
//     daemon's pid to -P and exits, the daemon runs `runtime create`;
//  4. read the first line from the sync pipe: `{"pid": N}` on success,
//     `{"pid": -1, "message": "<runtime stderr>"}` on failure, or nothing
//     (EOF) when conmon 2.1.6 fails without a message.
//
// Nothing here blocks the event loop and every wait is bounded.

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { OutputBuffer } from './command.js';
import { readSyncLine, type SyncRead } from './sync_pipe.js';

export interface ConmonSpawnInput {
  monitorPath: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** conmon's working directory: the bundle (its `oom` file lands here). */
  cwd: string;
  /** conmon -P: read as soon as the spawned conmon exits (it writes the file first), while the runtime works. */
  pidFile?: string;
  timeoutMs: number;
  /** Runs while conmon waits for the start byte (CRI-O moves it into its cgroup here). */
  placeMonitor?: (pid: number) => Promise<void>;
}

export interface ConmonHandshake {
  /** The pid of the conmon we spawned (the parent that forks the daemon and exits). */
  spawnedPid: number;
  sync: SyncRead;
  /** The pid in `pidFile`, when it was read. */
  conmonPid?: number;
  /** How the spawned conmon ended; undefined if it had not when the wait ran out. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  /** What conmon printed before it detached from our stdout and stderr. */
  output: string;
}

export class ConmonStartError extends Error {
  override name = 'ConmonStartError';
}

export async function spawnConmon(input: ConmonSpawnInput): Promise<ConmonHandshake> {
  const started = Date.now();
  const remaining = (): number => Math.max(0, input.timeoutMs - (Date.now() - started));
  const child = spawn(input.monitorPath, input.args, {
    cwd: input.cwd,
    env: input.env,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    // setsid: no terminal signal of the daemon's group reaches it before it detaches.
    detached: true,
  });
  const spawnError = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  if (spawnError || child.pid === undefined) {
    throw new ConmonStartError(`cannot run ${input.monitorPath}: ${spawnError?.message ?? 'no pid'}`, { cause: spawnError });
  }
  const pid = child.pid;
  const output = new OutputBuffer(16 * 1024);
  child.stdout?.on('data', (c: Buffer) => output.push(c));
  child.stderr?.on('data', (c: Buffer) => output.push(c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const pidFile = input.pidFile;
  const conmonPid = pidFile ? exited.then(() => readPidFile(pidFile)) : Promise.resolve(undefined);
  const syncPipe = child.stdio[3] as Readable;
  const startPipe = child.stdio[4] as Writable;
  startPipe.on('error', () => undefined);
  syncPipe.on('error', () => undefined);

  const release = (): void => {
    syncPipe.destroy();
    startPipe.destroy();
    child.stdout?.destroy();
    child.stderr?.destroy();
  };

  // Read from the start: conmon writes nothing before the start byte, but a
  // crash must show as EOF rather than a hang.
  const sync = readSyncLine(syncPipe, input.timeoutMs);
  if (input.placeMonitor) {
    try {
      await input.placeMonitor(pid);
    } catch (err) {
      killGroup(pid);
      release();
      throw err;
    }
  }
  startPipe.end(Buffer.of(0));

  const result = await sync;
  const exit = await within(exited, Math.min(remaining(), 5000));
  release();
  if (exit === undefined) child.unref();
  const monitorPid = exit ? await conmonPid : undefined;
  return { spawnedPid: pid, sync: result, ...(monitorPid !== undefined ? { conmonPid: monitorPid } : {}), ...(exit ? { exit } : {}), output: output.toString() };
}

async function readPidFile(path: string): Promise<number | undefined> {
  const text = (await readFile(path, 'utf8').catch(() => '')).trim();
  return /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : undefined;
}

/** SIGKILL to the process group of a conmon we spawned (it leads its own session). */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The promise's value, or undefined when it takes longer than `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    void promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** conmon's own error and warning lines ("[conmon:e]: ...", "[conmon:w]: ..."), without debug noise. */
export function conmonComplaints(output: string): string {
  return output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^\[conmon:[dit]\]/.test(l))
    .join('\n');
}
