// SPDY/3.1 framing: the 8-byte frame header, control frame payloads, and the
// name/value header block with its connection-wide zlib contexts. Pure codec;
// the session (spdy_session.ts) decides what frames mean.
import { constants as zconst, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import { ByteQueue } from './byte_queue.js';
import { spdyHeaderDictionary } from './spdy_dictionary.js';

export const spdyVersion = 3;
export const maxFrameLength = 0xffffff;
export const maxStreamId = 0x7fffffff;

export const FrameType = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;

export const flagFin = 0x01;
export const flagUnidirectional = 0x02;

export const RstStatus = {
  protocolError: 1,
  invalidStream: 2,
  refusedStream: 3,
  unsupportedVersion: 4,
  cancel: 5,
  internalError: 6,
  flowControlError: 7,
  streamInUse: 8,
  streamAlreadyClosed: 9,
  frameTooLarge: 11,
} as const;

export const GoAwayStatus = { ok: 0, protocolError: 1, internalError: 2 } as const;
export const settingInitialWindowSize = 7;

export type Frame =
  | { control: false; streamId: number; flags: number; payload: Buffer }
  | { control: true; version: number; type: number; flags: number; payload: Buffer };

export class SpdyProtocolError extends Error {
  override name = 'SpdyProtocolError';
}

/** Splits a byte stream into frames; `maxLength` bounds what one frame may buffer. */
export class FrameReader {
  private readonly bytes = new ByteQueue();

  constructor(private readonly maxLength = maxFrameLength) {}

  push(chunk: Buffer): void {
    this.bytes.push(chunk);
  }

  /** The next complete frame, or undefined until more bytes arrive. */
  next(): Frame | undefined {
    if (this.bytes.length < 8) return undefined;
    const header = this.bytes.peek(8);
    const payloadLength = header.readUIntBE(5, 3);
    if (payloadLength > this.maxLength) throw new SpdyProtocolError(`frame of ${payloadLength} bytes exceeds ${this.maxLength}`);
    if (this.bytes.length < 8 + payloadLength) return undefined;
    const frame = this.bytes.take(8 + payloadLength);
    const flags = frame[4]!;
    const payload = frame.subarray(8);
    const first = frame.readUInt32BE(0);
    if (first & 0x80000000) {
      return { control: true, version: (first >>> 16) & 0x7fff, type: first & 0xffff, flags, payload };
    }
    return { control: false, streamId: first & maxStreamId, flags, payload };
  }
}

export function encodeControl(type: number, flags: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(8 + payload.length);
  frame.writeUInt32BE((0x80000000 | (spdyVersion << 16) | type) >>> 0, 0);
  frame.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  payload.copy(frame, 8);
  return frame;
}

/** The header of a data frame; the payload follows it on the wire as its own buffer. */
export function encodeDataHeader(streamId: number, flags: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(8);
  header.writeUInt32BE(streamId & maxStreamId, 0);
  header.writeUInt32BE(((flags << 24) | length) >>> 0, 4);
  return header;
}

function words(...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

export const encodeSynReply = (streamId: number, block: Buffer, flags = 0): Buffer =>
  encodeControl(FrameType.synReply, flags, Buffer.concat([words(streamId & maxStreamId), block]));
export const encodeRstStream = (streamId: number, status: number): Buffer =>
  encodeControl(FrameType.rstStream, 0, words(streamId & maxStreamId, status));
export const encodePing = (id: number): Buffer => encodeControl(FrameType.ping, 0, words(id));
export const encodeGoAway = (lastGoodStreamId: number, status: number): Buffer =>
  encodeControl(FrameType.goAway, 0, words(lastGoodStreamId & maxStreamId, status));
export const encodeWindowUpdate = (streamId: number, delta: number): Buffer =>
  encodeControl(FrameType.windowUpdate, 0, words(streamId & maxStreamId, delta & maxStreamId));
export function encodeSettings(entries: { id: number; value: number; flags?: number }[]): Buffer {
  const body = Buffer.allocUnsafe(4 + entries.length * 8);
  body.writeUInt32BE(entries.length, 0);
  entries.forEach((e, i) => {
    body.writeUInt32BE((((e.flags ?? 0) << 24) | e.id) >>> 0, 4 + i * 8);
    body.writeUInt32BE(e.value >>> 0, 8 + i * 8);
  });
  return encodeControl(FrameType.settings, 0, body);
}

function need(payload: Buffer, length: number, what: string): void {
  if (payload.length < length) throw new SpdyProtocolError(`${what} frame too short (${payload.length} bytes)`);
}

export function decodeSynStream(p: Buffer): { streamId: number; associatedId: number; priority: number; block: Buffer } {
  need(p, 10, 'SYN_STREAM');
  return { streamId: p.readUInt32BE(0) & maxStreamId, associatedId: p.readUInt32BE(4) & maxStreamId, priority: p[8]! >> 5, block: p.subarray(10) };
}

/** SYN_REPLY and HEADERS share a layout: a stream id, then a header block. */
export function decodeStreamHeaders(p: Buffer, what: string): { streamId: number; block: Buffer } {
  need(p, 4, what);
  return { streamId: p.readUInt32BE(0) & maxStreamId, block: p.subarray(4) };
}

export function decodeTwoWords(p: Buffer, what: string): [number, number] {
  need(p, 8, what);
  return [p.readUInt32BE(0) & maxStreamId, p.readUInt32BE(4)];
}

export function decodeSettings(p: Buffer): { id: number; flags: number; value: number }[] {
  need(p, 4, 'SETTINGS');
  const count = p.readUInt32BE(0);
  if (p.length !== 4 + count * 8) throw new SpdyProtocolError(`SETTINGS length ${p.length} does not fit ${count} entries`);
  const out = [];
  for (let i = 0; i < count; i++) {
    const head = p.readUInt32BE(4 + i * 8);
    out.push({ flags: head >>> 24, id: head & 0xffffff, value: p.readUInt32BE(8 + i * 8) });
  }
  return out;
}

export type HeaderBlock = Map<string, string[]>;

/** The uncompressed name/value block: names lowercased, several values joined by NUL. */
export function encodeHeaderBlock(headers: HeaderBlock): Buffer {
  const parts: Buffer[] = [words(headers.size)];
  for (const [name, values] of headers) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(values.join('\0'), 'utf8');
    parts.push(words(n.length), n, words(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(block: Buffer): HeaderBlock {
  let offset = 0;
  const take = (what: string): Buffer => {
    if (offset + 4 > block.length) throw new SpdyProtocolError(`header block truncated at ${what} length`);
    const length = block.readUInt32BE(offset);
    offset += 4;
    if (offset + length > block.length) throw new SpdyProtocolError(`header block truncated in ${what}`);
    const bytes = block.subarray(offset, offset + length);
    offset += length;
    return bytes;
  };
  if (block.length < 4) throw new SpdyProtocolError('header block shorter than its pair count');
  const count = block.readUInt32BE(0);
  offset = 4;
  const headers: HeaderBlock = new Map();
  for (let i = 0; i < count; i++) {
    const name = take('name').toString('utf8');
    if (name.length === 0) throw new SpdyProtocolError('empty header name');
    if (name !== name.toLowerCase()) throw new SpdyProtocolError(`header name "${name}" is not lowercase`);
    if (headers.has(name)) throw new SpdyProtocolError(`duplicate header "${name}"`);
    headers.set(name, take('value').toString('utf8').split('\0'));
  }
  if (offset !== block.length) throw new SpdyProtocolError('trailing bytes after header block');
  return headers;
}

/**
 * One direction's zlib context for a whole connection. Each call writes one
 * frame's bytes and sync-flushes, so the result is exactly that frame's share
 * of the stream; calls complete in order.
 */
class FlushedZlib {
  private out: Buffer[] = [];
  private outLength = 0;
  private failure: Error | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly z: Deflate | Inflate,
    private readonly maxOutput: number,
  ) {
    z.on('data', (chunk: Buffer) => {
      this.out.push(chunk);
      this.outLength += chunk.length;
      if (this.outLength > this.maxOutput) this.failure ??= new SpdyProtocolError(`header block expands beyond ${this.maxOutput} bytes`);
    });
    z.on('error', (err: Error) => (this.failure ??= new SpdyProtocolError(`header block compression: ${err.message}`)));
  }

  run(input: Buffer): Promise<Buffer> {
    const result = this.tail.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          if (this.failure) return reject(this.failure);
          this.z.write(input);
          this.z.flush(zconst.Z_SYNC_FLUSH, () => {
            // Output still buffered in the readable side is emitted as 'data' by read().
            while (this.z.readableLength > 0 && this.z.read() !== null);
            const out = Buffer.concat(this.out, this.outLength);
            this.out = [];
            this.outLength = 0;
            if (this.failure) reject(this.failure);
            else resolve(out);
          });
        }),
    );
    this.tail = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.z.destroy();
  }
}

export class HeaderCompressor {
  private readonly zlib = new FlushedZlib(createDeflate({ dictionary: spdyHeaderDictionary }), Number.MAX_SAFE_INTEGER);
  compress(headers: HeaderBlock): Promise<Buffer> {
    return this.zlib.run(encodeHeaderBlock(headers));
  }
  close(): void {
    this.zlib.close();
  }
}

export class HeaderDecompressor {
  private readonly zlib: FlushedZlib;
  constructor(maxBlock: number) {
    this.zlib = new FlushedZlib(createInflate({ dictionary: spdyHeaderDictionary }), maxBlock);
  }
  async decompress(compressed: Buffer): Promise<HeaderBlock> {
    return decodeHeaderBlock(await this.zlib.run(compressed));
  }
  close(): void {
    this.zlib.close();
  }
}
