import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batches } from '../../src/server/stream_batches.js';

describe('Stream* batches', () => {
  it('keeps order, bounds bytes and items, sends an oversized item alone, nothing for nothing', () => {
    const items = Array.from({ length: 10 }, (_, i) => ({ id: i, pad: 'x'.repeat(90) }));
    const byBytes = batches(items, 250, 100);
    assert.deepEqual(byBytes.map((b) => b.length), [2, 2, 2, 2, 2]);
    assert.deepEqual(byBytes.flat(), items);
    assert.deepEqual(batches(items, 1e9, 4).map((b) => b.length), [4, 4, 2]);
    const huge = { id: 'big', pad: 'é'.repeat(200) };
    assert.deepEqual(batches([items[0], huge, items[1]], 250, 100).map((b) => b.length), [1, 1, 1]);
    assert.deepEqual(batches([], 250, 100), []);
  });
});
