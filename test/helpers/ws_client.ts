// A small RFC 6455 client for tests: the opening handshake (checking
// Sec-WebSocket-Accept), masked frames, optional fragmentation, ping, close.
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';

export interface WsUpgradeResult {
  status: number;
  body: string;
  protocol?: string;
  client?: WsClient;
}

export function wsConnect(url: string, protocols: string[], extraHeaders: Record<string, string> = {}): Promise<WsUpgradeResult> {
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': key,
      ...extraHeaders,
    };
    if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = protocols.join(', ');
    const req = request(url, { method: 'GET', headers });
    req.on('upgrade', (res, socket: Socket, head) => {
      const expected = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      if (res.headers['sec-websocket-accept'] !== expected) {
        socket.destroy();
        return reject(new Error(`bad Sec-WebSocket-Accept ${res.headers['sec-websocket-accept']}`));
      }
      const protocol = res.headers['sec-websocket-protocol'] as string | undefined;
      const client = new WsClient(socket);
      if (head.length > 0) client.feed(head);
      resolve({ status: res.statusCode!, body: '', protocol, client });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface WsMessage {
  data: Buffer;
  binary: boolean;
}

export class WsClient {
  private buffer = Buffer.alloc(0);
  private partial: Buffer[] = [];
  private partialBinary = true;
  readonly messages: WsMessage[] = [];
  readonly pongs: Buffer[] = [];
  closeCode: number | undefined;
  readonly closed: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => this.feed(c));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.once('close', () => this.wake());
  }

  /** Sends a message, optionally split into `fragments` frames. */
  send(data: Buffer, binary = true, fragments = 1): void {
    const size = Math.ceil(data.length / fragments) || 1;
    for (let i = 0; i < fragments; i++) {
      const part = data.subarray(i * size, (i + 1) * size);
      const opcode = i === 0 ? (binary ? 2 : 1) : 0;
      this.frame(opcode, part, i === fragments - 1);
    }
  }

  /** A message on a channel: [channel byte, ...payload]. */
  sendChannel(channel: number, payload: Buffer | string): void {
    this.send(Buffer.concat([Buffer.from([channel]), Buffer.from(payload)]));
  }

  ping(data: Buffer): void {
    this.frame(9, data, true);
  }

  close(code = 1000): void {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(code);
    this.frame(8, b, true);
  }

  frame(opcode: number, payload: Buffer, fin: boolean): void {
    const mask = randomBytes(4);
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i & 3]!;
    let header: Buffer;
    if (payload.length < 126) header = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length]);
    else if (payload.length < 65536) {
      header = Buffer.alloc(4);
      header[0] = (fin ? 0x80 : 0) | opcode;
      header[1] = 0x80 | 126;
      header.writeUInt16BE(payload.length, 2);
    } else {
      header = Buffer.alloc(10);
      header[0] = (fin ? 0x80 : 0) | opcode;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    this.socket.write(Buffer.concat([header, mask, masked]));
  }

  /** Messages received on a channel (binary framing), payloads without the channel byte. */
  channel(n: number): Buffer[] {
    return this.messages.filter((m) => m.binary && m.data[0] === n).map((m) => m.data.subarray(1));
  }

  channelText(n: number): string {
    return Buffer.concat(this.channel(n)).toString();
  }

  async until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out; messages: ${this.messages.map((m) => JSON.stringify(m.data.toString())).join(' ')}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  feed(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 2) {
      const b0 = this.buffer[0]!;
      const b1 = this.buffer[1]!;
      if (b1 & 0x80) throw new Error('server frames must not be masked');
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + length) return;
      const payload = Buffer.from(this.buffer.subarray(offset, offset + length));
      this.buffer = this.buffer.subarray(offset + length);
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 8) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.socket.end();
      } else if (opcode === 10) this.pongs.push(payload);
      else if (opcode === 9) this.frame(10, payload, true);
      else {
        if (opcode !== 0) this.partialBinary = opcode === 2;
        this.partial.push(payload);
        if (fin) {
          this.messages.push({ data: Buffer.concat(this.partial), binary: this.partialBinary });
          this.partial = [];
        }
      }
      this.wake();
    }
  }
}
