// Pulled images: one record per config digest with its tags and repo
// digests, plus the manifest and config exactly as the registry served them.
// Records are written atomically; an image appears only once all its layers exist.
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { removeTree } from '../native/index.js';
import { writeFileAtomic } from './atomic_file.js';
import { AsyncMutex } from './keyed_once.js';
import { hexOf } from './layer_store.js';

export interface ImageRecord {
  /** `sha256:<hex>` of the config blob. */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** Chain IDs, base layer first. */
  layers: string[];
  /** Uncompressed bytes of all layers plus the config. */
  size: number;
  manifestDigest: string;
  manifestMediaType: string;
  /** The image config's User, as given. */
  user: string;
  pulledAt: string;
}

export interface StoredImage {
  record: ImageRecord;
  manifest: Buffer;
  config: Buffer;
}

export class ImageStore {
  private readonly images = new Map<string, ImageRecord>();
  /** Config blobs read for container creates: immutable per id, small, and read on every create. */
  private readonly configs = new Map<string, Promise<string>>();
  private readonly mutex = new AsyncMutex();

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) {
      if (name.startsWith('.')) {
        await removeTree(join(this.dir, name));
        continue;
      }
      const record = await readFile(join(this.dir, name, 'image.json'), 'utf8').then(
        (text) => JSON.parse(text) as ImageRecord,
        () => undefined,
      );
      if (record && hexOf(record.id) === name) {
        this.images.set(record.id, record);
      } else {
        this.log.warn({ image: name }, 'removing incomplete image record');
        await removeTree(join(this.dir, name));
      }
    }
  }

  list(): ImageRecord[] {
    return [...this.images.values()];
  }

  get(id: string): ImageRecord | undefined {
    return this.images.get(id);
  }

  /** Finds an image by id (with or without `sha256:`, or a unique prefix of 12+ hex digits), tag or repo digest. */
  find(name: string): ImageRecord | undefined {
    const byId = this.images.get(name) ?? this.images.get(`sha256:${name}`);
    if (byId) return byId;
    for (const record of this.images.values()) {
      if (record.repoTags.includes(name) || record.repoDigests.includes(name)) return record;
    }
    if (/^(sha256:)?[a-f0-9]{12,63}$/.test(name)) {
      const prefix = name.startsWith('sha256:') ? name : `sha256:${name}`;
      const matches = [...this.images.values()].filter((r) => r.id.startsWith(prefix));
      if (matches.length === 1) return matches[0];
    }
    return undefined;
  }

  async readBlobs(id: string): Promise<{ manifest: Buffer; config: Buffer }> {
    const dir = join(this.dir, hexOf(id));
    const [manifest, config] = await Promise.all([readFile(join(dir, 'manifest.json')), readFile(join(dir, 'config.json'))]);
    return { manifest, config };
  }

  /** The image's config JSON (its text: each caller parses its own copy). */
  configText(id: string): Promise<string> {
    let text = this.configs.get(id);
    if (!text) {
      text = readFile(join(this.dir, hexOf(id), 'config.json'), 'utf8');
      this.configs.set(id, text);
      // A failed read is not remembered (nor does it drop a later read's entry).
      const read = text;
      read.catch(() => {
        if (this.configs.get(id) === read) this.configs.delete(id);
      });
    }
    return text;
  }

  /**
   * Records an image, or adds the tag and digest to the one already recorded.
   * A tag moves: the image that held it before loses it.
   */
  add(image: StoredImage): Promise<ImageRecord> {
    return this.mutex.lock(async () => {
      const { record } = image;
      const existing = this.images.get(record.id);
      for (const tag of record.repoTags) await this.untagOthers(tag, record.id);
      if (existing) {
        const merged: ImageRecord = {
          ...existing,
          repoTags: union(existing.repoTags, record.repoTags),
          repoDigests: union(existing.repoDigests, record.repoDigests),
        };
        await this.writeRecord(merged);
        return merged;
      }
      const dir = join(this.dir, hexOf(record.id));
      const staging = join(this.dir, `.new-${hexOf(record.id)}`);
      await removeTree(staging).catch(() => undefined);
      await mkdir(staging, { mode: 0o700 });
      await writeFileAtomic(join(staging, 'manifest.json'), image.manifest);
      await writeFileAtomic(join(staging, 'config.json'), image.config);
      await writeFileAtomic(join(staging, 'image.json'), JSON.stringify(record));
      await rename(staging, dir);
      this.images.set(record.id, record);
      return record;
    });
  }

  /** Removes one tag; returns the record as it is afterwards. */
  removeTag(id: string, tag: string): Promise<ImageRecord | undefined> {
    return this.mutex.lock(async () => {
      const record = this.images.get(id);
      if (!record) return undefined;
      const updated = { ...record, repoTags: record.repoTags.filter((t) => t !== tag) };
      await this.writeRecord(updated);
      return updated;
    });
  }

  remove(id: string): Promise<void> {
    return this.mutex.lock(async () => {
      if (!this.images.has(id)) return;
      const dir = join(this.dir, hexOf(id));
      const doomed = join(this.dir, `.removed-${hexOf(id)}`);
      // The record is gone from disk (by rename) before it is gone from memory.
      await rename(dir, doomed);
      this.images.delete(id);
      this.configs.delete(id);
      await removeTree(doomed);
    });
  }

  /** Chain IDs used by any image. */
  referencedLayers(): Set<string> {
    return new Set([...this.images.values()].flatMap((r) => r.layers));
  }

  private async untagOthers(tag: string, keep: string): Promise<void> {
    for (const other of this.images.values()) {
      if (other.id !== keep && other.repoTags.includes(tag)) {
        await this.writeRecord({ ...other, repoTags: other.repoTags.filter((t) => t !== tag) });
      }
    }
  }

  private async writeRecord(record: ImageRecord): Promise<void> {
    await writeFileAtomic(join(this.dir, hexOf(record.id), 'image.json'), JSON.stringify(record));
    this.images.set(record.id, record);
  }
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])];
}
