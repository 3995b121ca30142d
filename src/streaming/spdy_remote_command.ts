// Exec and attach over SPDY: the client opens one stream per stdio channel
// (named by the streamtype header), we run the command once all expected
// streams are there, and report the outcome on the error stream.
import type { Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { SessionStreams, StreamingBackend } from './backend.js';
import { runRemoteCommand, statusDocument, statusText, type RemoteCommand } from './remote_command.js';
import { SpdySession, type SpdyStream } from './spdy_session.js';
import { initialSizeWaitMs, ResizeQueue } from './terminal_resizes.js';

/** Remote-command protocols over SPDY, most preferred first (as the kubelet's library offers them). */
export const spdyRemoteCommandProtocols = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export interface SpdyCommandOptions {
  transport: Duplex;
  protocol: string;
  command: RemoteCommand;
  backend: StreamingBackend;
  log: Logger;
  /** Time the client has to open every expected stream. */
  streamCreationTimeoutMs: number;
}

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

export function serveSpdyRemoteCommand(options: SpdyCommandOptions): SpdySession {
  const { command, protocol, log } = options;
  const r = command.request;
  const expected = new Set<StreamType>(['error']);
  if (r.stdin) expected.add('stdin');
  if (r.stdout) expected.add('stdout');
  if (r.stderr && !r.tty) expected.add('stderr');
  if (r.tty && (protocol === 'v3.channel.k8s.io' || protocol === 'v4.channel.k8s.io')) expected.add('resize');

  const streams = new Map<StreamType, SpdyStream>();
  const session = new SpdySession(options.transport, {
    log,
    accept: (headers) => {
      const type = headers.get('streamtype')?.[0] as StreamType | undefined;
      return type !== undefined && expected.has(type) && !streams.has(type);
    },
  });

  const timer = setTimeout(() => {
    log.debug({ missing: [...expected].filter((t) => !streams.has(t)) }, 'client did not open all streams');
    const error = streams.get('error');
    if (error) error.end('timed out waiting for client to create streams', () => session.close());
    else session.close();
  }, options.streamCreationTimeoutMs);
  session.once('close', () => clearTimeout(timer));

  session.on('stream', (stream: SpdyStream) => {
    streams.set(stream.header('streamtype') as StreamType, stream);
    if (streams.size < expected.size) return;
    clearTimeout(timer);
    void run(session, streams, options).catch((err: unknown) => {
      log.warn({ err }, 'remote command session failed');
      session.close();
    });
  });
  return session;
}

async function run(session: SpdySession, streams: Map<StreamType, SpdyStream>, options: SpdyCommandOptions): Promise<void> {
  const { command, protocol } = options;
  const abort = new AbortController();
  session.once('close', () => abort.abort(new Error('client connection closed')));
  const error = streams.get('error')!;
  // The client never writes on the error stream; drain it so it cannot hold the connection.
  error.resume();
  const resize = streams.get('resize');
  let resizes: ResizeQueue | undefined;
  if (resize) {
    resizes = new ResizeQueue();
    resizes.readFrom(resize);
  }
  // The client sends its size right after opening the streams: start the process at that size.
  const initialSize = await resizes?.first(initialSizeWaitMs);
  const stdout = streams.get('stdout');
  const stderr = streams.get('stderr');
  const sessionStreams: SessionStreams = {
    stdin: streams.get('stdin'),
    stdout,
    stderr,
    tty: command.request.tty,
    initialSize,
    resizes,
  };
  const outcome = await runRemoteCommand(options.backend, command, sessionStreams, abort.signal);
  resizes?.end();
  if (session.closed) return;
  // Output first, then the status, then the connection: clients read status after output ends.
  await Promise.all([stdout, stderr].map((s) => s && endWritable(s)));
  const message = protocol === 'v4.channel.k8s.io' ? statusDocument(outcome) : statusText(outcome);
  if (message !== undefined) error.write(message);
  await endWritable(error);
  session.close();
}

async function endWritable(stream: SpdyStream): Promise<void> {
  if (stream.destroyed) return;
  if (!stream.writableEnded) stream.end();
  await finished(stream, { readable: false }).catch(() => undefined);
}
