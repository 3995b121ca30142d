// The server side of one SPDY/3.1 connection: streams the client opens, data
// in both directions with flow control, ping echo, reset and GOAWAY.
//
// Flow control: SPDY/3.1 windows (per stream and per session, 64 KiB to start)
// are tracked both ways. We grant the peer more window only as our consumers
// read, and we honour the peer's windows once it shows it speaks flow control
// (SETTINGS INITIAL_WINDOW_SIZE or any WINDOW_UPDATE). Go's spdystream, which
// kubectl, crictl and the kubelet use, never sends either and ignores ours, so
// for it memory stays bounded by transport backpressure instead: we stop
// reading the connection while a stream's reader holds too much, and stop
// feeding a stream's writer while the connection cannot take more.
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  decodeSettings,
  decodeStreamHeaders,
  decodeSynStream,
  decodeTwoWords,
  encodeDataHeader,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeWindowUpdate,
  flagFin,
  FrameReader,
  FrameType,
  GoAwayStatus,
  HeaderCompressor,
  HeaderDecompressor,
  RstStatus,
  settingInitialWindowSize,
  spdyVersion,
  SpdyProtocolError,
  type Frame,
  type HeaderBlock,
} from './spdy_frames.js';

export const initialWindow = 64 * 1024;
/** Largest data frame we send; small enough that one stream cannot hog the connection. */
const maxDataFrame = 32 * 1024;
/** Window is granted back in batches this big: one small frame per batch, not one per data frame. */
const windowGrantBatch = initialWindow / 2;
/** A stream's writer may queue this much before its source is paused (a few frames' worth, so pipes rarely stall). */
const writerBound = 4 * maxDataFrame;
/** Senders wait for the transport to drain once it holds this much unsent. */
const transportBound = 256 * 1024;
/** A stream's reader may hold this much before we stop reading the connection. */
const readerBound = 2 * initialWindow;
/** Header blocks larger than this (decompressed) end the connection. */
const maxHeaderBlock = 256 * 1024;
/** Control frames carry no more than a header block; data frames are bounded by the spec. */
const maxControlFrame = 64 * 1024;
/** How long a closed connection waits for the peer to close its side. */
const closeGraceMs = 5_000;

export interface SpdySessionOptions {
  log: Logger;
  /** Decides synchronously whether to accept a stream the client opened. */
  accept(headers: HeaderBlock, streamId: number): boolean;
}

export class SpdyStream extends Duplex {
  sendWindow: number;
  /** Bytes handed to our reader; of those, bytes its consumer took; of those, bytes not yet granted back to the peer. */
  received = 0;
  consumed = 0;
  ungranted = 0;
  remoteFin = false;
  localFin = false;
  wasReset = false;
  replied: Promise<void>;
  markReplied!: () => void;
  private windowWaiters: (() => void)[] = [];

  constructor(
    readonly session: SpdySession,
    readonly id: number,
    readonly headers: HeaderBlock,
    sendWindow: number,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: initialWindow, writableHighWaterMark: writerBound });
    this.sendWindow = sendWindow;
    this.replied = new Promise((resolve) => (this.markReplied = resolve));
    // Errors surface through the session and the streams' users; none may crash the daemon.
    this.on('error', () => undefined);
  }

  /** The first value of a header, by lowercase name. */
  header(name: string): string | undefined {
    return this.headers.get(name)?.[0];
  }

  /** Abandons the stream: RST_STREAM to the peer, both directions closed. */
  reset(status: number = RstStatus.cancel): void {
    this.session.resetStream(this, status);
  }

  windowOpened(): Promise<void> {
    return new Promise((resolve) => this.windowWaiters.push(resolve));
  }

  wakeWriters(): void {
    const waiters = this.windowWaiters;
    this.windowWaiters = [];
    for (const w of waiters) w();
  }

  override _read(): void {
    this.session.readerDrained(this);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.session.sendData(this, chunk).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.session.sendData(this, Buffer.alloc(0), true).then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.wakeWriters();
    this.session.streamDestroyed(this);
    cb(err);
  }
}

export class SpdySession extends EventEmitter {
  readonly streams = new Map<number, SpdyStream>();
  private readonly reader = new FrameReader();
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor(maxHeaderBlock);
  private lastClientStream = 0;
  private pumping = false;
  private inputBlocked = false;
  /** Streams whose readers hold more than readerBound; reading stops while any does. */
  private readonly fullReaders = new Set<SpdyStream>();
  private goingAway = false;
  closed = false;
  /** Whether the peer has shown it does flow control; until then its windows are not enforced. */
  private peerFlowControl = false;
  private peerInitialWindow = initialWindow;
  private sessionSendWindow = initialWindow;
  private sessionReceivedUnacked = 0;
  private sessionWindowWaiters: (() => void)[] = [];
  /** WINDOW_UPDATEs due, sent together once the frames at hand are handled. */
  private windowUpdates: Buffer[] = [];
  private drainWaiters: (() => void)[] = [];

  constructor(
    private readonly transport: Duplex,
    private readonly options: SpdySessionOptions,
  ) {
    super();
    transport.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (err) {
        return this.fail(err);
      }
      void this.pump();
    });
    transport.on('drain', () => this.wakeDrainWaiters());
    transport.on('error', (err: Error) => this.options.log.debug({ err }, 'spdy transport error'));
    transport.on('close', () => this.teardown());
    // Go clients never half-close: their end of the connection is the end of the session.
    transport.on('end', () => this.finishTransport());
  }

  /** Ends the connection gracefully: resets streams still open, then GOAWAY and close. */
  close(): void {
    if (this.closed) return;
    this.goingAway = true;
    for (const stream of [...this.streams.values()]) {
      if (!stream.localFin || !stream.remoteFin) this.resetStream(stream, RstStatus.cancel);
    }
    this.write(encodeGoAway(this.lastClientStream, GoAwayStatus.ok));
    this.finishTransport();
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    this.options.log.debug({ err }, 'spdy connection failed');
    const status = err instanceof SpdyProtocolError ? GoAwayStatus.protocolError : GoAwayStatus.internalError;
    this.write(encodeGoAway(this.lastClientStream, status));
    this.finishTransport();
  }

  /** Flushes what we wrote, then closes; a peer that never closes its side is cut off after a grace period. */
  private finishTransport(): void {
    this.teardown();
    this.transport.end();
    setTimeout(() => this.transport.destroy(), closeGraceMs).unref();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    const open = [...this.streams.values()];
    this.streams.clear();
    for (const stream of open) {
      stream.wasReset = true;
      stream.destroy();
    }
    this.wakeDrainWaiters();
    this.wakeSessionWindow();
    this.compressor.close();
    this.decompressor.close();
    this.emit('close');
  }

  private write(frame: Buffer): boolean {
    if (this.transport.destroyed || this.transport.writableEnded) return false;
    return this.transport.write(frame);
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private wakeSessionWindow(): void {
    const waiters = this.sessionWindowWaiters;
    this.sessionWindowWaiters = [];
    for (const w of waiters) w();
  }

  /** Sends `chunk` on a stream within the windows, then FIN if asked; resolves when the transport took it. */
  async sendData(stream: SpdyStream, chunk: Buffer, fin = false): Promise<void> {
    await stream.replied;
    const t = this.transport;
    // Frames written while corked leave in one writev: a header and its payload are one system call, not two.
    let corked = false;
    const uncork = (): void => {
      if (corked) t.uncork();
      corked = false;
    };
    let offset = 0;
    try {
      do {
        if (this.closed || stream.wasReset) throw new Error(`spdy stream ${stream.id} is closed`);
        let room = Math.min(maxDataFrame, chunk.length - offset);
        // While we are not reading the connection the peer's WINDOW_UPDATEs cannot reach us:
        // waiting for them could deadlock, so transport backpressure alone bounds sending then.
        if (this.peerFlowControl && !this.inputBlocked && room > 0) {
          if (stream.sendWindow <= 0) {
            uncork();
            await stream.windowOpened();
            continue;
          }
          if (this.sessionSendWindow <= 0) {
            uncork();
            await new Promise<void>((resolve) => this.sessionWindowWaiters.push(resolve));
            continue;
          }
          room = Math.min(room, stream.sendWindow, this.sessionSendWindow);
        }
        const last = fin && offset + room === chunk.length;
        stream.sendWindow -= room;
        this.sessionSendWindow -= room;
        if (!corked && !t.destroyed) {
          t.cork();
          corked = true;
        }
        this.write(encodeDataHeader(stream.id, last ? flagFin : 0, room));
        if (room > 0) this.write(chunk.subarray(offset, offset + room));
        offset += room;
        if (last) {
          stream.localFin = true;
          this.forgetIfDone(stream);
        }
        if (t.writableLength >= transportBound && !t.destroyed) {
          uncork();
          // Still full once flushed: the peer reads slower than we send.
          if (t.writableLength >= transportBound) await this.drained();
        }
      } while (offset < chunk.length);
    } finally {
      uncork();
    }
  }

  resetStream(stream: SpdyStream, status: number): void {
    if (!stream.wasReset) {
      stream.wasReset = true;
      this.write(encodeRstStream(stream.id, status));
    }
    this.streams.delete(stream.id);
    if (!stream.destroyed) stream.destroy();
  }

  streamDestroyed(stream: SpdyStream): void {
    // A stream destroyed by its user before both sides finished is abandoned.
    if (this.streams.get(stream.id) === stream && !(stream.localFin && stream.remoteFin)) this.resetStream(stream, RstStatus.cancel);
    this.streams.delete(stream.id);
    // What it received and nobody will read still counted against the connection's window: give that back.
    this.creditSession(stream.received - stream.consumed);
    stream.consumed = stream.received;
    this.readerDrained(stream);
  }

  /**
   * A stream's consumer asked for more (Node calls _read before it takes the
   * buffered chunk): grant window for what was consumed, and resume reading
   * the connection if this stream was what stopped it.
   */
  readerDrained(stream: SpdyStream): void {
    // Count what the consumer takes once read() has returned it.
    process.nextTick(() => this.grantWindow(stream));
    this.fullReaders.delete(stream);
    if (this.inputBlocked && this.fullReaders.size === 0) {
      this.inputBlocked = false;
      this.transport.resume();
      void this.pump();
    }
  }

  /**
   * Tells the peer it may send again what our reader has consumed, in
   * batches of half a window: a peer that waits for window has a whole
   * window unconsumed, so a batch is always due before it could stall.
   */
  private grantWindow(stream: SpdyStream): void {
    if (stream.destroyed) return;
    const consumed = stream.received - stream.readableLength - stream.consumed;
    if (consumed <= 0) return;
    stream.consumed += consumed;
    stream.ungranted += consumed;
    // A stream the peer finished needs no more window, but the connection's window still does.
    if (stream.ungranted >= windowGrantBatch && !this.closed && !stream.remoteFin && !stream.wasReset) {
      this.sendWindowUpdate(encodeWindowUpdate(stream.id, stream.ungranted));
      stream.ungranted = 0;
    }
    this.creditSession(consumed);
  }

  private creditSession(bytes: number): void {
    if (bytes <= 0) return;
    this.sessionReceivedUnacked += bytes;
    if (this.sessionReceivedUnacked >= windowGrantBatch && !this.closed) {
      this.sendWindowUpdate(encodeWindowUpdate(0, this.sessionReceivedUnacked));
      this.sessionReceivedUnacked = 0;
    }
  }

  /** Queues a WINDOW_UPDATE; those of one pass over the input leave in a single write. */
  private sendWindowUpdate(frame: Buffer): void {
    this.windowUpdates.push(frame);
    if (this.windowUpdates.length > 1) return;
    process.nextTick(() => {
      const due = this.windowUpdates;
      this.windowUpdates = [];
      if (!this.closed) this.write(due.length === 1 ? due[0]! : Buffer.concat(due));
    });
  }

  private forgetIfDone(stream: SpdyStream): void {
    if (stream.localFin && stream.remoteFin) this.streams.delete(stream.id);
  }

  /** Handles buffered frames in order; header blocks make it wait for zlib. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closed && !this.inputBlocked) {
        const frame = this.reader.next();
        if (!frame) break;
        await this.handle(frame);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.pumping = false;
    }
  }

  private async handle(frame: Frame): Promise<void> {
    if (!frame.control) return this.handleData(frame.streamId, frame.flags, frame.payload);
    if (frame.version !== spdyVersion) throw new SpdyProtocolError(`unsupported SPDY version ${frame.version}`);
    if (frame.payload.length > maxControlFrame) throw new SpdyProtocolError(`control frame of ${frame.payload.length} bytes`);
    switch (frame.type) {
      case FrameType.synStream:
        return this.handleSynStream(frame.flags, frame.payload);
      case FrameType.synReply:
        // Only clients get replies; keep the shared zlib context in step anyway.
        await this.decompressor.decompress(decodeStreamHeaders(frame.payload, 'SYN_REPLY').block);
        return;
      case FrameType.headers: {
        const { streamId, block } = decodeStreamHeaders(frame.payload, 'HEADERS');
        await this.decompressor.decompress(block);
        const stream = this.streams.get(streamId);
        if (stream && frame.flags & flagFin) this.remoteFinished(stream);
        return;
      }
      case FrameType.rstStream: {
        const [streamId] = decodeTwoWords(frame.payload, 'RST_STREAM');
        const stream = this.streams.get(streamId);
        if (stream) {
          stream.wasReset = true;
          this.streams.delete(streamId);
          stream.destroy();
        }
        return;
      }
      case FrameType.settings:
        for (const s of decodeSettings(frame.payload)) {
          if (s.id !== settingInitialWindowSize) continue;
          const delta = s.value - this.peerInitialWindow;
          this.peerInitialWindow = s.value;
          this.peerFlowControl = true;
          for (const stream of this.streams.values()) {
            stream.sendWindow += delta;
            stream.wakeWriters();
          }
        }
        return;
      case FrameType.ping: {
        if (frame.payload.length !== 4) throw new SpdyProtocolError('PING payload must be 4 bytes');
        const id = frame.payload.readUInt32BE(0);
        // Odd ids are the client's pings: echo them. Even ones would answer ours; we send none.
        if (id % 2 === 1) this.write(encodePing(id));
        return;
      }
      case FrameType.goAway:
        this.goingAway = true;
        if (this.streams.size === 0) this.close();
        return;
      case FrameType.windowUpdate: {
        const [streamId, raw] = decodeTwoWords(frame.payload, 'WINDOW_UPDATE');
        const delta = raw & 0x7fffffff;
        this.peerFlowControl = true;
        if (streamId === 0) {
          this.sessionSendWindow += delta;
          this.wakeSessionWindow();
        } else {
          const stream = this.streams.get(streamId);
          if (stream) {
            stream.sendWindow += delta;
            stream.wakeWriters();
          }
        }
        return;
      }
      default:
        // Unknown control frames are ignored, as the spec asks.
        return;
    }
  }

  private async handleSynStream(flags: number, payload: Buffer): Promise<void> {
    const { streamId, block } = decodeSynStream(payload);
    // Decompress even for streams we refuse: the zlib context is shared by every frame.
    const headers = await this.decompressor.decompress(block);
    if (streamId % 2 === 0 || streamId <= this.lastClientStream) {
      this.write(encodeRstStream(streamId, RstStatus.protocolError));
      return;
    }
    this.lastClientStream = streamId;
    if (this.goingAway || !this.options.accept(headers, streamId)) {
      this.write(encodeRstStream(streamId, RstStatus.refusedStream));
      return;
    }
    const stream = new SpdyStream(this, streamId, headers, this.peerInitialWindow);
    this.streams.set(streamId, stream);
    const reply = await this.compressor.compress(new Map());
    this.write(encodeSynReply(streamId, reply));
    stream.markReplied();
    if (flags & flagFin) this.remoteFinished(stream);
    this.emit('stream', stream);
  }

  private handleData(streamId: number, flags: number, payload: Buffer): void {
    const stream = this.streams.get(streamId);
    if (!stream) {
      // Unknown, reset or finished stream: a stream error, not a connection one. Its bytes still used connection window.
      this.write(encodeRstStream(streamId, RstStatus.invalidStream));
      this.creditSession(payload.length);
      return;
    }
    if (stream.remoteFin) return this.resetStream(stream, RstStatus.streamAlreadyClosed);
    if (payload.length > 0) {
      stream.received += payload.length;
      stream.push(payload);
      if (stream.readableLength > readerBound) {
        this.fullReaders.add(stream);
        if (!this.inputBlocked) {
          this.inputBlocked = true;
          this.transport.pause();
          for (const s of this.streams.values()) s.wakeWriters();
          this.wakeSessionWindow();
        }
      }
      this.grantWindow(stream);
    }
    if (flags & flagFin) this.remoteFinished(stream);
  }

  private remoteFinished(stream: SpdyStream): void {
    if (stream.remoteFin) return;
    stream.remoteFin = true;
    stream.push(null);
    this.forgetIfDone(stream);
  }
}
