// The processes and sockets behind the streaming server's exec, attach and
// port-forward (the server owns the wire; see src/streaming/backend.ts).
//
//   exec         the runtime's `exec`, attached: pipes for a plain session;
//                for a terminal, a pty of ours as its stdio (it relays to
//                the container's terminal and copies our size on SIGWINCH)
//   attach       conmon's SEQPACKET attach socket, relayed by the addon onto
//                a stream socket; resizes through conmon's ctl FIFO
//   port-forward a TCP connection to the pod's loopback, dialled by the
//                addon from inside the pod's network namespace
//
// The client's writables are never ended here: the server ends its streams
// once exec/attach settle. Output is copied with backpressure: a slow client
// pauses the process's output instead of growing a buffer.
import { close as closeCallback } from 'node:fs';
import { Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import type { ContainerDeps } from '../container/containers.js';
import { bridgeFd, connectSeqpacket, dialLoopback, isNativeError, openPty, setTerminalSize } from '../native/index.js';
import { within } from '../process/within.js';
import { invalidArgument, RpcError } from '../server/rpc.js';
import type { ExecOutcome, SessionStreams, StreamingBackend, TerminalSize } from '../streaming/backend.js';
import { routeAttachOutput } from './attach_frames.js';
import { execFailure, RuntimeExec, type ExecExit } from './runtime_exec.js';
import { podNetworkNamespace, runningContainer, type ExecTarget } from './target.js';

const closeFd = promisify(closeCallback);

/** After the runtime exits, how long its last terminal output may take to arrive. */
const terminalDrainMs = 2000;
/** Bound on port-forward's connect. */
const dialTimeoutMs = 10_000;

export class ContainerStreamingBackend implements StreamingBackend {
  constructor(private readonly deps: ContainerDeps) {}

  async exec(containerId: string, cmd: string[], streams: SessionStreams, signal: AbortSignal): Promise<ExecOutcome> {
    if (!containerId) throw invalidArgument('container_id: required');
    if (cmd.length === 0) throw invalidArgument('cmd: required (the command and its arguments)');
    const target = await runningContainer(this.deps, containerId, 'Exec');
    if (signal.aborted) throw cancelled('Exec');
    const exit = streams.tty ? await this.execTerminal(target, cmd, streams, signal) : await this.execPipes(target, cmd, streams, signal);
    if (signal.aborted) throw cancelled('Exec');
    return { exitCode: exit };
  }

  private async execPipes(target: ExecTarget, cmd: string[], streams: SessionStreams, signal: AbortSignal): Promise<number> {
    const exec = await RuntimeExec.start(target, {
      cmd,
      terminal: false,
      stdio: [streams.stdin ? 'pipe' : 'null', streams.stdout ? 'pipe' : 'null', streams.stderr ? 'pipe' : 'null'],
    });
    const kill = (): void => void exec.kill();
    signal.addEventListener('abort', kill, { once: true });
    const stdin = exec.stdin;
    try {
      if (streams.stdin && stdin) {
        // A process that exits without reading its input makes writes fail with EPIPE: not an error of the session.
        stdin.on('error', () => undefined);
        // The client closing stdin ends the pipe; the runtime then closes the process's stdin.
        streams.stdin.pipe(stdin);
      }
      const copies = [copyOutput(exec.stdout, streams.stdout), copyOutput(exec.stderr, streams.stderr)];
      const exit = await exec.closed;
      await Promise.all(copies);
      await execFailure(target, exec, exit, 'Exec');
      return exit.exitCode!;
    } finally {
      signal.removeEventListener('abort', kill);
      if (streams.stdin && stdin) streams.stdin.unpipe(stdin);
      if (exec.running) await exec.kill();
      await exec.cleanup();
    }
  }

  private async execTerminal(target: ExecTarget, cmd: string[], streams: SessionStreams, signal: AbortSignal): Promise<number> {
    const pty = await openPty();
    let exec: RuntimeExec | undefined;
    let terminal: Socket | undefined;
    const kill = (): void => void exec?.kill();
    signal.addEventListener('abort', kill, { once: true });
    try {
      const size = validSize(streams.initialSize);
      // The runtime creates the container's terminal at consoleSize, then copies our terminal's size onto it: both must agree.
      if (size) setTerminalSize(pty.master, size.width, size.height);
      try {
        exec = await RuntimeExec.start(target, { cmd, terminal: true, stdio: [pty.slave, pty.slave, pty.slave], ...(size ? { consoleSize: size } : {}) });
      } finally {
        // The runtime holds its own copy; ours would keep the terminal open after it exits.
        await closeFd(pty.slave);
      }
      const running = exec;
      terminal = new Socket({ fd: bridgeFd(pty.master, 'bytes'), readable: true, writable: true });
      terminal.on('error', () => undefined);
      // A terminal has no half-close: the client ending stdin leaves the session to the process.
      streams.stdin?.pipe(terminal, { end: false });
      const output = copyOutput(terminal, streams.stdout);
      void applyResizes(streams.resizes, () => !running.running, (size) => {
        setTerminalSize(pty.master, size.width, size.height);
        // The runtime copies our terminal's size to the container's on SIGWINCH.
        running.signalRuntime('SIGWINCH');
      });
      const exit: ExecExit = await running.closed;
      // Output still in flight drains before the relay reports end of file; a stuck one is cut off.
      await within(output, terminalDrainMs);
      await execFailure(target, running, exit, 'Exec');
      return exit.exitCode!;
    } finally {
      signal.removeEventListener('abort', kill);
      if (terminal) {
        streams.stdin?.unpipe(terminal);
        terminal.destroy();
      }
      if (exec?.running) await exec.kill();
      await exec?.cleanup();
      await closeFd(pty.master);
    }
  }

  async attach(containerId: string, streams: SessionStreams, signal: AbortSignal): Promise<void> {
    if (!containerId) throw invalidArgument('container_id: required');
    const target = await runningContainer(this.deps, containerId, 'Attach');
    const id = target.record.id;
    const socketPath = target.runtime.attachSocketPath(id);
    let packetFd: number;
    try {
      packetFd = await connectSeqpacket(socketPath);
    } catch (err) {
      throw new RpcError(status.FAILED_PRECONDITION, `Attach: cannot reach the attach socket of container ${id} (${socketPath}): ${(err as Error).message}`, { cause: err });
    }
    let fd: number;
    try {
      fd = bridgeFd(packetFd, 'packets');
    } finally {
      await closeFd(packetFd);
    }
    const conmon = new Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
    conmon.on('error', () => undefined);
    let done = false;
    const size = validSize(streams.initialSize);
    // The client's size first, so what it types next is read at the size it sees.
    if (size && streams.tty) await target.runtime.resize(id, size.width, size.height).catch((err: unknown) => this.deps.log.warn({ container: id, err }, 'attach: resize failed'));
    try {
      const output = routeAttachOutput(conmon, { stdout: streams.stdout, stderr: streams.stderr });
      void applyResizes(streams.resizes, () => done, (size) => {
        target.runtime.resize(id, size.width, size.height).catch((err: unknown) => this.deps.log.warn({ container: id, err }, 'attach: resize failed'));
      });
      const ends: Promise<unknown>[] = [output, new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))];
      if (streams.stdin) {
        // Ending our side makes conmon close the container's stdin, unless the
        // container keeps it open for the next client (not stdin_once).
        streams.stdin.pipe(conmon);
        const { stdinOnce, tty } = target.record.config;
        // As CRI-O does: for a container that keeps stdin open, the session ends with the client's input.
        if (!stdinOnce && !tty) ends.push(new Promise((resolve) => streams.stdin!.once('end', resolve)));
      }
      if (signal.aborted) return;
      await Promise.race(ends);
    } finally {
      done = true;
      streams.stdin?.unpipe(conmon);
      // The container keeps running: conmon just loses one client.
      conmon.destroy();
    }
  }

  async portForward(podSandboxId: string, port: number): Promise<Duplex> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidArgument(`port: ${port} is not a TCP port (1-65535)`);
    const netns = podNetworkNamespace(this.deps, podSandboxId);
    let fd: number;
    try {
      fd = await dialLoopback({ ...(netns !== undefined ? { netns } : {}), port, timeoutMs: dialTimeoutMs });
    } catch (err) {
      const where = `port-forward to localhost:${port} in pod sandbox ${podSandboxId}`;
      if (isNativeError(err) && err.code === 'ECONNREFUSED') throw new RpcError(status.UNAVAILABLE, `${where}: connection refused`, { cause: err });
      if (isNativeError(err) && err.code === 'ETIMEDOUT') throw new RpcError(status.DEADLINE_EXCEEDED, `${where}: no answer within ${dialTimeoutMs / 1000} s`, { cause: err });
      throw new RpcError(status.INTERNAL, `${where}: ${(err as Error).message}`, { cause: err });
    }
    return new Socket({ fd, readable: true, writable: true });
  }
}

/** Copies `from` into `to` with backpressure, without ending `to`; resolves once `from` is done and `to` has taken it all. */
async function copyOutput(from: Readable | null | undefined, to: Writable | undefined): Promise<void> {
  if (!from) return;
  if (!to) {
    // Nobody asked for this stream: drain it so the process never blocks on it.
    from.resume();
  } else {
    from.pipe(to, { end: false });
  }
  await new Promise<void>((resolve) => {
    if (from.readableEnded || from.destroyed) return resolve();
    from.once('end', resolve);
    from.once('close', resolve);
  });
  if (to && to.writableNeedDrain && !to.destroyed) {
    await new Promise((resolve) => {
      to.once('drain', resolve);
      to.once('close', resolve);
    });
  }
}

/** A size a terminal can take, or undefined. */
function validSize(size: TerminalSize | undefined): TerminalSize | undefined {
  if (!size) return undefined;
  const fits = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffff;
  return fits(size.width) && fits(size.height) ? size : undefined;
}

/** Applies terminal sizes in order until the session is over. */
async function applyResizes(sizes: AsyncIterable<TerminalSize> | undefined, over: () => boolean, apply: (size: TerminalSize) => void): Promise<void> {
  if (!sizes) return;
  try {
    for await (const size of sizes) {
      if (over()) return;
      if (!validSize(size)) continue;
      try {
        apply(size);
      } catch {
        // the terminal is gone: the session is ending
      }
    }
  } catch {
    // the resize stream failed with its session
  }
}

function cancelled(what: string): RpcError {
  return new RpcError(status.CANCELLED, `${what}: the client went away`);
}
