// The resize channel's decoding: client-go's newline-ended objects, bare
// objects one per WebSocket message, objects split anywhere, and the first
// size taken apart for the process's start.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TerminalSize } from '../../src/streaming/backend.js';
import { ResizeQueue } from '../../src/streaming/terminal_resizes.js';

async function drain(q: ResizeQueue): Promise<TerminalSize[]> {
  const out: TerminalSize[] = [];
  for await (const size of q) out.push(size);
  return out;
}

describe('terminal resize stream', () => {
  it('decodes newline-ended, bare and back-to-back objects split across chunks, skipping what is not a size', async () => {
    const q = new ResizeQueue();
    q.feed('{"Width":80,"Height":24}\n{"wid');
    q.feed('th":100,"height":40}');
    q.feed('{"Width":1,"Height":2}{"Width":3,"Height":4}');
    q.feed(' junk {"Width":"x","Height":1} {"Note":"}{","Width":5,"Height":6}\n{"Width":70000,"Height":1}');
    q.feed('{"Width":7,');
    q.end();
    assert.deepEqual(await drain(q), [
      { width: 80, height: 24 },
      { width: 100, height: 40 },
      { width: 1, height: 2 },
      { width: 3, height: 4 },
      { width: 5, height: 6 },
    ]);
  });

  it('first() takes the first size once it comes, leaves later ones queued, and gives up on time or at the end', async () => {
    const q = new ResizeQueue();
    const first = q.first(5_000);
    q.feed('{"Width":10,"Height":20}\n{"Width":30,"Height":40}\n');
    assert.deepEqual(await first, { width: 10, height: 20 });
    q.end();
    assert.deepEqual(await drain(q), [{ width: 30, height: 40 }]);

    assert.equal(await new ResizeQueue().first(20), undefined);
    const ended = new ResizeQueue();
    const pending = ended.first(60_000);
    ended.end();
    assert.equal(await pending, undefined);
  });
});
