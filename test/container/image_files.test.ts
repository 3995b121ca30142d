// ImageFileCache: what an image's first container read is served to the next ones.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImageFileCache } from '../../src/container/image_files.js';

/** A loader that counts its calls and answers `data`. */
function loader(data: Buffer | undefined | Error): { load: () => Promise<Buffer | undefined>; calls: () => number } {
  let n = 0;
  return {
    load: async () => {
      n++;
      if (data instanceof Error) throw data;
      return data;
    },
    calls: () => n,
  };
}

describe('ImageFileCache', () => {
  it('loads a file once per image, path and size limit, absent files included', async () => {
    const cache = new ImageFileCache();
    const passwd = loader(Buffer.from('root:x:0:0::/root:/bin/sh\n'));
    assert.equal((await cache.read('sha256:a', 'etc/passwd', 100, passwd.load))?.toString(), 'root:x:0:0::/root:/bin/sh\n');
    assert.equal((await cache.read('sha256:a', 'etc/passwd', 100, passwd.load))?.toString(), 'root:x:0:0::/root:/bin/sh\n');
    assert.equal(passwd.calls(), 1);
    // Another image, path or limit is another file.
    await cache.read('sha256:b', 'etc/passwd', 100, passwd.load);
    await cache.read('sha256:a', 'etc/group', 100, passwd.load);
    await cache.read('sha256:a', 'etc/passwd', 50, passwd.load);
    assert.equal(passwd.calls(), 4);
    const none = loader(undefined);
    assert.equal(await cache.read('sha256:a', 'etc/shadow', 100, none.load), undefined);
    assert.equal(await cache.read('sha256:a', 'etc/shadow', 100, none.load), undefined);
    assert.equal(none.calls(), 1);
  });

  it('shares one load among concurrent readers', async () => {
    const cache = new ImageFileCache();
    const f = loader(Buffer.from('x'));
    await Promise.all([cache.read('i', 'p', 10, f.load), cache.read('i', 'p', 10, f.load), cache.read('i', 'p', 10, f.load)]);
    assert.equal(f.calls(), 1);
  });

  it('a reader sharing a load that fails (another container\'s mount, say) reads for itself', async () => {
    const cache = new ImageFileCache();
    let failFirst!: (err: Error) => void;
    const first = cache.read('i', 'etc/passwd', 10, () => new Promise((_, reject) => (failFirst = reject)));
    const own = loader(Buffer.from('mine'));
    const second = cache.read('i', 'etc/passwd', 10, own.load);
    failFirst(new Error('the first mount failed'));
    await assert.rejects(first, /first mount failed/);
    assert.equal((await second)?.toString(), 'mine');
    assert.equal(own.calls(), 1);
  });

  it('does not keep a failed read', async () => {
    const cache = new ImageFileCache();
    const bad = loader(new Error('EIO'));
    await assert.rejects(cache.read('i', 'etc/passwd', 10, bad.load), /EIO/);
    await new Promise((r) => setImmediate(r));
    const good = loader(Buffer.from('ok'));
    assert.equal((await cache.read('i', 'etc/passwd', 10, good.load))?.toString(), 'ok');
    assert.equal(good.calls(), 1);
  });

  it('reads a file over the per-file limit each time, and drops the least recently used past the total', async () => {
    const cache = new ImageFileCache(10, 6);
    const big = loader(Buffer.alloc(7));
    await cache.read('i', 'big', 100, big.load);
    await new Promise((r) => setImmediate(r));
    await cache.read('i', 'big', 100, big.load);
    assert.equal(big.calls(), 2);

    const a = loader(Buffer.alloc(4));
    const b = loader(Buffer.alloc(4));
    const c = loader(Buffer.alloc(4));
    await cache.read('i', 'a', 100, a.load);
    await cache.read('i', 'b', 100, b.load);
    await cache.read('i', 'a', 100, a.load); // a is now the most recently used
    await cache.read('i', 'c', 100, c.load); // 12 bytes > 10: b goes
    await new Promise((r) => setImmediate(r));
    await cache.read('i', 'a', 100, a.load);
    await cache.read('i', 'c', 100, c.load);
    await cache.read('i', 'b', 100, b.load);
    assert.deepEqual([a.calls(), b.calls(), c.calls()], [1, 2, 1]);
  });
});
