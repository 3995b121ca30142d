// Joining one client byte stream to a TCP connection in the pod, for both
// port-forward transports: bytes flow both ways, each direction's end is
// passed on as a half-close, and a failure is reported as text.
import type { Duplex, Readable, Writable } from 'node:stream';
import type { StreamingBackend } from './backend.js';

export const portForwardProtocol = 'portforward.k8s.io';

/** A remote port as the port header or query parameter gives it; undefined when not 1..65535. */
export function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-9]{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port > 0 && port <= 0xffff ? port : undefined;
}

export interface ForwardEnds {
  /** Bytes from the client, to the pod. */
  fromClient: Readable;
  /** Bytes from the pod, to the client; ended when the pod side ends. */
  toClient: Writable;
  /** Reports a failure to the client. */
  reportError(message: string): void;
}

/**
 * Connects to `port` in the pod and copies both ways. The client's end is
 * passed to the pod as a half-close; the forward is over when the pod's side
 * ends (the client then learns the outcome from the error channel), when
 * either side fails, or when the signal aborts.
 */
export async function forwardPort(backend: StreamingBackend, podId: string, port: number, ends: ForwardEnds, signal: AbortSignal): Promise<void> {
  let conn: Duplex;
  try {
    conn = await backend.portForward(podId, port);
  } catch (err) {
    ends.reportError(`error forwarding port ${port} to pod ${podId}: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  if (signal.aborted) {
    conn.destroy();
    return;
  }
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', finish);
      ends.fromClient.unpipe(conn);
      conn.unpipe(ends.toClient);
      conn.destroy();
      resolve();
    };
    signal.addEventListener('abort', finish, { once: true });
    conn.on('error', (err: Error) => {
      if (!done) ends.reportError(`error forwarding port ${port} to pod ${podId}: ${err.message}`);
      finish();
    });
    // pipe() ends the destination when the source ends: a half-close each way.
    ends.fromClient.pipe(conn);
    conn.pipe(ends.toClient);
    ends.toClient.once('finish', finish);
    ends.toClient.once('close', finish);
  });
}
