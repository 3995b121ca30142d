// Terminal size changes from the client: a sequence of JSON objects
// ({"Width":80,"Height":24}; client-go ends each with a newline, other
// clients send one bare object per WebSocket message, and Go's decoder takes
// both, matching keys case-insensitively), turned into the backend's AsyncIterable. Only the newest sizes matter,
// so a consumer that falls behind loses old ones instead of growing a queue.
import type { Readable } from 'node:stream';
import type { TerminalSize } from './backend.js';

/**
 * How long a terminal session waits for the client's first size before its
 * process starts without one. Clients with a terminal send their size as
 * soon as the resize stream is open, one round trip after the other streams;
 * a process started before it arrives sees a 0x0 terminal.
 */
export const initialSizeWaitMs = 1000;

const maxQueued = 8;
/** An unfinished object longer than this is not a size; drop it rather than buffer it. */
const maxPartial = 1024;

export class ResizeQueue implements AsyncIterable<TerminalSize> {
  private queued: TerminalSize[] = [];
  private waiter: (() => void) | undefined;
  private firstWaiter: (() => void) | undefined;
  private ended = false;
  private partial = '';

  /** Feeds raw bytes of the resize stream; each complete top-level object becomes a size. */
  feed(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    let depth = 0;
    let start = 0;
    let inString = false;
    let escaped = false;
    /** Where the unparsed rest begins: after the last complete object or stray byte between objects. */
    let done = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (ch === '\\') escaped = true;
        else if (ch === '"') inString = false;
      } else if (ch === '{') {
        if (depth++ === 0) start = i;
      } else if (depth === 0) {
        done = i + 1;
      } else if (ch === '"') {
        inString = true;
      } else if (ch === '}' && --depth === 0) {
        this.addObject(text.slice(start, i + 1));
        done = i + 1;
      }
    }
    this.partial = text.slice(done);
    if (this.partial.length > maxPartial) this.partial = '';
  }

  /** Reads a whole stream into the queue; the queue ends with it. */
  readFrom(stream: Readable): void {
    stream.on('data', (chunk: Buffer) => this.feed(chunk));
    stream.once('end', () => this.end());
    stream.once('close', () => this.end());
  }

  end(): void {
    this.partial = '';
    this.ended = true;
    this.wake();
  }

  /**
   * The first size, taken from the queue, once the client sends it; undefined
   * when it sends none within `timeoutMs` or the stream ends first. Later
   * sizes stay queued for the iterator.
   */
  async first(timeoutMs: number): Promise<TerminalSize | undefined> {
    if (this.queued.length === 0 && !this.ended) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.firstWaiter = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.firstWaiter = undefined;
    }
    return this.queued.shift();
  }

  private addObject(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
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
    this.firstWaiter?.();
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
