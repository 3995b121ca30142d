// The contract between the streaming server (which speaks SPDY and WebSocket
// to kubectl, the kubelet and crictl) and the code that runs exec, attach and
// port-forward against containers. The server owns the wire; the backend owns
// processes and sockets. Neither knows the other's details.
import type { Duplex, Readable, Writable } from 'node:stream';

export interface TerminalSize {
  width: number;
  height: number;
}

/** The client's streams for one exec or attach. Absent streams were not requested. */
export interface SessionStreams {
  /** Bytes from the client; its end is the client closing stdin. */
  stdin?: Readable;
  stdout?: Writable;
  /** Never set together with tty (the server refuses that combination). */
  stderr?: Writable;
  tty: boolean;
  /**
   * The client's terminal size at the start, when it sent one promptly: a
   * process started for the session starts at this size, and an attached
   * terminal is resized to it before input flows.
   */
  initialSize?: TerminalSize;
  /** Terminal size changes from the client after initialSize, in order; ends with the session. */
  resizes?: AsyncIterable<TerminalSize>;
}

export interface ExecOutcome {
  exitCode: number;
}

export interface StreamingBackend {
  /**
   * Runs `cmd` in a running container with the client's streams attached.
   * Resolves with the exit code once the process is gone and its output is
   * written; rejects with an RpcError (NOT_FOUND, FAILED_PRECONDITION, ...)
   * when it cannot be started. Aborting the signal kills the process.
   */
  exec(containerId: string, cmd: string[], streams: SessionStreams, signal: AbortSignal): Promise<ExecOutcome>;

  /**
   * Joins the client's streams to a running container's own stdio (held by
   * conmon). Resolves when the container exits or the signal aborts; the
   * container keeps running when the client goes.
   */
  attach(containerId: string, streams: SessionStreams, signal: AbortSignal): Promise<void>;

  /** A connected stream to localhost:`port` inside the pod's network namespace. */
  portForward(podSandboxId: string, port: number): Promise<Duplex>;
}
