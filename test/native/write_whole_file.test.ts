// writeWholeFile through the addon: the one-trip writer behind skiff's state files.
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isNativeError, writeWholeFile } from '../../src/native/index.js';
import { scratchDir } from '../helpers/daemon.js';

describe('writeWholeFile', () => {
  it('writes strings and bytes, in place or by replace, with the mode asked for', async () => {
    const { dir, cleanup } = await scratchDir('wwf-');
    try {
      await writeWholeFile(join(dir, 'a'), 'héllo');
      assert.equal(await readFile(join(dir, 'a'), 'utf8'), 'héllo');
      assert.equal((await stat(join(dir, 'a'))).mode & 0o777, 0o600);
      await writeWholeFile(join(dir, 'a'), new Uint8Array([104, 105]), { replace: true, durable: true, mode: 0o644 });
      assert.equal(await readFile(join(dir, 'a'), 'utf8'), 'hi');
      await writeWholeFile(join(dir, 'rec', 'r.json'), Buffer.from('{}'), { parentMode: 0o700, durable: true });
      assert.equal((await stat(join(dir, 'rec'))).mode & 0o777, 0o700);
      assert.deepEqual((await readdir(dir)).sort(), ['a', 'rec'], 'no sibling left behind');
    } finally {
      await cleanup();
    }
  });

  it('rejects like Node, naming the call and the path', async () => {
    const { dir, cleanup } = await scratchDir('wwf-');
    try {
      const target = join(dir, 'missing', 'f');
      await assert.rejects(writeWholeFile(target, 'x', { replace: true }), (err: unknown) => {
        assert.ok(isNativeError(err));
        assert.equal(err.code, 'ENOENT');
        assert.equal(err.syscall, 'open');
        assert.match(String(err.path), /missing/);
        return true;
      });
    } finally {
      await cleanup();
    }
  });

  it('throws on bad arguments before doing anything', () => {
    assert.throws(() => void writeWholeFile('/tmp/x', 42 as unknown as string), { name: 'TypeError' });
    assert.throws(() => void writeWholeFile('/tmp/x', 'x', { mode: 0o10000 }), { name: 'RangeError' });
    assert.throws(() => void writeWholeFile('/tmp/x', 'x', { durable: 'yes' as unknown as boolean }), { name: 'TypeError' });
  });
});
