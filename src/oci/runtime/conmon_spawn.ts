// Starting conmon for a create, and its handshake:
//
//  1. spawn conmon (with --sync: it does not daemonise, so the process we
//     spawn is the monitor, our child until it exits after its container)
//     with fd 3 (sync) as a socketpair, in the bundle directory, in a
//     session of its own, and write its pid file;
//  2. when the caller must place conmon first (a cgroup, say) or is still
//     making the bundle: fd 4 is a start pipe conmon blocks on, once it has
//     loaded and opened the log file, until one byte is written to it. Closed
//     unwritten (a failed create, or the daemon's death), it fails conmon's
//     read (a 'start' slot: ECONNRESET, not EOF) and conmon exits without
//     running the runtime;
//  3. conmon sets up and runs `runtime create`;
//  4. read the first line from the sync pipe: `{"pid": N}` on success,
//     `{"pid": -1, "message": "<runtime stderr>"}` on failure, or nothing
//     (EOF) when conmon 2.1.6 fails without a message.
//
// Nothing here blocks the event loop and every wait is bounded.

import type { Socket } from 'node:net';
import { isNativeError, writeWholeFile } from '../../native/index.js';
import { startChild, type Child } from '../../process/child.js';
import { OutputBuffer } from '../../process/command.js';
import { within } from '../../process/within.js';
import { conmonPipeEnvironment } from './conmon_args.js';
import { readSyncLine, reportedPid, type SyncRead } from './sync_pipe.js';

export interface ConmonSpawnInput {
  monitorPath: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** conmon's working directory: the bundle (its `oom` file lands here). */
  cwd: string;
  /** Where conmon's pid is written, before it may run the runtime (a restart finds a half-made container's conmon by it). */
  pidFile: string;
  timeoutMs: number;
  /**
   * Given, conmon waits at its start pipe, before it forks anything, until
   * this has run (CRI-O moves it into its cgroup here); a rejection kills conmon.
   */
  beforeStart?: (pid: number) => Promise<void>;
  /**
   * Given, conmon waits at its start pipe until this settles: the runtime
   * runs once it resolves, and the sync wait is timed from then. A rejection
   * closes the pipe unwritten instead: conmon exits without running the
   * runtime, and spawnConmon rejects with the same error.
   * Without either, conmon goes straight on.
   */
  runtimeReady?: Promise<void>;
  /** Called once conmon runs (it loads from here on), before any wait. */
  onSpawned?: (pid: number) => void;
}

export interface ConmonHandshake {
  /** conmon's pid (it runs with --sync: the process we spawned is the monitor). */
  conmonPid: number;
  /** SIGKILLs conmon's process group, unless it has exited and been reaped. */
  killSpawned: () => void;
  sync: SyncRead;
  /** After a failure, how conmon ended; undefined if it had not when the wait ran out. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  /** What conmon printed before it detached from our stdout and stderr. */
  output: string;
}

export class ConmonStartError extends Error {
  override name = 'ConmonStartError';
}

export async function spawnConmon(input: ConmonSpawnInput): Promise<ConmonHandshake> {
  let started = Date.now();
  const remaining = (): number => Math.max(0, input.timeoutMs - (Date.now() - started));
  let child: Child;
  const waits = input.beforeStart !== undefined || input.runtimeReady !== undefined;
  try {
    child = await startChild(input.monitorPath, input.args, {
      cwd: input.cwd,
      env: { ...input.env, ...conmonPipeEnvironment({ start: waits }) },
      stdio: ['null', 'pipe', 'pipe', 'pipe', waits ? 'start' : 'null'],
      // setsid: no terminal signal of the daemon's group reaches it or its container.
      newSession: true,
      // It lives as long as its container: waiting for it must not hold the daemon up.
      unref: true,
    });
  } catch (err) {
    const why = isNativeError(err) ? `${err.code} (${err.message})` : (err as Error).message;
    throw new ConmonStartError(`cannot run ${input.monitorPath}: ${why}`, { cause: err });
  }
  const pid = child.pid;
  const release = (): void => {
    for (const s of child.stdio) s?.destroy();
  };
  // Before the runtime can have run: conmon goes, and nothing else was made.
  const giveUp = (err: unknown): never => {
    child.kill('SIGKILL', { group: true });
    release();
    throw err;
  };
  try {
    input.onSpawned?.(pid);
  } catch (err) {
    return giveUp(err);
  }
  const [, stdout, stderr, syncPipe, startPipe] = child.stdio as (Socket | undefined)[];
  const output = new OutputBuffer(16 * 1024);
  for (const s of [stdout!, stderr!]) {
    s.on('data', (c: Buffer) => output.push(c));
    s.on('error', () => undefined);
  }
  // A child the addon could not wait for counts as one that never exited.
  const exited = child.exited.catch(neverSettles);
  for (const s of [startPipe, syncPipe!]) s?.on('error', () => undefined);
  // Before conmon may go on: a restart that finds this container half made kills conmon by it.
  // After the start hook, which may first clear an earlier container's files.
  const writePidFile = (): Promise<void> => writeWholeFile(input.pidFile, `${pid}`);
  let pidWritten: Promise<void>;

  if (input.beforeStart) {
    try {
      await input.beforeStart(pid);
      await (pidWritten = writePidFile());
    } catch (err) {
      return giveUp(err);
    }
  } else {
    pidWritten = writePidFile();
    pidWritten.catch(() => undefined);
  }
  let abandoned: { err: unknown } | undefined;
  if (startPipe) {
    try {
      await Promise.all([input.runtimeReady, pidWritten]);
      startPipe.end(Buffer.of(0));
    } catch (err) {
      abandoned = { err };
      startPipe.destroy();
    }
  }
  // Timed from here: the wait before it is the caller's. A conmon that died
  // meanwhile shows as EOF here (the socket keeps it until read).
  started = Date.now();
  const sync = readSyncLine(syncPipe!, abandoned ? Math.min(input.timeoutMs, 5000) : input.timeoutMs);

  const result = await sync;
  if (abandoned) {
    // conmon's read fails and it exits; the caller cleans up after it. One that did not
    // end in time may never have got that far.
    if (result.timedOut) child.kill('SIGKILL', { group: true });
    release();
    // Not after the caller's clean-up: a pid file written then would outlive it.
    await pidWritten.catch(() => undefined);
    throw abandoned.err;
  }
  // Written by now, unless conmon had no start pipe (its runtime ran at once).
  await pidWritten.catch(() => undefined);
  const handshake = { conmonPid: pid, killSpawned: () => void child.kill('SIGKILL', { group: true }), sync: result };
  if (reportedPid(result) !== undefined) {
    // conmon stays, with its container; its output went to /dev/null before the runtime ran.
    release();
    return { ...handshake, output: output.toString() };
  }
  // A failure: conmon exits after it; how it ended (and what it printed) says more when it said nothing.
  const exit = await within(exited, Math.min(remaining(), 5000));
  release();
  return { ...handshake, ...(exit ? { exit } : {}), output: output.toString() };
}

/**
 * For a wait that stays pending: defined here, not in spawnConmon, so that a
 * conmon's pending exit (as long as its container) keeps no create's state alive.
 */
const neverSettles = (): Promise<never> => new Promise<never>(() => undefined);

/** conmon's own error and warning lines ("[conmon:e]: ...", "[conmon:w]: ..."), without debug noise. */
export function conmonComplaints(output: string): string {
  return output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^\[conmon:[dit]\]/.test(l))
    .join('\n');
}
