// Port-forward over WebSocket: one TCP connection per requested port for the
// life of the WebSocket. Port i uses channel 2i for data and 2i+1 for errors;
// the first message we send on each carries the port, little-endian.
import { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { StreamingBackend } from './backend.js';
import { forwardPort } from './port_forward.js';
import { ChannelMux } from './ws_channels.js';
import { CloseCode, type WebSocketConnection } from './websocket.js';

export const wsPortForwardProtocols = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io'];
/** client-go's tunnelling: SPDY port-forward framed inside WebSocket binary messages. */
export const spdyTunnelProtocol = 'SPDY/3.1+portforward.k8s.io';

export interface WsPortForwardOptions {
  ws: WebSocketConnection;
  protocol: string;
  podId: string;
  ports: number[];
  backend: StreamingBackend;
  log: Logger;
}

export async function serveWsPortForward(options: WsPortForwardOptions): Promise<void> {
  const { ws, ports } = options;
  const mux = new ChannelMux(ws, { base64: options.protocol.includes('base64'), closeMessages: false });
  const abort = new AbortController();
  ws.once('close', () => abort.abort());
  const portBytes = (port: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(port);
    return b;
  };
  await Promise.all(
    ports.map(async (port, i) => {
      const data = 2 * i;
      const error = data + 1;
      const fromClient = mux.reader(data);
      await mux.send(data, portBytes(port));
      await mux.send(error, portBytes(port));
      await forwardPort(options.backend, options.podId, port, {
        fromClient,
        toClient: mux.writer(data),
        reportError: (message) => void mux.send(error, Buffer.from(message)).catch(() => undefined),
      }, abort.signal);
    }),
  ).catch((err: unknown) => options.log.debug({ err }, 'websocket port-forward ended'));
  ws.close(CloseCode.normal);
}

/** A WebSocket seen as a byte stream: each write is one binary message, messages are read back to back. */
export class WebSocketByteStream extends Duplex {
  constructor(private readonly ws: WebSocketConnection) {
    super({ allowHalfOpen: false });
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (!binary) return this.destroy(new Error('text message in a binary tunnel'));
      if (!this.push(data)) ws.pause();
    });
    ws.once('close', () => {
      this.push(null);
      this.destroy();
    });
    this.on('error', () => undefined);
  }
  override _read(): void {
    this.ws.resume();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.ws.isOpen) return cb(new Error('websocket closed'));
    this.ws.send(chunk);
    this.ws.drained().then(() => cb(), cb);
  }
  /** Writes buffered together (a corked SPDY frame header and its payload) go as one message. */
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    if (!this.ws.isOpen) return cb(new Error('websocket closed'));
    this.ws.send(chunks.map((c) => c.chunk));
    this.ws.drained().then(() => cb(), cb);
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.ws.close(CloseCode.normal);
    cb();
  }
  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.ws.close(CloseCode.normal);
    cb(err);
  }
}
