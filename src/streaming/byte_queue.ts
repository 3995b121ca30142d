// Bytes received from a connection, kept as the chunks they arrived in.
// Frame parsers read from it: a frame that lies within one chunk is a view
// of that chunk, and only a frame that spans chunks is copied (once, at
// its own size), so parsing costs no copy of the stream as a whole.
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Bytes of chunks[0] already taken. */
  private offset = 0;
  /** Bytes held and not yet taken. */
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The first `n` bytes (n <= length), left in place. */
  peek(n: number): Buffer {
    if (n > this.length) throw new RangeError(`peek(${n}) with ${this.length} bytes held`);
    const first = this.chunks[0];
    if (first && first.length - this.offset >= n) return first.subarray(this.offset, this.offset + n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (let i = 0, from = this.offset; filled < n; i++, from = 0) {
      const c = this.chunks[i]!;
      filled += c.copy(out, filled, from, Math.min(c.length, from + n - filled));
    }
    return out;
  }

  /** Removes the first `n` bytes (n <= length) and returns them. */
  take(n: number): Buffer {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.offset = 0;
    this.length = 0;
  }

  private skip(n: number): void {
    this.length -= n;
    while (n > 0) {
      const left = this.chunks[0]!.length - this.offset;
      if (n < left) {
        this.offset += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.offset = 0;
    }
  }
}
