// Port-forward over SPDY: per forwarded connection the client opens an error
// stream and a data stream with the same requestid and port; we dial the port
// in the pod once both are there and join it to the data stream.
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { PortForwardRequest } from '../proto/cri.js';
import type { StreamingBackend } from './backend.js';
import { forwardPort, parsePort } from './port_forward.js';
import { SpdySession, type SpdyStream } from './spdy_session.js';

export interface SpdyPortForwardOptions {
  transport: Duplex;
  request: PortForwardRequest;
  backend: StreamingBackend;
  log: Logger;
  /** Time the client has to open the second stream of a pair. */
  streamCreationTimeoutMs: number;
}

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

export function serveSpdyPortForward(options: SpdyPortForwardOptions): SpdySession {
  const { log, request } = options;
  const pairs = new Map<string, Pair>();
  const abort = new AbortController();
  const session = new SpdySession(options.transport, {
    log,
    accept: (headers) => {
      const type = headers.get('streamtype')?.[0];
      return (type === 'error' || type === 'data') && parsePort(headers.get('port')?.[0]) !== undefined;
    },
  });
  session.once('close', () => {
    abort.abort();
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
  });

  session.on('stream', (stream: SpdyStream) => {
    const type = stream.header('streamtype') as 'error' | 'data';
    // Without a requestid, the data stream is the one opened right after its error stream.
    const key = stream.header('requestid') ?? String(type === 'error' ? stream.id : stream.id - 2);
    let pair = pairs.get(key);
    if (!pair) {
      const timer = setTimeout(() => {
        pairs.delete(key);
        const p = pair!;
        if (p.error) p.error.end('timed out waiting for streams');
        p.data?.reset();
      }, options.streamCreationTimeoutMs);
      pair = { timer };
      pairs.set(key, pair);
    }
    if (pair[type]) {
      log.debug({ requestId: key, type }, 'duplicate port-forward stream');
      stream.reset();
      return;
    }
    pair[type] = stream;
    if (!pair.error || !pair.data) return;
    clearTimeout(pair.timer);
    pairs.delete(key);
    void forwardPair(options, pair.error, pair.data, abort.signal);
  });
  return session;
}

async function forwardPair(options: SpdyPortForwardOptions, error: SpdyStream, data: SpdyStream, signal: AbortSignal): Promise<void> {
  const port = parsePort(data.header('port'))!;
  error.resume();
  await forwardPort(options.backend, options.request.podSandboxId, port, {
    fromClient: data,
    toClient: data,
    reportError: (message) => {
      options.log.debug({ port, message }, 'port-forward failed');
      if (!error.writableEnded && !error.destroyed) error.write(message);
    },
  }, signal);
  if (!error.destroyed && !error.writableEnded) error.end();
  // The pod's side is over; whatever the client still sends on the data stream goes nowhere.
  if (data.writableFinished) data.resume();
  else data.reset();
}
