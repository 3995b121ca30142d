// Extracted image layers, keyed by chain ID and shared by every image that
// has them. A layer becomes visible only by one rename, after it was fully
// extracted and verified, so a crash never leaves a half layer in view.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { dirUsage, removeTree, type DirUsage } from '../native/index.js';
import { syncDir, writeFileAtomic } from './atomic_file.js';
import { KeyedOnce } from './keyed_once.js';

export interface LayerRecord {
  chainId: string;
  diffId: string;
  /** Chain ID of the layer below, null for a base layer. */
  parent: string | null;
  /** Digest and size of the blob it was extracted from. */
  compressedDigest: string;
  compressedSize: number;
  /** Bytes of the uncompressed tar stream. */
  size: number;
  createdAt: string;
}

const recordFile = 'layer.json';

export class LayerStore {
  private readonly layers = new Map<string, LayerRecord>();
  private readonly creating = new KeyedOnce<LayerRecord>();
  /** Layers a pull is assembling into an image that is not recorded yet: garbage collection skips them. */
  private readonly pins = new Map<string, number>();
  /** Disk use per layer, measured once: a committed layer never changes. */
  private readonly usageOf = new Map<string, Promise<DirUsage>>();
  readonly layersDir: string;
  private readonly tmpDir: string;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {
    this.layersDir = join(dir, 'layers');
    this.tmpDir = join(dir, 'tmp');
  }

  /** Loads every complete layer and removes what an interrupted run left behind. */
  async open(): Promise<void> {
    await mkdir(this.layersDir, { recursive: true, mode: 0o700 });
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.tmpDir)) await removeTree(join(this.tmpDir, name));
    for (const name of await readdir(this.layersDir)) {
      const record = await readFile(join(this.layersDir, name, recordFile), 'utf8').then(
        (text) => JSON.parse(text) as LayerRecord,
        () => undefined,
      );
      if (record && hexOf(record.chainId) === name) {
        this.layers.set(record.chainId, record);
      } else {
        this.log.warn({ layer: name }, 'removing incomplete layer directory');
        await this.discard(join(this.layersDir, name));
      }
    }
  }

  get(chainId: string): LayerRecord | undefined {
    return this.layers.get(chainId);
  }

  list(): LayerRecord[] {
    return [...this.layers.values()];
  }

  /** The directory holding the layer's files (an overlay lowerdir). */
  diffDir(chainId: string): string {
    return join(this.layersDir, hexOf(chainId), 'diff');
  }

  /**
   * Returns the layer, creating it with `extract` if it does not exist yet.
   * Concurrent callers for one chain ID share a single extraction.
   */
  ensure(
    chainId: string,
    extract: (diffDir: string) => Promise<Omit<LayerRecord, 'chainId' | 'createdAt'>>,
  ): Promise<LayerRecord> {
    const existing = this.layers.get(chainId);
    if (existing) return Promise.resolve(existing);
    return this.creating.run(chainId, async () => {
      const staging = join(this.tmpDir, `${hexOf(chainId).slice(0, 12)}-${randomBytes(6).toString('hex')}`);
      await mkdir(join(staging, 'diff'), { recursive: true, mode: 0o755 });
      try {
        const record: LayerRecord = { chainId, ...(await extract(join(staging, 'diff'))), createdAt: new Date().toISOString() };
        await writeFileAtomic(join(staging, recordFile), JSON.stringify(record));
        await rename(staging, join(this.layersDir, hexOf(chainId)));
        await syncDir(this.layersDir);
        this.layers.set(chainId, record);
        return record;
      } catch (err) {
        await removeTree(staging).catch((e: unknown) => this.log.error({ err: e, staging }, 'cannot remove failed layer'));
        throw err;
      }
    });
  }

  /** Bytes and inodes of every committed layer plus pulls in progress, without re-walking committed layers. */
  async usage(): Promise<DirUsage> {
    const parts = [...this.layers.keys()].map((chainId) => this.layerUsage(chainId));
    parts.push(dirUsage(this.tmpDir));
    const total = { bytes: 0, inodes: 0 };
    for (const part of await Promise.all(parts)) {
      total.bytes += part.bytes;
      total.inodes += part.inodes;
    }
    return total;
  }

  private layerUsage(chainId: string): Promise<DirUsage> {
    let usage = this.usageOf.get(chainId);
    if (!usage) {
      usage = dirUsage(join(this.layersDir, hexOf(chainId)));
      // A failed walk is not remembered: the next call measures again.
      usage.catch(() => this.usageOf.delete(chainId));
      this.usageOf.set(chainId, usage);
    }
    return usage;
  }

  /** Removes a layer: it leaves the view at once, its files are deleted after. */
  async remove(chainId: string): Promise<void> {
    if (!this.layers.delete(chainId)) return;
    this.usageOf.delete(chainId);
    await this.discard(join(this.layersDir, hexOf(chainId)));
  }

  /** Keeps layers safe from `removeUnused` until the returned release is called. */
  pin(chainIds: string[]): () => void {
    for (const id of chainIds) this.pins.set(id, (this.pins.get(id) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const id of chainIds) {
        const count = (this.pins.get(id) ?? 1) - 1;
        if (count > 0) this.pins.set(id, count);
        else this.pins.delete(id);
      }
    };
  }

  /** Removes every layer not in `inUse`, not pinned and not being created; returns their chain IDs. */
  async removeUnused(inUse: Set<string>): Promise<string[]> {
    const unused = [...this.layers.keys()].filter((id) => !inUse.has(id) && !this.pins.has(id) && !this.creating.has(id));
    for (const id of unused) await this.remove(id);
    return unused;
  }

  private async discard(path: string): Promise<void> {
    const doomed = join(this.tmpDir, `removed-${randomBytes(6).toString('hex')}`);
    await rename(path, doomed);
    await removeTree(doomed);
  }
}

export function hexOf(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice('sha256:'.length) : digest;
}
