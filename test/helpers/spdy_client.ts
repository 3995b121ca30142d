// A small SPDY/3.1 client for tests, written apart from the server's code so
// the two check each other: the HTTP upgrade as client-go's round tripper
// does it, streams with headers, data, FIN and RST, pings, and (optionally)
// flow control with manual or automatic WINDOW_UPDATEs.
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { constants as zc, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import { spdyHeaderDictionary } from '../../src/streaming/spdy_dictionary.js';

export interface UpgradeResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  client?: SpdyClient;
}

export interface SpdyClientOptions {
  /** Announce INITIAL_WINDOW_SIZE and send WINDOW_UPDATEs (a real SPDY/3.1 peer); false acts like Go's spdystream. */
  flowControl?: boolean;
  /** With flow control: grant window back as data arrives (true) or only on ack() (false). */
  autoAck?: boolean;
}

/** POSTs an upgrade to SPDY/3.1 with the given protocol versions. */
export function spdyUpgrade(url: string, protocols: string[], options: SpdyClientOptions & { method?: string; upgrade?: string } = {}): Promise<UpgradeResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { Connection: 'Upgrade', Upgrade: options.upgrade ?? 'SPDY/3.1' };
    if (protocols.length > 0) headers['X-Stream-Protocol-Version'] = protocols;
    const req = request(url, { method: options.method ?? 'POST', headers });
    req.on('upgrade', (res, socket: Socket, head) => {
      const client = new SpdyClient(socket, options);
      if (head.length > 0) client.feed(head);
      resolve({ status: res.statusCode!, headers: res.headers, body: '', client });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

class OrderedZlib {
  private out: Buffer[] = [];
  private tail: Promise<unknown> = Promise.resolve();
  constructor(private readonly z: Deflate | Inflate) {
    z.on('data', (c: Buffer) => this.out.push(c));
  }
  run(input: Buffer): Promise<Buffer> {
    const p = this.tail.then(
      () =>
        new Promise<Buffer>((resolve) => {
          this.z.write(input);
          this.z.flush(zc.Z_SYNC_FLUSH, () => {
            while (this.z.readableLength > 0 && this.z.read() !== null);
            const b = Buffer.concat(this.out);
            this.out = [];
            resolve(b);
          });
        }),
    );
    this.tail = p;
    return p;
  }
  close(): void {
    this.z.destroy();
  }
}

export class ClientStream {
  readonly chunks: Buffer[] = [];
  received = 0;
  unacked = 0;
  finished = false;
  resetStatus: number | undefined;
  sendWindow = 65536;
  private waiters: (() => void)[] = [];
  readonly ended: Promise<void>;
  private markEnded!: () => void;

  constructor(
    readonly client: SpdyClient,
    readonly id: number,
  ) {
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
  }

  text(): string {
    return Buffer.concat(this.chunks).toString();
  }

  write(data: Buffer | string): void {
    this.client.sendData(this.id, Buffer.from(data), false);
  }

  end(data?: Buffer | string): void {
    this.client.sendData(this.id, Buffer.from(data ?? ''), true);
  }

  reset(): void {
    this.client.sendRst(this.id, 5);
  }

  /** Grants the server window for everything received so far (manual flow control). */
  ack(): void {
    if (this.unacked === 0) return;
    this.client.sendWindowUpdate(this.id, this.unacked);
    this.client.sendWindowUpdate(0, this.unacked);
    this.unacked = 0;
  }

  /** Resolves once `predicate` holds for the data received so far. */
  async until(predicate: (s: ClientStream) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (this.finished) throw new Error(`stream ${this.id} ended before the condition held; got ${JSON.stringify(this.text().slice(0, 200))}`);
      if (Date.now() > deadline) throw new Error(`timed out on stream ${this.id}; got ${JSON.stringify(this.text().slice(0, 200))}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  deliver(data: Buffer): void {
    this.chunks.push(data);
    this.received += data.length;
    this.unacked += data.length;
    this.wake();
  }

  finish(reset?: number): void {
    if (this.finished) return;
    this.finished = true;
    this.resetStatus = reset;
    this.markEnded();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export class SpdyClient {
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly deflate = new OrderedZlib(createDeflate({ dictionary: spdyHeaderDictionary }));
  private readonly inflate = new OrderedZlib(createInflate({ dictionary: spdyHeaderDictionary }));
  private readonly streams = new Map<number, ClientStream>();
  private readonly replies = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private processing: Promise<void> = Promise.resolve();
  goAway: { lastGood: number; status: number } | undefined;
  readonly pings: number[] = [];
  readonly closed: Promise<void>;
  /** Every frame type received, in order, for assertions. */
  readonly frameLog: string[] = [];

  constructor(
    readonly socket: Socket,
    private readonly options: SpdyClientOptions,
  ) {
    socket.on('data', (c: Buffer) => this.feed(c));
    this.closed = new Promise((resolve) => socket.once('close', () => void this.processing.then(() => resolve())));
    // Frames already read are handled before the close is.
    socket.once('close', () => void this.processing.then(() => {
      for (const s of this.streams.values()) s.finish();
      for (const r of this.replies.values()) r.reject(new Error('connection closed'));
      this.deflate.close();
      this.inflate.close();
    }));
    socket.on('error', () => undefined);
    if (options.flowControl) {
      // SETTINGS with one entry: INITIAL_WINDOW_SIZE (7) = 65536.
      const body = Buffer.alloc(12);
      body.writeUInt32BE(1, 0);
      body.writeUInt32BE(7, 4);
      body.writeUInt32BE(65536, 8);
      this.control(4, 0, body);
    }
  }

  /** Opens a stream and waits for the server's SYN_REPLY (or rejects on RST). */
  async openStream(headers: Record<string, string>, fin = false): Promise<ClientStream> {
    const id = this.nextId;
    this.nextId += 2;
    const entries = Object.entries(headers);
    const parts: Buffer[] = [u32(entries.length)];
    for (const [k, v] of entries) parts.push(u32(Buffer.byteLength(k)), Buffer.from(k), u32(Buffer.byteLength(v)), Buffer.from(v));
    const stream = new ClientStream(this, id);
    this.streams.set(id, stream);
    const replied = new Promise<void>((resolve, reject) => this.replies.set(id, { resolve, reject }));
    const block = await this.deflate.run(Buffer.concat(parts));
    const head = Buffer.alloc(10);
    head.writeUInt32BE(id, 0);
    this.control(1, fin ? 1 : 0, Buffer.concat([head, block]));
    await replied;
    return stream;
  }

  sendData(id: number, data: Buffer, fin: boolean): void {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(id, 0);
    h.writeUInt32BE(((fin ? 1 : 0) << 24) | data.length, 4);
    this.socket.write(Buffer.concat([h, data]));
  }

  sendRst(id: number, status: number): void {
    this.control(3, 0, Buffer.concat([u32(id), u32(status)]));
  }

  sendWindowUpdate(id: number, delta: number): void {
    this.control(9, 0, Buffer.concat([u32(id), u32(delta)]));
  }

  ping(id: number): void {
    this.control(6, 0, u32(id));
  }

  /** Sends raw bytes, for protocol-violation tests. */
  raw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }

  private control(type: number, flags: number, payload: Buffer): void {
    const h = Buffer.alloc(8);
    h.writeUInt32BE((0x80000000 | (3 << 16) | type) >>> 0, 0);
    h.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
    this.socket.write(Buffer.concat([h, payload]));
  }

  feed(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 8) {
      const length = this.buffer.readUIntBE(5, 3);
      if (this.buffer.length < 8 + length) break;
      const frame = Buffer.from(this.buffer.subarray(0, 8 + length));
      this.buffer = this.buffer.subarray(8 + length);
      this.processing = this.processing.then(() => this.handle(frame));
    }
  }

  private async handle(frame: Buffer): Promise<void> {
    const first = frame.readUInt32BE(0);
    const flags = frame[4]!;
    const payload = frame.subarray(8);
    if (!(first & 0x80000000)) {
      const id = first & 0x7fffffff;
      const s = this.streams.get(id);
      this.frameLog.push(`DATA ${id} ${payload.length}${flags & 1 ? ' FIN' : ''}`);
      if (!s) return;
      if (payload.length > 0) {
        s.deliver(Buffer.from(payload));
        if (this.options.flowControl && this.options.autoAck) s.ack();
      }
      if (flags & 1) s.finish();
      return;
    }
    const type = first & 0xffff;
    switch (type) {
      case 2: {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        await this.inflate.run(payload.subarray(4));
        this.frameLog.push(`SYN_REPLY ${id}`);
        this.replies.get(id)?.resolve();
        this.replies.delete(id);
        if (flags & 1) this.streams.get(id)?.finish();
        return;
      }
      case 3: {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const status = payload.readUInt32BE(4);
        this.frameLog.push(`RST_STREAM ${id} ${status}`);
        this.replies.get(id)?.reject(new Error(`stream ${id} reset with status ${status}`));
        this.replies.delete(id);
        this.streams.get(id)?.finish(status);
        return;
      }
      case 6:
        this.frameLog.push(`PING ${payload.readUInt32BE(0)}`);
        this.pings.push(payload.readUInt32BE(0));
        return;
      case 7:
        this.goAway = { lastGood: payload.readUInt32BE(0) & 0x7fffffff, status: payload.readUInt32BE(4) };
        this.frameLog.push(`GOAWAY ${this.goAway.lastGood} ${this.goAway.status}`);
        return;
      case 9:
        this.frameLog.push(`WINDOW_UPDATE ${payload.readUInt32BE(0)} ${payload.readUInt32BE(4)}`);
        return;
      default:
        this.frameLog.push(`CONTROL ${type}`);
    }
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
