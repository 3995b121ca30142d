import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import { createGzip } from 'node:zlib';
import { chainIdsOf } from '../../src/image/pull.js';
import { pushImage } from '../helpers/image_builder.js';
import { restartImageDaemon, startImageDaemon, type ImageDaemon } from '../helpers/image_daemon.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import type { TarEntry } from '../helpers/tar_writer.js';

/** Enough `..` to climb from any layer directory to `/`. */
const climb = '../'.repeat(16);

describe('hostile layers are refused or confined; the host is never touched', () => {
  let registry: TestRegistry;
  let daemon: ImageDaemon;
  let sentinelDir: string;
  let sentinelRel: string;
  let counter = 0;

  before(async () => {
    registry = await startRegistry();
    daemon = await startImageDaemon({ insecure: [registry.host], extraArgs: ['--max-layer-size', String(64 * 1024 * 1024)] });
    sentinelDir = await mkdtemp(join(tmpdir(), 'skiff-sentinel-'));
    sentinelRel = sentinelDir.slice(1);
    await writeFile(join(sentinelDir, 'victim'), 'original');
  });
  after(async () => {
    await daemon?.cleanup();
    await registry?.stop();
    await rm(sentinelDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    registry.clearFaults();
    // The host stays exactly as it was, and no half layer is left behind.
    assert.deepEqual((await readdir(sentinelDir)).sort(), ['victim']);
    assert.equal(await readFile(join(sentinelDir, 'victim'), 'utf8'), 'original');
    assert.equal((await stat(join(sentinelDir, 'victim'))).nlink, 1);
    assert.deepEqual(await daemon.stagingDirs(), []);
  });

  async function pushLayer(entries: TarEntry[] | Parameters<typeof pushImage>[3]['layers'][number]): Promise<{ ref: string; diffIds: string[]; layerDigests: string[] }> {
    const repo = `hostile/case${++counter}`;
    const pushed = await pushImage(registry, repo, 'v1', { layers: [entries] });
    return { ref: `${registry.host}/${repo}:v1`, diffIds: pushed.diffIds, layerDigests: pushed.layerDigests };
  }

  async function assertRefused(ref: string, pattern: RegExp): Promise<void> {
    await assert.rejects(daemon.client.image.PullImage!({ image: { image: ref } }), (err: { details: string }) => {
      assert.match(err.details, pattern);
      return true;
    });
    assert.equal((await daemon.client.image.ImageStatus!({ image: { image: ref } })).image, null);
  }

  it('a ../ path fails the pull, naming the entry', async () => {
    const { ref } = await pushLayer([{ name: `${climb}${sentinelRel}/pwned`, data: 'x' }]);
    await assertRefused(ref, /\.\.\/.*pwned/);
  });

  it('a ../ hidden mid-path fails the pull', async () => {
    const { ref } = await pushLayer([{ name: 'a/', type: 'dir' }, { name: `a/${climb}${sentinelRel}/pwned`, data: 'x' }]);
    await assertRefused(ref, /pwned/);
  });

  it('an absolute path is confined to the layer', async () => {
    const { ref, diffIds } = await pushLayer([{ name: `${sentinelDir}/pwned`, data: 'confined' }]);
    await daemon.client.image.PullImage!({ image: { image: ref } });
    const diff = join(daemon.root, 'overlay', 'layers', chainIdsOf(diffIds)[0]!.slice(7), 'diff');
    assert.equal(await readFile(join(diff, sentinelRel, 'pwned'), 'utf8'), 'confined');
  });

  for (const target of ['/', climb]) {
    it(`a symlink to ${target === '/' ? '/' : '../../..'} then a write through it stays inside or fails`, async () => {
      const { ref } = await pushLayer([
        { name: 'evil', type: 'symlink', linkname: target },
        { name: `evil/${sentinelRel}/pwned`, data: 'x' },
      ]);
      await daemon.client.image.PullImage!({ image: { image: ref } }).catch((err: { details: string }) => {
        assert.match(err.details, /evil/);
      });
    });
  }

  for (const form of ['absolute', 'relative']) {
    it(`a hardlink to a host file (${form}) fails the pull`, async () => {
      const linkname = form === 'absolute' ? `${sentinelDir}/victim` : `${climb}${sentinelRel}/victim`;
      const { ref } = await pushLayer([{ name: 'link', type: 'hardlink', linkname }]);
      await assertRefused(ref, /link/);
    });
  }

  it('a whiteout of ../x fails the pull', async () => {
    const { ref } = await pushLayer([{ name: `${climb}${sentinelRel}/.wh.victim`, data: '' }]);
    await assertRefused(ref, /\.wh\.victim/);
  });

  it('a blob whose bytes do not match its digest is discarded', async () => {
    const { ref, layerDigests } = await pushLayer([{ name: 'file', data: 'y'.repeat(10_000) }]);
    registry.corruptBlob(layerDigests[0]!);
    // The flipped byte shows either as a digest mismatch or as corrupt gzip/tar data, whichever the stream hits first.
    await assertRefused(ref, /digest|checksum|corrupt|invalid/i);
  });

  it('a layer whose content does not match its diffID is discarded', async () => {
    const { ref } = await pushLayer({ entries: [{ name: 'file', data: 'z' }], diffId: `sha256:${'0'.repeat(64)}` });
    await assertRefused(ref, /diff ?id/i);
  });

  it('a truncated blob is retried, then fails and leaves nothing', async () => {
    const { ref, layerDigests } = await pushLayer([{ name: 'file', data: Buffer.alloc(200_000, 7) }]);
    registry.failNext(`/blobs/${layerDigests[0]}`, { truncateAfterBytes: 100, times: 10 });
    await assertRefused(ref, /truncat|closed before|connection lost/i);
    assert.ok(registry.blobGets(layerDigests[0]!) >= 2, 'retried');
  });

  it('a 4 GiB-of-zeros gzip bomb stops at the layer size limit', async () => {
    const blob = await gzipOfZeroFile(4 * 1024 ** 3);
    assert.ok(blob.length < 32 * 1024 * 1024, `bomb is ${blob.length} bytes`);
    const { ref } = await pushLayer({ blob, compression: 'gzip' });
    await assertRefused(ref, /too large|limit|quota|EFBIG/i);
  });
});

describe('a pull interrupted by kill -9', () => {
  it('leaves no visible partial image and no leaked layer after restart', async () => {
    const registry = await startRegistry();
    let daemon = await startImageDaemon({ insecure: [registry.host] });
    try {
      const pushed = await pushImage(registry, 'crash/app', 'v1', {
        layers: [[{ name: 'small', data: 'small' }], [{ name: 'big', data: randomBytes(4 * 1024 * 1024) }]],
      });
      const ref = `${registry.host}/crash/app:v1`;
      // The second layer stalls halfway: the first is complete when the daemon dies.
      registry.failNext(`/blobs/${pushed.layerDigests[1]}`, { stallAfterBytes: 64 * 1024 });
      const pulling = daemon.client.image.PullImage!({ image: { image: ref } }).catch(() => undefined);
      for (let i = 0; i < 200 && !registry.requests().some((r) => r.pathname.endsWith(pushed.layerDigests[1]!)); i++) await sleep(25);
      for (let i = 0; i < 200 && (await daemon.layerDirs()).length === 0; i++) await sleep(25);
      assert.equal((await daemon.layerDirs()).length, 1, 'first layer complete');
      assert.ok((await daemon.stagingDirs()).length >= 1, 'second layer mid-extraction');
      const exited = new Promise((resolve) => daemon.proc.once('exit', resolve));
      daemon.proc.kill('SIGKILL');
      await exited;
      await pulling;
      registry.clearFaults();

      daemon = await restartImageDaemon(daemon);
      assert.deepEqual(await daemon.stagingDirs(), []);
      assert.deepEqual(await daemon.layerDirs(), [], 'a layer no image uses is removed at start');
      assert.equal((await daemon.client.image.ListImages!({})).images.length, 0);

      await daemon.client.image.PullImage!({ image: { image: ref } });
      assert.equal((await daemon.client.image.ListImages!({})).images.length, 1);
      assert.deepEqual((await daemon.layerDirs()).sort(), chainIdsOf(pushed.diffIds).map((c) => c.slice(7)).sort());
    } finally {
      await daemon.cleanup();
      await registry.stop();
    }
  });
});

/** A gzip'd tar holding one file of `size` zero bytes, built by streaming. */
async function gzipOfZeroFile(size: number): Promise<Buffer> {
  const header = Buffer.alloc(512);
  header.write('zeros', 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(size.toString(8).padStart(11, '0') + '\0', 124);
  header.write('14000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);

  const gzip = createGzip({ level: 1 });
  const chunks: Buffer[] = [];
  gzip.on('data', (c: Buffer) => chunks.push(c));
  const finished = new Promise((resolve) => gzip.on('end', resolve));
  const zeros = Buffer.alloc(1024 * 1024);
  gzip.write(header);
  for (let written = 0; written < size; written += zeros.length) {
    if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end(Buffer.alloc(1024));
  await finished;
  return Buffer.concat(chunks);
}
