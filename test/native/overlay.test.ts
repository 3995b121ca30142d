import assert from 'node:assert/strict';
import { link, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { dirUsage, isNativeError, lockFile, overlayMount, overlayUnmount } from '../../src/native/index.js';
import { scratchDir } from '../helpers/daemon.js';

const mountedAt = async (target: string): Promise<boolean> =>
  (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((l) => l.split(' ')[4] === target);

describe('native overlay mount', () => {
  for (const mountApi of ['auto', 'new', 'legacy'] as const) it(`mounts 200 lower layers with long paths (${mountApi} mount API), reads through them, writes to upper, unmounts`, async () => {
    const scratch = await scratchDir('skiff-overlay-');
    const lowerdirs: string[] = [];
    for (let i = 0; i < 200; i++) {
      // 64-hex-digit names like real chain IDs push the option string far past one page.
      const dir = join(scratch.dir, 'layers', i.toString(16).padStart(64, '0'), 'diff');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `only-in-${i}`), `layer ${i}`);
      await writeFile(join(dir, 'shadowed'), `layer ${i}`);
      lowerdirs.unshift(dir); // topmost first: layer 199 is on top
    }
    const upperdir = join(scratch.dir, 'upper');
    const workdir = join(scratch.dir, 'work');
    const target = join(scratch.dir, 'merged');
    await Promise.all([upperdir, workdir, target].map((d) => mkdir(d)));
    assert.ok(lowerdirs.join(':').length > 4096);

    await overlayMount({ lowerdirs, upperdir, workdir, target, mountApi });
    try {
      assert.ok(await mountedAt(target));
      assert.equal(await readFile(join(target, 'only-in-0'), 'utf8'), 'layer 0');
      assert.equal(await readFile(join(target, 'only-in-199'), 'utf8'), 'layer 199');
      assert.equal(await readFile(join(target, 'shadowed'), 'utf8'), 'layer 199');
      assert.equal((await readdir(target)).length, 201);
      await writeFile(join(target, 'new-file'), 'written');
      assert.equal(await readFile(join(upperdir, 'new-file'), 'utf8'), 'written');
      assert.equal((await readdir(lowerdirs[0]!)).includes('new-file'), false);
    } finally {
      await overlayUnmount(target);
    }
    assert.equal(await mountedAt(target), false);
    await scratch.cleanup();
  });

  it('mounts read-only without upper and workdir', async () => {
    const scratch = await scratchDir('skiff-overlay-');
    const [a, b, target] = ['a', 'b', 'merged'].map((d) => join(scratch.dir, d)) as [string, string, string];
    await Promise.all([a, b, target].map((d) => mkdir(d)));
    await writeFile(join(b, 'file'), 'from b');
    await overlayMount({ lowerdirs: [a, b], target, readonly: true });
    try {
      assert.equal(await readFile(join(target, 'file'), 'utf8'), 'from b');
      await assert.rejects(writeFile(join(target, 'x'), 'no'), /EROFS/);
    } finally {
      await overlayUnmount(target);
    }
    await scratch.cleanup();
  });

  it('reports failures as system errors with errno, code, syscall and path', async () => {
    const scratch = await scratchDir('skiff-overlay-');
    const target = join(scratch.dir, 'missing-target');
    const lowerdirs = [join(scratch.dir, 'lower'), join(scratch.dir, 'lower2')];
    await Promise.all(lowerdirs.map((d) => mkdir(d)));
    await assert.rejects(overlayMount({ lowerdirs, target, readonly: true }), (err: unknown) => {
      assert.ok(isNativeError(err));
      assert.equal(err.code, 'ENOENT');
      assert.equal(err.errno, 2);
      assert.ok(err.syscall.length > 0);
      assert.ok(err.message.includes(err.syscall));
      assert.equal(err.path, target);
      return true;
    });
    await assert.rejects(overlayUnmount(join(scratch.dir, 'lower')), (err: unknown) => isNativeError(err) && err.code === 'EINVAL');
    // Bad arguments are programming errors: thrown at once, like node's own argument checks.
    assert.throws(() => overlayMount({ lowerdirs: [], target }), { code: 'ERR_INVALID_ARG_VALUE', message: /lowerdirs/ });
    assert.throws(() => overlayMount({ lowerdirs: [7 as never], target }), { code: 'ERR_INVALID_ARG_TYPE' });
    await scratch.cleanup();
  });
});

describe('native dirUsage', () => {
  it('counts allocated bytes and inodes, hard links once, symlinks not followed', async () => {
    const scratch = await scratchDir('skiff-usage-');
    const root = join(scratch.dir, 'tree');
    await mkdir(join(root, 'a', 'b'), { recursive: true });
    await writeFile(join(root, 'a', 'big'), Buffer.alloc(1 << 20, 1));
    await link(join(root, 'a', 'big'), join(root, 'a', 'b', 'big-link'));
    await writeFile(join(root, 'small'), 'x');
    const usage = await dirUsage(root);
    // tree, a, a/b, big (once), small
    assert.equal(usage.inodes, 5);
    const big = await stat(join(root, 'a', 'big'));
    assert.ok(usage.bytes >= big.blocks * 512 && usage.bytes < big.blocks * 512 * 2, `bytes ${usage.bytes}`);
    await assert.rejects(dirUsage(join(scratch.dir, 'nope')), (err: unknown) => isNativeError(err) && err.code === 'ENOENT');
    await scratch.cleanup();
  });
});

describe('native lockFile', () => {
  it('a second lock on the same file fails with EWOULDBLOCK', async () => {
    const scratch = await scratchDir('skiff-lock-');
    const path = join(scratch.dir, 'lock');
    const fd = await lockFile(path);
    assert.ok(fd > 2);
    await assert.rejects(lockFile(path), (err: unknown) => {
      assert.ok(isNativeError(err));
      assert.ok(err.code === 'EWOULDBLOCK' || err.code === 'EAGAIN');
      assert.equal(err.syscall, 'flock');
      assert.equal(err.path, path);
      return true;
    });
    await scratch.cleanup();
  });
});
