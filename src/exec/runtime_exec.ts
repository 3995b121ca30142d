// One process started in a running container by the runtime's `exec`. The
// runtime stays attached: it is the process's parent, relays its stdio
// (pipes, or our pty when there is a terminal) and exits with its status.
// The process leads its own session, so killing its pid from the pid file
// as a group takes its children too.
import { status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { constants } from 'node:os';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeWholeFile } from '../native/index.js';
import { startChild, type Child, type ChildStdio } from '../process/child.js';
import { readPidFile } from '../process/pid_file.js';
import type { OciProcess, OciSpec } from '../oci/spec/types.js';
import { RpcError } from '../server/rpc.js';
import type { ExecTarget } from './target.js';

export interface RuntimeExecOptions {
  cmd: string[];
  terminal: boolean;
  /** The runtime's stdin, stdout and stderr. */
  stdio: [ChildStdio, ChildStdio, ChildStdio];
  /** With a terminal: the size the container's terminal has before the process starts. */
  consoleSize?: { width: number; height: number };
}

export interface ExecExit {
  /** The process's exit status (128 + signal when it was killed); null when the runtime could not be run. */
  exitCode: number | null;
  /** Why the runtime could not be run. */
  error?: Error;
}

/** How long kill() waits for the runtime to write the process's pid before killing the runtime instead. */
const pidFileWaitMs = 1000;

export class RuntimeExec {
  /** Settles once the runtime has exited and its output is closed. */
  readonly closed: Promise<ExecExit>;
  private exited = false;

  private constructor(
    /** Undefined when the runtime could not be started (closed says why). */
    private readonly child: Child | undefined,
    private readonly files: { process: string; pid: string; log: string },
    startError?: Error,
  ) {
    if (!child) {
      this.exited = true;
      this.closed = Promise.resolve({ exitCode: null, error: startError ?? new Error('the runtime was not started') });
      return;
    }
    const outputs = child.stdio.slice(1).map((s) => (s ? new Promise<void>((resolve) => s.once('close', () => resolve())) : undefined));
    this.closed = child.exited.then(async ({ code, signal }) => {
      this.exited = true;
      // Nobody writes to a process that is gone.
      child.stdio[0]?.destroy();
      await Promise.all(outputs);
      return { exitCode: code ?? 128 + (signal ? constants.signals[signal] : 0) };
    });
  }

  static async start(target: ExecTarget, opts: RuntimeExecOptions): Promise<RuntimeExec> {
    const tag = `exec-${randomBytes(8).toString('hex')}`;
    const files = { process: join(target.bundle, `${tag}.json`), pid: join(target.bundle, `${tag}.pid`), log: join(target.bundle, `${tag}.log`) };
    await writeWholeFile(files.process, JSON.stringify(execProcess(await containerProcess(target), opts)), { mode: 0o600 });
    const { file, args, env } = target.runtime.execCommand(target.record.id, { processFile: files.process, pidFile: files.pid, logFile: files.log });
    try {
      // Its own process group: a ^C aimed at the daemon's terminal is not for it.
      return new RuntimeExec(await startChild(file, args, { env, stdio: opts.stdio, newSession: true }), files);
    } catch (err) {
      return new RuntimeExec(undefined, files, err as Error);
    }
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Our ends of the runtime's stdio slots given as 'pipe'. */
  get stdin(): Socket | null {
    return this.child?.stdio[0] ?? null;
  }

  get stdout(): Socket | null {
    return this.child?.stdio[1] ?? null;
  }

  get stderr(): Socket | null {
    return this.child?.stdio[2] ?? null;
  }

  /** Signals the runtime itself (SIGWINCH: it copies our terminal's size to the container's). */
  signalRuntime(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** SIGKILLs the process and its group; the runtime then exits with status 137. */
  async kill(): Promise<void> {
    for (const until = Date.now() + pidFileWaitMs; this.running; await sleep(50)) {
      const pid = await readPidFile(this.files.pid);
      // While the runtime runs it has not reaped the process, so the pid is still its.
      if (pid !== undefined && this.running) {
        signalQuietly(-pid);
        signalQuietly(pid);
        return;
      }
      if (Date.now() > until) break;
    }
    if (this.running) this.child?.kill('SIGKILL');
  }

  /** The runtime's own error (it could not start the process), as it logged it. */
  async runtimeError(): Promise<string | undefined> {
    let text: string;
    try {
      text = await readFile(this.files.log, 'utf8');
    } catch {
      return undefined;
    }
    let message: string | undefined;
    for (const line of text.split('\n')) {
      try {
        const entry = JSON.parse(line) as { level?: string; msg?: string };
        if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg) message = entry.msg;
      } catch {
        // not a JSON line
      }
    }
    return message;
  }

  async cleanup(): Promise<void> {
    await Promise.all(Object.values(this.files).map((f) => rm(f, { force: true })));
  }
}

type ExecProcess = OciProcess & { consoleSize?: { height: number; width: number } };

/**
 * The container's own process (env, cwd, user, capabilities, LSM labels,
 * rlimits) from its config.json, read once per record: the file never
 * changes after the create, and a record is replaced (so dropped from here)
 * whenever the container changes.
 */
const processes = new WeakMap<ExecTarget['record'], Promise<ExecProcess>>();

function containerProcess(target: ExecTarget): Promise<ExecProcess> {
  let process = processes.get(target.record);
  if (!process) {
    const file = join(target.bundle, 'config.json');
    process = readFile(file, 'utf8').then((text) => {
      const spec = JSON.parse(text) as OciSpec;
      if (!spec.process) throw new Error(`${file} has no process`);
      return spec.process as ExecProcess;
    });
    processes.set(target.record, process);
    // A failed read is tried again next time.
    process.catch(() => processes.delete(target.record));
  }
  return process;
}

/** The container's process running `cmd`, sized for a terminal when one is asked for. */
function execProcess(container: ExecProcess, opts: RuntimeExecOptions): ExecProcess {
  const { consoleSize: _size, ...process } = container;
  const exec: ExecProcess = { ...process, args: opts.cmd, terminal: opts.terminal };
  // The runtime sizes the terminal it creates before the process runs (a 0x0 terminal confuses programs that ask).
  const size = opts.consoleSize;
  if (opts.terminal && size && size.width > 0 && size.height > 0) exec.consoleSize = { height: size.height, width: size.width };
  return exec;
}

function signalQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Turns an exec the runtime itself failed (status 255 with an error in its
 * log: no such binary, container gone, ...) into an RpcError; a command
 * that merely exited 255 passes.
 */
export async function execFailure(target: ExecTarget, exec: RuntimeExec, exit: ExecExit, what: string): Promise<void> {
  const id = target.record.id;
  if (exit.error) throw new RpcError(status.INTERNAL, `${what} in container ${id}: cannot run the runtime: ${exit.error.message}`);
  if (exit.exitCode !== 255) return;
  const said = await exec.runtimeError();
  if (said === undefined) return;
  const state = await target.runtime.state(id).catch(() => undefined);
  if (state?.status !== 'running') throw new RpcError(status.FAILED_PRECONDITION, `${what}: container ${id} is not running`);
  throw new RpcError(status.UNKNOWN, `${what} in container ${id}: ${said}`);
}
