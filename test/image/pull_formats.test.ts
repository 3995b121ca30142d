import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { chainIdsOf } from '../../src/image/pull.js';
import { hostPlatform, platformEntries, pushImage, pushIndex } from '../helpers/image_builder.js';
import { startImageDaemon, type ImageDaemon } from '../helpers/image_daemon.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import type { TarEntry } from '../helpers/tar_writer.js';

const files = (name: string, text: string): TarEntry[] => [
  { name: 'etc/', type: 'dir' },
  { name: `etc/${name}`, data: text },
];

describe('PullImage formats against a real registry', () => {
  let registry: TestRegistry;
  let daemon: ImageDaemon;

  before(async () => {
    registry = await startRegistry();
    daemon = await startImageDaemon({ insecure: [registry.host] });
  });
  after(async () => {
    await daemon?.cleanup();
    await registry?.stop();
  });

  const layerFile = (chainId: string, path: string) =>
    readFile(join(daemon.root, 'overlay', 'layers', chainId.replace('sha256:', ''), 'diff', path), 'utf8');

  for (const [format, compression] of [['docker', 'gzip'], ['oci', 'gzip'], ['oci', 'zstd'], ['oci', 'none']] as const) {
    it(`pulls a ${format} manifest with ${compression} layers by tag`, async () => {
      const repo = `formats/${format}-${compression}`;
      const pushed = await pushImage(registry, repo, 'v1', {
        format,
        compression,
        layers: [files('base', `base ${format} ${compression}`), files('top', 'top')],
        config: { User: '1234', Cmd: ['sh'] },
      });
      const ref = `${registry.host}/${repo}:v1`;
      const reply = await daemon.client.image.PullImage!({ image: { image: ref } });
      assert.equal(reply.imageRef, pushed.configDigest);

      const { image } = await daemon.client.image.ImageStatus!({ image: { image: ref } });
      assert.equal(image.id, pushed.configDigest);
      assert.deepEqual(image.repoTags, [ref]);
      assert.deepEqual(image.repoDigests, [`${registry.host}/${repo}@${pushed.manifestDigest}`]);
      assert.equal(image.uid.value, 1234);
      assert.ok(image.size > 0);

      const chain = chainIdsOf(pushed.diffIds);
      assert.equal(await layerFile(chain[0]!, 'etc/base'), `base ${format} ${compression}`);
      assert.equal(await layerFile(chain[1]!, 'etc/top'), 'top');
    });
  }

  it('pulls by digest: no tag, the digest recorded', async () => {
    const pushed = await pushImage(registry, 'formats/bydigest', 'v1', { layers: [files('d', 'digest')] });
    const ref = `${registry.host}/formats/bydigest@${pushed.manifestDigest}`;
    const reply = await daemon.client.image.PullImage!({ image: { image: ref } });
    assert.equal(reply.imageRef, pushed.configDigest);
    const { image } = await daemon.client.image.ImageStatus!({ image: { image: ref } });
    assert.deepEqual(image.repoTags, []);
    assert.deepEqual(image.repoDigests, [ref]);
  });

  for (const format of ['docker', 'oci'] as const) {
    it(`picks this host's platform from a ${format === 'docker' ? 'manifest list' : 'OCI index'}`, async () => {
      const index = await pushIndex(registry, `formats/multi-${format}`, 'v1', platformEntries(), format);
      const ref = `${registry.host}/formats/multi-${format}:v1`;
      const reply = await daemon.client.image.PullImage!({ image: { image: ref } });
      const host = hostPlatform();
      const chosen = index.images.find((i) => i.platform.architecture === host.architecture)!;
      assert.equal(reply.imageRef, chosen.configDigest);
      const { image } = await daemon.client.image.ImageStatus!({ image: { image: ref } });
      // The repo digest is the index's: that is what a user pins. (Both formats carry the same image, so it may have both.)
      assert.ok(image.repoDigests.includes(`${registry.host}/formats/multi-${format}@${index.indexDigest}`), String(image.repoDigests));
      const chain = chainIdsOf(chosen.diffIds);
      assert.match(await layerFile(chain[chain.length - 1]!, 'platform'), new RegExp(`linux/${host.architecture}`));
    });
  }

  it('fails clearly when an index has no image for this platform', async () => {
    await pushIndex(registry, 'formats/foreign-arch', 'v1', platformEntries([{ os: 'linux', architecture: 's390x' }]), 'oci');
    await assert.rejects(daemon.client.image.PullImage!({ image: { image: `${registry.host}/formats/foreign-arch:v1` } }), (err: { code: number; details: string }) => {
      assert.equal(err.code, status.FAILED_PRECONDITION);
      assert.match(err.details, /no image for platform linux\/amd64.*available: linux\/s390x/);
      return true;
    });
  });

  it('refuses foreign layers and unknown layer media types without fetching them', async () => {
    await pushImage(registry, 'formats/foreign', 'v1', { format: 'docker', layers: [{ entries: files('f', 'f'), foreign: true }] });
    registry.clearLog();
    await assert.rejects(daemon.client.image.PullImage!({ image: { image: `${registry.host}/formats/foreign:v1` } }), /foreign\/non-distributable layer .* refused/);
    assert.equal(registry.requests().filter((r) => r.pathname.startsWith('/foreign/')).length, 0);

    await pushImage(registry, 'formats/unknown', 'v1', { layers: [{ entries: files('u', 'u'), mediaType: 'application/x-made-up' }] });
    await assert.rejects(daemon.client.image.PullImage!({ image: { image: `${registry.host}/formats/unknown:v1` } }), /unsupported layer media type "application\/x-made-up"/);
  });

  it('refuses a manifest over the size limit', async () => {
    await pushImage(registry, 'formats/huge', 'v1', { layers: [files('h', 'h')] });
    registry.failNext('/v2/formats/huge/manifests/v1', { replaceBody: Buffer.alloc(5 * 1024 * 1024, 0x20) });
    await assert.rejects(daemon.client.image.PullImage!({ image: { image: `${registry.host}/formats/huge:v1` } }), /over the 4194304-byte limit|exceeds the 4194304-byte limit/);
  });

  it('rejects malformed references and missing fields with INVALID_ARGUMENT', async () => {
    for (const bad of ['Busybox', 'busybox:', 'x@sha256:abc', '']) {
      await assert.rejects(daemon.client.image.PullImage!({ image: { image: bad } }), (err: { code: number; details: string }) => {
        assert.equal(err.code, status.INVALID_ARGUMENT, `${bad}: ${err.details}`);
        assert.match(err.details, /^image\.image: /);
        return true;
      });
    }
    await assert.rejects(daemon.client.image.PullImage!({}), { code: status.INVALID_ARGUMENT });
    await assert.rejects(daemon.client.image.ImageStatus!({}), { code: status.INVALID_ARGUMENT });
  });

  it('lists, filters, reports fs usage and removes images', async () => {
    const pushed = await pushImage(registry, 'store/shared', 'one', { layers: [files('s', 'shared')] });
    await pushImage(registry, 'store/shared', 'two', { layers: [files('s', 'shared')] });
    const one = `${registry.host}/store/shared:one`;
    const two = `${registry.host}/store/shared:two`;
    await daemon.client.image.PullImage!({ image: { image: one } });
    await daemon.client.image.PullImage!({ image: { image: two } });

    const filtered = await daemon.client.image.ListImages!({ filter: { image: { image: two } } });
    assert.equal(filtered.images.length, 1);
    assert.deepEqual(filtered.images[0].repoTags.sort(), [one, two]);
    const all = await daemon.client.image.ListImages!({});
    assert.ok(all.images.some((i: { id: string }) => i.id === pushed.configDigest));
    const streamed = (await daemon.client.stream('image', 'StreamImages', {})) as { images: { id: string }[] }[];
    assert.ok(streamed.length >= 1 && streamed.every((batch) => batch.images.length > 0));
    assert.deepEqual(streamed.flatMap((b) => b.images.map((i) => i.id)).sort(), all.images.map((i: { id: string }) => i.id).sort());
    const streamedOne = (await daemon.client.stream('image', 'StreamImages', { filter: { image: { image: two } } })) as { images: { id: string }[] }[];
    assert.deepEqual(streamedOne.flatMap((b) => b.images.map((i) => i.id)), [pushed.configDigest]);

    const fs = await daemon.client.image.ImageFsInfo!({});
    assert.ok(fs.imageFilesystems[0].usedBytes.value > 0);
    assert.ok(fs.imageFilesystems[0].inodesUsed.value > 0);
    assert.equal(fs.imageFilesystems[0].fsId.mountpoint, join(daemon.root, 'overlay'));

    // A tag shared with another goes alone.
    await daemon.client.image.RemoveImage!({ image: { image: one } });
    const left = await daemon.client.image.ImageStatus!({ image: { image: two } });
    assert.deepEqual(left.image.repoTags, [two]);
    const gone = await daemon.client.image.ImageStatus!({ image: { image: one } });
    assert.equal(gone.image, null);
    const chain = chainIdsOf(pushed.diffIds);
    assert.ok((await daemon.layerDirs()).includes(chain[0]!.slice(7)));

    // The last tag takes the image and its unshared layers.
    await daemon.client.image.RemoveImage!({ image: { image: two } });
    assert.equal((await daemon.client.image.ImageStatus!({ image: { image: pushed.configDigest } })).image, null);
    assert.equal((await daemon.layerDirs()).includes(chain[0]!.slice(7)), false);
    const fsAfter = await daemon.client.image.ImageFsInfo!({});
    assert.ok(fsAfter.imageFilesystems[0].usedBytes.value < fs.imageFilesystems[0].usedBytes.value, 'removed layers leave the usage');
    assert.ok(fsAfter.imageFilesystems[0].inodesUsed.value < fs.imageFilesystems[0].inodesUsed.value);

    // Removing what is not there succeeds.
    await daemon.client.image.RemoveImage!({ image: { image: two } });
    await daemon.client.image.RemoveImage!({ image: { image: pushed.configDigest } });
  });

  it('removes by id and by repo digest', async () => {
    const a = await pushImage(registry, 'store/byid', 'v1', { layers: [files('a', 'by id')] });
    await daemon.client.image.PullImage!({ image: { image: `${registry.host}/store/byid:v1` } });
    await daemon.client.image.RemoveImage!({ image: { image: a.configDigest } });
    assert.equal((await daemon.client.image.ImageStatus!({ image: { image: a.configDigest } })).image, null);

    const b = await pushImage(registry, 'store/bydigest', 'v1', { layers: [files('b', 'by digest')] });
    await daemon.client.image.PullImage!({ image: { image: `${registry.host}/store/bydigest:v1` } });
    await daemon.client.image.RemoveImage!({ image: { image: `${registry.host}/store/bydigest@${b.manifestDigest}` } });
    assert.equal((await daemon.client.image.ImageStatus!({ image: { image: b.configDigest } })).image, null);
  });

  it('ImageStatus verbose carries the manifest and config', async () => {
    const pushed = await pushImage(registry, 'status/verbose', 'v1', { layers: [files('v', 'v')], config: { User: 'www-data' } });
    const ref = `${registry.host}/status/verbose:v1`;
    await daemon.client.image.PullImage!({ image: { image: ref } });
    const reply = await daemon.client.image.ImageStatus!({ image: { image: ref }, verbose: true });
    assert.equal(reply.image.username, 'www-data');
    assert.equal(reply.image.uid, null);
    assert.equal(JSON.parse(reply.info.manifest).config.digest, pushed.configDigest);
    assert.deepEqual(JSON.parse(reply.info.config).rootfs.diff_ids, pushed.diffIds);
    assert.ok(JSON.parse(reply.info.info).size > 0);
  });

  it('five parallel pulls of one image download each blob once', async () => {
    const pushed = await pushImage(registry, 'concurrent/app', 'v1', { layers: [files('a', 'a'.repeat(100_000)), files('b', 'b'.repeat(100_000)), files('c', 'c')] });
    registry.clearLog();
    const ref = `${registry.host}/concurrent/app:v1`;
    const replies = await Promise.all(Array.from({ length: 5 }, () => daemon.client.image.PullImage!({ image: { image: ref } })));
    for (const reply of replies) assert.equal(reply.imageRef, pushed.configDigest);
    for (const digest of [...pushed.layerDigests, pushed.configDigest]) assert.equal(registry.blobGets(digest), 1, digest);
    const images = await daemon.client.image.ListImages!({ filter: { image: { image: ref } } });
    assert.equal(images.images.length, 1);
    assert.equal((await stat(join(daemon.root, 'images', pushed.configDigest.slice(7), 'image.json'))).isFile(), true);
  });
});
