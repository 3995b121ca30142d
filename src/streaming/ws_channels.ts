// The Kubernetes channel protocol over one WebSocket: every message starts
// with a channel number (a byte, or an ASCII digit followed by base64 text in
// the base64 variants). Channels become Node streams with backpressure both
// ways: a full reader pauses the socket; a full socket holds back writers.
import { Readable, Writable } from 'node:stream';
import type { WebSocketConnection } from './websocket.js';

/** v5's control channel: a message [255, n] says the client closed channel n. */
export const closeChannel = 255;

const readerHighWater = 64 * 1024;

export interface ChannelOptions {
  base64: boolean;
  /** Whether [255, n] messages close channels (v5 and later). */
  closeMessages: boolean;
}

export class ChannelReader extends Readable {
  finished = false;

  /** Ends the channel's bytes (client closed it, or the connection went). */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.push(null);
  }

  constructor(private readonly mux: ChannelMux) {
    super({ highWaterMark: readerHighWater });
    this.on('error', () => undefined);
  }
  override _read(): void {
    this.mux.readerDrained(this);
  }
}

export class ChannelMux {
  private readonly readers = new Map<number, ChannelReader>();

  constructor(
    readonly ws: WebSocketConnection,
    private readonly options: ChannelOptions,
  ) {
    ws.on('message', (data: Buffer, binary: boolean) => this.onMessage(data, binary));
    ws.on('close', () => {
      this.full.clear();
      for (const r of this.readers.values()) r.finish();
    });
  }

  /** The client's bytes on `channel`; ends when the client closes it (v5) or the connection. */
  reader(channel: number): ChannelReader {
    let r = this.readers.get(channel);
    if (!r) {
      r = new ChannelReader(this);
      this.readers.set(channel, r);
    }
    return r;
  }

  /** A stream of messages to the client on `channel`; ending it sends nothing (channels close with the connection). */
  writer(channel: number): Writable {
    const mux = this;
    const w = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        mux.send(channel, chunk).then(() => cb(), cb);
      },
    });
    w.on('error', () => undefined);
    return w;
  }

  /** Sends one message on a channel; resolves when the socket can take more. */
  async send(channel: number, data: Buffer): Promise<void> {
    if (!this.ws.isOpen) throw new Error('websocket closed');
    // The base64 variants mark the channel with the character '0' + channel.
    if (this.options.base64) this.ws.send(Buffer.concat([Buffer.from([0x30 + channel]), Buffer.from(data.toString('base64'))]), false);
    else this.ws.send([Buffer.from([channel]), data]);
    await this.ws.drained();
  }

  /** Readers whose buffer is full; the socket stays paused while any is. */
  private readonly full = new Set<ChannelReader>();

  /** A reader's consumer asked for more (Node calls _read before it takes the buffered chunk). */
  readerDrained(reader: ChannelReader): void {
    this.full.delete(reader);
    if (this.full.size === 0) this.ws.resume();
  }

  private onMessage(data: Buffer, binary: boolean): void {
    let channel: number;
    let payload: Buffer;
    if (this.options.base64) {
      if (binary || data.length === 0) return;
      channel = data[0]! - 0x30;
      if (channel < 0) return;
      payload = Buffer.from(data.subarray(1).toString('latin1'), 'base64');
    } else {
      if (data.length === 0) return;
      channel = data[0]!;
      payload = data.subarray(1);
    }
    if (channel === closeChannel && this.options.closeMessages && !this.options.base64) {
      const closed = payload[0];
      const r = closed === undefined ? undefined : this.readers.get(closed);
      if (r) {
        r.finish();
        this.readerDrained(r);
      }
      return;
    }
    const r = this.readers.get(channel);
    // Messages on channels nobody reads (or after close) are dropped, as the kubelet does.
    if (!r || r.finished || payload.length === 0) return;
    if (!r.push(payload)) {
      this.full.add(r);
      this.ws.pause();
    }
  }
}
