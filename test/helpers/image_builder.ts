// Builds images in memory and pushes them through the distribution HTTP API:
// Docker schema2 and OCI manifests, Docker manifest lists and OCI indexes, with gzip,
// zstd or uncompressed layers, and hooks for deliberately broken content (wrong diff_ids,
// unknown media types, foreign layers, hand-edited manifests and configs).
import type { TestRegistry } from './registry.js';
import { RegistryClient, type Credentials, type HttpResponse } from './registry_client.js';
import { buildTar, compress, decompress, detectCompression, sha256, type Compression, type TarEntry, type TarOptions } from './tar_writer.js';

export type ImageFormat = 'docker' | 'oci';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** The `config` section of the image config (Docker/OCI field names). */
export interface ImageConfigSpec {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  User?: string;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  StopSignal?: string;
  [key: string]: unknown;
}

export interface LayerOptions {
  /** Tar entries, built with buildTar(entries, tarOptions). */
  entries?: TarEntry[];
  tarOptions?: TarOptions;
  /** An uncompressed tar made elsewhere (instead of entries). */
  tar?: Buffer;
  /** Final blob bytes, pushed as they are (instead of entries/tar); compression is then only a label. */
  blob?: Buffer;
  /** Default: the image's compression. */
  compression?: Compression;
  /** Default: the standard type for format + compression (foreign/non-distributable if `foreign`). */
  mediaType?: string;
  /** The diff_id written into the image config, instead of the true one. */
  diffId?: string;
  /** Descriptor URLs. */
  urls?: string[];
  /**
   * A foreign (Docker) / non-distributable (OCI) layer: not pushed to the registry; unless
   * `urls` is given, the proxy serves it at /foreign/DIGEST and the descriptor points there.
   */
  foreign?: boolean;
  /** Default true (false for foreign layers): upload the blob. false leaves the manifest pointing at a missing blob (the registry refuses such manifests unless the layer is foreign). */
  push?: boolean;
  annotations?: Record<string, string>;
}

export type LayerSpec = TarEntry[] | LayerOptions;

export interface ImageSpec {
  layers: LayerSpec[];
  /** Default 'oci'. */
  format?: ImageFormat;
  /** Default 'gzip'. */
  compression?: Compression;
  config?: ImageConfigSpec;
  /** Default the host platform (linux/amd64 on x64). */
  platform?: Platform;
  /** Default: one entry per layer. */
  history?: Record<string, unknown>[];
  /** Default a fixed date, so the same spec gives the same digests. */
  created?: string;
  configMediaType?: string;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
  /** Edit the image config object before it is serialised (its digest follows the edit). */
  mutateConfig?: (config: Record<string, any>) => void;
  /** Edit the manifest object before it is serialised (its digest follows the edit). */
  mutateManifest?: (manifest: Record<string, any>) => void;
  /** Push the config blob (default true). */
  pushConfig?: boolean;
}

export interface PushOptions {
  /** Default: the registry's first user (TestRegistry), null = anonymous. */
  credentials?: Credentials | null;
  /** Push through the logging proxy instead of straight to the registry (default false: the proxy log stays clean). */
  viaProxy?: boolean;
  /** Default 'skiff-test-pusher'; visible in proxy and token logs. */
  userAgent?: string;
}

export interface BuiltLayer {
  mediaType: string;
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar. */
  diffId: string;
  /** What the config says (diffId unless overridden). */
  configDiffId: string;
  compression: Compression;
  blob: Buffer;
  tar: Buffer | undefined;
  descriptor: Descriptor;
  pushed: boolean;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface PushedImage {
  repo: string;
  tag: string | undefined;
  /** `HOST/REPO@DIGEST` on the proxy host. */
  ref: string;
  format: ImageFormat;
  platform: Platform;
  manifestDigest: string;
  manifestMediaType: string;
  manifest: Record<string, any>;
  manifestBytes: Buffer;
  configDigest: string;
  config: Record<string, any>;
  configBytes: Buffer;
  layerDigests: string[];
  /** True diff_ids (sha256 of each uncompressed tar). */
  diffIds: string[];
  /** The config's rootfs.diff_ids as pushed. */
  configDiffIds: string[];
  layers: BuiltLayer[];
}

export interface IndexEntry {
  platform: Platform;
  image: Omit<ImageSpec, 'format' | 'platform'>;
  /** Extra descriptor annotations. */
  annotations?: Record<string, string>;
}

export interface IndexOptions extends PushOptions {
  annotations?: Record<string, string>;
  mutateIndex?: (index: Record<string, any>) => void;
}

export interface PushedIndex {
  repo: string;
  tag: string | undefined;
  ref: string;
  format: ImageFormat;
  indexDigest: string;
  indexMediaType: string;
  index: Record<string, any>;
  indexBytes: Buffer;
  images: PushedImage[];
}

export type RegistryTarget = TestRegistry | { url: string; host?: string; credentials?: Credentials | null };

export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociNondistributableTar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
} as const;

export const Platforms = {
  amd64: { os: 'linux', architecture: 'amd64' },
  arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  armv7: { os: 'linux', architecture: 'arm', variant: 'v7' },
  ppc64le: { os: 'linux', architecture: 'ppc64le' },
  s390x: { os: 'linux', architecture: 's390x' },
} satisfies Record<string, Platform>;

export function hostPlatform(): Platform {
  switch (process.arch) {
    case 'x64': return { ...Platforms.amd64 };
    case 'arm64': return { ...Platforms.arm64 };
    case 'arm': return { ...Platforms.armv7 };
    default: return { os: 'linux', architecture: process.arch };
  }
}

/** 'linux/arm64/v8' */
export function platformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x).join('/');
}

export function layerMediaType(format: ImageFormat, compression: Compression, foreign = false): string {
  if (format === 'docker') {
    if (foreign) return MediaTypes.dockerForeignLayer;
    return { gzip: MediaTypes.dockerLayerGzip, zstd: MediaTypes.dockerLayerZstd, none: MediaTypes.dockerLayerTar }[compression];
  }
  const base = foreign ? MediaTypes.ociNondistributableTar : MediaTypes.ociLayerTar;
  return base + { gzip: '+gzip', zstd: '+zstd', none: '' }[compression];
}

/** Builds one layer's blob and descriptor (without pushing). */
export function buildLayer(spec: LayerSpec, format: ImageFormat = 'oci', defaultCompression: Compression = 'gzip'): BuiltLayer {
  const o: LayerOptions = Array.isArray(spec) ? { entries: spec } : spec;
  const compression = o.compression ?? (o.blob ? detectCompression(o.blob) : defaultCompression);
  let tar: Buffer | undefined;
  let blob: Buffer;
  if (o.blob) {
    blob = o.blob;
    try {
      tar = decompress(blob, compression);
    } catch {
      tar = undefined;
    }
  } else {
    tar = o.tar ?? buildTar(o.entries ?? [], o.tarOptions);
    blob = compress(tar, compression);
  }
  const digest = sha256(blob);
  const diffId = sha256(tar ?? blob);
  const descriptor: Descriptor = {
    mediaType: o.mediaType ?? layerMediaType(format, compression, o.foreign),
    digest,
    size: blob.length,
  };
  if (o.urls) descriptor.urls = o.urls;
  if (o.annotations) descriptor.annotations = o.annotations;
  return {
    mediaType: descriptor.mediaType,
    digest,
    size: blob.length,
    diffId,
    configDiffId: o.diffId ?? diffId,
    compression,
    blob,
    tar,
    descriptor,
    pushed: o.push ?? !o.foreign,
  };
}

/** Builds an image and pushes its blobs and manifest; tag undefined pushes by digest only. */
export async function pushImage(
  target: RegistryTarget,
  repo: string,
  tag: string | undefined,
  spec: ImageSpec & PushOptions,
): Promise<PushedImage> {
  const client = pusherClient(target, spec);
  const format = spec.format ?? 'oci';
  const platform = spec.platform ?? hostPlatform();
  const layerSpecs = spec.layers.map((l) => (Array.isArray(l) ? { entries: l } : l));
  const layers = layerSpecs.map((l) => buildLayer(l, format, spec.compression ?? 'gzip'));
  layers.forEach((layer, i) => {
    if (layerSpecs[i]!.foreign && !layerSpecs[i]!.urls) {
      if (!('serveStatic' in target)) throw new Error('foreign layers without urls need a TestRegistry to serve them');
      layer.descriptor.urls = [target.serveStatic(`/foreign/${layer.digest}`, layer.blob)];
    }
  });

  const config: Record<string, any> = {
    created: spec.created ?? '2024-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    ...(platform['os.version'] ? { 'os.version': platform['os.version'] } : {}),
    config: { ...spec.config },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.configDiffId) },
    history: spec.history ?? layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `skiff-test layer ${i}` })),
  };
  spec.mutateConfig?.(config);
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = sha256(configBytes);

  const manifestMediaType = format === 'docker' ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
  const manifest: Record<string, any> = {
    schemaVersion: 2,
    mediaType: manifestMediaType,
    config: {
      mediaType: spec.configMediaType ?? (format === 'docker' ? MediaTypes.dockerConfig : MediaTypes.ociConfig),
      digest: configDigest,
      size: configBytes.length,
    },
    layers: layers.map((l) => l.descriptor),
  };
  if (spec.annotations) manifest.annotations = spec.annotations;
  spec.mutateManifest?.(manifest);
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const contentType = typeof manifest.mediaType === 'string' ? manifest.mediaType : manifestMediaType;

  for (const layer of layers) if (layer.pushed) await uploadBlob(client, repo, layer.blob);
  if (spec.pushConfig !== false) await uploadBlob(client, repo, configBytes);
  const manifestDigest = await putManifest(client, repo, tag ?? sha256(manifestBytes), contentType, manifestBytes);

  return {
    repo,
    tag,
    ref: `${hostOf(target)}/${repo}@${manifestDigest}`,
    format,
    platform,
    manifestDigest,
    manifestMediaType: contentType,
    manifest,
    manifestBytes,
    configDigest,
    config,
    configBytes,
    layerDigests: layers.map((l) => l.digest),
    diffIds: layers.map((l) => l.diffId),
    configDiffIds: layers.map((l) => l.configDiffId),
    layers,
  };
}

/**
 * Pushes one image per platform (by digest) and then a Docker manifest list ('docker') or
 * an OCI index ('oci') pointing at them; tag undefined pushes the index by digest only.
 */
export async function pushIndex(
  target: RegistryTarget,
  repo: string,
  tag: string | undefined,
  entries: IndexEntry[],
  format: ImageFormat = 'oci',
  opts: IndexOptions = {},
): Promise<PushedIndex> {
  const client = pusherClient(target, opts);
  const images: PushedImage[] = [];
  for (const entry of entries) {
    const push: PushOptions = { credentials: opts.credentials, viaProxy: opts.viaProxy, userAgent: opts.userAgent };
    images.push(await pushImage(target, repo, undefined, { ...push, ...entry.image, format, platform: entry.platform }));
  }
  const indexMediaType = format === 'docker' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex;
  const index: Record<string, any> = {
    schemaVersion: 2,
    mediaType: indexMediaType,
    manifests: images.map((img, i) => {
      const d: Descriptor = {
        mediaType: img.manifestMediaType,
        digest: img.manifestDigest,
        size: img.manifestBytes.length,
        platform: entries[i]!.platform,
      };
      if (entries[i]!.annotations) d.annotations = entries[i]!.annotations;
      return d;
    }),
  };
  if (opts.annotations) index.annotations = opts.annotations;
  opts.mutateIndex?.(index);
  const indexBytes = Buffer.from(JSON.stringify(index));
  const contentType = typeof index.mediaType === 'string' ? index.mediaType : indexMediaType;
  const indexDigest = await putManifest(client, repo, tag ?? sha256(indexBytes), contentType, indexBytes);
  return {
    repo,
    tag,
    ref: `${hostOf(target)}/${repo}@${indexDigest}`,
    format,
    indexDigest,
    indexMediaType: contentType,
    index,
    indexBytes,
    images,
  };
}

/** One index entry per platform, each with distinct content: /platform holds e.g. "linux/arm64/v8\n". */
export function platformEntries(
  platforms: Platform[] = [Platforms.amd64, Platforms.arm64, Platforms.armv7],
  extra: (p: Platform) => Partial<IndexEntry['image']> = () => ({}),
): IndexEntry[] {
  return platforms.map((platform) => {
    const name = platformString(platform);
    return {
      platform,
      image: {
        layers: [[{ name: 'platform', data: `${name}\n` }]],
        config: { Cmd: ['/bin/true'], Labels: { 'skiff.test.platform': name } },
        ...extra(platform),
      },
    };
  });
}

// ---------------------------------------------------------------------------------------
// Raw API operations (for hand-made content)

/** Uploads a blob (monolithic POST + PUT) unless the repository already has it; returns its digest. */
export async function pushBlob(target: RegistryTarget, repo: string, data: Buffer | string, opts: PushOptions = {}): Promise<string> {
  return uploadBlob(pusherClient(target, opts), repo, Buffer.from(data));
}

/** PUTs manifest bytes as they are, under a tag or digest; returns the registry's digest. */
export async function pushManifest(
  target: RegistryTarget,
  repo: string,
  ref: string,
  mediaType: string,
  body: Buffer | string | object,
  opts: PushOptions = {},
): Promise<string> {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return putManifest(pusherClient(target, opts), repo, ref, mediaType, bytes);
}

/** Unlinks a blob from the repository: later GETs answer 404 BLOB_UNKNOWN. */
export async function deleteBlob(target: RegistryTarget, repo: string, digest: string, opts: PushOptions = {}): Promise<void> {
  const res = await pusherClient(target, opts).request('DELETE', `/v2/${repo}/blobs/${digest}`);
  expectStatus(res, [202], `DELETE blob ${digest}`);
}

/** Deletes a manifest by digest. */
export async function deleteManifest(target: RegistryTarget, repo: string, digest: string, opts: PushOptions = {}): Promise<void> {
  const res = await pusherClient(target, opts).request('DELETE', `/v2/${repo}/manifests/${digest}`);
  expectStatus(res, [202], `DELETE manifest ${digest}`);
}

async function uploadBlob(client: RegistryClient, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const head = await client.request('HEAD', `/v2/${repo}/blobs/${digest}`);
  if (head.status === 200) return digest;
  const start = await client.request('POST', `/v2/${repo}/blobs/uploads/`);
  expectStatus(start, [202], `POST blob upload in ${repo}`);
  const location = new URL(String(start.headers.location), client.baseUrl + '/');
  location.searchParams.set('digest', digest);
  const put = await client.request('PUT', location.toString(), {
    body: data,
    headers: { 'content-type': 'application/octet-stream' },
  });
  expectStatus(put, [201], `PUT blob ${digest} in ${repo}`);
  return digest;
}

async function putManifest(client: RegistryClient, repo: string, ref: string, mediaType: string, bytes: Buffer): Promise<string> {
  const res = await client.request('PUT', `/v2/${repo}/manifests/${ref}`, {
    body: bytes,
    headers: { 'content-type': mediaType },
  });
  expectStatus(res, [201], `PUT manifest ${repo}:${ref}`);
  const digest = res.headers['docker-content-digest'] as string | undefined;
  if (digest && digest !== sha256(bytes)) throw new Error(`registry digest ${digest} != ${sha256(bytes)} for ${repo}:${ref}`);
  return digest ?? sha256(bytes);
}

function expectStatus(res: HttpResponse, ok: number[], what: string): void {
  if (!ok.includes(res.status)) {
    throw Object.assign(new Error(`${what}: HTTP ${res.status} ${res.body.toString().slice(0, 500)}`), { status: res.status });
  }
}

function pusherClient(target: RegistryTarget, opts: PushOptions): RegistryClient {
  const isTest = 'upstream' in target;
  const url = isTest && !opts.viaProxy ? target.upstream.url : target.url;
  const credentials = opts.credentials !== undefined ? opts.credentials : (target.credentials ?? null);
  return new RegistryClient(url, { credentials, userAgent: opts.userAgent ?? 'skiff-test-pusher' });
}

function hostOf(target: RegistryTarget): string {
  return target.host ?? new URL(target.url).host;
}
