// Terminal size changes from the client: JSON objects, one per line
// ({"Width":80,"Height":24}; keys matched case-insensitively as Go's decoder
// does), turned into the backend's AsyncIterable. Only the newest sizes matter,
// so a consumer that falls behind loses old ones instead of growing a queue.
import type { Readable } from 'node:stream';
import type { TerminalSize } from './backend.js';

const maxQueued = 8;
/** A line longer than this is not a size; drop it rather than buffer it. */
const maxLine = 1024;

export class ResizeQueue implements AsyncIterable<TerminalSize> {
  private queued: TerminalSize[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private partial = '';

  /** Feeds raw bytes of the resize stream; complete lines become sizes. */
  feed(chunk: Buffer | string): void {
    this.partial += chunk.toString();
    let newline: number;
    while ((newline = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, newline);
      this.partial = this.partial.slice(newline + 1);
      this.addLine(line);
    }
    if (this.partial.length > maxLine) this.partial = '';
  }

  /** Reads a whole stream into the queue; the queue ends with it. */
  readFrom(stream: Readable): void {
    stream.on('data', (chunk: Buffer) => this.feed(chunk));
    stream.once('end', () => this.end());
    stream.once('close', () => this.end());
  }

  end(): void {
    if (this.partial.trim()) this.addLine(this.partial);
    this.partial = '';
    this.ended = true;
    this.wake();
  }

  private addLine(line: string): void {
    if (!line.trim()) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return;
    }
    const size = terminalSize(parsed);
    if (!size) return;
    this.queued.push(size);
    if (this.queued.length > maxQueued) this.queued.shift();
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TerminalSize> {
    for (;;) {
      const next = this.queued.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }
}

function terminalSize(value: unknown): TerminalSize | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  let width: unknown;
  let height: unknown;
  for (const [key, v] of Object.entries(value)) {
    if (key.toLowerCase() === 'width') width = v;
    if (key.toLowerCase() === 'height') height = v;
  }
  const valid = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff;
  return valid(width) && valid(height) ? { width, height } : undefined;
}
