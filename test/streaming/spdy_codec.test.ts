import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spdyHeaderDictionary } from '../../src/streaming/spdy_dictionary.js';
import { decodeHeaderBlock, encodeHeaderBlock, FrameReader, HeaderCompressor, HeaderDecompressor } from '../../src/streaming/spdy_frames.js';

function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (const x of data) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

describe('SPDY/3 codec', () => {
  it('builds the draft-3 header dictionary byte for byte (length and Adler-32)', () => {
    assert.equal(spdyHeaderDictionary.length, 1423);
    assert.equal(adler32(spdyHeaderDictionary).toString(16), 'e3c6a7c2');
    assert.deepEqual([...spdyHeaderDictionary.subarray(0, 11)], [0, 0, 0, 7, ...Buffer.from('options')]);
    assert.ok(spdyHeaderDictionary.toString('latin1').endsWith('charset=iso-8859-1,utf-,*,enq=0.'));
  });

  it('round-trips header blocks through one zlib context per direction, frame after frame', async () => {
    const c = new HeaderCompressor();
    const d = new HeaderDecompressor(1 << 16);
    for (let i = 0; i < 5; i++) {
      const block = new Map([['streamtype', ['data']], ['port', [String(8000 + i)]], ['requestid', [String(i)]]]);
      const compressed = await c.compress(block);
      // The first block carries the zlib header with FDICT and the dictionary's id.
      if (i === 0) {
        assert.equal(compressed[1]! & 0x20, 0x20);
        assert.equal(compressed.readUInt32BE(2), 0xe3c6a7c2);
      }
      assert.deepEqual(await d.decompress(compressed), block);
    }
    c.close();
    d.close();
  });

  it('rejects uppercase and duplicate header names', () => {
    const upper = encodeHeaderBlock(new Map([['x', ['1']]]));
    upper.write('X', 8);
    assert.throws(() => decodeHeaderBlock(upper), /not lowercase/);
    const dup = Buffer.concat([encodeHeaderBlock(new Map([['a', ['1']]])), Buffer.alloc(0)]);
    dup.writeUInt32BE(2, 0);
    assert.throws(() => decodeHeaderBlock(Buffer.concat([dup, dup.subarray(4)])), /duplicate/);
  });

  it('splits a byte stream into frames across arbitrary chunk boundaries', () => {
    const frames = Buffer.from([0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 3, 0x01, 0, 0, 2, 0x61, 0x62]);
    const reader = new FrameReader();
    const seen = [];
    for (const byte of frames) {
      reader.push(Buffer.from([byte]));
      for (let f = reader.next(); f; f = reader.next()) seen.push(f);
    }
    assert.equal(seen.length, 2);
    assert.deepEqual(seen[0], { control: true, version: 3, type: 6, flags: 0, payload: Buffer.from([0, 0, 0, 1]) });
    assert.deepEqual(seen[1], { control: false, streamId: 3, flags: 1, payload: Buffer.from('ab') });
  });
});
