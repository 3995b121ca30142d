// Self-tests for the registry test harness: tar writer, docker-registry + proxy, token
// server, image builder. If these fail, the image-service tests cannot be trusted.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scratchDir } from '../helpers/daemon.js';
import {
  deleteBlob, MediaTypes, platformEntries, platformString, Platforms, pushBlob, pushImage, pushIndex, pushManifest,
  type PushedImage,
} from '../helpers/image_builder.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { basicAuth, httpRequest, parseChallenge, RegistryClient } from '../helpers/registry_client.js';
import {
  buildTar, compress, decompress, detectCompression, opaqueWhiteout, readTar, sha256, whiteout, type TarEntry,
} from '../helpers/tar_writer.js';

const longName = 'deep/' + 'd'.repeat(60) + '/' + 'e'.repeat(60) + '/file-with-a-long-name.txt';
const hostile: TarEntry[] = [
  { name: 'etc/', type: 'dir' },
  { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644 },
  { name: 'bin/suid', data: '#!/bin/sh\n', mode: 0o4755, uid: 3_000_000, gid: 42 },
  { name: longName, data: 'long' },
  { name: 'link-long', type: 'symlink', linkname: '/' + 'x'.repeat(150) },
  { name: 'abs-link', type: 'symlink', linkname: '/etc/shadow' },
  { name: '../escape', data: 'outside' },
  { name: 'hard', type: 'hardlink', linkname: 'etc/passwd' },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660 },
  { name: 'fifo', type: 'fifo' },
  { name: 'cap', data: 'x', xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0]), 'user.note': 'hé' } },
  whiteout('etc/removed'),
  opaqueWhiteout('var/cache/'),
];

describe('tar writer', () => {
  it('round-trips hostile entries through readTar', () => {
    const entries = readTar(buildTar(hostile));
    assert.deepEqual(entries.map((e) => e.name), hostile.map((e) => e.name));
    const by = (name: string) => entries.find((e) => e.name === name)!;
    assert.equal(by('bin/suid').mode, 0o4755);
    assert.equal(by('bin/suid').uid, 3_000_000); // too big for octal: PAX record
    assert.equal(by(longName).data.toString(), 'long');
    assert.equal(by('link-long').linkname, '/' + 'x'.repeat(150));
    assert.equal(by('hard').type, 'hardlink');
    assert.deepEqual([by('dev/null').type, by('dev/null').devmajor, by('dev/null').devminor], ['char', 1, 3]);
    assert.deepEqual([by('dev/sda').type, by('dev/sda').devmajor], ['block', 8]);
    assert.equal(by('fifo').type, 'fifo');
    assert.deepEqual(by('cap').xattrs['security.capability'], Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0]));
    assert.equal(by('cap').xattrs['user.note']!.toString(), 'hé');
    assert.equal(by('etc/.wh.removed').type, 'file');
    assert.ok(by('var/cache/.wh..wh..opq'));
  });

  it('writes archives GNU tar reads (PAX and GNU long names)', async () => {
    const s = await scratchDir('skiff-tar-');
    try {
      for (const longNames of ['pax', 'gnu'] as const) {
        const file = join(s.dir, `${longNames}.tar`);
        await writeFile(file, buildTar(hostile, { longNames }));
        const listing = execFileSync('tar', ['--numeric-owner', '-tvf', file]).toString();
        assert.match(listing, new RegExp(longName));
        assert.match(listing, /^crw-rw-rw- 0\/0 +1,3 .* dev\/null$/m);
        assert.match(listing, /^brw-rw---- 0\/0 +8,0 .* dev\/sda$/m);
        assert.match(listing, /^-rwsr-xr-x 3000000\/42 .* bin\/suid$/m);
        assert.match(listing, /abs-link -> \/etc\/shadow/);
        assert.match(listing, /link-long -> \/x{150}$/m);
        assert.match(listing, /hard link to etc\/passwd/);
        assert.match(listing, /^\S+ \S+ +\d+ \S+ \S+ \.\.\/escape$/m);
      }
    } finally {
      await s.cleanup();
    }
  });

  it('is deterministic and compresses with gzip and zstd', () => {
    const tar = buildTar([{ name: 'a', data: 'a'.repeat(10_000) }]);
    assert.deepEqual(tar, buildTar([{ name: 'a', data: 'a'.repeat(10_000) }]));
    for (const c of ['gzip', 'zstd', 'none'] as const) {
      const blob = compress(tar, c);
      assert.equal(detectCompression(blob), c);
      assert.deepEqual(decompress(blob, c), tar);
      assert.equal(sha256(compress(tar, c)), sha256(blob), `${c} is deterministic`);
    }
    assert.equal(buildTar([], { trailer: false }).length, 0);
  });
});

/** Fetches a pushed image back through the proxy and checks manifest, config and layers. */
async function verifyImage(client: RegistryClient, img: PushedImage): Promise<void> {
  const m = await client.getManifest(img.repo, img.tag ?? img.manifestDigest);
  assert.equal(m.status, 200, m.body.toString());
  assert.equal(m.digest, img.manifestDigest);
  assert.equal(m.mediaType, img.manifestMediaType);
  assert.equal(sha256(m.body), img.manifestDigest);
  const manifest = JSON.parse(m.body.toString());
  const config = await client.getBlob(img.repo, manifest.config.digest);
  assert.equal(config.status, 200);
  assert.equal(sha256(config.body), img.configDigest);
  const diffIds: string[] = JSON.parse(config.body.toString()).rootfs.diff_ids;
  for (const [i, layer] of (manifest.layers as { digest: string; mediaType: string }[]).entries()) {
    const blob = await client.getBlob(img.repo, layer.digest);
    assert.equal(blob.status, 200);
    assert.equal(sha256(blob.body), layer.digest);
    const c = layer.mediaType.endsWith('zstd') ? 'zstd' : layer.mediaType.endsWith('gzip') ? 'gzip' : 'none';
    assert.equal(sha256(decompress(blob.body, c)), diffIds[i], `diff_id of layer ${i}`);
  }
}

describe('registry without auth', () => {
  let registry: TestRegistry;
  let docker: PushedImage;
  before(async () => {
    registry = await startRegistry();
  });
  after(() => registry?.stop());

  it('answers /v2/ through the proxy and logs it', async () => {
    const res = await httpRequest(`${registry.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.match(registry.host, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(registry.requests().map((e) => [e.method, e.path, e.status]), [['GET', '/v2/', 200]]);
    assert.equal(registry.credentials, null);
  });

  it('pushes a Docker schema2 image that reads back with correct digests, config and diff_ids', async () => {
    registry.clearLog();
    docker = await pushImage(registry, 'library/docker-app', 'v1', {
      format: 'docker',
      layers: [hostile, [{ name: 'app/', type: 'dir' }, { name: 'app/run', data: '#!/bin/sh\necho hi\n', mode: 0o755 }]],
      config: {
        Env: ['PATH=/usr/bin:/bin', 'FOO=bar'], Cmd: ['/app/run'], User: '1000:1000', WorkingDir: '/app',
        Labels: { 'org.example': 'yes' },
      },
    });
    assert.equal(registry.requests().length, 0, 'pushes bypass the proxy by default');
    assert.equal(docker.manifest.mediaType, MediaTypes.dockerManifest);
    assert.equal(docker.manifest.config.mediaType, MediaTypes.dockerConfig);
    assert.deepEqual(docker.manifest.layers.map((l: { mediaType: string }) => l.mediaType), [MediaTypes.dockerLayerGzip, MediaTypes.dockerLayerGzip]);
    assert.deepEqual(docker.config.config, {
      Env: ['PATH=/usr/bin:/bin', 'FOO=bar'], Cmd: ['/app/run'], User: '1000:1000', WorkingDir: '/app', Labels: { 'org.example': 'yes' },
    });
    assert.equal(docker.config.architecture, platformString(docker.platform).split('/')[1]);
    assert.equal(docker.config.os, 'linux');
    assert.deepEqual(docker.config.rootfs.diff_ids, docker.diffIds);
    await verifyImage(registry.client(), docker);
    assert.equal(registry.blobGets(docker.layerDigests[0]!), 1);
    assert.equal(registry.manifestGets('v1'), 1);
  });

  it('counts parallel blob downloads per digest', async () => {
    registry.clearLog();
    const digest = docker.layerDigests[1]!;
    const client = registry.client();
    const results = await Promise.all(Array.from({ length: 5 }, () => client.getBlob('library/docker-app', digest)));
    assert.ok(results.every((r) => r.status === 200 && sha256(r.body) === digest));
    assert.equal(registry.blobGets(digest), 5);
    assert.equal(registry.blobGets(digest, { status: 200 }), 5);
    assert.equal(registry.blobGets(docker.layerDigests[0]!), 0);
    const entry = registry.requests()[0]!;
    assert.equal(entry.bytes, docker.layers[1]!.size);
    assert.equal(entry.aborted, false);
    assert.equal(entry.userAgent, 'skiff-test-client');
  });

  it('pushes OCI images with gzip, zstd and uncompressed layers', async () => {
    const img = await pushImage(registry, 'oci/app', 'latest', {
      format: 'oci',
      layers: [
        { entries: [{ name: 'gz', data: 'gzip layer' }], compression: 'gzip' },
        { entries: [{ name: 'zst', data: 'zstd layer' }], compression: 'zstd' },
        { entries: [{ name: 'raw', data: 'plain layer' }], compression: 'none' },
      ],
      config: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['true'] },
    });
    assert.equal(img.manifestMediaType, MediaTypes.ociManifest);
    assert.equal(img.manifest.config.mediaType, MediaTypes.ociConfig);
    assert.deepEqual(img.manifest.layers.map((l: { mediaType: string }) => l.mediaType),
      [MediaTypes.ociLayerGzip, MediaTypes.ociLayerZstd, MediaTypes.ociLayerTar]);
    assert.equal(img.layerDigests[2], img.diffIds[2], 'an uncompressed layer digest is its diff_id');
    await verifyImage(registry.client(), img);
  });

  for (const format of ['docker', 'oci'] as const) {
    it(`pushes a multi-platform ${format === 'docker' ? 'manifest list' : 'OCI index'}`, async () => {
      const idx = await pushIndex(registry, `multi/${format}`, 'latest', platformEntries(), format);
      const client = registry.client();
      const res = await client.getManifest(`multi/${format}`, 'latest');
      assert.equal(res.status, 200);
      assert.equal(res.mediaType, format === 'docker' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex);
      assert.equal(res.digest, idx.indexDigest);
      const index = JSON.parse(res.body.toString());
      assert.deepEqual(index.manifests.map((m: { platform: { architecture: string; variant?: string } }) => m.platform),
        [Platforms.amd64, Platforms.arm64, Platforms.armv7]);
      const arm = index.manifests[1];
      assert.equal(arm.mediaType, format === 'docker' ? MediaTypes.dockerManifest : MediaTypes.ociManifest);
      const child = idx.images[1]!;
      await verifyImage(client, child);
      assert.equal(child.config.architecture, 'arm64');
      assert.equal(child.config.variant, 'v8');
      const layer = await client.getBlob(`multi/${format}`, child.layerDigests[0]!);
      const [file] = readTar(decompress(layer.body, 'gzip'));
      assert.equal(file!.data.toString(), 'linux/arm64/v8\n');
      assert.notEqual(idx.images[0]!.layerDigests[0], child.layerDigests[0], 'platforms have distinct content');
    });
  }

  it('injects one-shot status faults (429 with Retry-After) and delays', async () => {
    const digest = docker.layerDigests[1]!;
    const client = registry.client();
    registry.failNext(digest, { status: 429, headers: { 'retry-after': '1' } });
    const first = await client.getBlob('library/docker-app', digest);
    assert.equal(first.status, 429);
    assert.equal(first.headers['retry-after'], '1');
    assert.equal(JSON.parse(first.body.toString()).errors[0].code, 'TOOMANYREQUESTS');
    assert.equal((await client.getBlob('library/docker-app', digest)).status, 200, 'one-shot');

    registry.failNext(/\/manifests\/v1$/, { status: 503, times: 2 });
    assert.equal((await client.getManifest('library/docker-app', 'v1')).status, 503);
    assert.equal((await client.getManifest('library/docker-app', 'v1')).status, 503);
    assert.equal((await client.getManifest('library/docker-app', 'v1')).status, 200);

    registry.failNext(digest, { delayMs: 300 });
    const t0 = Date.now();
    assert.equal((await client.getBlob('library/docker-app', digest)).status, 200);
    assert.ok(Date.now() - t0 >= 290);

    registry.failNext(digest, { method: 'HEAD', status: 500 });
    assert.equal((await client.getBlob('library/docker-app', digest)).status, 200, 'method filter: GET passes');
    assert.equal((await client.request('HEAD', `/v2/library/docker-app/blobs/${digest}`)).status, 500);
    assert.equal(registry.faults().length, 0);
  });

  it('truncates, stalls, corrupts and drops responses', async () => {
    const big = await pushImage(registry, 'faults/big', 'v1', {
      layers: [[{ name: 'noise', data: execFileSync('head', ['-c', '300000', '/dev/urandom']) }]],
    });
    const digest = big.layerDigests[0]!;
    const url = `${registry.url}/v2/faults/big/blobs/${digest}`;
    registry.clearLog();

    registry.failNext(digest, { truncateAfterBytes: 1000 });
    const truncated = await httpRequest(url).then(() => undefined, (e: { partial: Buffer }) => e);
    assert.ok(truncated, 'a truncated body rejects');
    assert.equal(truncated.partial.length, 1000);
    assert.equal(registry.requests().at(-1)!.aborted, true);

    registry.failNext(digest, { truncateAfterBytes: 0 });
    await assert.rejects(httpRequest(url));

    registry.failNext(digest, { stallAfterBytes: 10 });
    await assert.rejects(httpRequest(url, { timeoutMs: 300 }), /timeout/);

    registry.corruptBlob(digest);
    for (let i = 0; i < 2; i++) {
      const bad = await httpRequest(url);
      assert.equal(bad.status, 200);
      assert.equal(bad.body.length, big.layers[0]!.size);
      assert.notEqual(sha256(bad.body), digest);
    }
    registry.clearFaults();
    assert.equal(sha256((await httpRequest(url)).body), digest);

    registry.failNext(digest, { drop: true });
    await assert.rejects(httpRequest(url));

    const manifestUrl = `${registry.url}/v2/faults/big/manifests/v1`;
    registry.failNext('/manifests/v1', { replaceBody: '{"schemaVersion":2}' });
    const replaced = await httpRequest(manifestUrl, { headers: { accept: MediaTypes.ociManifest } });
    assert.equal(replaced.body.toString(), '{"schemaVersion":2}');
    assert.equal(replaced.headers['docker-content-digest'], big.manifestDigest, 'headers still claim the real digest');

    assert.equal(registry.blobGets(digest), 7);
    assert.equal((await httpRequest(url)).status, 200, 'the proxy still works after faults');
  });

  it('pushes deliberately wrong images: bad diff_id, unknown media type, foreign layers', async () => {
    const img = await pushImage(registry, 'broken/app', 'v1', {
      format: 'docker',
      layers: [
        { entries: [{ name: 'a', data: 'a' }], diffId: sha256('not the layer') },
        { entries: [{ name: 'b', data: 'b' }], mediaType: 'application/vnd.example.unknown.layer' },
        { entries: [{ name: 'c', data: 'c' }], foreign: true },
      ],
    });
    assert.equal(img.config.rootfs.diff_ids[0], sha256('not the layer'));
    assert.notEqual(img.diffIds[0], sha256('not the layer'));
    assert.equal(img.manifest.layers[1].mediaType, 'application/vnd.example.unknown.layer');
    const foreign = img.manifest.layers[2];
    assert.equal(foreign.mediaType, MediaTypes.dockerForeignLayer);
    const client = registry.client();
    assert.equal((await client.getBlob('broken/app', foreign.digest)).status, 404, 'foreign blobs are not in the registry');
    const served = await httpRequest(foreign.urls[0]);
    assert.equal(sha256(served.body), foreign.digest);
    const m = await client.getManifest('broken/app', 'v1');
    assert.equal(m.digest, img.manifestDigest);

    const oci = await pushImage(registry, 'broken/oci', 'v1', {
      format: 'oci',
      layers: [{ entries: [{ name: 'c', data: 'c' }], foreign: true, compression: 'gzip' }],
      mutateManifest: (mf) => void (mf.annotations = { edited: 'yes' }),
      mutateConfig: (cfg) => void (cfg.config.Cmd = ['edited']),
    });
    assert.equal(oci.manifest.layers[0].mediaType, MediaTypes.ociNondistributableGzip);
    assert.equal((await client.getManifest('broken/oci', 'v1')).digest, oci.manifestDigest);
    assert.deepEqual(oci.config.config.Cmd, ['edited']);
  });

  it('pushes raw manifests and blobs and deletes blobs', async () => {
    const blob = Buffer.from('just a blob');
    const digest = await pushBlob(registry, 'raw/repo', blob);
    const client = registry.client();
    assert.equal((await client.getBlob('raw/repo', digest)).status, 200);
    await assert.rejects(pushManifest(registry, 'raw/repo', 'missing', MediaTypes.ociManifest, {
      schemaVersion: 2, mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: sha256('nope'), size: 4 }, layers: [],
    }), /HTTP 400.*MANIFEST_BLOB_UNKNOWN/s);
    await deleteBlob(registry, 'raw/repo', digest);
    assert.equal((await client.getBlob('raw/repo', digest)).status, 404);
  });
});

describe('registry with basic auth', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({ auth: 'basic', users: { alice: 'wonderland', bob: 'builder' } });
  });
  after(() => registry?.stop());

  it('refuses anonymous access and bad passwords', async () => {
    const res = await httpRequest(`${registry.url}/v2/`);
    assert.equal(res.status, 401);
    assert.deepEqual(parseChallenge(res.headers['www-authenticate'] as string), { scheme: 'basic', params: { realm: 'skiff-test' } });
    await assert.rejects(pushImage(registry, 'private/app', 'v1', { layers: [[]], credentials: null }), /HTTP 401/);
    await assert.rejects(
      pushImage(registry, 'private/app', 'v1', { layers: [[]], credentials: { username: 'alice', password: 'wrong' } }),
      /HTTP 401/,
    );
    const bad = await httpRequest(`${registry.url}/v2/`, { headers: { authorization: basicAuth({ username: 'bob', password: 'x' }) } });
    assert.equal(bad.status, 401);
  });

  it('pushes and pulls with credentials', async () => {
    assert.deepEqual(registry.credentials, { username: 'alice', password: 'wonderland' });
    const img = await pushImage(registry, 'private/app', 'v1', { format: 'docker', layers: [[{ name: 'x', data: 'x' }]] });
    registry.clearLog();
    await verifyImage(registry.client({ credentials: { username: 'bob', password: 'builder' } }), img);
    assert.deepEqual(registry.requests().map((e) => [e.status, e.auth]),
      [[401, undefined], [200, 'basic'], [200, 'basic'], [200, 'basic']]);
    const anon = await registry.client({ credentials: null }).getBlob('private/app', img.layerDigests[0]!);
    assert.equal(anon.status, 401);
  });
});

describe('registry with token auth', () => {
  let registry: TestRegistry;
  let img: PushedImage;
  before(async () => {
    registry = await startRegistry({ auth: 'token' });
    img = await pushImage(registry, 'team/app', 'v1', { format: 'oci', layers: [[{ name: 'x', data: 'x' }]] });
  });
  after(() => registry?.stop());

  it('challenges with the token realm and refuses anonymous pulls and pushes', async () => {
    registry.clearLog();
    const ts = registry.tokenServer!;
    const res = await httpRequest(`${registry.url}/v2/team/app/manifests/v1`);
    assert.equal(res.status, 401);
    assert.deepEqual(parseChallenge(res.headers['www-authenticate'] as string), {
      scheme: 'bearer', params: { realm: ts.realm, service: ts.service, scope: 'repository:team/app:pull' },
    });
    const anon = registry.client({ credentials: null });
    assert.equal((await anon.getManifest('team/app', 'v1')).status, 401, 'an anonymous token grants nothing');
    assert.deepEqual(ts.requests().map((r) => [r.account, r.scopes, r.granted]), [[undefined, ['repository:team/app:pull'], []]]);
    await assert.rejects(pushImage(registry, 'team/app', 'v2', { layers: [[]], credentials: null }), /HTTP 401/);
    await assert.rejects(
      pushImage(registry, 'team/app', 'v2', { layers: [[]], credentials: { username: 'tester', password: 'bad' } }),
      /token request .* 401/,
    );
  });

  it('pulls with a bearer token obtained with credentials', async () => {
    registry.clearLog();
    const client = registry.client();
    await verifyImage(client, img);
    assert.deepEqual(client.tokenFetches, ['repository:team/app:pull']);
    const tokens = registry.tokenRequests();
    assert.equal(tokens.length, 1);
    assert.deepEqual([tokens[0]!.account, tokens[0]!.via, tokens[0]!.granted],
      ['tester', 'basic', [{ type: 'repository', name: 'team/app', actions: ['pull'] }]]);
    assert.deepEqual(registry.requests().map((e) => [e.status, e.auth]),
      [[401, undefined], [200, 'bearer'], [200, 'bearer'], [200, 'bearer']]);
  });

  it('grants anonymous pulls when the policy allows them, never pushes', async () => {
    const ts = registry.tokenServer!;
    ts.options.anonymousActions = ['pull'];
    try {
      await verifyImage(registry.client({ credentials: null }), img);
      await assert.rejects(pushImage(registry, 'team/app', 'v3', { layers: [[]], credentials: null }), /HTTP 401/);
    } finally {
      ts.options.anonymousActions = [];
    }
  });

  it('speaks the OAuth2 POST form and fails on demand', async () => {
    const ts = registry.tokenServer!;
    const form = (body: string) => httpRequest(ts.realm, {
      method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const pw = await form(`grant_type=password&username=tester&password=tester-password&service=${ts.service}&scope=repository:team/app:pull&client_id=test`);
    assert.equal(pw.status, 200);
    const { access_token, refresh_token } = JSON.parse(pw.body.toString());
    const res = await httpRequest(`${registry.url}/v2/team/app/manifests/v1`, {
      headers: { authorization: `Bearer ${access_token}`, accept: MediaTypes.ociManifest },
    });
    assert.equal(res.status, 200);
    const refreshed = await form(`grant_type=refresh_token&refresh_token=${refresh_token}&service=${ts.service}&scope=repository:team/app:pull`);
    assert.equal(refreshed.status, 200);
    assert.equal((await form('grant_type=password&username=tester&password=nope')).status, 401);

    ts.failNext(500);
    await assert.rejects(registry.client().getManifest('team/app', 'v1'), /token request .* 500/);
    assert.equal((await registry.client().getManifest('team/app', 'v1')).status, 200);
  });

  it('can push through the proxy (upload Locations point at the proxy)', async () => {
    registry.clearLog();
    const pushed = await pushImage(registry, 'team/via-proxy', 'v1', { viaProxy: true, layers: [[{ name: 'p', data: 'p' }]] });
    const log = registry.requests();
    assert.ok(log.some((e) => e.method === 'POST' && e.status === 202));
    assert.ok(log.some((e) => e.method === 'PUT' && e.pathname.includes('/blobs/uploads/') && e.status === 201));
    assert.ok(log.every((e) => e.userAgent === 'skiff-test-pusher'));
    assert.ok(registry.tokenServer!.requests().every((r) => r.userAgent === 'skiff-test-pusher'));
    await verifyImage(registry.client(), pushed);
  });

  it('works with RS256 and libtrust key ids too', async () => {
    const other = await startRegistry({ auth: 'token', token: { alg: 'RS256', keyRef: 'kid' } });
    try {
      const pushed = await pushImage(other, 'kid/app', 'v1', { format: 'docker', layers: [[{ name: 'k', data: 'k' }]] });
      await verifyImage(other.client(), pushed);
    } finally {
      await other.stop();
    }
  });
});

describe('registry lifecycle', () => {
  it('stop() ends the registry and removes its directory', async () => {
    const registry = await startRegistry({ auth: 'token' });
    await registry.stop();
    assert.equal(existsSync(registry.dir), false);
    await assert.rejects(httpRequest(`${registry.upstream.url}/v2/`), /ECONNREFUSED/);
    await assert.rejects(httpRequest(`${registry.url}/v2/`), /ECONNREFUSED/);
    await assert.rejects(httpRequest(registry.tokenServer!.realm), /ECONNREFUSED/);
    await registry.stop(); // idempotent
  });
});
