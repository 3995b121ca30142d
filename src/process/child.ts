// Child processes started by the addon's posix_spawn instead of node's
// child_process. Node forks the whole daemon, which blocks the event loop
// for as long as copying its page tables takes (milliseconds at the
// daemon's size, growing with it); posix_spawn shares the memory until the
// child execs, and runs on an addon thread.
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { spawnChild } from '../native/index.js';

/** A child's fd: /dev/null, a socket pair whose other end we get (for 'start', see SpawnStdio), or one of ours passed in. */
export type ChildStdio = 'null' | 'pipe' | 'start' | number;

export interface ChildOptions {
  /** The child's whole environment. */
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Slot i is the child's fd i. */
  stdio: ChildStdio[];
  /** setsid: the child leads a session (and process group) of its own. */
  newSession?: boolean;
  /** Waiting for its exit does not keep the daemon's event loop alive (a child that outlives a request). */
  unref?: boolean;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly pid: number;
  /** Our end of each 'pipe' and 'start' slot, null elsewhere. */
  readonly stdio: (Socket | null)[];
  /** Settles once the child has exited and been reaped. */
  readonly exited: Promise<ChildExit>;
  /**
   * Signals the child (with `group`, the process group it leads) unless it
   * has been reaped already: its pid may then be another's. True when sent.
   */
  kill(signal?: NodeJS.Signals, opts?: { group?: boolean }): boolean;
}

const signalNames = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** The name of the signal that ended a child, as node reports it ('SIGKILL'). */
export const exitSignal = (n: number | null): NodeJS.Signals | null => (n === null ? null : (signalNames.get(n) ?? null));

/** An environment as the addon takes it: "KEY=value" entries. */
export const environmentEntries = (env: NodeJS.ProcessEnv): string[] => Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));

/** Starts `file` with `args`; rejects (ENOENT, EACCES, ...) when it cannot be executed. */
export async function startChild(file: string, args: readonly string[], opts: ChildOptions): Promise<Child> {
  const spawned = await spawnChild({
    file,
    args: [...args],
    env: environmentEntries(opts.env),
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    stdio: opts.stdio,
    ...(opts.newSession ? { newSession: true } : {}),
    ...(opts.unref ? { unref: true } : {}),
  });
  let reaped = false;
  const exited = spawned.exited.then((e): ChildExit => {
    reaped = true;
    return { code: e.code, signal: exitSignal(e.signal) };
  });
  // A start pipe's end is never read: the byte left in it is what resets the child's end should ours close unwritten.
  const stdio = spawned.fds.map((fd, slot) => (fd === null ? null : new Socket({ fd, readable: opts.stdio[slot] !== 'start', writable: true })));
  return {
    pid: spawned.pid,
    stdio,
    exited,
    kill(signal: NodeJS.Signals = 'SIGTERM', opts: { group?: boolean } = {}): boolean {
      if (reaped) return false;
      try {
        process.kill(opts.group ? -spawned.pid : spawned.pid, signal);
        return true;
      } catch {
        return false;
      }
    },
  };
}
