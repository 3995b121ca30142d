// RFC 6455, server side: the opening handshake's accept key and one
// connection's framing (masked client frames, fragmentation, ping/pong, the
// close handshake). Messages go up whole; reading pauses on request so a slow
// consumer holds back the client instead of growing a buffer.
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ByteQueue } from './byte_queue.js';

const acceptGuid = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const Opcode = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export const CloseCode = { normal: 1000, goingAway: 1001, protocolError: 1002, unsupportedData: 1003, invalidPayload: 1007, tooBig: 1009, internalError: 1011 } as const;

/** How long we wait for the peer's close frame before closing the socket anyway. */
const closeGraceMs = 2_000;
/** Senders wait for the socket to drain once it holds this much unsent. */
const sendBound = 256 * 1024;

export function websocketAcceptKey(key: string): string {
  return createHash('sha1').update(key + acceptGuid).digest('base64');
}

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** The client's offered subprotocols, in its order of preference. */
export function offeredSubprotocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return values.flatMap((v) => v.split(',')).map((p) => p.trim()).filter((p) => p.length > 0);
}

/** What is wrong with a WebSocket opening request, or undefined when it is acceptable. */
export function handshakeProblem(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return `websocket upgrade must use GET, not ${req.method}`;
  if (!(req.headers.connection ?? '').toLowerCase().split(',').some((t) => t.trim() === 'upgrade')) return 'Connection header must include "upgrade"';
  if (req.headers['sec-websocket-version'] !== '13') return 'Sec-WebSocket-Version must be 13';
  const key = req.headers['sec-websocket-key'];
  if (!key || Buffer.from(key, 'base64').length !== 16) return 'Sec-WebSocket-Key must be 16 bytes in base64';
  return undefined;
}

/** Completes the handshake on the raw socket; `protocol` is the one chosen, if the client offered any. */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, protocol: string | undefined): void {
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${websocketAcceptKey(req.headers['sec-websocket-key']!)}`,
  ];
  if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  socket.write(lines.join('\r\n') + '\r\n\r\n');
}

export interface WebSocketOptions {
  /** Largest message (after reassembly) accepted; bigger ones close the connection with 1009. */
  maxMessage: number;
}

/**
 * One open connection. Events: 'message' (data: Buffer, binary: boolean),
 * 'close' (code: number, reason: string) once, when the socket is gone.
 */
export class WebSocketConnection extends EventEmitter {
  /** Received bytes not yet parsed. */
  private readonly input = new ByteQueue();
  private fragments: Buffer[] = [];
  private fragmentsLength = 0;
  private fragmentedBinary = false;
  private fragmenting = false;
  private paused = false;
  private closeSent = false;
  private closeReceived = false;
  private closed = false;
  private closeCode: number = CloseCode.goingAway;
  private closeReason = '';
  private drainWaiters: (() => void)[] = [];

  constructor(
    private readonly socket: Duplex,
    head: Buffer,
    private readonly options: WebSocketOptions,
  ) {
    super();
    socket.on('data', (chunk: Buffer) => {
      this.input.push(chunk);
      this.parse();
    });
    socket.on('drain', () => this.wakeDrainWaiters());
    socket.on('error', () => undefined);
    socket.on('close', () => this.finish());
    // The HTTP server's sockets allow half-open; a client that ends its side is done.
    socket.on('end', () => socket.end());
    if (head.length > 0) {
      this.input.push(head);
      queueMicrotask(() => this.parse());
    }
  }

  get isOpen(): boolean {
    return !this.closed && !this.closeSent;
  }

  /** Sends one message; false when the socket's buffer is full (wait for drained()). */
  send(data: Buffer | Buffer[], binary = true): boolean {
    if (!this.isOpen) return false;
    const parts = Array.isArray(data) ? data : [data];
    const length = parts.reduce((n, p) => n + p.length, 0);
    // Header and payload leave in one writev.
    this.socket.cork();
    this.socket.write(frameHeader(binary ? Opcode.binary : Opcode.text, length));
    for (const p of parts) if (p.length > 0) this.socket.write(p);
    this.socket.uncork();
    return !this.needsDrain;
  }

  get needsDrain(): boolean {
    return this.socket.writableLength >= sendBound;
  }

  /** Resolves once the socket can take more: at once unless sendBound bytes wait to be sent. */
  drained(): Promise<void> {
    // Above the bound the socket's own high-water mark was passed too, so 'drain' will come.
    if (!this.needsDrain || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Stops handling incoming frames (TCP then holds the client back) until resume(). */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
    this.parse();
  }

  /** Starts the close handshake; the socket closes when the peer answers or after a grace period. */
  close(code: number = CloseCode.normal, reason = ''): void {
    if (this.closed || this.closeSent) return;
    this.closeSent = true;
    this.closeCode = code;
    this.closeReason = reason;
    const reasonBytes = Buffer.from(reason, 'utf8').subarray(0, 123);
    const body = Buffer.alloc(2 + reasonBytes.length);
    body.writeUInt16BE(code, 0);
    reasonBytes.copy(body, 2);
    this.writeControl(Opcode.close, body);
    if (this.closeReceived) this.socket.end();
    else setTimeout(() => this.socket.destroy(), closeGraceMs).unref();
    // Incoming data frames after our close are dropped; keep reading for the peer's close frame.
    this.resume();
  }

  private writeControl(opcode: number, body: Buffer): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(Buffer.concat([frameHeader(opcode, body.length), body]));
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.wakeDrainWaiters();
    this.emit('close', this.closeCode, this.closeReason);
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private fail(code: number, reason: string): void {
    this.input.clear();
    this.close(code, reason);
  }

  private parse(): void {
    while (!this.paused && !this.closed && this.input.length >= 2) {
      const start = this.input.peek(2);
      const b0 = start[0]!;
      const b1 = start[1]!;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      if (b0 & 0x70) return this.fail(CloseCode.protocolError, 'reserved bits set');
      if (!masked) return this.fail(CloseCode.protocolError, 'client frames must be masked');
      const short = b1 & 0x7f;
      const lengthBytes = short === 126 ? 2 : short === 127 ? 8 : 0;
      const headerLength = 2 + lengthBytes + 4;
      if (this.input.length < headerLength) return;
      const header = this.input.peek(headerLength);
      let length = short;
      if (short === 126) length = header.readUInt16BE(2);
      else if (short === 127) {
        const big = header.readBigUInt64BE(2);
        if (big > BigInt(this.options.maxMessage)) return this.fail(CloseCode.tooBig, 'frame too large');
        length = Number(big);
      }
      if (length > this.options.maxMessage) return this.fail(CloseCode.tooBig, 'frame too large');
      if (this.input.length < headerLength + length) return;
      const mask = Buffer.from(header.subarray(2 + lengthBytes));
      this.input.take(headerLength);
      // The received bytes are ours alone: unmask them where they lie.
      const payload = this.input.take(length);
      unmask(payload, mask);
      this.handleFrame(fin, opcode, payload);
    }
  }

  private handleFrame(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode >= 8) {
      if (!fin || payload.length > 125) return this.fail(CloseCode.protocolError, 'bad control frame');
      if (opcode === Opcode.ping) return this.writeControl(Opcode.pong, payload);
      if (opcode === Opcode.pong) return;
      if (opcode === Opcode.close) return this.handleClose(payload);
      return this.fail(CloseCode.protocolError, `unknown opcode ${opcode}`);
    }
    if (this.closeSent) return;
    if (opcode === Opcode.continuation) {
      if (!this.fragmenting) return this.fail(CloseCode.protocolError, 'continuation without a first fragment');
    } else if (opcode === Opcode.text || opcode === Opcode.binary) {
      if (this.fragmenting) return this.fail(CloseCode.protocolError, 'new message inside a fragmented one');
      this.fragmenting = true;
      this.fragmentedBinary = opcode === Opcode.binary;
    } else {
      return this.fail(CloseCode.protocolError, `unknown opcode ${opcode}`);
    }
    this.fragments.push(payload);
    this.fragmentsLength += payload.length;
    if (this.fragmentsLength > this.options.maxMessage) return this.fail(CloseCode.tooBig, 'message too large');
    if (!fin) return;
    const message = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments, this.fragmentsLength);
    const binary = this.fragmentedBinary;
    this.fragments = [];
    this.fragmentsLength = 0;
    this.fragmenting = false;
    if (!binary && !isUtf8(message)) return this.fail(CloseCode.invalidPayload, 'text message is not UTF-8');
    this.emit('message', message, binary);
  }

  private handleClose(payload: Buffer): void {
    this.closeReceived = true;
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : CloseCode.normal;
    if (!this.closeSent) {
      this.closeCode = code;
      this.closeReason = payload.subarray(2).toString('utf8');
      this.closeSent = true;
      this.writeControl(Opcode.close, payload.subarray(0, 2));
    }
    this.socket.end();
  }
}

/** XORs `payload` with the 4-byte `mask` in place, a 32-bit word at a time where the memory is aligned. */
export function unmask(payload: Buffer, mask: Buffer): void {
  const n = payload.length;
  let i = 0;
  // Bytes up to a 4-byte boundary one by one, then whole words, then the tail.
  const lead = Math.min(n, (4 - (payload.byteOffset & 3)) & 3);
  for (; i < lead; i++) payload[i]! ^= mask[i & 3]!;
  const words = (n - i) >>> 2;
  if (words > 0) {
    // The mask as it lines up from byte i, read in the host's byte order.
    const rotated = new Uint8Array(4);
    for (let k = 0; k < 4; k++) rotated[k] = mask[(i + k) & 3]!;
    const m = new Uint32Array(rotated.buffer)[0]!;
    const view = new Uint32Array(payload.buffer, payload.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w]! ^= m;
    i += words * 4;
  }
  for (; i < n; i++) payload[i]! ^= mask[i & 3]!;
}

/** A server frame header: FIN set, never masked. */
function frameHeader(opcode: number, length: number): Buffer {
  if (length < 126) return Buffer.from([0x80 | opcode, length]);
  if (length < 0x10000) {
    const h = Buffer.alloc(4);
    h[0] = 0x80 | opcode;
    h[1] = 126;
    h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.alloc(10);
  h[0] = 0x80 | opcode;
  h[1] = 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}
