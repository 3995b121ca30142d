// Exec and attach over WebSocket: fixed channels (0 stdin, 1 stdout,
// 2 stderr, 3 error, 4 resize), the outcome on the error channel, then a
// normal close.
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { SessionStreams, StreamingBackend } from './backend.js';
import { runRemoteCommand, statusDocument, statusText, type RemoteCommand } from './remote_command.js';
import { initialSizeWaitMs, ResizeQueue } from './terminal_resizes.js';
import { ChannelMux } from './ws_channels.js';
import { CloseCode, type WebSocketConnection } from './websocket.js';

/** Subprotocols we serve, in our order of preference (the client's order decides). */
export const wsRemoteCommandProtocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'];

const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;

export interface WsCommandOptions {
  ws: WebSocketConnection;
  /** The negotiated subprotocol; '' when the client offered none (binary channels, text errors). */
  protocol: string;
  command: RemoteCommand;
  backend: StreamingBackend;
  log: Logger;
}

export async function serveWsRemoteCommand(options: WsCommandOptions): Promise<void> {
  const { ws, protocol, command } = options;
  const r = command.request;
  const mux = new ChannelMux(ws, { base64: protocol.includes('base64'), closeMessages: protocol === 'v5.channel.k8s.io' });
  const abort = new AbortController();
  ws.once('close', () => abort.abort(new Error('client connection closed')));

  const stdin = r.stdin ? mux.reader(Channel.stdin) : undefined;
  let resizes: ResizeQueue | undefined;
  if (r.tty) {
    resizes = new ResizeQueue();
    resizes.readFrom(mux.reader(Channel.resize));
  }
  const stdout = r.stdout ? mux.writer(Channel.stdout) : undefined;
  const stderr = r.stderr && !r.tty ? mux.writer(Channel.stderr) : undefined;
  // An empty first message tells the client the streams are ready.
  await mux.send(stdout ? Channel.stdout : stderr ? Channel.stderr : Channel.error, Buffer.alloc(0)).catch(() => undefined);
  // The client sends its size once it sees the streams ready: start the process at that size.
  const initialSize = await resizes?.first(initialSizeWaitMs);
  const streams: SessionStreams = { stdin, stdout, stderr, tty: r.tty, initialSize, resizes };
  const outcome = await runRemoteCommand(options.backend, command, streams, abort.signal);
  resizes?.end();
  if (!ws.isOpen) return;
  await Promise.all([stdout, stderr].map((w) => w && flushed(w)));
  const versioned = protocol.startsWith('v4.') || protocol.startsWith('v5.');
  const message = versioned ? statusDocument(outcome) : statusText(outcome);
  if (message !== undefined) await mux.send(Channel.error, Buffer.from(message)).catch(() => undefined);
  ws.close(CloseCode.normal);
}

/** Waits until everything written to a channel writer went to the socket. */
function flushed(w: Writable): Promise<void> {
  if (w.destroyed || w.writableFinished) return Promise.resolve();
  return new Promise((resolve) => {
    w.once('finish', resolve);
    w.once('close', resolve);
    if (!w.writableEnded) w.end();
  });
}
