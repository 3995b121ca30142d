// Image manifests, indexes and configs as registries serve them: parsed,
// validated field by field (registry content is hostile until checked),
// and reduced to what a pull needs.

export const mediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociNondistributableLayer: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociNondistributableLayerGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociNondistributableLayerZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
} as const;

/** What we send in Accept when asking for a manifest. */
export const acceptedManifestTypes = [
  mediaTypes.ociIndex,
  mediaTypes.dockerList,
  mediaTypes.ociManifest,
  mediaTypes.dockerManifest,
];

export type LayerCompression = 'gzip' | 'zstd' | 'none';

const layerCompression: Record<string, LayerCompression> = {
  [mediaTypes.dockerLayerGzip]: 'gzip',
  [mediaTypes.ociLayerGzip]: 'gzip',
  [mediaTypes.ociLayerZstd]: 'zstd',
  [mediaTypes.ociLayer]: 'none',
};

const foreignLayerTypes: ReadonlySet<string> = new Set([
  mediaTypes.dockerForeignLayerGzip,
  mediaTypes.ociNondistributableLayer,
  mediaTypes.ociNondistributableLayerGzip,
  mediaTypes.ociNondistributableLayerZstd,
]);

/** Registry or image content that is not acceptable; the message says what and where. */
export class ImageFormatError extends Error {
  override name = 'ImageFormatError';
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface IndexEntry extends Descriptor {
  platform?: Platform;
}

export interface LayerDescriptor extends Descriptor {
  compression: LayerCompression;
}

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; manifests: IndexEntry[] }
  | { kind: 'image'; mediaType: string; config: Descriptor; layers: LayerDescriptor[] };

export interface ImageConfig {
  architecture: string;
  os: string;
  diffIds: string[];
  user: string;
  /** The parsed document, for status output and container creation. */
  raw: Record<string, unknown>;
}

const digestPattern = /^sha256:[a-f0-9]{64}$/;

/**
 * Parses a manifest or index. `contentType` is the registry's Content-Type;
 * the document's own mediaType wins when present, and both must agree.
 */
export function parseManifest(body: Buffer, contentType: string, where: string): ParsedManifest {
  const doc = parseJsonObject(body, where);
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const header = contentType.split(';')[0]!.trim();
  const mediaType = declared ?? (header || inferMediaType(doc));
  if (declared && header && acceptedManifestTypes.includes(header as never) && header !== declared) {
    throw new ImageFormatError(`${where}: Content-Type ${header} does not match the manifest's mediaType ${declared}`);
  }
  if (doc.schemaVersion !== 2) {
    throw new ImageFormatError(`${where}: unsupported manifest schemaVersion ${String(doc.schemaVersion)} (only schema 2 is supported)`);
  }
  switch (mediaType) {
    case mediaTypes.dockerList:
    case mediaTypes.ociIndex: {
      const manifests = expectArray(doc.manifests, `${where}: manifests`).map((m, i) => {
        const entry = descriptor(m, `${where}: manifests[${i}]`) as IndexEntry;
        const platform = (m as Record<string, unknown>).platform;
        if (platform !== undefined) entry.platform = parsePlatform(platform, `${where}: manifests[${i}].platform`);
        return entry;
      });
      return { kind: 'index', mediaType, manifests };
    }
    case mediaTypes.dockerManifest:
    case mediaTypes.ociManifest: {
      const config = descriptor(doc.config, `${where}: config`);
      const layers = expectArray(doc.layers, `${where}: layers`).map((l, i) => layerDescriptor(l, `${where}: layers[${i}]`));
      return { kind: 'image', mediaType, config, layers };
    }
    default:
      throw new ImageFormatError(`${where}: unsupported manifest media type ${JSON.stringify(mediaType)}`);
  }
}

function inferMediaType(doc: Record<string, unknown>): string {
  // OCI allows mediaType to be omitted; the shape tells index from manifest.
  return Array.isArray(doc.manifests) ? mediaTypes.ociIndex : mediaTypes.ociManifest;
}

function layerDescriptor(value: unknown, where: string): LayerDescriptor {
  const d = descriptor(value, where);
  const urls = (value as Record<string, unknown>).urls;
  if (foreignLayerTypes.has(d.mediaType) || (Array.isArray(urls) && urls.length > 0)) {
    throw new ImageFormatError(`${where}: foreign/non-distributable layer ${d.digest} (${d.mediaType}) is refused: skiff never fetches layers from external URLs`);
  }
  const compression = layerCompression[d.mediaType];
  if (!compression) throw new ImageFormatError(`${where}: unsupported layer media type ${JSON.stringify(d.mediaType)}`);
  return { ...d, compression };
}

function descriptor(value: unknown, where: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw new ImageFormatError(`${where}: expected a descriptor object`);
  const v = value as Record<string, unknown>;
  if (typeof v.mediaType !== 'string') throw new ImageFormatError(`${where}: missing mediaType`);
  if (typeof v.digest !== 'string' || !digestPattern.test(v.digest)) {
    throw new ImageFormatError(`${where}: digest ${JSON.stringify(v.digest)} is not a sha256 digest`);
  }
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw new ImageFormatError(`${where}: size ${JSON.stringify(v.size)} is not a non-negative integer`);
  }
  return { mediaType: v.mediaType, digest: v.digest, size: v.size };
}

function parsePlatform(value: unknown, where: string): Platform {
  if (typeof value !== 'object' || value === null) throw new ImageFormatError(`${where}: expected an object`);
  const v = value as Record<string, unknown>;
  if (typeof v.os !== 'string' || typeof v.architecture !== 'string') throw new ImageFormatError(`${where}: os and architecture are required`);
  const platform: Platform = { os: v.os, architecture: v.architecture };
  if (typeof v.variant === 'string' && v.variant !== '') platform.variant = v.variant;
  return platform;
}

export function parseImageConfig(body: Buffer, where: string): ImageConfig {
  const doc = parseJsonObject(body, where);
  const rootfs = doc.rootfs as Record<string, unknown> | undefined;
  if (typeof rootfs !== 'object' || rootfs === null || rootfs.type !== 'layers') {
    throw new ImageFormatError(`${where}: rootfs.type must be "layers"`);
  }
  const diffIds = expectArray(rootfs.diff_ids, `${where}: rootfs.diff_ids`).map((d, i) => {
    if (typeof d !== 'string' || !digestPattern.test(d)) throw new ImageFormatError(`${where}: rootfs.diff_ids[${i}] is not a sha256 digest`);
    return d;
  });
  const config = (typeof doc.config === 'object' && doc.config !== null ? doc.config : {}) as Record<string, unknown>;
  return {
    architecture: typeof doc.architecture === 'string' ? doc.architecture : '',
    os: typeof doc.os === 'string' ? doc.os : '',
    diffIds,
    user: typeof config.User === 'string' ? config.User : '',
    raw: doc,
  };
}

/** The platform images are chosen for: this host's. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const architecture = arch[process.arch] ?? process.arch;
  const platform: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') platform.variant = 'v8';
  if (architecture === 'arm') platform.variant = `v${String((process.config.variables as Record<string, unknown>).arm_version ?? '7')}`;
  return platform;
}

/** The index entry for `platform`; arm64's variant is optional (v8 is the only one in use). */
export function selectPlatform(manifests: IndexEntry[], platform: Platform, where: string): IndexEntry {
  const candidates = manifests.filter(
    (m) =>
      m.platform &&
      m.platform.os === platform.os &&
      m.platform.architecture === platform.architecture &&
      acceptedManifestTypes.slice(2).includes(m.mediaType as never),
  );
  const exact = candidates.find((m) => (m.platform!.variant ?? '') === (platform.variant ?? ''));
  const lenient = candidates.find((m) => platform.architecture === 'arm64' && (m.platform!.variant ?? 'v8') === 'v8');
  const chosen = exact ?? lenient;
  if (!chosen) {
    const offered = manifests.map((m) => (m.platform ? formatPlatform(m.platform) : 'unknown')).join(', ');
    throw new ImageFormatError(`${where}: no image for platform ${formatPlatform(platform)} (available: ${offered || 'none'})`);
  }
  return chosen;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function parseJsonObject(body: Buffer, where: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ImageFormatError(`${where}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ImageFormatError(`${where}: expected a JSON object`);
  return doc as Record<string, unknown>;
}

function expectArray(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new ImageFormatError(`${where}: expected an array`);
  return value;
}
